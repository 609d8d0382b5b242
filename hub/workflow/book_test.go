package workflow

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// referenceBook is the guest book as GuestBook computed it before Book, in
// one pass over one door's events: the reference Book is checked against.
func referenceBook(permits []Record, events []wire.Event) []Row {
	byID := map[string]*Record{}
	for i := range permits {
		byID[permits[i].ID] = &permits[i]
	}
	var rows []Row
	inside := map[string]int{}
	var awaiting []int
	alarm := func(i int, e wire.Event) {
		rows[i].Alarms = append(rows[i].Alarms, Alarm{Type: e.Type, At: e.At, Rack: e.Rack, Detail: e.Detail})
	}
	for _, e := range events {
		switch e.Type {
		case wire.EvVisitEntered:
			if e.Permit == "" {
				continue
			}
			row := Row{Site: e.Site, Door: e.Door, Permit: e.Permit, Escort: e.Escort, Entered: e.At}
			if r := byID[e.Permit]; r != nil {
				row.Guest, row.NIK, row.Organisation, row.Purpose = r.Guest, MaskNIK(r.NIK), r.Organisation, r.Purpose
				row.Category, row.Approver, row.Equipment = r.Category, r.Approver, slices.Clone(r.Equipment)
				if row.Escort == "" {
					row.Escort = r.Escort
				}
			}
			inside[e.Permit] = len(rows)
			rows = append(rows, row)
		case wire.EvVisitExited:
			i, ok := inside[e.Permit]
			if !ok {
				continue
			}
			delete(inside, e.Permit)
			rows[i].Exited = e.At
			awaiting = append(awaiting, i)
		case wire.EvUnescorted:
			if i, ok := inside[e.Permit]; ok {
				alarm(i, e)
			}
		case wire.EvForced, wire.EvHeldOpen, wire.EvRackTampered:
			for _, i := range inside {
				alarm(i, e)
			}
			for _, i := range awaiting {
				alarm(i, e)
			}
		case wire.EvSecured:
			for _, i := range awaiting {
				rows[i].Secured = e.At
			}
			awaiting = awaiting[:0]
		case wire.EvNotSecured:
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

// sameRows compares rows, an empty list equal to none.
func sameRows(t *testing.T, what string, got, want []Row) {
	t.Helper()
	norm := func(rs []Row) []Row {
		out := make([]Row, len(rs))
		for i, r := range rs {
			if len(r.Equipment) == 0 {
				r.Equipment = nil
			}
			if len(r.Alarms) == 0 {
				r.Alarms = nil
			}
			out[i] = r
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: %d rows\n%+v\nwant %d rows\n%+v", what, len(g), g, len(w), w)
	}
}

func TestBookMatchesGuestBookOnFixtures(t *testing.T) {
	p2 := rec("P-2", "Rina", "S-004")
	p2.Equipment = nil
	permits := []Record{rec("P-1", "Andi", "S-004"), p2}
	fixtures := [][]wire.Event{fullVisit(), append(fullVisit(),
		wire.Event{Type: wire.EvVisitEntered, Permit: "P-2", Escort: "S-004", At: at(120, 0)},
		wire.Event{Type: wire.EvUnescorted, Permit: "P-2", Escort: "S-004", At: at(125, 0)},
		wire.Event{Type: wire.EvForced, At: at(126, 0)},
		wire.Event{Type: wire.EvVisitExited, Permit: "P-2", At: at(130, 0)},
		wire.Event{Type: wire.EvNotSecured, At: at(132, 0), Detail: "rack R2 open"},
		wire.Event{Type: wire.EvRackTampered, Rack: "R2", At: at(133, 0)},
		wire.Event{Type: wire.EvSecured, At: at(134, 0)},
	)}
	for i, evs := range fixtures {
		want := referenceBook(permits, evs)
		sameRows(t, fmt.Sprint("GuestBook ", i), GuestBook(permits, Events(evs)), want)
		b := NewBook(permits)
		for _, e := range evs {
			b.Apply(e)
		}
		sameRows(t, fmt.Sprint("Book ", i), b.Rows(), want)
	}
}

// randomEvents returns n random events over the given doors and permits.
func randomEvents(rng *rand.Rand, n int, doors []string, permits int) []wire.Event {
	types := []wire.EventType{wire.EvVisitEntered, wire.EvVisitEntered, wire.EvVisitExited, wire.EvVisitExited, wire.EvUnescorted, wire.EvForced,
		wire.EvHeldOpen, wire.EvRackTampered, wire.EvSecured, wire.EvNotSecured, wire.EvGranted, "door.opened"}
	evs := make([]wire.Event, n)
	for i := range evs {
		e := wire.Event{Site: "s1", Door: doors[rng.IntN(len(doors))], Type: types[rng.IntN(len(types))],
			At: t0.Add(time.Duration(i) * time.Minute), Escort: fmt.Sprintf("S-%d", rng.IntN(3)),
			Rack: fmt.Sprintf("R%d", rng.IntN(3)), Detail: fmt.Sprintf("d%d", rng.IntN(3))}
		if rng.IntN(8) > 0 {
			e.Permit = fmt.Sprintf("P-%d", rng.IntN(permits))
		}
		if rng.IntN(3) == 0 {
			e.Escort = ""
		}
		evs[i] = e
	}
	return evs
}

func TestBookMatchesGuestBookOnRandomEvents(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var permits []Record
	for i := range 6 { // P-6 and P-7 stay unknown
		permits = append(permits, rec(fmt.Sprintf("P-%d", i), fmt.Sprint("Guest ", i), "S-009"))
		if i%2 == 1 {
			permits[i].Organisation = "Dinas Kominfo"
		}
	}
	doors := []string{"d1", "d2", "d3"}
	for round := range 50 {
		evs := randomEvents(rng, 300, doors, 8)
		// one door: GuestBook, Book and the reference agree
		one := slices.DeleteFunc(slices.Clone(evs), func(e wire.Event) bool { return e.Door != "d1" })
		want := referenceBook(permits, one)
		sameRows(t, fmt.Sprint("GuestBook round ", round), GuestBook(permits, Events(one)), want)

		// many doors, queried while the events are applied: each door is
		// its own guest book, and Query is Rows filtered
		b := NewBook(permits)
		for i, e := range evs {
			b.Apply(e)
			if i%97 != 0 && i != len(evs)-1 {
				continue
			}
			all := b.Rows()
			for _, d := range doors {
				var door []wire.Event
				for _, e := range evs[:i+1] {
					if e.Door == d {
						door = append(door, e)
					}
				}
				sameRows(t, "door "+d, b.Query(Filter{Site: "s1", Door: d}), referenceBook(permits, door))
			}
			from, to := t0.Add(time.Duration(rng.IntN(300))*time.Minute), t0.Add(time.Duration(rng.IntN(300))*time.Minute)
			for _, f := range []Filter{
				{}, {Door: "d2"}, {Site: "s1", Door: "d3", From: from}, {To: to}, {From: from, To: to},
				{Site: "s1", Door: "d1", From: from, To: to}, {Permit: "P-3"}, {Permit: "P-7", Door: "d2", To: to},
				{Site: "s2", Door: "d1"}, {Permit: "P-99"}, {Site: "s1"}, {Site: "s1", From: from}, {Site: "s2"},
				{Organisation: "kominfo"}, {Organisation: "PT jar", Site: "s1", Door: "d2", From: from}, {Organisation: "x"},
			} {
				var want []Row
				for _, r := range all {
					if f.match(&r) {
						want = append(want, r)
					}
				}
				sameRows(t, fmt.Sprintf("query %+v", f), b.Query(f), want)
				// Page: newest first, a window of it, and the total
				newest := slices.Clone(want)
				slices.Reverse(newest)
				for _, w := range []struct{ off, lim int }{{0, 10}, {5, 7}, {len(want) - 3, 10}, {len(want) + 1, 5}} {
					got, total := b.Page(f, max(w.off, 0), w.lim)
					lo := min(max(w.off, 0), len(newest))
					sameRows(t, fmt.Sprintf("page %+v %+v", f, w), got, newest[lo:min(lo+w.lim, len(newest))])
					if total != len(want) {
						t.Errorf("page %+v: total %d; want %d", f, total, len(want))
					}
				}
			}
		}
		if b.Len() != len(b.Rows()) {
			t.Fatal("Len")
		}
	}
}

func TestBookUnsortedEntriesAndAddPermit(t *testing.T) {
	b := NewBook(nil)
	b.Apply(wire.Event{Door: "d", Type: wire.EvVisitEntered, Permit: "P-1", At: at(50, 0)})
	b.AddPermit(rec("P-2", "Rina", "S-004"))
	b.Apply(wire.Event{Door: "d", Type: wire.EvVisitEntered, Permit: "P-2", At: at(10, 0)}) // clock went back
	rows := b.Query(Filter{Door: "d", From: at(0, 0), To: at(20, 0)})
	if len(rows) != 1 || rows[0].Permit != "P-2" || rows[0].Guest != "Rina" {
		t.Fatalf("%+v", rows)
	}
	rows = b.Query(Filter{From: at(40, 0)})
	if len(rows) != 1 || rows[0].Permit != "P-1" || rows[0].Guest != "" {
		t.Fatalf("%+v", rows)
	}
	// the rows returned are clipped: appending to them leaves the book alone
	rows[0].Alarms = append(rows[0].Alarms, Alarm{Type: "x"})
	if len(b.Rows()[0].Alarms) != 0 {
		t.Fatal("book changed")
	}
}

func BenchmarkBookApply1M(b *testing.B) {
	permits, evs := manyEvents(1_000_000)
	b.ResetTimer()
	for b.Loop() {
		bk := NewBook(permits)
		for i := range evs {
			bk.Apply(evs[i])
		}
		if bk.Len() != 100_000 {
			b.Fatalf("%d rows", bk.Len())
		}
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkBookQuery100k(b *testing.B) {
	permits, evs := manyEvents(1_000_000)
	bk := NewBook(permits)
	for i := range evs {
		bk.Apply(evs[i])
	}
	for _, c := range []struct {
		name string
		f    Filter
		n    int
	}{
		{"all", Filter{}, 100_000},
		{"door", Filter{Site: "s1", Door: "d1"}, 100_000},
		{"door-any-site", Filter{Door: "d1"}, 100_000},
		{"day", Filter{From: t0.Add(24 * time.Hour), To: t0.Add(48 * time.Hour)}, 144},
		{"permit", Filter{Permit: "P-000042"}, 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if rows := bk.Query(c.f); len(rows) != c.n {
					b.Fatalf("%d rows", len(rows))
				}
			}
		})
	}
}

// TestBookServiceTimes: the service times the Book keeps as events are
// applied, permits added (some after their events) and changed, are the
// batch ServiceTimes of the same permits over their door's events, for
// every filter.
func TestBookServiceTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	doors := []string{"d0", "d1", "d2"}
	types := []wire.EventType{wire.EvEscortAwaited, wire.EvGranted, wire.EvVisitEntered, wire.EvVisitEntered, wire.EvExitRequested,
		wire.EvVisitExited, wire.EvVisitExited, wire.EvSecured, wire.EvNotSecured, "door.opened"}
	const permits = 12
	record := func(i int) Record {
		r := rec(fmt.Sprintf("P-%02d", i), fmt.Sprint("Guest ", i), "S-004")
		r.Site, r.Door = "s1", doors[i%len(doors)]
		return withHistory(r, at(-rng.IntN(5), 0), rng.IntN(60), 60+rng.IntN(9), 70+rng.IntN(9), 80+rng.IntN(9))
	}
	for round := range 40 {
		recs := make([]Record, permits)
		for i := range recs {
			recs[i] = record(i)
			recs[i].History = recs[i].History[:1+rng.IntN(len(recs[i].History))]
		}
		var evs []wire.Event
		for i := range 400 {
			e := wire.Event{Site: "s1", Type: types[rng.IntN(len(types))], At: t0.Add(time.Duration(i) * time.Minute),
				Card: fmt.Sprint("c", rng.IntN(3))}
			if e.Type == wire.EvExitRequested || e.Type == wire.EvSecured || e.Type == wire.EvNotSecured || rng.IntN(6) == 0 {
				e.Door = doors[rng.IntN(len(doors))]
			} else {
				p := rng.IntN(permits)
				e.Permit, e.Door = recs[p].ID, recs[p].Door
			}
			evs = append(evs, e)
		}
		b := NewBook(recs[:permits/2])
		for i, e := range evs {
			b.Apply(e)
			if i == len(evs)/3 {
				for _, r := range recs[permits/2:] {
					b.AddPermit(r)
				}
			}
		}
		changed := recs[1]
		changed.History = append(changed.History, Transition{State: Revoked, By: "x", At: at(99, 0)})
		b.AddPermit(changed)
		recs[1] = changed

		from, to := at(rng.IntN(60), 0), at(30+rng.IntN(60), 0)
		for _, f := range []Filter{{}, {Site: "s1", Door: "d1"}, {Door: "d2", From: from}, {To: to}, {From: from, To: to}, {Permit: "P-04"}, {Site: "s2"}} {
			var sel []Record
			var want []ServiceTime
			for _, d := range doors {
				var of []Record
				for _, r := range recs {
					at, _ := r.At(Requested)
					if r.Door == d && (f.Site == "" || r.Site == f.Site) && (f.Door == "" || r.Door == f.Door) &&
						(f.Permit == "" || r.ID == f.Permit) && (f.From.IsZero() || !at.Before(f.From)) && (f.To.IsZero() || at.Before(f.To)) {
						of = append(of, r)
					}
				}
				door := slices.DeleteFunc(slices.Clone(evs), func(e wire.Event) bool { return e.Door != d })
				sel = append(sel, of...)
				want = append(want, ServiceTimes(of, Events(door))...)
			}
			idx := make([]int, len(sel))
			for i := range idx {
				idx[i] = i
			}
			slices.SortFunc(idx, func(i, j int) int { return strings.Compare(sel[i].ID, sel[j].ID) })
			got := b.ServiceTimes(f)
			if len(got) != len(want) {
				t.Fatalf("round %d %+v: %d service times, want %d", round, f, len(got), len(want))
			}
			for k, i := range idx {
				if got[k].Permit != sel[i].ID || got[k] != want[i] {
					t.Fatalf("round %d %+v: %s\ngot  %+v\nwant %+v", round, f, sel[i].ID, got[k], want[i])
				}
			}
		}
	}
}

// TestBookOrganisationSearch: an organisation's search finds the rows of
// the organisation a permit's record names now: a record replaced with
// another organisation moves its rows, a staged visit undone is gone, and
// many digests joined at once (a start's) are found.
func TestBookOrganisationSearch(t *testing.T) {
	b := NewBook(nil)
	r := rec("P-1", "Andi", "S-004")
	r.Site, r.Door, r.Organisation = "s1", "d1", "PT Telkom Indonesia"
	b.AddPermit(r)
	b.Apply(wire.Event{Site: "s1", Door: "d1", Type: wire.EvVisitEntered, Permit: "P-1", At: at(1, 0)})
	find := func(org string) int { rows, n := b.Page(Filter{Organisation: org}, 0, 10); return min(len(rows), n) }
	if find("telkom") != 1 || find("jaringan") != 0 {
		t.Fatalf("telkom %d, jaringan %d; want 1, 0", find("telkom"), find("jaringan"))
	}
	r.Organisation = "CV Jaringan Nusantara"
	b.AddPermit(r)
	if find("telkom") != 0 || find("JARINGAN") != 1 {
		t.Fatalf("after the change: telkom %d, jaringan %d; want 0, 1", find("telkom"), find("JARINGAN"))
	}
	c := b.Stage([]wire.Event{{Site: "s1", Door: "d1", Type: wire.EvVisitEntered, Permit: "P-1", At: at(2, 0)}})
	if find("jaringan") != 2 {
		t.Fatalf("staged: %d rows; want 2", find("jaringan"))
	}
	c.Undo()
	if find("jaringan") != 1 {
		t.Fatalf("undone: %d rows; want 1", find("jaringan"))
	}
	var ds []Digest
	for i := range joinApart + 10 {
		r := rec(fmt.Sprintf("Q-%05d", i), "Sari", "S-004")
		r.Site, r.Door, r.Organisation = "s1", "d2", fmt.Sprint("PT Mitra ", i%2)
		b.Apply(wire.Event{Site: "s1", Door: "d2", Type: wire.EvVisitEntered, Permit: r.ID, At: at(3+i, 0)})
		ds = append(ds, DigestOf(&r))
	}
	b.AddDigests(ds)
	if _, n := b.Page(Filter{Organisation: "mitra 1"}, 0, 1); n != (joinApart+10)/2 {
		t.Fatalf("mitra 1: %d rows; want %d", n, (joinApart+10)/2)
	}
}
