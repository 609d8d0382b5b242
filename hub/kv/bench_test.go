package kv_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// backends are the stores the benchmarks compare, side by side: bbolt
// (its commits wait for the disk, fsync) first, the baseline, then
// PostgreSQL on a database whose commits wait for the disk too.
var backends = []struct {
	name string
	new  func(testing.TB) func() (kv.DB, error)
}{
	{"bbolt", kvtest.Bolt},
	{"postgres", func(tb testing.TB) func() (kv.DB, error) {
		dsn := pgtest.DurableDB(tb)
		return func() (kv.DB, error) { return pgkv.Open(context.Background(), dsn, pgkv.Options{}) }
	}},
}

// open opens a store at a place of its own for b, closed when b ends.
func open(b *testing.B, place func(testing.TB) func() (kv.DB, error)) kv.DB {
	db, err := place(b)()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkUpdatePut is an Update of one Put of a session-sized value.
func BenchmarkUpdatePut(b *testing.B) {
	v := make([]byte, 200)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			db := open(b, be.new)
			i := 0
			for b.Loop() {
				i++
				if err := db.Update(func(tx kv.Tx) error {
					return tx.Bucket([]byte("bench")).Put(fmt.Appendf(nil, "k%09d", i), v)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkViewGet is a View of one Get among 10,000 keys.
func BenchmarkViewGet(b *testing.B) {
	v := make([]byte, 200)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			db := open(b, be.new)
			if err := db.Update(func(tx kv.Tx) error {
				for i := range 10_000 {
					if err := tx.Bucket([]byte("bench")).Put(fmt.Appendf(nil, "k%09d", i), v); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i = (i + 7919) % 10_000
				if err := db.View(func(tx kv.Tx) error {
					if tx.Bucket([]byte("bench")).Get(fmt.Appendf(nil, "k%09d", i)) == nil {
						return fmt.Errorf("k%09d is not there", i)
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
