package kv

import "errors"

// DB is a transactional key-value store.
type DB interface {
	// Update runs fn in a read-write transaction and commits it if fn
	// returns nil and nothing in it failed; else nothing of it is kept.
	Update(fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Close lets go of the store.
	Close() error
}

// Tx is a transaction of a DB.
type Tx interface {
	// Bucket is the bucket of name, empty if never written.
	Bucket(name []byte) Bucket
	// DeleteBucket drops every key of bucket name and its sequence.
	DeleteBucket(name []byte) error
}

// Bucket is a transaction's view of one bucket.
type Bucket interface {
	// Get returns the value of key, nil if there is none.
	Get(key []byte) []byte
	// Put sets the value of key.
	Put(key, value []byte) error
	// Delete removes key; a key absent is no error.
	Delete(key []byte) error
	// Cursor walks the bucket's keys in order.
	Cursor() Cursor
	// ForEach calls fn with every key and value in key order until fn
	// returns an error, which it returns.
	ForEach(fn func(k, v []byte) error) error
	// Len is how many keys the bucket holds.
	Len() int
	// NextSequence returns the bucket's sequence, raised by one: 1 the
	// first time.
	NextSequence() (uint64, error)
}

// Cursor walks a bucket's keys in order. Each move returns the key it
// moved to and its value, or nil at the end.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	// Seek moves to key seek or the first key after it.
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
}

// MaxKeySize is the longest key: PostgreSQL's B-tree takes entries of
// about 2,700 bytes at most, and the hub's keys are ids and hashes.
const MaxKeySize = 1024

// MaxValueSize is the largest value.
const MaxValueSize = 64 << 20

// Errors of the stores, to test with errors.Is.
var (
	// ErrKey: a key empty or longer than MaxKeySize.
	ErrKey = errors.New("kv: key empty or longer than kv.MaxKeySize")
	// ErrValue: a value larger than MaxValueSize.
	ErrValue = errors.New("kv: value larger than kv.MaxValueSize")
	// ErrReadOnly: a write in a View.
	ErrReadOnly = errors.New("kv: write in a read-only transaction")
	// ErrClosed: a call after Close (the hub stopping).
	ErrClosed = errors.New("kv: store closed")
)
