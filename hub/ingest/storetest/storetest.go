// Package storetest is the behaviour every ingest.EventStore must have,
// as one suite that each backend's tests run (Run): the bbolt Store in
// hub/ingest, PostgreSQL in hub/ingest/pgevents. It checks every method,
// duplicates and gaps refused, the order of epochs, doors and pages, lost
// runs, big payloads, the JSON kept verbatim, a store reopened, two
// goroutines committing one door at once, and the guest book kept with
// the events (testBook).
//
// It must never be imported outside tests.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/wire"
)

// Backend makes a place for a store (a file, a database) for t and
// returns its opener: each call opens the store at that place, empty the
// first time. The suite closes what it opens.
type Backend func(t testing.TB) (open func() (ingest.EventStore, error))

// Run runs the suite against b, a subtest each.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"CommitAndRead", testCommitAndRead},
		{"Order", testOrder},
		{"EpochOrder", testEpochOrder},
		{"DoorOrder", testDoorOrder},
		{"Lost", testLost},
		{"Recent", testRecent},
		{"WalkTypes", testWalkTypes},
		{"BigPayloads", testBigPayloads},
		{"Raw", testRaw},
		{"Reopen", testReopen},
		{"ConcurrentOneStream", testConcurrentOneStream},
		{"ConcurrentEpochs", testConcurrentEpochs},
		{"Book", testBook},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each on a store of its own
			c.fn(t, b)
		})
	}
}

// open opens a fresh store of b, closed when t ends.
func open(t *testing.T, b Backend) ingest.EventStore {
	t.Helper()
	st, err := b(t)()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var types = []wire.EventType{wire.EvTap, wire.EvLocked, wire.EvOpened, wire.EvUnlocked, wire.EvVisitEntered}

// Ev is event seq of a door's epoch: of types[seq%5] and, every third,
// of permit P-<seq%4>.
func Ev(site, door, epoch string, seq uint64) ingest.Event {
	e := ingest.Event{ID: fmt.Sprintf("%s/%s/%s/%d", site, door, epoch, seq), Seq: seq, Epoch: epoch, Site: site, Door: door,
		Type: types[seq%uint64(len(types))], At: time.Date(2026, 11, 27, 3, 2, 3, int(seq)*1000, time.UTC), ClockSynced: true,
		Boot: "b91e", MonoNS: int64(seq) * 1e6, Reader: "entry"}
	if seq%3 == 0 {
		e.Permit = fmt.Sprintf("P-%d", seq%4)
	}
	return e
}

// Evs is events from..to of a door's epoch.
func Evs(site, door, epoch string, from, to uint64) []ingest.Event {
	var out []ingest.Event
	for s := from; s <= to; s++ {
		out = append(out, Ev(site, door, epoch, s))
	}
	return out
}

func put(evs []ingest.Event) []ingest.Put { return ingest.PutsOf(evs) }

func commit(t *testing.T, st ingest.EventStore, evs ...ingest.Event) {
	t.Helper()
	if err := st.Commit(put(evs)); err != nil {
		t.Fatal(err)
	}
}

// same fails t unless got and want encode alike.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %.600s\nwant %.600s", what, g, w)
	}
}

func walk(t *testing.T, st ingest.EventStore, site, door string) []ingest.Event {
	t.Helper()
	var out []ingest.Event
	if err := st.Walk(site, door, func(e ingest.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(evs []ingest.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func testCommitAndRead(t *testing.T, b Backend) {
	st := open(t, b)
	if d, err := st.Doors(); err != nil || len(d) != 0 {
		t.Fatalf("Doors of an empty store = %v, %v; want none", d, err)
	}
	if n, err := st.Total(); err != nil || n != 0 {
		t.Fatalf("Total of an empty store = %d, %v", n, err)
	}
	if th, err := st.Through("demo", "d", "e1"); err != nil || th != 0 {
		t.Fatalf("Through of a stream never seen = %d, %v; want 0", th, err)
	}
	// two doors and two streams in one commit, and a commit after it
	a, c := Evs("demo", "d", "e1", 1, 5), Evs("demo", "other", "x", 1, 3)
	if err := st.Commit(append(put(a), put(c)...)); err != nil {
		t.Fatal(err)
	}
	commit(t, st, Evs("demo", "d", "e1", 6, 8)...)
	a = Evs("demo", "d", "e1", 1, 8)
	if th, err := st.Through("demo", "d", "e1"); err != nil || th != 8 {
		t.Errorf("Through = %d, %v; want 8", th, err)
	}
	got, err := st.Events("demo", "d", "e1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Events(0, 100)", got, a)
	for _, c := range []struct {
		after uint64
		limit int
		want  []ingest.Event
	}{
		{2, 3, a[2:5]}, {7, 5, a[7:]}, {8, 5, nil}, {0, 0, nil}, {^uint64(0), 5, nil}, {3, -1, a[3:]},
	} {
		got, err := st.Events("demo", "d", "e1", c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		same(t, fmt.Sprintf("Events(%d, %d)", c.after, c.limit), got, c.want)
	}
	if got, err := st.Events("demo", "d", "nope", 0, 10); err != nil || len(got) != 0 {
		t.Errorf("Events of an epoch never seen = %v, %v", got, err)
	}
	same(t, "Walk", walk(t, st, "demo", "d"), a)
	same(t, "Walk other", walk(t, st, "demo", "other"), c)
	if got := walk(t, st, "demo", "nope"); len(got) != 0 {
		t.Errorf("Walk of a door never seen = %v", ids(got))
	}
	want := []ingest.DoorEvents{{Site: "demo", Door: "d", Epochs: []ingest.Epoch{{Epoch: "e1", Through: 8}}},
		{Site: "demo", Door: "other", Epochs: []ingest.Epoch{{Epoch: "x", Through: 3}}}}
	ds, err := st.Doors()
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Doors", ds, want)
	d, err := st.Door("demo", "d")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Door", d, want[0])
	if d.Count() != 8 {
		t.Errorf("Count = %d; want 8", d.Count())
	}
	if d, err := st.Door("demo", "nope"); err != nil || d.Site != "demo" || d.Door != "nope" || len(d.Epochs) != 0 {
		t.Errorf("Door of a door never seen = %+v, %v", d, err)
	}
	if n, err := st.Total(); err != nil || n != 11 {
		t.Errorf("Total = %d, %v; want 11", n, err)
	}
	if err := st.Commit(nil); err != nil {
		t.Errorf("Commit(nil) = %v", err)
	}
	if err := st.Commit([]ingest.Put{{Site: "demo", Door: "empty", Epoch: "e"}}); err != nil {
		t.Errorf("Commit of an empty put = %v", err)
	}
	if d, _ := st.Door("demo", "empty"); len(d.Epochs) != 0 {
		t.Errorf("an empty put made epochs: %+v", d)
	}
}

// testOrder: a duplicate or a gap is refused with ErrOrder and nothing of
// its commit is stored.
func testOrder(t *testing.T, b Backend) {
	st := open(t, b)
	commit(t, st, Evs("demo", "d", "e", 1, 3)...)
	for name, evs := range map[string][]ingest.Event{
		"duplicate":         {Ev("demo", "d", "e", 3)},
		"duplicate of one":  {Ev("demo", "d", "e", 1)},
		"gap":               {Ev("demo", "d", "e", 5)},
		"gap within":        {Ev("demo", "d", "e", 4), Ev("demo", "d", "e", 6)},
		"new stream from 2": {Ev("demo", "d", "f", 2)},
	} {
		// with a good put of another door before it: all or nothing
		err := st.Commit(append(put(Evs("demo", "good", "g", 1, 2)), put(evs)...))
		if !errors.Is(err, ingest.ErrOrder) {
			t.Errorf("%s: Commit = %v; want ErrOrder", name, err)
		}
	}
	if d, _ := st.Door("demo", "good"); len(d.Epochs) != 0 {
		t.Errorf("a refused commit stored its other put: %+v", d)
	}
	if d, _ := st.Door("demo", "d"); len(d.Epochs) != 1 {
		t.Errorf("a refused commit made an epoch: %+v", d)
	}
	same(t, "after the refusals", walk(t, st, "demo", "d"), Evs("demo", "d", "e", 1, 3))
	if n, _ := st.Total(); n != 3 {
		t.Errorf("Total = %d; want 3", n)
	}
	// two puts of one stream in one commit continue each other
	if err := st.Commit(append(put(Evs("demo", "d", "e", 4, 5)), append(put(Evs("demo", "x", "y", 1, 1)),
		put(Evs("demo", "d", "e", 6, 7))...)...)); err != nil {
		t.Fatal(err)
	}
	same(t, "two puts of one stream", walk(t, st, "demo", "d"), Evs("demo", "d", "e", 1, 7))
}

// testEpochOrder: a door's epochs read in the order first seen, not by
// name.
func testEpochOrder(t *testing.T, b Backend) {
	st := open(t, b)
	commit(t, st, Evs("demo", "d", "zz", 1, 3)...)
	commit(t, st, Evs("demo", "d", "aa", 1, 2)...)
	commit(t, st, Evs("demo", "d", "zz", 4, 4)...)
	commit(t, st, Evs("demo", "d", "mm", 1, 1)...)
	want := slices.Concat(Evs("demo", "d", "zz", 1, 4), Evs("demo", "d", "aa", 1, 2), Evs("demo", "d", "mm", 1, 1))
	same(t, "Walk", walk(t, st, "demo", "d"), want)
	d, err := st.Door("demo", "d")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Door", d.Epochs, []ingest.Epoch{{Epoch: "zz", Through: 4}, {Epoch: "aa", Through: 2}, {Epoch: "mm", Through: 1}})
	pg, err := st.Recent(ingest.Query{Site: "demo", Door: "d", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want)
	same(t, "Recent", pg.Events, want)
}

// testDoorOrder: doors list as "site/door" sorts as bytes ('-' and '.'
// before '/'), and lost runs as "site/door/epoch".
func testDoorOrder(t *testing.T, b Backend) {
	st := open(t, b)
	names := [][2]string{{"a", "d"}, {"a-b", "d"}, {"a", "d-2"}, {"a.c", "d"}, {"B", "d"}, {"a", "D"}}
	for _, n := range names {
		commit(t, st, Ev(n[0], n[1], "e", 1))
		if err := st.AcceptLost(ingest.Lost{Site: n[0], Door: n[1], Epoch: "e", From: 2, To: 2, By: "admin",
			At: time.Date(2026, 12, 1, 2, 3, 4, 5000, time.UTC), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, n := range names {
		want = append(want, n[0]+"/"+n[1])
	}
	slices.Sort(want)
	ds, err := st.Doors()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.Site+"/"+d.Door)
	}
	same(t, "Doors", got, want)
	ls, err := st.AllLost()
	if err != nil {
		t.Fatal(err)
	}
	got, want = nil, nil
	for _, n := range names {
		want = append(want, n[0]+"/"+n[1]+"/e")
	}
	slices.Sort(want) // "a/d-2/e" before "a/d/e"
	for _, l := range ls {
		got = append(got, l.Site+"/"+l.Door+"/"+l.Epoch)
	}
	same(t, "AllLost", got, want)
}

func lost(site, door, epoch string, from, to uint64) ingest.Lost {
	return ingest.Lost{Site: site, Door: door, Epoch: epoch, From: from, To: to,
		At: time.Date(2026, 12, 1, 2, 3, 4, int(from)*1000, time.UTC), By: "admin", Reason: fmt.Sprintf("run from %d", from)}
}

// testLost: runs accepted as lost continue a stream only where it ends,
// count in Door and Total, and are skipped by Walk and Events.
func testLost(t *testing.T, b Backend) {
	st := open(t, b)
	commit(t, st, Evs("demo", "d", "first", 1, 2)...)
	runs := []ingest.Lost{lost("demo", "d", "e", 1, 3), lost("demo", "d", "e", 7, 3000), lost("demo", "d", "e", 3011, 3011)}
	for _, step := range []func() error{
		func() error { return st.AcceptLost(runs[0]) }, // a stream never seen, from 1
		func() error { return st.Commit(put(Evs("demo", "d", "e", 4, 6))) },
		func() error { return st.AcceptLost(runs[1]) }, // more than a walk's page
		func() error { return st.Commit(put(Evs("demo", "d", "e", 3001, 3010))) },
		func() error { return st.AcceptLost(runs[2]) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []ingest.Lost{lost("demo", "d", "e", 3013, 3020), lost("demo", "d", "e", 3011, 3020),
		lost("demo", "d", "e", 0, 3), lost("demo", "d", "e", 3012, 3011), lost("demo", "d", "new", 2, 3)} {
		if err := st.AcceptLost(bad); !errors.Is(err, ingest.ErrOrder) {
			t.Errorf("AcceptLost(%d..%d) after through 3011 = %v; want ErrOrder", bad.From, bad.To, err)
		}
	}
	if err := st.Commit(put(Evs("demo", "d", "e", 3011, 3011))); !errors.Is(err, ingest.ErrOrder) {
		t.Errorf("Commit of a seq accepted as lost = %v; want ErrOrder", err)
	}
	commit(t, st, Evs("demo", "d", "e", 3012, 3012)...)
	if th, err := st.Through("demo", "d", "e"); err != nil || th != 3012 {
		t.Errorf("Through = %d, %v; want 3012", th, err)
	}
	got, err := st.Lost("demo", "d")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Lost", got, runs)
	all, err := st.AllLost()
	if err != nil {
		t.Fatal(err)
	}
	same(t, "AllLost", all, runs)
	if l, err := st.Lost("demo", "nope"); err != nil || len(l) != 0 {
		t.Errorf("Lost of a door never seen = %v, %v", l, err)
	}
	d, err := st.Door("demo", "d")
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Door", d.Epochs, []ingest.Epoch{{Epoch: "first", Through: 2}, {Epoch: "e", Through: 3012, Lost: 2998}})
	if d.Count() != 2+14 {
		t.Errorf("Count = %d; want 16", d.Count())
	}
	if n, _ := st.Total(); n != 16 {
		t.Errorf("Total = %d; want 16", n)
	}
	want := slices.Concat(Evs("demo", "d", "first", 1, 2), Evs("demo", "d", "e", 4, 6), Evs("demo", "d", "e", 3001, 3010),
		Evs("demo", "d", "e", 3012, 3012))
	same(t, "Walk", walk(t, st, "demo", "d"), want)
	evs, err := st.Events("demo", "d", "e", 5, 3000)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Events(5, 3000)", evs, slices.Concat(Evs("demo", "d", "e", 6, 6), Evs("demo", "d", "e", 3001, 3005)))
}

// pages follows Recent's pages of q from the newest, checking each page's
// size, and returns their events.
func pages(t *testing.T, st ingest.EventStore, q ingest.Query) []ingest.Event {
	t.Helper()
	var out []ingest.Event
	for n := 0; ; n++ {
		if n > 10_000 {
			t.Fatalf("%+v: more than 10,000 pages", q)
		}
		pg, err := st.Recent(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Events) > q.Limit {
			t.Fatalf("%+v: a page of %d", q, len(pg.Events))
		}
		if len(pg.Events) == 0 && pg.Next != "" {
			t.Fatalf("%+v: an empty page with a next", q)
		}
		out = append(out, pg.Events...)
		if pg.Next == "" {
			return out
		}
		q.Before = pg.Next
	}
}

// testRecent: pages of a door's events, all of them or those of a type, a
// permit or both, newest first, each event once, across epochs.
func testRecent(t *testing.T, b Backend) {
	st := open(t, b)
	all := slices.Concat(Evs("demo", "d", "e1", 1, 300), Evs("demo", "d", "e0", 1, 250), Evs("demo", "d", "e2", 1, 40))
	if err := st.Import(all); err != nil {
		t.Fatal(err)
	}
	commit(t, st, Evs("demo", "other", "e", 1, 50)...)
	slices.Reverse(all)
	for _, q := range []ingest.Query{
		{}, {Type: wire.EvTap}, {Type: wire.EvVisitEntered}, {Permit: "P-1"}, {Permit: "P-0", Type: wire.EvOpened},
		{Type: wire.EvForced}, {Permit: "P-9"},
	} {
		var want []ingest.Event
		for _, e := range all {
			if (q.Type == "" || e.Type == q.Type) && (q.Permit == "" || e.Permit == q.Permit) {
				want = append(want, e)
			}
		}
		q.Site, q.Door = "demo", "d"
		for _, limit := range []int{1, 7, 100, 1000} {
			q.Limit = limit
			got := pages(t, st, q)
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("%+v: %d events, want %d", q, len(got), len(want))
			}
		}
		// a page that stops on an epoch's first event, and the next from
		// its cursor
		if len(want) > 0 {
			same(t, fmt.Sprintf("%+v pages", q), pages(t, st, ingest.Query{Site: "demo", Door: "d", Type: q.Type,
				Permit: q.Permit, Limit: 40}), want)
		}
	}
	pg, err := st.Recent(ingest.Query{Site: "demo", Door: "d", Limit: 40})
	if err != nil {
		t.Fatal(err)
	}
	// the page holds the newest epoch (order 3) whole; the next starts
	// with the newest of the epoch before it
	if want := ingest.CursorAt(2, 250); pg.Next != want {
		t.Errorf("Next after e2's 40 = %q; want %q (epoch order 2, seq 250)", pg.Next, want)
	}
	if pg, err := st.Recent(ingest.Query{Site: "demo", Door: "nope", Limit: 5}); err != nil || len(pg.Events) != 0 || pg.Next != "" {
		t.Errorf("Recent of a door never seen = %+v, %v", pg, err)
	}
	if _, err := st.Recent(ingest.Query{Site: "demo", Door: "d", Limit: 5, Before: "!!"}); !errors.Is(err, ingest.ErrCursor) {
		t.Errorf("Recent with a bad cursor = %v; want ErrCursor", err)
	}
	if _, err := st.Recent(ingest.Query{Site: "demo", Door: "d"}); err == nil {
		t.Error("Recent with limit 0 succeeded")
	}
	for _, c := range []struct {
		before string
		want   []ingest.Event
	}{
		{ingest.CursorAt(1, 5), all[len(all)-5:]},          // before e1's 6: its 1..5
		{ingest.CursorAt(1, 0), nil},                       // the first of e1: none before
		{ingest.CursorAt(^uint64(0)-1, ^uint64(0)-1), all}, // beyond every epoch
		{ingest.CursorAt(2, ^uint64(0)), all[40:]},         // beyond e0's every seq: e0 and e1
		{ingest.CursorAt(3, ^uint64(0)-1), all},            // beyond e2's every seq
		{ingest.CursorAt(2, (1<<63)+5), all[40:]},          // beyond a bigint
		{ingest.CursorAt(1<<63, 1), all},                   // an order beyond a bigint
		{ingest.CursorAt(0, ^uint64(0)), nil},              // order 0 whole: none
	} {
		pg, err := st.Recent(ingest.Query{Site: "demo", Door: "d", Limit: 1000, Before: c.before})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(pg.Events), ids(c.want)) {
			t.Errorf("Recent before %q: %d events, want %d", c.before, len(pg.Events), len(c.want))
		}
	}
}

// testWalkTypes: only the events of the types asked, in the log's order.
func testWalkTypes(t *testing.T, b Backend) {
	st := open(t, b)
	all := slices.Concat(Evs("demo", "d", "e1", 1, 3000), Evs("demo", "d", "e0", 1, 20))
	if err := st.Import(all); err != nil {
		t.Fatal(err)
	}
	for _, ts := range [][]wire.EventType{{wire.EvTap}, {wire.EvVisitEntered, wire.EvLocked}, {wire.EvForced}, nil, types} {
		var want, got []ingest.Event
		for _, e := range all {
			if slices.Contains(ts, e.Type) {
				want = append(want, e)
			}
		}
		if err := st.WalkTypes("demo", "d", ts, func(e ingest.Event) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		same(t, fmt.Sprintf("WalkTypes(%v)", ts), got, want)
	}
	stop := errors.New("enough")
	n := 0
	err := st.WalkTypes("demo", "d", types, func(ingest.Event) error {
		if n++; n == 1500 {
			return stop
		}
		return nil
	})
	if err != stop || n != 1500 {
		t.Errorf("WalkTypes stopped by its fn = %v after %d; want %v after 1500", err, n, stop)
	}
}

// testBigPayloads: events at their members' bounds come back whole, and a
// commit of many events in one transaction.
func testBigPayloads(t *testing.T, b Backend) {
	st := open(t, b)
	var evs []ingest.Event
	for seq := uint64(1); seq <= 20; seq++ {
		e := Ev("demo", "d", "e", seq)
		e.Type = wire.EvNotSecured
		e.Detail = strings.Repeat("ü", ingest.MaxDetail/2)
		for r := range ingest.MaxRacks {
			e.Racks = append(e.Racks, fmt.Sprintf("%03d-%s", r, strings.Repeat("R", ingest.MaxMember-4)))
		}
		e.Permit = strings.Repeat("P", ingest.MaxMember)
		e.Reason = wire.Reason("quote\" backslash\\ nul\x00 <tag> '")
		evs = append(evs, e)
	}
	commit(t, st, evs...)
	same(t, "Walk", walk(t, st, "demo", "d"), evs)
	pg, err := st.Recent(ingest.Query{Site: "demo", Door: "d", Permit: evs[0].Permit, Limit: 1})
	if err != nil || len(pg.Events) != 1 {
		t.Fatalf("Recent of a long permit = %+v, %v", pg, err)
	}
	same(t, "Recent", pg.Events[0], evs[19])
	// one put of 5,000 events: several of a walk's pages, more than the
	// ingest's batch
	many := Evs("demo", "many", "e", 1, 5000)
	if err := st.Commit(put(many)); err != nil {
		t.Fatal(err)
	}
	if got := walk(t, st, "demo", "many"); !slices.Equal(ids(got), ids(many)) {
		t.Errorf("Walk of 5,000: %d events", len(got))
	}
	if n, _ := st.Total(); n != 5020 {
		t.Errorf("Total = %d; want 5020", n)
	}
}

// testRaw: the JSON a put gives is what is stored, not the event encoded
// again.
func testRaw(t *testing.T, b Backend) {
	st := open(t, b)
	e1, e2 := Ev("demo", "d", "e", 1), Ev("demo", "d", "e", 2)
	alt := e2
	alt.Detail = "as received"
	raw, err := json.Marshal(&alt)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit([]ingest.Put{{Site: "demo", Door: "d", Epoch: "e", Events: []ingest.Event{e1, e2}, Raw: [][]byte{nil, raw}}}); err != nil {
		t.Fatal(err)
	}
	same(t, "Walk", walk(t, st, "demo", "d"), []ingest.Event{e1, alt})
}

// testReopen: what is stored is there after the store is closed and
// opened again, and continues.
func testReopen(t *testing.T, b Backend) {
	openAt := b(t)
	st, err := openAt()
	if err != nil {
		t.Fatal(err)
	}
	commit(t, st, Evs("demo", "d", "e", 1, 10)...)
	if err := st.AcceptLost(lost("demo", "d", "e", 11, 20)); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = openAt(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if th, err := st.Through("demo", "d", "e"); err != nil || th != 20 {
		t.Fatalf("Through after reopening = %d, %v; want 20", th, err)
	}
	commit(t, st, Evs("demo", "d", "e", 21, 22)...)
	same(t, "Walk", walk(t, st, "demo", "d"), slices.Concat(Evs("demo", "d", "e", 1, 10), Evs("demo", "d", "e", 21, 22)))
}

// testConcurrentOneStream: two goroutines (two hub replicas) store one
// door's stream at once, each from the through it read: every seq is
// stored once and in order, the loser of each race refused with ErrOrder.
func testConcurrentOneStream(t *testing.T, b Backend) {
	st := open(t, b)
	const n, batch = 600, 7
	var wg sync.WaitGroup
	errs := make([]error, 2)
	refused := make([]int, 2)
	for g := range 2 {
		wg.Go(func() {
			for {
				th, err := st.Through("demo", "d", "e")
				if err != nil {
					errs[g] = err
					return
				}
				if th >= n {
					return
				}
				err = st.Commit(put(Evs("demo", "d", "e", th+1, min(th+batch, n))))
				if errors.Is(err, ingest.ErrOrder) {
					refused[g]++
					continue
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	same(t, "Walk", walk(t, st, "demo", "d"), Evs("demo", "d", "e", 1, n))
	if n, _ := st.Total(); n != 600 {
		t.Errorf("Total = %d", n)
	}
	t.Logf("commits refused as raced: %d and %d", refused[0], refused[1])
}

// testConcurrentEpochs: two goroutines store two new epochs of one door
// at once, and a third door's events besides: each epoch gets an order of
// its own.
func testConcurrentEpochs(t *testing.T, b Backend) {
	st := open(t, b)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for g, ep := range []string{"a", "b", "c"} {
		wg.Go(func() {
			for seq := uint64(1); seq <= n; seq++ {
				evs := Evs("demo", "d", ep, seq, seq)
				if g == 2 {
					evs = append(Evs("demo", "d", "c", seq, seq), Evs("demo", "x", "c", seq, seq)...)
				}
				if errs[g] = st.Commit(put(evs)); errs[g] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	d, err := st.Door("demo", "d")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Epochs) != 3 || d.Count() != 3*n {
		t.Fatalf("Door = %+v; want three epochs of %d", d, n)
	}
	// the log reads epoch after epoch, whichever came first
	var want []ingest.Event
	for _, ep := range d.Epochs {
		want = append(want, Evs("demo", "d", ep.Epoch, 1, n)...)
	}
	same(t, "Walk", walk(t, st, "demo", "d"), want)
	pg, err := st.Recent(ingest.Query{Site: "demo", Door: "d", Limit: 3 * n})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want)
	same(t, "Recent", pg.Events, want)
	same(t, "other door", walk(t, st, "demo", "x"), Evs("demo", "x", "c", 1, n))
}
