package pgevents_test

import (
	"context"
	"testing"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
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
