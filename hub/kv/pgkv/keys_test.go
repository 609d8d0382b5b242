package pgkv_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// The keys of the guests' personal data in the database: shared by every
// replica (a key another made is read; the first stored wins), and a
// destroyed key is gone from the table's file on the disk, not only from
// its index.
func TestKeys(t *testing.T) {
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
	a, b := dbs[0].Keys(), dbs[1].Keys()
	key := func() []byte { k := make([]byte, 32); rand.Read(k); return k }
	made := map[string][]byte{"P-000001": key(), "P-000002": key(), "P-000003": key()}
	stored, err := a.Add(made)
	if err != nil {
		t.Fatal(err)
	}
	for id, k := range made {
		if !bytes.Equal(stored[id], k) {
			t.Fatalf("Add stored %x for %s; want %x", stored[id], id, k)
		}
	}
	// the other replica reads them, and cannot replace one
	if got, err := b.Get("P-000002"); err != nil || !bytes.Equal(got, made["P-000002"]) {
		t.Fatalf("the other replica's Get = %x, %v", got, err)
	}
	if got, err := b.Get("P-000009"); err != nil || got != nil {
		t.Fatalf("Get of a request with no key = %x, %v; want none", got, err)
	}
	again, err := b.Add(map[string][]byte{"P-000001": key(), "P-000004": key()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again["P-000001"], made["P-000001"]) || len(again["P-000004"]) != 32 {
		t.Fatalf("Add of a key stored already gave %x; want the first one, %x", again["P-000001"], made["P-000001"])
	}
	before, file := pgtest.RelationFile(t, dsn, "kv_keys")
	for id, k := range made {
		if !bytes.Contains(file, k) {
			t.Fatalf("the key of %s is not in %s: the check below would prove nothing", id, before)
		}
	}
	// a transaction that began before the delete, and could still see
	// the key, ends a moment after it: the rewrite waits for it
	reader, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close(context.Background())
	rtx, err := reader.BeginTx(context.Background(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(context.Background(), "SELECT count(*) FROM kv").Scan(&n); err != nil { // its snapshot, and no lock on kv_keys
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		ended <- rtx.Commit(context.Background())
	}()
	// and a transaction of another database, older than the delete, that
	// ends later still: while it runs, a snapshot taken in this database
	// after the delete could still see the key (a snapshot's horizon is
	// the oldest transaction running anywhere), so the rewrite waits for
	// it too
	other, err := pgx.Connect(context.Background(), pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	otx, err := other.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otx.Exec(context.Background(), "SELECT pg_current_xact_id()"); err != nil { // it has a transaction id
		t.Fatal(err)
	}
	var committing atomic.Bool
	otherEnded := make(chan error, 1)
	go func() {
		time.Sleep(600 * time.Millisecond)
		committing.Store(true)
		otherEnded <- otx.Commit(context.Background())
	}()
	if err := a.Destroy([]string{"P-000002"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get("P-000002"); err != nil || got != nil {
		t.Fatalf("the other replica's Get of a destroyed key = %x, %v; want none", got, err)
	}
	if err := a.Shred(); err != nil {
		t.Fatal(err)
	}
	if !committing.Load() {
		t.Error("Shred rewrote the table while a transaction older than its delete was running in another database")
	}
	if err := <-ended; err != nil {
		t.Fatal(err)
	}
	if err := <-otherEnded; err != nil {
		t.Fatal(err)
	}
	all, err := b.All()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all["P-000002"]; ok || len(all) != 3 {
		t.Fatalf("after Destroy, All = %d keys, P-000002 among them: %v", len(all), ok)
	}
	after, file := pgtest.RelationFile(t, dsn, "kv_keys")
	if bytes.Contains(file, made["P-000002"]) {
		t.Errorf("the destroyed key is still in the table's file %s", after)
	}
	if !bytes.Contains(file, made["P-000001"]) {
		t.Errorf("a kept key is not in the table's file %s", after)
	}
	if after == before {
		t.Errorf("the table was not rewritten: still %s", after)
	}
	if old, err := os.ReadFile(before); err == nil && bytes.Contains(old, made["P-000002"]) {
		t.Errorf("the destroyed key is still in the table's old file %s", before)
	}
}
