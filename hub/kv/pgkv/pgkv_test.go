package pgkv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// TestSuite runs the behaviour every kv.DB must have against PostgreSQL,
// a database of its own per test; two opens of one database are two hub
// processes.
func TestSuite(t *testing.T) {
	kvtest.Run(t, kvtest.Backend{Shared: true, New: kvtest.Postgres})
}

// TestBounded: a writer that cannot get the writers' lock, and a
// transaction whose connection is gone, fail their call; neither hangs.
func TestBounded(t *testing.T) {
	dsn := pgtest.DB(t)
	ctx := context.Background()
	db, err := pgkv.Open(ctx, dsn, pgkv.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// another session holds the lock of the store's writers
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1, 0)", int32(pgstore.LockKV)); err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("a")).Put([]byte("k"), []byte("v")) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update while another holds the lock = %v; want the deadline", err)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1, 0)", int32(pgstore.LockKV)); err != nil {
		t.Fatal(err)
	}
	// the connection of a transaction is killed under it
	var ferr error
	err = db.View(func(tx kv.Tx) error {
		b := tx.Bucket([]byte("a"))
		b.Get([]byte("k"))
		if _, err := holder.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			return err
		}
		if v := b.Get([]byte("k")); v != nil {
			t.Errorf("Get on a lost connection = %q", v)
		}
		ferr = errors.New("fn went on")
		return ferr
	})
	if err == nil || errors.Is(err, ferr) {
		t.Errorf("View on a lost connection = %v; want the connection's error", err)
	}
	// the pool takes a new connection for the next call
	if err := db.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("a")).Put([]byte("k"), []byte("v")) }); err != nil {
		t.Errorf("Update after a lost connection = %v", err)
	}
}
