package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
)

// bookDoors are the doors of the guest-book history.
var bookDoors = []string{"d0", "d1", "d2"}

// history makes the events of visits at bookDoors, the doors' events
// interleaved, each door's in seq order: escorted visits (the tap, the
// escort awaited, the grant, the entry; at times a forced door, a door
// held open, an escort leaving, a rack tampered with; the exit request,
// the exit; the room secured, or not secured then secured), some visits
// overlapping, some rooms left unsecured at the end, and the other events
// of a door between them. Permit P-<door>-<visit>; the records of all
// but a few (whose visits keep only what the events say).
func history(rng *rand.Rand, visits int) ([][]ingest.Event, []workflow.Record) {
	t0 := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	var recs []workflow.Record
	out := make([][]ingest.Event, len(bookDoors))
	for d, door := range bookDoors {
		at := t0.Add(time.Duration(d) * time.Minute)
		var evs []ingest.Event
		add := func(typ wire.EventType, p, card string) {
			at = at.Add(time.Duration(1+rng.IntN(90)) * time.Second)
			e := ingest.Event{Site: "demo", Door: door, Epoch: "e", Type: typ, At: at, Permit: p, Card: card}
			switch typ {
			case wire.EvVisitEntered, wire.EvUnescorted:
				e.Escort = "S-1"
				if rng.IntN(3) == 0 {
					e.Escort = ""
				}
			case wire.EvRackTampered:
				e.Rack = "R1"
			case wire.EvNotSecured:
				e.Detail = "rack R2 open"
			}
			evs = append(evs, e)
		}
		var open []string // visits inside, in order of entry
		for v := range visits {
			p := fmt.Sprintf("P-%d-%03d", d, v)
			if v%7 != 3 {
				r := workflow.Record{ID: p, Site: "demo", Door: door, Guest: "Guest " + p, NIK: "3302011234567890",
					Organisation: fmt.Sprintf("PT Mitra %d", v%3), Escort: "S-2", Approver: "M-1", Equipment: []string{"laptop"}}
				req := at.Add(-time.Hour)
				for i, s := range []workflow.State{workflow.Requested, workflow.Coordinated, workflow.Approved, workflow.Escorted} {
					r.History = append(r.History, workflow.Transition{State: s, By: "x", At: req.Add(time.Duration(i*(1+rng.IntN(4))) * time.Minute)})
				}
				recs = append(recs, r)
			}
			card := fmt.Sprint("c", v%2)
			add(wire.EvTap, p, card)
			add(wire.EvEscortAwaited, p, card)
			add(wire.EvGranted, p, card)
			add(wire.EvOpened, "", "")
			add(wire.EvVisitEntered, p, card)
			open = append(open, p)
			for range rng.IntN(3) {
				add([]wire.EventType{wire.EvForced, wire.EvHeldOpen, wire.EvUnescorted, wire.EvRackTampered, wire.EvClosed}[rng.IntN(5)], p, "")
			}
			if rng.IntN(3) == 0 && v < visits-1 {
				continue // the next visit overlaps
			}
			for len(open) > 0 && (rng.IntN(2) == 0 || v < visits-2) {
				q := open[0]
				open = open[1:]
				add(wire.EvExitRequested, "", fmt.Sprint("c", rng.IntN(2)))
				add(wire.EvVisitExited, q, "")
			}
			switch rng.IntN(4) {
			case 0:
				add(wire.EvNotSecured, "", "")
				add(wire.EvRackTampered, "", "")
				add(wire.EvSecured, "", "")
			case 1:
				if v == visits-1 {
					break // left unsecured
				}
				fallthrough
			default:
				add(wire.EvLocked, "", "")
				add(wire.EvSecured, "", "")
			}
		}
		out[d] = evs
	}
	return out, recs
}

// sameBook fails t unless book, given permits, has the rows, pages and
// service times of the guest book built from every event in st. The
// kept book numbers its rows in the order they were stored, the doors'
// interleaved, where the one built from the events has them door after
// door: each door's rows and pages are the same, every door's the same
// rows in another order.
func sameBook(t *testing.T, what string, st ingest.EventStore, permits []workflow.Record) {
	t.Helper()
	book, _ := st.Book()
	book.AddPermits(permits)
	want, err := ingest.BuildBookOf(st, permits)
	if err != nil {
		t.Fatal(err)
	}
	if book.Len() == 0 || book.Len() != want.Len() {
		t.Fatalf("%s: %d rows; built from the events, %d", what, book.Len(), want.Len())
	}
	byDoor := func(rows []workflow.Row) []workflow.Row {
		return slices.SortedStableFunc(slices.Values(rows), func(a, b workflow.Row) int { return strings.Compare(a.Door, b.Door) })
	}
	for _, f := range []workflow.Filter{{}, {Organisation: "mitra 1"}, {Door: "d1", Organisation: "mitra 0"}} {
		same(t, fmt.Sprintf("%s: rows %+v", what, f), byDoor(book.Query(f)), byDoor(want.Query(f)))
	}
	filters := []workflow.Filter{{Permit: "P-0-004"}, {Permit: "P-1-007"}}
	for _, d := range bookDoors {
		filters = append(filters, workflow.Filter{Site: "demo", Door: d})
	}
	for _, f := range append(filters, workflow.Filter{}) {
		same(t, fmt.Sprintf("%s: service times %+v", what, f), book.ServiceTimes(f), want.ServiceTimes(f))
		if f.Door == "" && f.Permit == "" {
			continue
		}
		rows := book.Query(f)
		same(t, fmt.Sprintf("%s: rows %+v", what, f), rows, want.Query(f))
		g, gn := book.Page(f, 2, 5)
		w, wn := want.Page(f, 2, 5)
		same(t, fmt.Sprintf("%s: Page %+v", what, f), g, w)
		if gn != wn {
			t.Errorf("%s: Page %+v: %d in all, want %d", what, f, gn, wn)
		}
		// the API's pages, after row numbers: every row once, in order
		var paged []workflow.Row
		for next := -1; ; {
			page, n := book.After(f, next, 3)
			paged = append(paged, page...)
			if n < 0 {
				break
			}
			next = n
		}
		same(t, fmt.Sprintf("%s: After pages %+v", what, f), paged, rows)
	}
}

// testBook: the guest book a store keeps through commits of several
// doors' visits (alarms, lost runs, commits refused, a restart in the
// middle) is the one built from the events it holds, before and after
// each reopening, and goes on after it.
func testBook(t *testing.T, b Backend) {
	rng := rand.New(rand.NewPCG(7, 8))
	doors, permits := history(rng, 40)
	openAt := b(t)
	st, err := openAt()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // the last one opened
	if book, opened := st.Book(); book.Len() != 0 || opened.Built && opened.Rows != 0 {
		t.Fatalf("a new store's book: %d rows, %+v", book.Len(), opened)
	}
	next := make([]int, len(doors))   // each door's next event
	seq := make([]uint64, len(doors)) // each door's through
	reopen := func() {
		t.Helper()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if st, err = openAt(); err != nil {
			t.Fatal(err)
		}
		if _, opened := st.Book(); opened.Built {
			t.Fatalf("the book was built again at reopening: %+v", opened)
		}
	}
	done := func() bool {
		for d := range doors {
			if next[d] < len(doors[d]) {
				return false
			}
		}
		return true
	}
	for c := 0; !done(); c++ {
		var evs []ingest.Event
		for range 1 + rng.IntN(12) {
			d := rng.IntN(len(doors))
			if next[d] == len(doors[d]) {
				continue
			}
			if rng.IntN(25) == 0 { // the door's events of a run are lost
				l := ingest.Lost{Site: "demo", Door: bookDoors[d], Epoch: "e", From: seq[d] + 1, To: seq[d] + 3, At: time.Now().UTC(), By: "op"}
				if err := st.Commit(ingest.PutsOf(evs)); err != nil {
					t.Fatal(err)
				}
				evs = nil
				if err := st.AcceptLost(l); err != nil {
					t.Fatal(err)
				}
				seq[d] = l.To
			}
			e := doors[d][next[d]]
			next[d]++
			seq[d]++
			e.Seq, e.ID = seq[d], fmt.Sprintf("demo/%s/e/%d", bookDoors[d], seq[d])
			evs = append(evs, e)
		}
		if len(evs) > 0 && rng.IntN(10) == 0 {
			// a commit refused (a duplicate at its end): none of it is in the book
			dup := evs[0]
			dup.Seq--
			if err := st.Commit(ingest.PutsOf(append(evs, dup))); err == nil {
				t.Fatal("a commit with a seq out of order was stored")
			}
		}
		if err := st.Commit(ingest.PutsOf(evs)); err != nil {
			t.Fatal(err)
		}
		if c == 30 {
			sameBook(t, "before the restart", st, permits)
			reopen()
			sameBook(t, "after the restart", st, permits)
		}
	}
	sameBook(t, "at the end", st, permits)
	reopen()
	sameBook(t, "reopened at the end", st, permits)
}

// History is history's events with their seqs and ids, one epoch a door,
// door after door (as Import takes them), and the permits' records.
func History(seed uint64, visits int) ([]ingest.Event, []workflow.Record) {
	doors, recs := history(rand.New(rand.NewPCG(seed, 1)), visits)
	var all []ingest.Event
	for d, evs := range doors {
		for i, e := range evs {
			e.Seq, e.ID = uint64(i+1), fmt.Sprintf("demo/%s/e/%d", bookDoors[d], i+1)
			all = append(all, e)
		}
	}
	return all, recs
}

// Older checks the opening of a store an older hub wrote (events, no
// guest book kept): open opens the store, forget takes its kept book away
// as if it never had one. The store opened again builds the book from the
// events, once, and keeps it.
func Older(t *testing.T, open func() (ingest.EventStore, error), forget func(ingest.EventStore) error) {
	evs, permits := History(9, 30)
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // the last one opened
	if err := st.Import(evs); err != nil {
		t.Fatal(err)
	}
	if err := forget(st); err != nil {
		t.Fatal(err)
	}
	for i, built := range []bool{true, false} {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if st, err = open(); err != nil {
			t.Fatal(err)
		}
		book, opened := st.Book()
		if opened.Built != built || opened.Rows != book.Len() {
			t.Fatalf("opening %d: %+v, %d rows; want built %v", i+1, opened, book.Len(), built)
		}
		sameBook(t, fmt.Sprint("opening ", i+1), st, permits)
	}
}
