package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IsDSN reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a bbolt file.
func IsDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact is dsn as messages may show it: user, host, port and database,
// never a password.
func Redact(dsn string) string {
	c, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "postgres://(unreadable DSN)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// ValidDSN reports whether dsn parses as a PostgreSQL DSN.
func ValidDSN(dsn string) bool {
	_, err := pgx.ParseConfig(dsn)
	return err == nil
}

// HasPassword reports whether dsn carries a password (hub.yaml keeps one
// in events_store_dsn_file, not in itself).
func HasPassword(dsn string) bool {
	c, err := pgx.ParseConfig(dsn)
	return err == nil && c.Password != ""
}

// secretPerm is what a DSN file's mode may not allow: as for the hub's
// key files (package permit), writing by its group or reading by everyone.
const secretPerm = 0o027

// maxDSN bounds what is read of a DSN file.
const maxDSN = 8 << 10

// ReadDSNFile reads a DSN with a password from path: its content, trimmed.
// A file that other users may read, or anyone but its owner change, is
// refused, as the hub's key files are.
func ReadDSNFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&secretPerm != 0 {
		return "", fmt.Errorf("%s: mode %04o lets other users read or change the database's password; make it chmod 600 %s (or 640 for the service's group)",
			path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxDSN+1))
	if err != nil {
		return "", err
	}
	dsn := strings.TrimSpace(string(b))
	switch {
	case len(b) > maxDSN:
		return "", fmt.Errorf("%s: more than %d bytes: not a DSN", path, maxDSN)
	case dsn == "":
		return "", fmt.Errorf("%s is empty", path)
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		// pgx's message quotes the DSN, password and all
		return "", fmt.Errorf("%s: not a PostgreSQL DSN (postgres://user:password@host:5432/db)", path)
	}
	return dsn, nil
}

// Open connects a pool to dsn and checks that the database answers
// within timeout. The DSN's pool_max_conns and the like are pgxpool's.
func Open(ctx context.Context, dsn string, timeout time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: not a DSN", Redact(dsn))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Redact(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(dsn), err)
	}
	return pool, nil
}

// OpenMigrated is Open, then Migrate of component's migrations ms within
// timeout: a store's Open. It closes the pool if the migrations fail.
func OpenMigrated(ctx context.Context, dsn string, timeout time.Duration, component string, ms []Migration) (*pgxpool.Pool, error) {
	pool, err := Open(ctx, dsn, timeout)
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err = Migrate(mctx, pool, component, ms); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", Redact(dsn), err)
	}
	return pool, nil
}

// LockClass is the first key of the two-key advisory locks
// (pg_advisory_xact_lock(class, key)): each kind of lock has its own, so
// that the hub's locks never meet one another nor another program's
// one-key locks (a separate key space in PostgreSQL).
type LockClass int32

// The hub's lock classes. A new store adds its own here.
const (
	LockMigrate    LockClass = 0x4b430001 // schema migrations, one at a time in the database
	LockEventsDoor LockClass = 0x4b430002 // a door's events: commits and lost runs (pgevents)
	LockKV         LockClass = 0x4b430003 // the key-value store's writers, one at a time (hub/kv/pgkv)
	LockLeader     LockClass = 0x4b430004 // a job's leader among the replicas, one key a job (Leader; a session lock)
	LockBook       LockClass = 0x4b430005 // the guest book's order: commits of the events it reads, after their doors' (pgevents)
)

// Lock is the second key of a lock of name (a door's site/door): a hash.
// Two names of one hash only wait for each other; that is all a clash
// costs.
func Lock(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// Migration is one file of a store's migrations: NNNN_what.sql, applied
// in the order of NNNN from 1 without a gap.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads a store's migrations from the .sql files of dir in
// files.
func Migrations(files fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range ents {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: want NNNN_what.sql", e.Name())
		}
		b, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (from 1, no gap, no two alike)", m.Name, m.Version, i+1)
		}
	}
	return ms, nil
}

// ErrNewerSchema: the database's schema of a component is newer than this
// hub knows: a newer kunci migrated it.
var ErrNewerSchema = errors.New("pgstore: the database's schema is newer than this kunci")

// Migrate brings component's schema up to the last of ms, and returns its
// version. Each migration runs in its own transaction with its row in
// schema_version, so a failed one leaves the schema at the one before it;
// every migration of the database waits for LockMigrate, so that replicas
// starting together apply each once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, component string, ms []Migration) (int, error) {
	var version int
	for {
		applied, err := migrateOne(ctx, pool, component, ms, &version)
		if err != nil || !applied {
			return version, err
		}
	}
}

// migrateOne applies the migration after the database's version, if any.
func migrateOne(ctx context.Context, pool *pgxpool.Pool, component string, ms []Migration, version *int) (bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: %w", component, err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", LockMigrate); err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: lock: %w", component, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
	component  text NOT NULL,
	version    integer NOT NULL,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (component, version)
)`); err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: schema_version: %w", component, err)
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version WHERE component = $1",
		component).Scan(version); err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: %w", component, err)
	}
	switch {
	case *version > len(ms):
		return false, fmt.Errorf("%w: %s is at version %d, this kunci knows %d: run the newer kunci hub",
			ErrNewerSchema, component, *version, len(ms))
	case *version == len(ms):
		return false, nil
	}
	m := ms[*version]
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: %s: %w", component, m.Name, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_version (component, version, name) VALUES ($1, $2, $3)",
		component, m.Version, m.Name); err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: %s: %w", component, m.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("pgstore: migrate %s: %s: %w", component, m.Name, err)
	}
	*version = m.Version
	return true, nil
}
