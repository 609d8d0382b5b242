package kv_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
)

// TestBoltSuite runs the behaviour every kv.DB must have against the
// bbolt adapter, checking the file's integrity after each test.
func TestBoltSuite(t *testing.T) {
	kvtest.Run(t, kvtest.Backend{New: kvtest.Bolt})
}

// TestBoltFile: what the adapter writes is bbolt's own, as the hub's code
// wrote it before: a bucket of the name, the keys and values as given, the
// bucket's sequence; and it reads what bbolt wrote.
func TestBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("old"))
		if err != nil {
			return err
		}
		if err := b.SetSequence(41); err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("bbolt's"))
	}); err != nil {
		t.Fatal(err)
	}
	d := kv.Bolt(db)
	if err := d.Update(func(tx kv.Tx) error {
		if v := tx.Bucket([]byte("old")).Get([]byte("k")); string(v) != "bbolt's" {
			t.Errorf("the adapter reads %q of bbolt's key", v)
		}
		if n, err := tx.Bucket([]byte("old")).NextSequence(); err != nil || n != 42 {
			t.Errorf("NextSequence after bbolt's 41 = %d, %v", n, err)
		}
		if _, err := tx.Bucket([]byte("new")).NextSequence(); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("new")).Put([]byte{0x80, 1}, []byte("v")); err != nil {
			return err
		}
		return tx.Bucket([]byte("new")).Put([]byte("empty"), nil)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		var names []string
		if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error { names = append(names, string(name)); return nil }); err != nil {
			return err
		}
		if len(names) != 2 || names[0] != "new" || names[1] != "old" {
			t.Errorf("buckets in the file: %q; want new, old", names)
		}
		b := tx.Bucket([]byte("new"))
		if v := b.Get([]byte{0x80, 1}); string(v) != "v" {
			t.Errorf("bbolt reads %q of the adapter's key", v)
		}
		if v := b.Get([]byte("empty")); v == nil || len(v) != 0 {
			t.Errorf("bbolt reads %#v of the adapter's empty value", v)
		}
		if s, o := b.Sequence(), tx.Bucket([]byte("old")).Sequence(); s != 1 || o != 42 {
			t.Errorf("bbolt's sequences: new %d, old %d; want 1, 42", s, o)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// a View writes nothing, and makes no bucket
	if err := d.View(func(tx kv.Tx) error { tx.Bucket([]byte("never")).Get([]byte("k")); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("never")) != nil {
			t.Error("a View made a bucket")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
