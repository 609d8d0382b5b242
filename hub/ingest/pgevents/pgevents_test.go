package pgevents_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// TestStoreSuite runs the behaviour every event store must have against
// PostgreSQL, a database of its own per test.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t testing.TB) func() (ingest.EventStore, error) {
		dsn := pgtest.DB(t)
		return func() (ingest.EventStore, error) { return pgevents.Open(context.Background(), dsn, pgevents.Options{}) }
	})
}

// TestStoreOlder: a database an older hub wrote, without the guest book,
// has it built from its events at open, once.
func TestStoreOlder(t *testing.T) {
	dsn := pgtest.DB(t)
	storetest.Older(t, func() (ingest.EventStore, error) { return pgevents.Open(context.Background(), dsn, pgevents.Options{}) },
		func(st ingest.EventStore) error {
			pool := st.(*pgevents.Store).Pool()
			for _, q := range []string{"DELETE FROM events_book_kept", "DELETE FROM events_book"} {
				if _, err := pool.Exec(context.Background(), q); err != nil {
					return err
				}
			}
			return nil
		})
}

// TestCommitFailedAfterStage: a commit that fails after its guest-book
// change was staged (an event id already stored: the database refuses the
// insert) leaves the book as it was, and the events stored after it make
// the book built from the events.
func TestCommitFailedAfterStage(t *testing.T) {
	st, err := pgevents.Open(context.Background(), pgtest.DB(t), pgevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, permits := storetest.History(3, 4)
	n := len(evs) / 2
	if err := st.Import(evs[:n]); err != nil {
		t.Fatal(err)
	}
	book, _ := st.Book()
	book.AddPermits(permits)
	before, times := book.Rows(), book.ServiceTimes(workflow.Filter{})
	bad := slices.Clone(evs[n : n+10])
	bad[len(bad)-1].ID = evs[0].ID
	if err := st.Commit(ingest.PutsOf(bad)); err == nil {
		t.Fatal("a commit with an id already stored was taken")
	}
	if after := book.Rows(); len(before) == 0 || !reflect.DeepEqual(after, before) {
		t.Fatalf("the failed commit left %d rows in the book, %d before:\n%+v\nbefore\n%+v", len(after), len(before), after, before)
	}
	if after := book.ServiceTimes(workflow.Filter{}); !slices.Equal(after, times) {
		t.Fatalf("the failed commit changed the service times:\n%+v\nbefore\n%+v", after, times)
	}
	if err := st.Import(evs[n:]); err != nil {
		t.Fatal(err)
	}
	want, err := ingest.BuildBookOf(st, permits)
	if err != nil {
		t.Fatal(err)
	}
	if got := book.Rows(); len(got) == 0 || !reflect.DeepEqual(got, want.Rows()) {
		t.Fatalf("the book after the failed commit: %d rows; built from the events, %d", len(got), want.Len())
	}
	if g, w := book.ServiceTimes(workflow.Filter{}), want.ServiceTimes(workflow.Filter{}); !slices.Equal(g, w) {
		t.Fatalf("service times %+v; built from the events %+v", g, w)
	}
}
