package pgkv

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Keys are the keys sealing the guests' personal data (hub/workflow's
// Keys), in the table kv_keys of the database: every hub replica sharing
// it reads the keys the others made. Destroy deletes keys, and Shred, once
// the transaction Destroy was called in has ended, rewrites the table
// (VACUUM FULL): the deleted rows are not left in its file. A transaction
// older than the delete that runs on past Shred's wait (horizonWait)
// keeps a deleted row through the rewrite; the next Shred's rewrite drops
// it.
type Keys struct {
	d  *DB
	mu sync.Mutex // Shred's, and owed's
	// owed is the transaction id of the newest Destroy since the last
	// rewrite that left nothing behind ("": none)
	owed string
}

// Keys returns the keys in d's database; their Close closes nothing (d
// is closed on its own).
func (d *DB) Keys() *Keys { return &Keys{d: d} }

func (k *Keys) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), k.d.timeout)
}

// All reads every key.
func (k *Keys) All() (map[string][]byte, error) {
	ctx, cancel := k.ctx()
	defer cancel()
	rows, err := k.d.pool.Query(ctx, "SELECT id, key FROM kv_keys")
	if err != nil {
		return nil, fmt.Errorf("pgkv: keys: %w", err)
	}
	keys := map[string][]byte{}
	var id string
	var key []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error {
		keys[id] = key
		key = nil // scanned into a new slice each row
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgkv: keys: %w", err)
	}
	return keys, nil
}

// Get reads the key of id; nil if it has none.
func (k *Keys) Get(id string) ([]byte, error) {
	ctx, cancel := k.ctx()
	defer cancel()
	var key []byte
	err := k.d.pool.QueryRow(ctx, "SELECT key FROM kv_keys WHERE id = $1", id).Scan(&key)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pgkv: key %s: %w", id, err)
	}
	return key, nil
}

// Add stores the keys of the ids that have none, in one statement, and
// returns the keys stored for every id of keys: another replica's, where
// it stored one first.
func (k *Keys) Add(keys map[string][]byte) (map[string][]byte, error) {
	ids, vs := make([]string, 0, len(keys)), make([][]byte, 0, len(keys))
	for id, key := range keys {
		ids, vs = append(ids, id), append(vs, key)
	}
	ctx, cancel := k.ctx()
	defer cancel()
	rows, err := k.d.pool.Query(ctx, `WITH added AS (
	INSERT INTO kv_keys (id, key) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (id) DO NOTHING RETURNING id, key)
SELECT id, key FROM added
UNION ALL SELECT id, key FROM kv_keys WHERE id = ANY($1) AND id NOT IN (SELECT id FROM added)`, ids, vs)
	if err != nil {
		return nil, fmt.Errorf("pgkv: add keys: %w", err)
	}
	stored := make(map[string][]byte, len(keys))
	var id string
	var key []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error {
		stored[id] = key
		key = nil
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgkv: add keys: %w", err)
	}
	if len(stored) != len(keys) {
		return nil, fmt.Errorf("pgkv: add keys: %d of %d stored", len(stored), len(keys))
	}
	return stored, nil
}

// Destroy deletes the keys of ids: no one reads them again. Their bytes
// stay in the table's file until Shred rewrites it.
func (k *Keys) Destroy(ids []string) error {
	ctx, cancel := k.ctx()
	defer cancel()
	var xid string
	err := pgx.BeginFunc(ctx, k.d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM kv_keys WHERE id = ANY($1)", ids); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text").Scan(&xid)
	})
	if err != nil {
		return fmt.Errorf("pgkv: destroy keys: %w", err)
	}
	k.mu.Lock()
	k.owed = xid // the newest delete: waiting for it waits for the older
	k.mu.Unlock()
	return nil
}

// Shred rewrites the table so that no copy of the keys Destroy deleted is
// left in its file, if it deleted any since the last rewrite. The rewrite
// keeps a deleted row that a transaction of the database could still
// see: one whose snapshot is older than the delete (an autovacuum's
// analyse, another replica's read, the transaction Destroy was called
// in: call Shred after it ends), and one whose snapshot is taken later
// while a transaction older than the delete, in any database of the
// server, is still running (a snapshot's horizon is the oldest
// transaction running anywhere, the rewrite's own too). So it waits
// first, up to horizonWait, until no snapshot of the database is older
// than the delete and no transaction older than it is running or
// prepared anywhere. If one still is then, the table is rewritten anyway
// and Shred says so: the rewrite is owed still, and the next Shred tries
// again.
func (k *Keys) Shred() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.owed == "" {
		return nil
	}
	ctx, cancel := k.ctx()
	defer cancel()
	older := 0
	for deadline := time.Now().Add(horizonWait); ; {
		if err := k.d.pool.QueryRow(ctx, horizonQuery, k.owed).Scan(&older); err != nil {
			return fmt.Errorf("pgkv: shred keys: %w", err)
		}
		if older == 0 || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgkv: shred keys: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := k.d.pool.Exec(ctx, "VACUUM FULL kv_keys"); err != nil {
		return fmt.Errorf("pgkv: shred keys: rewrite the table: %w", err)
	}
	if older > 0 {
		return fmt.Errorf("pgkv: shred keys: %d transactions older than the delete still open after %v: the deleted keys may stay in the table's file until the next rewrite", older, horizonWait)
	}
	k.owed = ""
	return nil
}

// horizonWait bounds Shred's wait for the transactions that could still
// see the deleted keys.
const horizonWait = 10 * time.Second

// Close does nothing: the DB closes on its own.
func (k *Keys) Close() error { return nil }

// horizonQuery counts what could keep a row deleted by transaction $1
// in the rewrite: a snapshot of this database older than the delete, and
// a transaction older than it running or prepared in any database.
const horizonQuery = `SELECT (SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND
    ((datname = current_database() AND backend_xmin IS NOT NULL AND age(backend_xmin) >= age($1::xid)) OR
     (backend_xid IS NOT NULL AND age(backend_xid) >= age($1::xid))))
  + (SELECT count(*) FROM pg_prepared_xacts WHERE age(transaction) >= age($1::xid))`
