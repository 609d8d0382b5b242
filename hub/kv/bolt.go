package kv

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bolt is db as a DB: each bucket a bbolt bucket of the same name, made at
// its first write; keys, values and sequences are bbolt's own, so a file
// reads the same through it as through bbolt. Close closes db.
func Bolt(db *bolt.DB) DB { return boltDB{db} }

type boltDB struct{ db *bolt.DB }

func (d boltDB) Update(fn func(Tx) error) error {
	return closed(d.db.Update(func(tx *bolt.Tx) error { return run(&boltTx{tx: tx}, fn) }))
}

func (d boltDB) View(fn func(Tx) error) error {
	return closed(d.db.View(func(tx *bolt.Tx) error { return run(&boltTx{tx: tx}, fn) }))
}

// closed is err, and ErrClosed too if it is bbolt's.
func closed(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

func (d boltDB) Close() error { return d.db.Close() }

// run is fn in t: a failure inside it (a bucket that could not be made)
// is the transaction's error, whatever fn returned.
func run(t *boltTx, fn func(Tx) error) error {
	err := fn(t)
	if t.err != nil {
		return t.err
	}
	return err
}

type boltTx struct {
	tx  *bolt.Tx
	err error // the first failure
}

func (t *boltTx) Bucket(name []byte) Bucket {
	return &boltBucket{t: t, name: name}
}

func (t *boltTx) DeleteBucket(name []byte) error {
	if !t.tx.Writable() {
		return t.fail(ErrReadOnly)
	}
	if err := t.tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return t.fail(fmt.Errorf("kv: delete bucket %q: %w", name, err))
	}
	return nil
}

func (t *boltTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// boltBucket is a bucket, looked up in the file at each call: another
// handle of its name may make it (its first write) or drop it
// (DeleteBucket) meanwhile.
type boltBucket struct {
	t    *boltTx
	name []byte
}

// read returns the bucket to read, nil if it is not in the file.
func (b *boltBucket) read() *bolt.Bucket { return b.t.tx.Bucket(b.name) }

// write returns the bucket to write in, made if need be.
func (b *boltBucket) write() (*bolt.Bucket, error) {
	if !b.t.tx.Writable() {
		return nil, b.t.fail(ErrReadOnly)
	}
	w, err := b.t.tx.CreateBucketIfNotExists(b.name)
	if err != nil {
		return nil, b.t.fail(fmt.Errorf("kv: bucket %q: %w", b.name, err))
	}
	return w, nil
}

func (b *boltBucket) Get(key []byte) []byte {
	if r := b.read(); r != nil {
		return r.Get(key)
	}
	return nil
}

func (b *boltBucket) Put(key, value []byte) error {
	if err := CheckPut(key, value); err != nil {
		return b.t.fail(err)
	}
	w, err := b.write()
	if err != nil {
		return err
	}
	if value == nil {
		value = []byte{} // the same bytes in the file; and Get in this transaction says the key is there
	}
	if err := w.Put(key, value); err != nil {
		return b.t.fail(fmt.Errorf("kv: put: %w", err))
	}
	return nil
}

func (b *boltBucket) Delete(key []byte) error {
	if !b.t.tx.Writable() {
		return b.t.fail(ErrReadOnly)
	}
	r := b.read()
	if r == nil {
		return nil
	}
	if err := r.Delete(key); err != nil {
		return b.t.fail(fmt.Errorf("kv: delete: %w", err))
	}
	return nil
}

func (b *boltBucket) Cursor() Cursor {
	if r := b.read(); r != nil {
		return r.Cursor()
	}
	return emptyCursor{}
}

func (b *boltBucket) ForEach(fn func(k, v []byte) error) error {
	if r := b.read(); r != nil {
		return r.ForEach(fn)
	}
	return nil
}

func (b *boltBucket) Len() int {
	if r := b.read(); r != nil {
		return r.Stats().KeyN
	}
	return 0
}

func (b *boltBucket) NextSequence() (uint64, error) {
	w, err := b.write()
	if err != nil {
		return 0, err
	}
	n, err := w.NextSequence()
	if err != nil {
		return 0, b.t.fail(fmt.Errorf("kv: next sequence: %w", err))
	}
	return n, nil
}

// CheckPut refuses, with ErrKey or ErrValue, what no backend stores.
func CheckPut(key, value []byte) error {
	switch {
	case len(key) == 0 || len(key) > MaxKeySize:
		return fmt.Errorf("%w: %d bytes", ErrKey, len(key))
	case len(value) > MaxValueSize:
		return fmt.Errorf("%w: %d bytes", ErrValue, len(value))
	}
	return nil
}

// emptyCursor is the cursor of a bucket never written.
type emptyCursor struct{}

func (emptyCursor) First() ([]byte, []byte)      { return nil, nil }
func (emptyCursor) Last() ([]byte, []byte)       { return nil, nil }
func (emptyCursor) Seek([]byte) ([]byte, []byte) { return nil, nil }
func (emptyCursor) Next() ([]byte, []byte)       { return nil, nil }
func (emptyCursor) Prev() ([]byte, []byte)       { return nil, nil }
