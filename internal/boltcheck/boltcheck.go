// Package boltcheck checks the integrity of a bbolt file, for the tests
// that end with one (style.md: a real bbolt file, checked in t.Cleanup).
// It must never change the file.
package boltcheck

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Check walks every page of db in a read transaction and returns every
// inconsistency bbolt finds, joined; nil when the file is sound.
func Check(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// CheckFile opens the closed bbolt file at path read-only and checks it as
// Check does. It waits for another process's lock for 5 s at most.
func CheckFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("boltcheck: open %s: %w", path, err)
	}
	return errors.Join(Check(db), db.Close())
}
