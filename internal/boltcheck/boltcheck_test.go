package boltcheck_test

import (
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/internal/boltcheck"
)

func TestCheckSound(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "x.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 1000 {
			if err := b.Put([]byte{byte(i >> 8), byte(i)}, make([]byte, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := boltcheck.Check(db); err != nil {
		t.Errorf("sound file: %v", err)
	}
}

func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := boltcheck.CheckFile(path); err != nil {
		t.Errorf("CheckFile(sound file) = %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"missing.db", "junk.db"} {
		if err := boltcheck.CheckFile(filepath.Join(dir, name)); err == nil {
			t.Errorf("CheckFile(%s) = nil; want an error", name)
		}
	}
}
