package kv_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/internal/boltcheck"
)

// TestBoltSuite runs the behaviour every kv.DB must have against the
// bbolt adapter, checking the file's integrity after each test.
func TestBoltSuite(t *testing.T) {
	kvtest.Run(t, kvtest.Backend{New: BoltBackend})
}

// BoltBackend is a bbolt file in t's directory.
func BoltBackend(t testing.TB) func() (kv.DB, error) {
	path := filepath.Join(t.TempDir(), "kv.db")
	t.Cleanup(func() {
		if err := boltcheck.CheckFile(path); err != nil {
			t.Error(err)
		}
	})
	return func() (kv.DB, error) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		return kv.Bolt(db), nil
	}
}
