package ingest_test

import (
	"path/filepath"
	"testing"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	bolt "go.etcd.io/bbolt"
)

// TestStoreSuite runs the behaviour every event store must have against
// the bbolt Store, checking the file's integrity after each test.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t testing.TB) func() (ingest.EventStore, error) {
		path := filepath.Join(t.TempDir(), "events.db")
		t.Cleanup(func() {
			if err := boltcheck.CheckFile(path); err != nil {
				t.Error(err)
			}
		})
		return func() (ingest.EventStore, error) { return ingest.OpenStore(path) }
	})
}

// TestStoreOlder: a file an older hub wrote, without the guest book, has
// it built from its events at open, once.
func TestStoreOlder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	t.Cleanup(func() { // after Older's, which closes the store
		if err := boltcheck.CheckFile(path); err != nil {
			t.Error(err)
		}
	})
	storetest.Older(t, func() (ingest.EventStore, error) { return ingest.OpenStore(path) }, func(st ingest.EventStore) error {
		return st.(*ingest.Store).DB().Update(func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("book")); err != nil {
				return err
			}
			return tx.Bucket([]byte("meta")).Delete([]byte("book"))
		})
	})
}
