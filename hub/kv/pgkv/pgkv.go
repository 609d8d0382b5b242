package pgkv

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/pgstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Component is the store's name in schema_version.
const Component = "kv"

// DefaultTimeout bounds each call unless Options set one.
const DefaultTimeout = 30 * time.Second

// Options configure a DB.
type Options struct {
	// Timeout bounds each call, from its begin to its commit, fn
	// included (DefaultTimeout).
	Timeout time.Duration
}

// DB is a kv.DB in a PostgreSQL database.
type DB struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	closed  atomic.Bool
	id      string // names this DB in its notifications (Watch)
}

var _ kv.DB = (*DB)(nil)

// Open connects to the database of dsn and brings its schema up to date.
func Open(ctx context.Context, dsn string, o Options) (*DB, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ms, err := pgstore.Migrations(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pgkv: %w", err)
	}
	pool, err := pgstore.OpenMigrated(ctx, dsn, o.Timeout, Component, ms)
	if err != nil {
		return nil, fmt.Errorf("pgkv: %w", err)
	}
	return &DB{pool: pool, timeout: o.Timeout, id: rand.Text()}, nil
}

// Close closes the pool.
func (d *DB) Close() error {
	d.closed.Store(true)
	d.pool.Close()
	return nil
}

// Pool returns the connection pool, for tools and tests.
func (d *DB) Pool() *pgxpool.Pool { return d.pool }

// Update runs fn in a transaction under the lock of the store's writers:
// READ COMMITTED, whatever the database's default, for under the lock
// each statement sees every commit before it, and none fails for
// serialisation.
func (d *DB) Update(fn func(kv.Tx) error) error {
	return d.run(pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, true, fn)
}

// View runs fn in a read-only transaction of one snapshot.
func (d *DB) View(fn func(kv.Tx) error) error {
	return d.run(pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, false, fn)
}

func (d *DB) run(o pgx.TxOptions, write bool, fn func(kv.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	if d.closed.Load() {
		return kv.ErrClosed
	}
	ptx, err := d.pool.BeginTx(ctx, o)
	if err != nil {
		if d.closed.Load() {
			return fmt.Errorf("%w: %w", kv.ErrClosed, err)
		}
		return fmt.Errorf("pgkv: begin: %w", err)
	}
	defer ptx.Rollback(ctx)
	if write {
		if _, err := ptx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", int32(pgstore.LockKV)); err != nil {
			return fmt.Errorf("pgkv: lock: %w", err)
		}
	}
	t := &tx{ctx: ctx, tx: ptx, write: write}
	err = fn(t)
	if t.err != nil {
		return t.err
	}
	if err != nil {
		return err
	}
	if len(t.changed) > 0 {
		if _, err := ptx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, d.notification(t.changed)); err != nil {
			return fmt.Errorf("pgkv: notify: %w", err)
		}
	}
	if err := ptx.Commit(ctx); err != nil {
		return fmt.Errorf("pgkv: commit: %w", err)
	}
	return nil
}

// tx is a transaction; err is its first failure, after which every call
// fails.
type tx struct {
	ctx   context.Context
	tx    pgx.Tx
	write bool
	err   error
	// changed are the keys written, by bucket (nil: the whole bucket),
	// for the notification at commit (Watch)
	changed map[string]map[string]bool
}

// change notes that key of bucket was written; a nil key, the whole
// bucket.
func (t *tx) change(bucket, key []byte) {
	if t.changed == nil {
		t.changed = map[string]map[string]bool{}
	}
	keys, ok := t.changed[string(bucket)]
	switch {
	case key == nil:
		t.changed[string(bucket)] = nil
	case ok && keys == nil: // the whole bucket already
	case !ok:
		t.changed[string(bucket)] = map[string]bool{string(key): true}
	default:
		keys[string(key)] = true
	}
}

func (t *tx) fail(what string, err error) error {
	if t.err == nil {
		t.err = fmt.Errorf("pgkv: %s: %w", what, err)
	}
	return t.err
}

// writable is nil if t may write.
func (t *tx) writable() error {
	switch {
	case t.err != nil:
		return t.err
	case !t.write:
		return t.fail("write", kv.ErrReadOnly)
	}
	return nil
}

func (t *tx) exec(what, sql string, args ...any) error {
	if _, err := t.tx.Exec(t.ctx, sql, args...); err != nil {
		return t.fail(what, err)
	}
	return nil
}

func (t *tx) Bucket(name []byte) kv.Bucket {
	return &bucket{t: t, name: append([]byte(nil), name...)}
}

func (t *tx) DeleteBucket(name []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exec("delete bucket", "DELETE FROM kv WHERE bucket = $1", name); err != nil {
		return err
	}
	t.change(name, nil)
	return t.exec("delete bucket", "DELETE FROM kv_sequences WHERE bucket = $1", name)
}

type bucket struct {
	t    *tx
	name []byte
}

func (b *bucket) Get(key []byte) []byte {
	if b.t.err != nil {
		return nil
	}
	var v []byte
	err := b.t.tx.QueryRow(b.t.ctx, "SELECT value FROM kv WHERE bucket = $1 AND key = $2", b.name, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		b.t.fail("get", err)
		return nil
	}
	if v == nil {
		v = []byte{}
	}
	return v
}

func (b *bucket) Put(key, value []byte) error {
	if err := b.t.writable(); err != nil {
		return err
	}
	if err := kv.CheckPut(key, value); err != nil {
		return b.t.fail("put", err)
	}
	if value == nil {
		value = []byte{} // nil is SQL's NULL
	}
	b.t.change(b.name, key)
	return b.t.exec("put", `INSERT INTO kv (bucket, key, value) VALUES ($1, $2, $3)
ON CONFLICT (bucket, key) DO UPDATE SET value = EXCLUDED.value`, b.name, key, value)
}

func (b *bucket) Delete(key []byte) error {
	if err := b.t.writable(); err != nil {
		return err
	}
	b.t.change(b.name, key)
	return b.t.exec("delete", "DELETE FROM kv WHERE bucket = $1 AND key = $2", b.name, key)
}

func (b *bucket) Len() int {
	if b.t.err != nil {
		return 0
	}
	var n int
	if err := b.t.tx.QueryRow(b.t.ctx, "SELECT count(*) FROM kv WHERE bucket = $1", b.name).Scan(&n); err != nil {
		b.t.fail("len", err)
		return 0
	}
	return n
}

func (b *bucket) NextSequence() (uint64, error) {
	if err := b.t.writable(); err != nil {
		return 0, err
	}
	var n int64
	err := b.t.tx.QueryRow(b.t.ctx, `INSERT INTO kv_sequences (bucket, seq) VALUES ($1, 1)
ON CONFLICT (bucket) DO UPDATE SET seq = kv_sequences.seq + 1 RETURNING seq`, b.name).Scan(&n)
	if err != nil {
		return 0, b.t.fail("next sequence", err)
	}
	return uint64(n), nil
}

func (b *bucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.t.err
}

func (b *bucket) Cursor() kv.Cursor { return &cursor{b: b} }
