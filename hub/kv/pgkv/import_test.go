package pgkv_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// boltFile is a hub.db-like file: buckets with sequences, an empty value,
// keys of every byte, an empty bucket.
func boltFile(t *testing.T, nested bool) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "hub.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *bolt.Tx) error {
		p, err := tx.CreateBucket([]byte("permits"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := p.Put([]byte{byte(i >> 8), byte(i)}, bytes.Repeat([]byte{byte(i)}, i%300)); err != nil {
				return err
			}
		}
		if err := p.SetSequence(4711); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("empty")); err != nil {
			return err
		}
		u, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		if err := u.Put([]byte("admin"), []byte(`{"roles":["admin"]}`)); err != nil {
			return err
		}
		if nested {
			if _, err := u.CreateBucket([]byte("inner")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// Import copies a bbolt file's buckets, keys, values and sequences into an
// empty database, and refuses one that holds a store.
func TestImport(t *testing.T) {
	src := boltFile(t, false)
	db, err := pgkv.Open(context.Background(), pgtest.DB(t), pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	im, err := db.Import(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if im.Total() != 2001 || im.Keys["empty"] != 0 || im.Sequences["permits"] != 4711 {
		t.Errorf("imported %+v", im)
	}
	err = src.View(func(btx *bolt.Tx) error {
		return db.View(func(tx kv.Tx) error {
			return btx.ForEach(func(name []byte, b *bolt.Bucket) error {
				if got := tx.Bucket(name).Len(); got != b.Stats().KeyN {
					t.Errorf("bucket %s: %d keys, want %d", name, got, b.Stats().KeyN)
				}
				return b.ForEach(func(k, v []byte) error {
					if got := tx.Bucket(name).Get(k); !bytes.Equal(got, v) || got == nil {
						t.Errorf("bucket %s key %x: %q, want %q", name, k, got, v)
					}
					return nil
				})
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx kv.Tx) error {
		n, err := tx.Bucket([]byte("permits")).NextSequence()
		if err == nil && n != 4712 {
			t.Errorf("NextSequence after the import = %d; want 4712", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(context.Background(), src); !errors.Is(err, pgkv.ErrNotEmpty) {
		t.Errorf("a second import = %v; want ErrNotEmpty", err)
	}
}

// A file with a nested bucket is refused, and the database keeps nothing
// of it.
func TestImportNested(t *testing.T) {
	db, err := pgkv.Open(context.Background(), pgtest.DB(t), pgkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Import(context.Background(), boltFile(t, true)); err == nil {
		t.Fatal("a nested bucket was imported")
	}
	if err := db.View(func(tx kv.Tx) error {
		if n := tx.Bucket([]byte("permits")).Len(); n != 0 {
			t.Errorf("%d keys kept of a refused import", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
