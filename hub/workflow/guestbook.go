package workflow

import (
	"encoding/csv"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/permit"
)

// Event types the guest book and the service times read (agent/event.go).
const (
	EvEscortAwaited = "escort.awaited"
	EvGranted       = "access.granted"
	EvExitRequested = "exit.requested"
	EvForced        = "door.forced"
	EvHeldOpen      = "door.held_open"
	EvRackTampered  = "rack.tampered"
	EvVisitEntered  = "visit.entered"
	EvVisitExited   = "visit.exited"
	EvUnescorted    = "visit.unescorted"
	EvSecured       = "room.secured"
	EvNotSecured    = "room.not_secured"
)

// Event is what the guest book needs of a door event; the caller maps
// hub/ingest events to it, in the door's order.
type Event struct {
	Type   string
	Permit string
	Escort string
	At     time.Time
	Detail string
	Rack   string
	Card   string // short card fingerprint, to match an exit tap to its visit
}

// Alarm is an alarm event during a visit.
type Alarm struct {
	Type   string
	At     time.Time
	Rack   string
	Detail string
}

// String is the alarm as the guest book's CSV shows it.
func (a Alarm) String() string {
	s := a.Type + "@" + a.At.UTC().Format(time.RFC3339)
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
// rows of one permit share one copy of its equipment list.
func GuestBook(permits []Record, events iter.Seq[Event]) []Row {
	// the rows of a permit share one copy of its equipment list
	byID := make(map[string]*Record, len(permits))
	equipment := make(map[string][]string, len(permits))
	nik := make(map[string]string, len(permits))
	for i := range permits {
		byID[permits[i].ID] = &permits[i]
		equipment[permits[i].ID] = slices.Clone(permits[i].Equipment)
		nik[permits[i].ID] = MaskNIK(permits[i].NIK)
	}
	var rows []Row
	inside := map[string]int{} // permit -> row of its open visit
	var awaiting []int         // rows that exited, until the room is secured
	alarm := func(i int, e Event) {
		rows[i].Alarms = append(rows[i].Alarms, Alarm{Type: e.Type, At: e.At, Rack: e.Rack, Detail: e.Detail})
	}
	for e := range events {
		switch e.Type {
		case EvVisitEntered:
			if e.Permit == "" {
				continue // staff entering alone
			}
			row := Row{Permit: e.Permit, Escort: e.Escort, Entered: e.At}
			if r := byID[e.Permit]; r != nil {
				row.Guest, row.NIK, row.Organisation, row.Purpose = r.Guest, nik[r.ID], r.Organisation, r.Purpose
				row.Category, row.Approver, row.Equipment = r.Category, r.Approver, equipment[r.ID]
				if row.Escort == "" {
					row.Escort = r.Escort
				}
			}
			inside[e.Permit] = len(rows)
			rows = append(rows, row)
		case EvVisitExited:
			i, ok := inside[e.Permit]
			if !ok {
				continue
			}
			delete(inside, e.Permit)
			rows[i].Exited = e.At
			awaiting = append(awaiting, i)
		case EvUnescorted:
			if i, ok := inside[e.Permit]; ok {
				alarm(i, e)
			}
		case EvForced, EvHeldOpen, EvRackTampered:
			for _, i := range inside {
				alarm(i, e)
			}
			for _, i := range awaiting {
				alarm(i, e)
			}
		case EvSecured:
			for _, i := range awaiting {
				rows[i].Secured = e.At
			}
			awaiting = awaiting[:0]
		case EvNotSecured:
			// the room stays awaited: a later room.secured says when it was
			for _, i := range awaiting {
				if !rows[i].NotSecured {
					rows[i].NotSecured = true
					alarm(i, e)
				}
			}
		}
	}
	return rows
}

// Events returns an iterator over a slice of events.
func Events(evs []Event) iter.Seq[Event] { return slices.Values(evs) }

// CSVHeader is the guest book's CSV header.
var CSVHeader = []string{"permit", "guest", "nik", "organisation", "purpose", "category", "escort", "approver",
	"entered", "exited", "secured", "equipment", "alarms"}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// WriteCSV writes rows as CSV with a header. Times are RFC 3339 UTC;
// secured is "not_secured" when the room was not secured and not later
// either; lists are joined with "; ".
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rows {
		secured := csvTime(r.Secured)
		if secured == "" && r.NotSecured {
			secured = "not_secured"
		}
		alarms := make([]string, len(r.Alarms))
		for i, a := range r.Alarms {
			alarms[i] = a.String()
		}
		if err := cw.Write([]string{r.Permit, r.Guest, r.NIK, r.Organisation, r.Purpose, string(r.Category), r.Escort,
			r.Approver, csvTime(r.Entered), csvTime(r.Exited), secured, strings.Join(r.Equipment, "; "),
			strings.Join(alarms, "; ")}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
