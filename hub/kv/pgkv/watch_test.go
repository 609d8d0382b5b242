package pgkv_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// Watch tells one process what another wrote, after each commit: the keys
// of each bucket, or the whole bucket when it was deleted or the keys are
// too many to name; never what it wrote itself, nor a transaction rolled
// back.
func TestWatch(t *testing.T) {
	dsn := pgtest.DB(t)
	var dbs []*pgkv.DB
	for range 2 {
		db, err := pgkv.Open(context.Background(), dsn, pgkv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	a, b := dbs[0], dbs[1]
	var mu sync.Mutex
	var got []string
	listening := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var watching sync.WaitGroup
	defer watching.Wait()
	defer cancel()
	watching.Go(func() {
		b.Watch(ctx, func(c pgkv.Change) {
			if c.Bucket == nil {
				listening <- struct{}{}
				return
			}
			s := string(c.Bucket) + ":"
			if c.All {
				s += "*"
			}
			for _, k := range c.Keys {
				s += " " + string(k)
			}
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
		})
	})
	<-listening
	put := func(db *pgkv.DB, bucket string, keys ...string) {
		t.Helper()
		if err := db.Update(func(tx kv.Tx) error {
			for _, k := range keys {
				if err := tx.Bucket([]byte(bucket)).Put([]byte(k), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(a, "permits", "P-000002", "P-000001")
	put(b, "permits", "P-000003") // its own: not told
	if err := a.Update(func(tx kv.Tx) error {
		tx.Bucket([]byte("permits")).Put([]byte("P-000004"), []byte("v"))
		return fmt.Errorf("rolled back")
	}); err == nil {
		t.Fatal("the failing Update committed")
	}
	if err := a.Update(func(tx kv.Tx) error {
		if err := tx.Bucket([]byte("staff")).Delete([]byte("S-001")); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("old"))
	}); err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("P-%06d", i))
	}
	put(a, "permits", many...)
	want := []string{"permits: P-000001 P-000002", "old:*", "staff: S-001", "permits:*"}
	waitfor.Until(t, 10*time.Second, "the other process told of every commit", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	time.Sleep(100 * time.Millisecond) // nothing more comes: the rolled back and its own
	mu.Lock()
	defer mu.Unlock()
	// one commit's buckets come in no set order
	if slices.Sort(got[1:3]); !slices.Equal(got, want) {
		t.Errorf("told %q; want %q", got, want)
	}
}
