package pgstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/internal/pgtest"
)

var files = fstest.MapFS{
	"m/0001_first.sql":  {Data: []byte("CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n")},
	"m/0002_second.sql": {Data: []byte("ALTER TABLE a ADD COLUMN z text;\n")},
	"m/README":          {Data: []byte("not a migration")},
}

func migrations(t *testing.T) []pgstore.Migration {
	t.Helper()
	ms, err := pgstore.Migrations(files, "m")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestMigrate: the migrations apply once each, in order, from several
// openers at once; a schema newer than the code is refused.
func TestMigrate(t *testing.T) {
	dsn := pgtest.DB(t)
	ctx := context.Background()
	pool, err := pgstore.Open(ctx, dsn, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ms := migrations(t)
	if v, err := pgstore.Migrate(ctx, pool, "test", ms[:1]); err != nil || v != 1 {
		t.Fatalf("Migrate to 1 = %d, %v", v, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			var v int
			v, errs[i] = pgstore.Migrate(ctx, pool, "test", ms)
			if errs[i] == nil && v != 2 {
				errs[i] = errors.New("not at version 2")
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM schema_version WHERE component = 'test'").Scan(&n); err != nil || n != 2 {
		t.Errorf("schema_version rows = %d, %v; want 2", n, err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO a (x, z) VALUES (1, 'ok')"); err != nil {
		t.Errorf("the migrated table: %v", err)
	}
	// another component has its own versions
	if v, err := pgstore.Migrate(ctx, pool, "other", []pgstore.Migration{{Version: 1, Name: "0001_c.sql", SQL: "CREATE TABLE c (x int)"}}); err != nil || v != 1 {
		t.Errorf("Migrate of another component = %d, %v", v, err)
	}
	if _, err := pgstore.Migrate(ctx, pool, "test", ms[:1]); !errors.Is(err, pgstore.ErrNewerSchema) {
		t.Errorf("Migrate by an older kunci = %v; want ErrNewerSchema", err)
	}
	// a migration that fails leaves the version where it was
	bad := append(ms, pgstore.Migration{Version: 3, Name: "0003_bad.sql", SQL: "ALTER TABLE nope ADD COLUMN q int"})
	if v, err := pgstore.Migrate(ctx, pool, "test", bad); err == nil || v != 2 || !strings.Contains(err.Error(), "0003_bad.sql") {
		t.Errorf("a failing migration = %d, %v; want version 2 and its name", v, err)
	}
}

func TestMigrationsRefused(t *testing.T) {
	for name, fs := range map[string]fstest.MapFS{
		"gap":      {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"twice":    {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"no digit": {"m/first.sql": {}},
		"zero":     {"m/0000_a.sql": {}},
	} {
		if _, err := pgstore.Migrations(fs, "m"); err == nil {
			t.Errorf("%s: Migrations accepted", name)
		}
	}
}

func TestReadDSNFile(t *testing.T) {
	dir := t.TempDir()
	const dsn = "postgres://kunci:s3cret@db.example:5432/kunci"
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got, err := pgstore.ReadDSNFile(write("ok", dsn+"\n", 0o600)); err != nil || got != dsn {
		t.Errorf("ReadDSNFile = %q, %v", got, err)
	}
	if _, err := pgstore.ReadDSNFile(write("group", dsn, 0o640)); err != nil {
		t.Errorf("ReadDSNFile of mode 0640 = %v; want accepted", err)
	}
	for name, c := range map[string]struct {
		content string
		mode    os.FileMode
	}{"world": {dsn, 0o644}, "empty": {"\n", 0o600}, "not a dsn": {"postgres://kunci:s3cret@db:port/x", 0o600}} {
		_, err := pgstore.ReadDSNFile(write(name, c.content, c.mode))
		if err == nil {
			t.Errorf("%s: ReadDSNFile accepted", name)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if got := pgstore.Redact(dsn); got != "postgres://kunci@db.example:5432/kunci" {
		t.Errorf("Redact = %q", got)
	}
	if !pgstore.HasPassword(dsn) || pgstore.HasPassword("postgres://kunci@db/x") {
		t.Error("HasPassword wrong")
	}
	if !pgstore.IsDSN("postgresql://x/y") || pgstore.IsDSN("/var/lib/kunci/hub-events.db") {
		t.Error("IsDSN wrong")
	}
}

// Every lock class is the hub's own and none is another's.
func TestLockClassesApart(t *testing.T) {
	seen := map[pgstore.LockClass]bool{}
	for _, c := range []pgstore.LockClass{pgstore.LockMigrate, pgstore.LockEventsDoor, pgstore.LockKV, pgstore.LockLeader, pgstore.LockBook} {
		if seen[c] {
			t.Errorf("lock class %#x used twice", c)
		}
		seen[c] = true
	}
}
