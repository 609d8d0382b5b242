package workflow

import (
	"encoding/csv"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// BookTypes are the event types the guest book reads, its rows' and its
// service times' (Book.Apply skips the others), for a store that can skip
// events without decoding them.
var BookTypes = []wire.EventType{wire.EvVisitEntered, wire.EvVisitExited, wire.EvUnescorted, wire.EvForced, wire.EvHeldOpen, wire.EvRackTampered,
	wire.EvSecured, wire.EvNotSecured, wire.EvEscortAwaited, wire.EvGranted, wire.EvExitRequested}

// Alarm is an alarm event during a visit.
type Alarm struct {
	Type   wire.EventType
	At     time.Time
	Rack   string
	Detail string
}

// String is the alarm as the guest book's CSV shows it.
func (a Alarm) String() string {
	s := string(a.Type) + "@" + a.At.UTC().Format(time.RFC3339)
	if a.Rack != "" {
		s += " rack=" + a.Rack
	}
	if a.Detail != "" {
		s += " (" + a.Detail + ")"
	}
	return s
}

// Row is one visit in the guest book. NIK is masked.
type Row struct {
	Site         string // the door's site and name, from the visit.entered event
	Door         string
	Permit       string
	Guest        string
	NIK          string
	Organisation string
	Purpose      string
	Category     permit.Category
	Escort       string
	Approver     string
	Entered      time.Time
	Exited       time.Time // zero: still inside
	Secured      time.Time // zero: not (yet) secured
	NotSecured   bool      // a room.not_secured followed the exit
	Equipment    []string
	Alarms       []Alarm
}

// GuestBook builds the guest book of one door: one row per visit, in order
// of entry, from the permits and the door's events in order. A visit of a
// permit not among permits gets a row with only what the events say. The
// rows of one permit share one copy of its equipment list. It is the batch
// form of Book: NewBook(permits), Apply of every event, Rows.
func GuestBook(permits []Record, events iter.Seq[wire.Event]) []Row {
	b := NewBook(permits)
	for e := range events {
		b.Apply(e)
	}
	return b.rows
}

// Events returns an iterator over a slice of events.
func Events(evs []wire.Event) iter.Seq[wire.Event] { return slices.Values(evs) }

// CSVHeader is the guest book's CSV header.
var CSVHeader = []string{"permit", "guest", "nik", "organisation", "purpose", "category", "escort", "approver",
	"entered", "exited", "secured", "equipment", "alarms"}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cell neutralises a cell a spreadsheet would take for a formula: one
// that starts with =, +, -, @, a tab or a carriage return gets a leading
// apostrophe, as OWASP's CSV-injection advice has it, so that
// =HYPERLINK(…) typed as a guest's name stays text in the office's
// spreadsheet.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes rows as CSV with a header (CSV, all at once).
func WriteCSV(w io.Writer, rows []Row) error {
	c, err := NewCSV(w)
	if err == nil {
		err = c.Write(rows)
	}
	if err != nil {
		return err
	}
	return c.Flush()
}

// CSV writes the guest book as CSV a part at a time, for an export of
// many rows that streams: the header (NewCSV), then the rows of each
// Write, then Flush. Times are RFC 3339 UTC; secured is "not_secured"
// when the room was not secured and not later either; lists are joined
// with "; ". Every cell a spreadsheet could run as a formula is
// neutralised (cell).
type CSV struct{ cw *csv.Writer }

// NewCSV writes the header to w.
func NewCSV(w io.Writer) (*CSV, error) {
	c := &CSV{cw: csv.NewWriter(w)}
	return c, c.cw.Write(CSVHeader)
}

// Write writes rows, and flushes them.
func (c *CSV) Write(rows []Row) error {
	for _, r := range rows {
		secured := csvTime(r.Secured)
		if secured == "" && r.NotSecured {
			secured = "not_secured"
		}
		alarms := make([]string, len(r.Alarms))
		for i, a := range r.Alarms {
			alarms[i] = a.String()
		}
		rec := []string{r.Permit, r.Guest, r.NIK, r.Organisation, r.Purpose, string(r.Category), r.Escort,
			r.Approver, csvTime(r.Entered), csvTime(r.Exited), secured, strings.Join(r.Equipment, "; "),
			strings.Join(alarms, "; ")}
		for i := range rec {
			rec[i] = cell(rec[i])
		}
		if err := c.cw.Write(rec); err != nil {
			return err
		}
	}
	return c.Flush()
}

// Flush writes what is buffered.
func (c *CSV) Flush() error {
	c.cw.Flush()
	return c.cw.Error()
}
