package migrate_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
	"github.com/kunci-project/kunci/hub/migrate"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// source is a hub's bbolt event store with two doors, two epochs, lost
// runs inside an epoch and at its end, and more events than a page.
func source(t *testing.T) *ingest.Store {
	t.Helper()
	st, err := ingest.OpenStore(filepath.Join(t.TempDir(), "hub-events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lost := func(door, epoch string, from, to uint64) {
		t.Helper()
		if err := st.AcceptLost(ingest.Lost{Site: "demo", Door: door, Epoch: epoch, From: from, To: to,
			At: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), By: "admin", Reason: "hub-events.db restored"}); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Import(storetest.Evs("demo", "server-room", "e1", 1, 50)))
	lost("server-room", "e1", 51, 60)
	must(st.Import(storetest.Evs("demo", "server-room", "e1", 61, 100)))
	must(st.Import(storetest.Evs("demo", "server-room", "e2", 1, 30)))
	lost("server-room", "e2", 31, 40)
	must(st.Import(storetest.Evs("demo", "rack-room", "e9", 1, 25_000)))
	return st
}

// same fails t unless both stores hold the same events of every door, in
// the same order, and the same lost runs.
func same(t *testing.T, a, b ingest.EventStore) {
	t.Helper()
	doors, err := a.Doors()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range doors {
		var ea, eb []ingest.Event
		if err := a.Walk(d.Site, d.Door, func(e ingest.Event) error { ea = append(ea, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if err := b.Walk(d.Site, d.Door, func(e ingest.Event) error { eb = append(eb, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ea, eb) {
			t.Errorf("%s: %d events in the source, %d in the target, not the same", d.Door, len(ea), len(eb))
		}
		la, _ := a.Lost(d.Site, d.Door)
		lb, _ := b.Lost(d.Site, d.Door)
		for i := range la {
			la[i].At, lb[i].At = la[i].At.UTC(), lb[i].At.UTC()
		}
		if !reflect.DeepEqual(la, lb) {
			t.Errorf("%s: lost runs %+v in the source, %+v in the target", d.Door, la, lb)
		}
	}
}

// The events and lost runs of a bbolt store are copied into PostgreSQL
// (and into another bbolt file), the same door by door; a second run
// copies nothing and finds the same.
func TestEvents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) ingest.EventStore
	}{
		{"postgres", func(t *testing.T) ingest.EventStore {
			st, err := pgevents.Open(context.Background(), pgtest.DB(t), pgevents.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"bbolt", func(t *testing.T) ingest.EventStore {
			st, err := ingest.OpenStore(filepath.Join(t.TempDir(), "copy.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := source(t), tc.target(t)
			var doors []string
			c, err := migrate.Events(src, dst, func(door string, _ uint64) { doors = append(doors, door) })
			if err != nil {
				t.Fatal(err)
			}
			want := migrate.EventCounts{Doors: 2, Epochs: 3, Events: 25_120, Copied: 25_120, LostRuns: 2, CopiedLostRuns: 2,
				TargetEventsNow: 25_120}
			if c != want || len(doors) != 2 {
				t.Errorf("counts %+v, doors %v; want %+v", c, doors, want)
			}
			same(t, src, dst)
			again, err := migrate.Events(src, dst, nil)
			if err != nil || again.Copied != 0 || again.CopiedLostRuns != 0 || again.Events != want.Events {
				t.Errorf("second run: %+v, %v; want nothing copied", again, err)
			}
		})
	}
}

// An interrupted migration (the target holding a part) is finished by the
// next run.
func TestEventsResumes(t *testing.T) {
	src := source(t)
	dst, err := ingest.OpenStore(filepath.Join(t.TempDir(), "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Import(storetest.Evs("demo", "rack-room", "e9", 1, 12_345)); err != nil {
		t.Fatal(err)
	}
	c, err := migrate.Events(src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Copied != 25_120-12_345 {
		t.Errorf("copied %d; want the %d the target lacked", c.Copied, 25_120-12_345)
	}
	same(t, src, dst)
}

// A target holding other events of a door than the source's is refused:
// nothing of the source is written over it.
func TestEventsRefusesAnotherHistory(t *testing.T) {
	src := source(t)
	dst, err := ingest.OpenStore(filepath.Join(t.TempDir(), "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	other := storetest.Evs("demo", "server-room", "e1", 1, 70) // past the source's lost run
	if err := dst.Import(other); err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Events(src, dst, nil); !errors.Is(err, migrate.ErrMismatch) {
		t.Fatalf("a target with another history of a door: %v; want ErrMismatch", err)
	}
}
