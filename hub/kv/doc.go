// Package kv is the transactional key-value store the hub keeps all but
// the doors' events in: the workflow (permits, staff), users, sessions and
// API tokens, the alarms, the notification queue and the command log. It
// is bbolt's model, cut down to what that code uses: Update and View run a
// function in a transaction; a transaction's buckets hold keys in bytewise
// order, with Get, Put, Delete, a Cursor, ForEach, Len and NextSequence.
//
// Two backends implement DB: Bolt, a thin adapter over the *bolt.DB the
// workflow store opens (its file and the file's contents are those the
// hub wrote before this package: same buckets, keys, values and
// sequences), and package pgkv, PostgreSQL, for hub replicas that share a
// database. Package kvtest is the behaviour both must have, run against
// each.
//
// The contract, whatever the backend:
//   - Update is one transaction, and only one runs at a time over every
//     process sharing the store: bbolt's single writer. fn's error, or any
//     failed call inside it, and nothing of it is kept.
//   - View sees one consistent state, as of its start, and writes nothing.
//   - A bucket is there for every name: one never written reads empty (Get
//     nil, no keys, Len 0, the sequence at 0). It is made in the store at
//     its first write, and DeleteBucket drops its keys and its sequence.
//   - Keys are compared as bytes (0x80 and above after 0x7f); a key is 1 to
//     MaxKeySize bytes. A value may be empty: Get returns it as a non-nil
//     empty slice; nil means no such key.
//   - A failure of the backend inside fn (a Get or a cursor move that
//     could not read, the database gone) makes the call return nil, as for
//     a key absent, and is what Update or View returns, whatever fn
//     returned: code written for bbolt, whose reads cannot fail, stays
//     right.
//   - Keys and values handed to fn are valid until fn returns; copy what
//     outlives it (bbolt's rule).
//   - No Put or Delete in a bucket while its ForEach runs or its Cursor
//     is used: collect the keys, then write (bbolt's rule; a backend
//     reading in pages would see some of those writes and not others).
//   - A cursor's move that returns nil leaves it off the keys: after one,
//     only First, Last and Seek are defined, and Prev after a Seek past
//     the last key, which is the last key.
//
// It must never hold a transaction open beyond fn, and never keep a
// value in memory between transactions: a second hub process shares the
// store.
package kv
