package server_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/pgtest"
)

// A hub whose events_store is a PostgreSQL DSN stores and acks a door's
// event in the database, and backs up its workflow without the events,
// which a restore to a hub on bbolt refuses to leave out quietly.
func TestServerOnPostgres(t *testing.T) {
	dsn := pgtest.DB(t)
	o := openHubEvents(t, httplimit.Limits{}, dsn)
	if _, ok := o.h.Hub().Events().(*pgevents.Store); !ok {
		t.Fatalf("events store %T; want the PostgreSQL one", o.h.Hub().Events())
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := lifecycle.New(ctx, lifecycle.Options{})
	o.h.Start(g)
	storeOne(t, o.s.Link.Broker)
	var buf bytes.Buffer
	m, err := o.h.Backup(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if f.Name == backup.EventsName {
			t.Errorf("the backup of a hub on PostgreSQL holds %s", f.Name)
		}
	}
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}

	st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if th, err := st.Through("demo", "server-room", "e1"); err != nil || th != 1 {
		t.Errorf("Through in the database = %d, %v; want 1", th, err)
	}
	// the archive restores where the events are in PostgreSQL
	dir := t.TempDir()
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), backup.Files(filepath.Join(dir, "hub.db"), "", "")); err != nil {
		t.Errorf("restore of a PostgreSQL hub's archive: %v", err)
	}
	// and a hub on bbolt refuses it: it has no events
	dir = t.TempDir()
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()),
		backup.Files(filepath.Join(dir, "hub.db"), "", filepath.Join(dir, "hub-events.db"))); !errors.Is(err, backup.ErrArchive) {
		t.Errorf("restore without the events to a hub on bbolt = %v; want ErrArchive", err)
	}
}
