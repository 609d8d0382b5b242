// Package pgkv is a kv.DB in PostgreSQL, for hub replicas that share one
// database: hub.yaml's store: postgres://… (or store_dsn_file) puts the
// workflow, users, sessions, tokens, alarms, the notification queue and
// the command log in it.
//
// It behaves as the bbolt adapter (kv.Bolt) does, as the shared suite
// (hub/kv/kvtest) checks. The tables are kv (bucket, key, value, bytea
// all, keyed by bucket and key: bytea compares as bytes, as bbolt's keys
// do) and kv_sequences (migrations/, applied at Open through
// pgstore.Migrate).
//
// Update is one PostgreSQL transaction that first takes the
// transaction-scoped advisory lock pgstore.LockKV: writers of every
// process sharing the database run one at a time, each seeing what the one
// before committed, as bbolt's single writer does; no transaction is
// retried, and none fails for serialisation. View is a read-only
// REPEATABLE READ transaction: one snapshot, taken at its first read,
// and it waits for no writer. Each call, fn included, is bounded by
// Options.Timeout: a database gone fails the call, it does not hang.
// Each Get, Put and Delete is one statement; a cursor reads its keys in
// pages, in key order, growing from 16 to 1,024 rows a page.
//
// It must never hold a connection beyond a call, never log a DSN's
// password, and never change the schema but through its migrations.
package pgkv
