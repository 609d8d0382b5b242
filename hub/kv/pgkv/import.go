package pgkv

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/pgstore"
)

// ErrNotEmpty: Import into a database whose store holds keys already.
var ErrNotEmpty = errors.New("pgkv: the database holds a store already")

// Imported is what Import copied: keys by bucket, and the buckets'
// sequences.
type Imported struct {
	Keys      map[string]int
	Sequences map[string]uint64
}

// Total is the keys copied over every bucket.
func (im Imported) Total() int {
	n := 0
	for _, k := range im.Keys {
		n += k
	}
	return n
}

// Import copies every bucket of the bbolt store src (a hub's hub.db: its
// top-level buckets, each key, value and sequence) into the database, in
// one transaction under the writers' lock, and checks before it commits
// that the database holds as many keys of each bucket as src: `kunci hub
// migrate`. The database's store must be empty (ErrNotEmpty), so nothing
// is ever written over; a failed import leaves it empty. A bucket nested in
// another is refused: the hub keeps none.
func (d *DB) Import(ctx context.Context, src *bolt.DB) (Imported, error) {
	im := Imported{Keys: map[string]int{}, Sequences: map[string]uint64{}}
	err := src.View(func(btx *bolt.Tx) error {
		return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", int32(pgstore.LockKV)); err != nil {
				return err
			}
			var held bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM kv_sequences)").Scan(&held); err != nil {
				return err
			}
			if held {
				return ErrNotEmpty
			}
			err := btx.ForEach(func(name []byte, b *bolt.Bucket) error {
				n, err := copyBucket(ctx, tx, name, b)
				if err != nil {
					return fmt.Errorf("bucket %q: %w", name, err)
				}
				im.Keys[string(name)] = n
				if seq := b.Sequence(); seq > 0 {
					if _, err := tx.Exec(ctx, "INSERT INTO kv_sequences (bucket, seq) VALUES ($1, $2)", name, int64(seq)); err != nil {
						return fmt.Errorf("bucket %q: sequence: %w", name, err)
					}
					im.Sequences[string(name)] = seq
				}
				return nil
			})
			if err != nil {
				return err
			}
			return checkImport(ctx, tx, im)
		})
	})
	if err != nil {
		return Imported{}, fmt.Errorf("pgkv: import: %w", err)
	}
	return im, nil
}

// copyBucket copies one bbolt bucket's keys with COPY.
func copyBucket(ctx context.Context, tx pgx.Tx, name []byte, b *bolt.Bucket) (int, error) {
	var rows [][]any
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			if b.Bucket(k) != nil {
				return fmt.Errorf("key %q is a nested bucket", k)
			}
			v = []byte{}
		}
		if err := kv.CheckPut(k, v); err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		// bbolt's slices live as long as its transaction, which outlasts
		// the copy
		rows = append(rows, []any{name, k, v})
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"kv"}, []string{"bucket", "key", "value"}, pgx.CopyFromRows(rows))
	return int(n), err
}

// checkImport compares the keys the transaction holds by bucket with
// what was copied.
func checkImport(ctx context.Context, tx pgx.Tx, im Imported) error {
	rows, err := tx.Query(ctx, "SELECT bucket, count(*) FROM kv GROUP BY bucket")
	if err != nil {
		return err
	}
	got := map[string]int{}
	for rows.Next() {
		var name []byte
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			rows.Close()
			return err
		}
		got[string(name)] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for name, n := range im.Keys {
		if got[name] != n {
			return fmt.Errorf("bucket %q: %d keys in the database after the copy, %d in the file", name, got[name], n)
		}
	}
	return nil
}
