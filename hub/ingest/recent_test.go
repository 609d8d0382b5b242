package ingest

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/wire"
	bolt "go.etcd.io/bbolt"
)

// fillStore commits n events of each of epochs to door demo/d, in order;
// event i is of types[i%len(types)] and, every third, of permit P-<i%5>.
func fillStore(t testing.TB, st *Store, epochs []string, n int) {
	t.Helper()
	types := []wire.EventType{wire.EvTap, wire.EvLocked, wire.EvOpened, wire.EvUnlocked}
	for _, ep := range epochs {
		for from := 1; from <= n; from += 5000 {
			var evs []Event
			for seq := from; seq < from+5000 && seq <= n; seq++ {
				e := Event{ID: fmt.Sprintf("demo/d/%s/%d", ep, seq), Seq: uint64(seq), Epoch: ep, Site: "demo", Door: "d",
					Type: types[seq%len(types)]}
				if seq%3 == 0 {
					e.Permit = fmt.Sprintf("P-%d", seq%5)
				}
				evs = append(evs, e)
			}
			if err := st.Commit([]Put{{Site: "demo", Door: "d", Epoch: ep, Events: evs}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := boltcheck.Check(st.db); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return st
}

// allPages follows Recent's pages from the newest and returns their
// events, newest first, checking each page's size.
func allPages(t *testing.T, st *Store, q Query) []Event {
	t.Helper()
	var out []Event
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%+v: more than 1000 pages", q)
		}
		pg, err := st.Recent(q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		if len(pg.Events) > q.Limit {
			t.Fatalf("%+v: a page of %d", q, len(pg.Events))
		}
		// only a query of both a type and a permit, which reads the
		// permit's events, may end a page short (MaxScan)
		if pg.Next != "" && len(pg.Events) < q.Limit && (q.Type == "" || q.Permit == "") {
			t.Fatalf("%+v: a short page of %d with a next page", q, len(pg.Events))
		}
		out = append(out, pg.Events...)
		if pg.Next == "" {
			return out
		}
		q.Before = pg.Next
	}
}

// TestRecent: Recent's pages, followed from the newest, are the door's
// events that match, newest first, whatever the page size, filter and
// epochs; they agree with Walk.
func TestRecent(t *testing.T) {
	st := openTestStore(t, filepath.Join(t.TempDir(), "hub.db"))
	fillStore(t, st, []string{"e1", "e2", "e3"}, 40)
	var all []Event
	if err := st.Walk("demo", "d", func(e Event) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(all)
	for _, q := range []Query{
		{}, {Type: wire.EvTap}, {Permit: "P-2"}, {Type: wire.EvLocked, Permit: "P-2"},
		{Type: wire.EvForced}, {Permit: "P-9"}, {Type: wire.EvTap, Permit: "P-9"},
	} {
		var want []Event
		for _, e := range all {
			if (q.Type == "" || e.Type == q.Type) && (q.Permit == "" || e.Permit == q.Permit) {
				want = append(want, e)
			}
		}
		for _, limit := range []int{1, 3, 7, 40, 200} {
			q.Site, q.Door, q.Limit, q.Before = "demo", "d", limit, ""
			if got := allPages(t, st, q); !slices.EqualFunc(got, want, func(a, b Event) bool { return a.ID == b.ID }) {
				t.Errorf("%+v: %d events %v; want %d", q, len(got), ids(got), len(want))
			}
		}
	}
	if pg, err := st.Recent(Query{Site: "demo", Door: "other", Limit: 5}); err != nil || len(pg.Events) != 0 || pg.Next != "" {
		t.Errorf("an unknown door: %+v, %v", pg, err)
	}
	for _, bad := range []string{"x", "AAAA", "!!!!"} {
		if _, err := st.Recent(Query{Site: "demo", Door: "d", Limit: 5, Before: bad}); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// TestRecentReadsLittle: Recent reads the events it returns and stops:
// an unreadable old event makes no difference to a page of newer ones,
// with or without a filter.
func TestRecentReadsLittle(t *testing.T) {
	st := openTestStore(t, filepath.Join(t.TempDir(), "hub.db"))
	fillStore(t, st, []string{"e1"}, 100)
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bEvents).Bucket(streamKey("demo", "d", "e1")).Put(seqKey(4), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{{}, {Type: wire.EvTap}, {Permit: "P-0"}} {
		q.Site, q.Door, q.Limit = "demo", "d", 5
		if pg, err := st.Recent(q); err != nil || len(pg.Events) != 5 || pg.Next == "" {
			t.Errorf("%+v: %d events, %v", q, len(pg.Events), err)
		}
	}
	// read down to it, the page fails
	if _, err := st.Recent(Query{Site: "demo", Door: "d", Limit: 100}); err == nil {
		t.Error("the corrupt event read without an error")
	}
}

// TestOpenIndexesAnOldStore: a file written before the index is indexed
// when opened; the filtered pages then agree with the log.
func TestOpenIndexesAnOldStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	fillStore(t, st, []string{"e1", "e2"}, 30)
	// as the file was before: no index, not marked
	if err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.DeleteBucket(bIndex)
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bIndex); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(mIndexed)
	}); err != nil {
		t.Fatal(err)
	}
	if pg, err := st.Recent(Query{Site: "demo", Door: "d", Type: wire.EvTap, Limit: 100}); err != nil || len(pg.Events) != 0 {
		t.Fatalf("no index: %d events, %v", len(pg.Events), err)
	}
	st.Close()
	st = openTestStore(t, path)
	pg, err := st.Recent(Query{Site: "demo", Door: "d", Type: wire.EvTap, Limit: 100})
	if err != nil || len(pg.Events) != 14 || pg.Events[0].ID != "demo/d/e2/28" || pg.Events[13].ID != "demo/d/e1/4" {
		t.Fatalf("reindexed: %v, %v; want the 14 taps, newest first", ids(pg.Events), err)
	}
}

// BenchmarkRecent: a page of the 100 newest events of a door, of any
// type, of one type and of one permit, against a door of 50,000 and of
// 1,000,000 events: it does not grow with the log. "walk" is the read of
// the whole log that /api/events did before, for the ratio.
func BenchmarkRecent(b *testing.B) {
	for _, n := range []int{50_000, 1_000_000} {
		st, err := OpenStore(filepath.Join(b.TempDir(), "hub.db"))
		if err != nil {
			b.Fatal(err)
		}
		fillStore(b, st, []string{"e1"}, n)
		for _, q := range []Query{{}, {Type: wire.EvTap}, {Permit: "P-1"}} {
			q.Site, q.Door, q.Limit = "demo", "d", 100
			b.Run(fmt.Sprintf("events=%d/type=%s/permit=%s", n, q.Type, q.Permit), func(b *testing.B) {
				for b.Loop() {
					if pg, err := st.Recent(q); err != nil || len(pg.Events) != 100 {
						b.Fatal(len(pg.Events), err)
					}
				}
			})
		}
		if n <= 50_000 {
			b.Run(fmt.Sprintf("events=%d/walk", n), func(b *testing.B) {
				for b.Loop() {
					if err := st.Walk("demo", "d", func(Event) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		st.Close()
	}
}

// TestImport: Import stores events of several streams, interleaved, as
// the ingest would, index included, and refuses one that leaves a gap.
func TestImport(t *testing.T) {
	st := openTestStore(t, filepath.Join(t.TempDir(), "hub.db"))
	var evs []Event
	for seq := uint64(1); seq <= 3; seq++ {
		for _, door := range []string{"a", "b"} {
			evs = append(evs, Event{ID: fmt.Sprintf("demo/%s/e/%d", door, seq), Seq: seq, Epoch: "e", Site: "demo", Door: door, Type: wire.EvTap})
		}
	}
	if err := st.Import(evs); err != nil {
		t.Fatal(err)
	}
	for _, door := range []string{"a", "b"} {
		pg, err := st.Recent(Query{Site: "demo", Door: door, Type: wire.EvTap, Limit: 10})
		if th, _ := st.Through("demo", door, "e"); th != 3 || err != nil || len(pg.Events) != 3 {
			t.Errorf("door %s: through %d, %d taps (%v)", door, th, len(pg.Events), err)
		}
	}
	if err := st.Import([]Event{{ID: "demo/a/e/5", Seq: 5, Epoch: "e", Site: "demo", Door: "a", Type: wire.EvTap}}); err == nil {
		t.Error("a gap imported")
	}
}
