// Package pgstore is what the hub's PostgreSQL stores share: opening a
// connection pool from a DSN (Open, ReadDSNFile), applying a store's
// schema migrations at open (Migrate), and the keys of the advisory locks
// that serialise hub replicas (Lock). The doors' events are its first
// user (hub/ingest/pgevents); the rest of the hub's records (the
// workflow, users, tokens, alarms, the notification queue) are in
// hub/kv/pgkv. Each follows the same pattern: a package of its own with
// its migrations embedded under migrations/, a component name in
// schema_version, and a LockClass of its own.
//
// Migrations are plain SQL files embedded in the binary (embed.FS), one
// transaction each, under one advisory lock, recorded in schema_version
// by component. pressly/goose was considered and not taken: the hub needs
// only forward migrations applied at open, by every replica, serialised;
// that is the forty lines of Migrate, where goose would bring its own
// version table, a CLI, Go-function migrations, down migrations that a
// door's audit trail must never run, and a dependency tree to follow.
//
// It must never log or return a DSN's password (Redact names a database
// in messages), and never create or drop a database: the operator owns
// it (internal/pgtest makes the tests' own).
package pgstore
