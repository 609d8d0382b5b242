// Package pgtest gives a test a PostgreSQL database of its own: created
// with a random name on the machine's server (127.0.0.1:5432, user
// postgres, trust authentication; KUNCI_TEST_POSTGRES names another
// server) and dropped when the test ends.
//
// Without a server the test is skipped, with the reason, except in CI
// (CI=true), where it fails: .ci/run starts the server. It must never be
// imported outside tests, and never touch a database it did not create.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultServer is the machine's server, as postgres's maintenance
// database.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// timeout bounds each step of making and dropping a database.
const timeout = 30 * time.Second

// Server is the DSN of the server's maintenance database.
func Server() string {
	if s := os.Getenv("KUNCI_TEST_POSTGRES"); s != "" {
		return s
	}
	return DefaultServer
}

// DB creates a database of its own for t and returns its DSN; it is
// dropped, with whatever is still connected to it, when t ends. Its
// commits do not wait for the disk (synchronous_commit off).
func DB(t testing.TB) string {
	t.Helper()
	return newDB(t, false)
}

// DurableDB is DB with the server's own settings: each commit waits for
// the disk, as in the field. Benchmarks measure on it.
func DurableDB(t testing.TB) string {
	t.Helper()
	return newDB(t, true)
}

func newDB(t testing.TB, durable bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	admin, err := pgx.Connect(ctx, Server())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable at %s: %v; CI must start it (.ci/run: pg_ctlcluster ... main start)", redact(Server()), err)
		}
		t.Skipf("PostgreSQL is not reachable at %s (%v); skipping the PostgreSQL test (start it: pg_ctlcluster $(ls /etc/postgresql) main start)",
			redact(Server()), err)
	}
	defer admin.Close(context.Background())
	var b [8]byte
	rand.Read(b[:])
	name := "kunci_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	// a test proves behaviour, not durability through a power cut: its
	// commits need not wait for the disk
	if !durable {
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+name+" SET synchronous_commit = off"); err != nil {
			t.Fatalf("pgtest: database %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		admin, err := pgx.Connect(ctx, Server())
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(Server())
	if err != nil {
		t.Fatalf("pgtest: %s: %v", redact(Server()), err)
	}
	u.Path = "/" + name
	return u.String()
}

// redact drops the password of a server's URL, for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unreadable DSN)"
	}
	return fmt.Sprint(u.Redacted())
}

// RelationFile returns the path and the contents of the file that holds
// table of the database dsn on the server's disk, after a CHECKPOINT (so
// that what the server holds in memory is written there): what a test of
// data gone from the disk greps. A server whose files this process cannot
// read skips the test, except in CI, which runs as root.
func RelationFile(t testing.TB, dsn, table string) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	var dir, rel string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory'), pg_relation_filepath($1)", table).Scan(&dir, &rel); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, rel)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) && os.Getenv("CI") != "true" {
		t.Skipf("the server's files cannot be read here (%v); CI runs as root and reads them", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}
