package ingest_test

import (
	"path/filepath"
	"testing"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
	"github.com/kunci-project/kunci/internal/boltcheck"
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
