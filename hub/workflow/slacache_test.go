package workflow

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// TestBookSummaries: the summaries of periods the book keeps are, after
// every change (events applied, records replaced, notification times,
// a staged change undone), the Summarise of the ServiceTimes of each
// period and of the whole window, for windows that overlap the kept ones
// in every way, and for a door's and a permit's filter.
func TestBookSummaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	doors := []string{"d0", "d1", "d2"}
	const permits = 60
	day := 24 * 60 // minutes
	record := func(i int) Record {
		r := rec(fmt.Sprintf("P-%03d", i), fmt.Sprint("Guest ", i), "S-004")
		r.Site, r.Door = "s1", doors[i%len(doors)]
		req := rng.IntN(90 * day) // requested some time in 90 days
		return withHistory(r, at(req-rng.IntN(5), 0), req, req+rng.IntN(9), req+10+rng.IntN(9), req+20+rng.IntN(9))
	}
	recs := make([]Record, permits)
	for i := range recs {
		recs[i] = record(i)
		recs[i].History = recs[i].History[:1+rng.IntN(len(recs[i].History))]
	}
	b := NewBook(recs[:permits/2])
	types := []wire.EventType{wire.EvEscortAwaited, wire.EvGranted, wire.EvVisitEntered, wire.EvExitRequested,
		wire.EvVisitExited, wire.EvSecured, wire.EvNotSecured}
	clock := t0
	event := func() wire.Event {
		clock = clock.Add(time.Duration(1+rng.IntN(300)) * time.Second)
		e := wire.Event{Site: "s1", Type: types[rng.IntN(len(types))], At: clock, Card: fmt.Sprint("c", rng.IntN(3))}
		if e.Type == wire.EvExitRequested || e.Type == wire.EvSecured || e.Type == wire.EvNotSecured {
			e.Door = doors[rng.IntN(len(doors))]
		} else {
			p := rng.IntN(permits)
			e.Permit, e.Door = recs[p].ID, recs[p].Door
		}
		return e
	}
	check := func(step int) {
		t.Helper()
		start := rng.IntN(80)
		var bounds []time.Time
		for d := start; d <= start+10+rng.IntN(40); d += 1 + rng.IntN(12) {
			bounds = append(bounds, t0.Add(time.Duration(d*day)*time.Minute))
		}
		if len(bounds) < 2 {
			bounds = append(bounds, bounds[0].Add(240*time.Hour))
		}
		var f Filter
		switch rng.IntN(5) {
		case 0:
			f.Site, f.Door = "s1", doors[rng.IntN(len(doors))]
		case 1:
			f.Permit = recs[rng.IntN(permits)].ID
		}
		all, parts := b.Summaries(f, bounds)
		want := func(from, to time.Time) (int, Summary) {
			g := f
			g.From, g.To = from, to
			sts := b.ServiceTimes(g)
			return len(sts), Summarise(sts)
		}
		if n, s := want(bounds[0], bounds[len(bounds)-1]); all.Permits != n || all.Summary != s {
			t.Fatalf("step %d %+v %v: window of %d permits %+v\nwant %d: %+v", step, f, bounds, all.Permits, all.Summary, n, s)
		}
		if len(parts) != len(bounds)-1 {
			t.Fatalf("step %d: %d periods for %d bounds", step, len(parts), len(bounds))
		}
		for i, p := range parts {
			if n, s := want(bounds[i], bounds[i+1]); p.Permits != n || p.Summary != s || !p.From.Equal(bounds[i]) {
				t.Fatalf("step %d %+v: period %d (%v): %d permits %+v\nwant %d: %+v", step, f, i, p.From, p.Permits, p.Summary, n, s)
			}
		}
	}
	for step := range 3000 {
		switch op := rng.IntN(20); {
		case op < 12:
			b.Apply(event())
		case op < 14:
			i := rng.IntN(permits)
			r := record(i)
			r.ID = recs[i].ID
			recs[i] = r
			b.AddPermit(r)
		case op < 16:
			b.Notified(recs[rng.IntN(permits)].ID, Notified[rng.IntN(len(Notified))], clock.Add(-time.Duration(rng.IntN(1e6))*time.Second))
		case op < 17:
			c := b.Stage([]wire.Event{event(), event(), event()})
			if rng.IntN(2) == 0 {
				c.Undo()
			}
		default:
			check(step)
		}
	}
	if b.slaSize == 0 || len(b.sla) == 0 {
		t.Fatal("no period kept")
	}
}

// TestKth: the k-th of many sorted lists is the k-th of them merged.
func TestKth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		var lists [][]time.Duration
		var merged []time.Duration
		for range 1 + rng.IntN(6) {
			l := make([]time.Duration, 1+rng.IntN(30))
			for i := range l {
				l[i] = time.Duration(rng.IntN(20)) * time.Second
			}
			sortDurations(l)
			lists = append(lists, l)
			merged = append(merged, l...)
		}
		sortDurations(merged)
		for k := range merged {
			if got := kth(lists, k); got != merged[k] {
				t.Fatalf("kth(%v, %d) = %v, want %v", lists, k, got, merged[k])
			}
		}
	}
}
