package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
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

// A hub with everything in PostgreSQL (store: and events_store:
// postgres://, on a real Mosquitto) takes a permit through request,
// coordination, approval and its escort, which issues it to the door;
// takes the visit's events and writes the guest book from them; and a hub
// opened on the database dumped with pg_dump and restored with pg_restore
// into an empty one (the README's backup) reads the same permit, staff,
// tokens and guest book, without a file of its own.
func TestWholeVisitOnPostgres(t *testing.T) {
	dsn := pgtest.DB(t)
	broker := mqtttest.StartMosquitto(t).URL()
	dir := t.TempDir()
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	s := server.Setup{Store: dsn, StoreKeys: filepath.Join(dir, "hub.db.keys"), EventsStore: dsn,
		Signer: signer, SiteKeys: map[string]permit.SiteKey{"demo": bytes.Repeat([]byte{2}, permit.SiteKeySize)},
		Doors: []hub.DoorName{{Site: demo.Site, Door: demo.Door}},
		Link:  mqttlink.Options{Broker: broker, ClientID: "test-hub"}, OnlyDoors: true}
	run := func(fn func(h *server.Server, base string)) {
		t.Helper()
		h, err := server.Open(s, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if h.Hub().Workflow().File() != nil {
			t.Fatal("the workflow's store is a bbolt file; want PostgreSQL")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		g := lifecycle.New(ctx, lifecycle.Options{})
		h.Start(g)
		h.Serve(g, l, "", "")
		defer func() {
			cancel()
			if err := g.Wait(); err != nil {
				t.Errorf("Wait = %v", err)
			}
		}()
		fn(h, "http://"+l.Addr().String())
	}
	ctx := context.Background()
	clients := map[auth.Role]*client.Client{}
	tokens := map[auth.Role]string{}
	var id string
	at := time.Now().UTC().Truncate(time.Millisecond)
	run(func(h *server.Server, base string) {
		for _, r := range []auth.Role{auth.Admin, auth.Requester, auth.Coordinator, auth.Approver} {
			tok, _, err := h.Tokens().Issue("pg-"+string(r), []auth.Role{r}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			tokens[r] = tok
			if clients[r], err = client.New(base, tok); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := clients[auth.Admin].PutStaff(ctx, api.StaffRequest{ID: "S-004", Name: "Budi", Site: "demo",
			CardUIDs: []string{"A1B2C3D4"}, Escort: true}); err != nil {
			t.Fatal(err)
		}
		p, err := clients[auth.Requester].Request(ctx, api.PermitRequest{Site: "demo", Door: "server-room", Guest: "Andi",
			NIK: "3302011234567890", Organisation: "PT Jaringan", Purpose: "replace switch", NotBefore: at.Add(-time.Hour),
			NotAfter: at.Add(8 * time.Hour), CardUID: "04A1B2C3D4E5F6"})
		if err != nil {
			t.Fatal(err)
		}
		id = p.ID
		if _, err := clients[auth.Coordinator].Coordinate(ctx, id, permit.Server); err != nil {
			t.Fatal(err)
		}
		if _, err := clients[auth.Approver].Approve(ctx, id); err != nil {
			t.Fatal(err)
		}
		if p, err = clients[auth.Approver].Escort(ctx, id, "S-004"); err != nil {
			t.Fatal(err)
		}
		if p.State != workflow.Issued {
			t.Fatalf("permit %s is %s after its escort; want issued", id, p.State)
		}
		// the visit, as the door tells it
		var evs []string
		for i, typ := range []wire.EventType{wire.EvEscortAwaited, wire.EvGranted, wire.EvUnlocked, wire.EvOpened,
			wire.EvVisitEntered, wire.EvClosed, wire.EvLocked, wire.EvExitRequested, wire.EvVisitExited, wire.EvSecured} {
			seq := i + 1
			evs = append(evs, fmt.Sprintf(`{"id":"demo/server-room/e1/%d","seq":%d,"epoch":"e1","site":"demo","door":"server-room","type":%q,"at":%q,"clock_synced":true,"boot":"b","mono_ns":%d,"permit":%q,"escort":"S-004"}`,
				seq, seq, typ, at.Add(time.Duration(seq)*time.Minute).Format(time.RFC3339Nano), seq, id))
		}
		storeEvents(t, broker, evs...)
	})
	// the database dumped as the README says (pg_dump, the hub running
	// or not) and restored into an empty one (pg_restore): the hub on the
	// restored database, as another replica would be, with nothing of it
	// in a file, not even the keys of the personal data
	restored := pgtest.DB(t)
	pgDumpRestore(t, dsn, restored)
	s.Store, s.EventsStore = restored, restored
	s.StoreKeys = filepath.Join(t.TempDir(), "none.keys")
	run(func(h *server.Server, base string) {
		c, err := client.New(base, tokens[auth.Admin])
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Permit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != workflow.Issued || p.Guest != "Andi" || p.Escort != "S-004" || p.Approver != "pg-approver" {
			t.Errorf("permit after a restart: %+v", p)
		}
		rows, err := c.GuestBook(ctx, workflow.Filter{Site: "demo", Door: "server-room"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("guest book: %d rows; want 1: %+v", len(rows), rows)
		}
		r := rows[0]
		if r.Permit != id || r.Guest != "Andi" || !r.Entered.Equal(at.Add(5*time.Minute)) ||
			!r.Exited.Equal(at.Add(9*time.Minute)) || !r.Secured.Equal(at.Add(10*time.Minute)) {
			t.Errorf("guest book row: %+v", r)
		}
		if staff, err := c.Staff(ctx); err != nil || len(staff) != 1 || staff[0].ID != "S-004" {
			t.Errorf("staff after a restart: %+v, %v", staff, err)
		}
		// nothing is in a file: no backup here, pg_dump's
		var buf bytes.Buffer
		if m, err := h.Backup(&buf); !errors.Is(err, backup.ErrNothing) || buf.Len() != 0 {
			t.Errorf("the backup of a hub all in PostgreSQL: %+v, %v, %d bytes; want backup.ErrNothing", m, err, buf.Len())
		}
		if _, err := os.Stat(s.StoreKeys); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a hub all in PostgreSQL made a keys file: %v", err)
		}
	})
}

// pgDumpRestore copies the database of from into the empty one of to as
// the README's backup does: pg_dump --format=custom, then pg_restore
// --single-transaction.
func pgDumpRestore(t *testing.T, from, to string) {
	t.Helper()
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; CI must have it (Debian's postgresql-client)", tool)
			}
			t.Skipf("%s is not installed (Debian's postgresql-client); skipping the restore of a dump", tool)
		}
	}
	dump := filepath.Join(t.TempDir(), "kunci.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--file="+dump, from).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	if out, err := exec.Command("pg_restore", "--dbname="+to, "--single-transaction", dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v: %s", err, out)
	}
}

// Two hubs on one PostgreSQL database: the daily job (retention, the
// records' refresh) and the republishing of the records on connect are
// each led by one of them at a time; when the one leading stops, the
// other takes them over.
func TestDailyLedOnceOnPostgres(t *testing.T) {
	dsn := pgtest.DB(t)
	broker := mqtttest.StartMosquitto(t).URL()
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	type replica struct {
		h    *server.Server
		stop func()
	}
	start := func(i int) replica {
		s := server.Setup{Store: dsn, StoreKeys: filepath.Join(t.TempDir(), "hub.db.keys"), EventsStore: dsn,
			Signer: signer, SiteKeys: map[string]permit.SiteKey{"demo": bytes.Repeat([]byte{2}, permit.SiteKeySize)},
			Doors: []hub.DoorName{{Site: demo.Site, Door: demo.Door}}, Retention: 24 * time.Hour,
			Link: mqttlink.Options{Broker: broker, ClientID: fmt.Sprintf("test-hub-%d", i)}, OnlyDoors: true}
		h, err := server.Open(s, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		g := lifecycle.New(ctx, lifecycle.Options{})
		h.Start(g)
		return replica{h: h, stop: sync.OnceFunc(func() {
			cancel()
			if err := g.Wait(); err != nil {
				t.Errorf("Wait = %v", err)
			}
		})}
	}
	a, b := start(1), start(2)
	defer a.stop()
	defer b.stop()
	// two jobs: the daily one, and republishing the records on connect
	const jobs = 2
	waitfor.Until(t, 20*time.Second, "each job led by one hub", func() bool {
		return a.h.Leading()+b.h.Leading() == jobs
	})
	lead, other := a, b
	if b.h.Leading() > a.h.Leading() {
		lead, other = b, a
	}
	lead.stop()
	waitfor.Until(t, 20*time.Second, "the other hub leading them all", func() bool { return other.h.Leading() == jobs })
}

// Two hub replicas at once on one PostgreSQL database and one broker,
// taking the door's events through the shared subscription: a permit
// filed, classified, approved and escorted on one alone reads on the
// other, guest and all (the keys in the database); the visit's events,
// split between them, make the same guest-book row on both, the guest's
// name on it (the other's record followed); and each one's doors show the
// door's last event, whichever stored it.
func TestReplicasOnPostgres(t *testing.T) {
	dsn := pgtest.DB(t)
	broker := mqtttest.StartMosquitto(t).URL()
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	type replica struct {
		h    *server.Server
		base string
	}
	start := func(i int) replica {
		s := server.Setup{Store: dsn, EventsStore: dsn, Shared: true,
			Signer: signer, SiteKeys: map[string]permit.SiteKey{"demo": bytes.Repeat([]byte{2}, permit.SiteKeySize)},
			Doors: []hub.DoorName{{Site: demo.Site, Door: demo.Door}},
			Link:  mqttlink.Options{Broker: broker, ClientID: fmt.Sprintf("test-hub-%d", i)}, OnlyDoors: true}
		h, err := server.Open(s, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		g := lifecycle.New(ctx, lifecycle.Options{})
		h.Start(g)
		h.Serve(g, l, "", "")
		t.Cleanup(func() {
			cancel()
			if err := g.Wait(); err != nil {
				t.Errorf("Wait = %v", err)
			}
		})
		return replica{h, "http://" + l.Addr().String()}
	}
	a, b := start(1), start(2)
	ctx := context.Background()
	tok, _, err := a.h.Tokens().Issue("pg-admin", []auth.Role{auth.Admin, auth.Requester, auth.Coordinator, auth.Approver}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := client.New(a.base, tok)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := client.New(b.base, tok) // the token, issued on one, answers on the other
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.PutStaff(ctx, api.StaffRequest{ID: "S-004", Name: "Budi", Site: "demo",
		CardUIDs: []string{"A1B2C3D4"}, Escort: true}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	p, err := ca.Request(ctx, api.PermitRequest{Site: "demo", Door: "server-room", Guest: "Andi",
		NIK: "3302011234567890", Organisation: "PT Jaringan", Purpose: "replace switch", NotBefore: at.Add(-time.Hour),
		NotAfter: at.Add(8 * time.Hour), CardUID: "04A1B2C3D4E5F6"})
	if err != nil {
		t.Fatal(err)
	}
	id := p.ID
	if _, err := ca.Coordinate(ctx, id, permit.Server); err != nil {
		t.Fatal(err)
	}
	atok, _, err := a.h.Tokens().Issue("pg-approver", []auth.Role{auth.Approver}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	approver, err := client.New(a.base, atok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := approver.Approve(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := approver.Escort(ctx, id, "S-004"); err != nil {
		t.Fatal(err)
	}
	if p, err := cb.Permit(ctx, id); err != nil || p.State != workflow.Issued || p.Guest != "Andi" {
		t.Fatalf("the permit read on the other replica: %+v, %v", p, err)
	}
	var evs []string
	for i, typ := range []wire.EventType{wire.EvEscortAwaited, wire.EvGranted, wire.EvUnlocked, wire.EvOpened,
		wire.EvVisitEntered, wire.EvClosed, wire.EvLocked, wire.EvExitRequested, wire.EvVisitExited, wire.EvSecured} {
		seq := i + 1
		evs = append(evs, fmt.Sprintf(`{"id":"demo/server-room/e1/%d","seq":%d,"epoch":"e1","site":"demo","door":"server-room","type":%q,"at":%q,"clock_synced":true,"boot":"b","mono_ns":%d,"permit":%q,"escort":"S-004"}`,
			seq, seq, typ, at.Add(time.Duration(seq)*time.Minute).Format(time.RFC3339Nano), seq, id))
	}
	storeEvents(t, broker, evs...)
	for i, c := range []*client.Client{ca, cb} {
		waitfor.NoError(t, 10*time.Second, func() error {
			rows, err := c.GuestBook(ctx, workflow.Filter{Site: "demo", Door: "server-room"})
			if err != nil {
				return err
			}
			if len(rows) != 1 {
				return fmt.Errorf("replica %d's guest book: %d rows; want 1: %+v", i, len(rows), rows)
			}
			if r := rows[0]; r.Permit != id || r.Guest != "Andi" || !r.Entered.Equal(at.Add(5*time.Minute)) ||
				!r.Exited.Equal(at.Add(9*time.Minute)) || !r.Secured.Equal(at.Add(10*time.Minute)) {
				return fmt.Errorf("replica %d's guest-book row: %+v", i, r)
			}
			doors, err := c.Doors(ctx)
			if err != nil {
				return err
			}
			if len(doors) != 1 || doors[0].LastEvent != wire.EvSecured {
				return fmt.Errorf("replica %d's doors: %+v; want the door's last event room.secured", i, doors)
			}
			return nil
		})
	}
	// the door forced: the replica that stores it opens the alarm, and
	// both count it unacknowledged (the console's badge) until it is
	// acknowledged on either
	evs = append(evs, fmt.Sprintf(`{"id":"demo/server-room/e1/11","seq":11,"epoch":"e1","site":"demo","door":"server-room","type":%q,"at":%q,"clock_synced":true,"boot":"b","mono_ns":11}`,
		wire.EvForced, at.Add(11*time.Minute).Format(time.RFC3339Nano)))
	storeEvents(t, broker, evs...)
	unacked := func(n int) func() bool {
		return func() bool { return a.h.Hub().Alarms().Unacked() == n && b.h.Hub().Alarms().Unacked() == n }
	}
	waitfor.Until(t, 10*time.Second, "both replicas to count the alarm", unacked(1))
	as, err := cb.Alarms(ctx, client.AlarmQuery{})
	if err != nil || len(as) != 1 {
		t.Fatalf("alarms on the second replica: %+v, %v; want the door forced", as, err)
	}
	if _, err := ca.AckAlarm(ctx, as[0].ID, "checked the door"); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 10*time.Second, "both replicas to count it acknowledged", unacked(0))
	// a token revoked on one replica ends its watch stream on the other
	wtok, winfo, err := a.h.Tokens().Issue("pg-watcher", []auth.Role{auth.Admin}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := client.New(b.base, wtok)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := watcher.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Next() { // each door's state first
		t.Fatalf("the watch stream ended at once: %v", stream.Err())
	}
	if err := a.h.Tokens().Revoke(winfo.ID); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		for stream.Next() {
		}
		ended <- stream.Err()
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch stream on the other replica outlived its token's revocation by 10 s")
	}
}
