package kvtest

import (
	"context"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// Bolt is a bbolt file in t's folder, checked when t ends.
func Bolt(t testing.TB) func() (kv.DB, error) {
	t.Helper()
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

// Postgres is a PostgreSQL database of t's own (internal/pgtest: t is
// skipped without a server, but in CI).
func Postgres(t testing.TB) func() (kv.DB, error) {
	t.Helper()
	dsn := pgtest.DB(t)
	return func() (kv.DB, error) { return pgkv.Open(context.Background(), dsn, pgkv.Options{}) }
}

// again holds the names of the tests running RunOnPostgres.
var again sync.Map

// RunOnPostgres runs a package's own tests a second time, each a subtest
// of t named for it, with PostgreSQL where they open their store through
// New or ask OnPostgres.
func RunOnPostgres(t *testing.T, tests ...func(*testing.T)) {
	again.Store(t.Name()+"/", true)
	t.Cleanup(func() { again.Delete(t.Name() + "/") })
	for _, fn := range tests {
		name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
		t.Run(name[strings.LastIndexByte(name, '.')+1:], fn)
	}
}

// OnPostgres reports whether t runs under RunOnPostgres.
func OnPostgres(t testing.TB) bool {
	on := false
	again.Range(func(k, _ any) bool {
		on = strings.HasPrefix(t.Name()+"/", k.(string))
		return !on
	})
	return on
}

// New is t's store: Postgres under RunOnPostgres, else Bolt.
func New(t testing.TB) func() (kv.DB, error) {
	t.Helper()
	if OnPostgres(t) {
		return Postgres(t)
	}
	return Bolt(t)
}
