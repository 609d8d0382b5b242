// Package hubtest runs a whole hub for tests: real bbolt stores in a
// temporary folder, the ingest, the HTTP API on an httptest server, and a
// publisher that keeps what the hub published. It must never be imported
// outside tests.
package hubtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/console"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// Site and Door are the door the environment serves.
const (
	Site = "demo"
	Door = "server-room"
)

// The tests' guest and escort: the guest's card (a 7-byte e-KTP UID) and
// NIK, and the card of staff S-004, who may escort.
const (
	GuestUID  = "04A1B2C3D4E5F6"
	EscortUID = "04E5F6A1B2C3D4"
	NIK       = "3201234567890123"
)

// Options tune New; zero values are fine.
type Options struct {
	Dir       string           // the stores' folder (a new t.TempDir())
	Now       func() time.Time // the hub's clock (time.Now)
	Retention time.Duration
	// Signer replaces the folder's own key (a key rotation).
	Signer *permit.Signer
	// Ingest tunes the hub's ingest (its AckLinger is 1 ms unless set).
	Ingest ingest.Options
	// MaxWatchers and WatchWrite are the hub's and the API's (their
	// defaults when zero).
	MaxWatchers int
	WatchWrite  time.Duration
	// Notify, when set, gives the hub a notifier on its store with this
	// config (Env.Notifier), run until the hub stops.
	Notify *notify.Config
	// Silent is the hub's Options.Silent (zero: no silence alarm).
	Silent time.Duration
	// Notifier, when set and Notify is not, is the hub's notifier: a
	// test's own, such as a failpoint between the alarm book and the
	// notifier's queue.
	Notifier hub.Notifier
}

// Env is a running hub.
type Env struct {
	Dir     string
	Hub     *hub.Hub
	API     *api.API
	Tokens  *auth.Tokens
	Users   *auth.Users // the console's people
	Console *console.Console
	WF      *workflow.Store
	Events  *ingest.Store
	Server  *httptest.Server
	Pub     *Pub
	Signer  *permit.Signer
	Keyring permit.Keyring
	SiteKey permit.SiteKey
	Admin   string // an admin token
	// Notifier is the hub's, when Options.Notify was set.
	Notifier *notify.Notifier
	stop     func()
}

// New starts a hub; t.Cleanup stops it and checks the stores' integrity.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	e := &Env{Dir: o.Dir, Pub: &Pub{Retained: map[string][]byte{}}}
	e.start(t, o)
	return e
}

// keys are made once per folder, as kunci keygen's files, so that a
// restarted hub signs alike.
func keys(t testing.TB, dir string) (*permit.Signer, permit.SiteKey) {
	t.Helper()
	keyFile, siteFile := filepath.Join(dir, "hub.key"), filepath.Join(dir, "site.key")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		priv, err := permit.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pem, err := permit.MarshalPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		sk, err := permit.NewSiteKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(os.WriteFile(keyFile, pem, 0o600), os.WriteFile(siteFile, permit.MarshalSiteKey(sk), 0o600)); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := permit.LoadSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := permit.LoadSiteKey(siteFile)
	if err != nil {
		t.Fatal(err)
	}
	return signer, sk
}

func (e *Env) start(t testing.TB, o Options) {
	t.Helper()
	e.Signer, e.SiteKey = keys(t, o.Dir)
	if o.Signer != nil {
		e.Signer = o.Signer
	}
	e.Keyring = permit.Keyring{}
	if err := e.Keyring.Add(e.Signer.Public()); err != nil {
		t.Fatal(err)
	}
	var err error
	e.WF, err = workflow.Open(filepath.Join(o.Dir, "hub.db"), workflow.Options{
		SiteKeys: map[string]permit.SiteKey{Site: e.SiteKey}, Signer: e.Signer, Now: o.Now})
	if err != nil {
		t.Fatal(err)
	}
	if e.Events, err = ingest.OpenStore(filepath.Join(o.Dir, "events.db")); err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry() // the hub's, served by its API at /metrics
	if e.Tokens, err = auth.New(e.WF.KV(), reg); err != nil {
		t.Fatal(err)
	}
	if tok, issued, err := e.Tokens.EnsureAdmin("admin"); err != nil {
		t.Fatal(err)
	} else if issued {
		e.Admin = tok
	}
	if e.Admin == "" {
		if e.Admin, _, err = e.Tokens.Issue("admin-"+time.Now().Format("150405.000000"), []auth.Role{auth.Admin}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if e.Users, err = auth.NewUsers(e.WF.KV(), reg, o.Now); err != nil {
		t.Fatal(err)
	}
	if o.Ingest.AckLinger == 0 {
		o.Ingest.AckLinger = time.Millisecond
	}
	notifier := o.Notifier
	var h *hub.Hub // the notifier asks it, once running
	e.Notifier = nil
	if o.Notify != nil {
		if e.Notifier, err = notify.New(notify.Options{DB: e.WF.KV(), Config: *o.Notify, Now: o.Now, Metrics: reg,
			Acked: func(key string) bool { return h.Acked(key) }, OnHanded: func(key string, at time.Time) { h.Handed(key, at) }}); err != nil {
			t.Fatal(err)
		}
		notifier = e.Notifier
	}
	e.Hub, err = hub.New(hub.Options{Workflow: e.WF, Events: e.Events, Signer: e.Signer,
		Doors: []hub.DoorName{{Site: Site, Door: Door}}, Now: o.Now, Ingest: o.Ingest, MaxWatchers: o.MaxWatchers, Metrics: reg,
		Notifier: notifier, Silent: o.Silent})
	if err != nil {
		t.Fatal(err)
	}
	h = e.Hub
	if e.Console, err = console.New(console.Options{Hub: e.Hub, Users: e.Users, Tokens: e.Tokens, Publisher: e.Pub}); err != nil {
		t.Fatal(err)
	}
	if e.API, err = api.New(e.Hub, e.Tokens, api.Options{Publisher: e.Pub, Retention: o.Retention, Users: e.Users, Console: e.Console,
		Backup:     func(w io.Writer) (backup.Manifest, error) { return backup.Write(w, "test", backup.Hub(e.WF, e.Events)) },
		WatchWrite: o.WatchWrite}); err != nil {
		t.Fatal(err)
	}
	e.Server = httptest.NewServer(e.API)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Hub.Run(ctx, e.Pub) }()
	notified := make(chan error, 1)
	if e.Notifier != nil {
		go func() { notified <- e.Notifier.Run(ctx) }()
	} else {
		notified <- nil
	}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			e.Server.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("hub Run: %v", err)
			}
			if err := <-notified; err != nil {
				t.Errorf("notifier Run: %v", err)
			}
			check(t, e.WF.File(), "workflow")
			check(t, e.Events.DB(), "events")
			e.WF.Close()
			e.Events.Close()
		})
	}
	t.Cleanup(e.stop)
}

// Stop stops the hub and closes its files, checking them; the test's
// cleanup does it too.
func (e *Env) Stop() { e.stop() }

// Restart stops the hub and starts it again on the same files.
func (e *Env) Restart(t testing.TB, o Options) {
	t.Helper()
	e.stop()
	o.Dir = e.Dir
	admin := e.Admin
	e.start(t, o)
	e.Admin = admin
}

func check(t testing.TB, db *bolt.DB, what string) {
	t.Helper()
	if err := boltcheck.Check(db); err != nil {
		t.Errorf("%s store inconsistent: %v", what, err)
	}
}

// Token issues a token named name with roles.
func (e *Env) Token(t testing.TB, name string, roles ...auth.Role) string {
	t.Helper()
	tok, _, err := e.Tokens.Issue(name, roles, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Office is a token for each person of the SOP's office.
type Office struct {
	Desk   string // "desk", the requester
	Coord  string // "pranata", the network administrator who coordinates
	Head   string // "kasi-infra", the head of ICT infrastructure who approves
	Viewer string // "auditor"
}

// Office issues the office's tokens, in the order of Office's fields.
func (e *Env) Office(t testing.TB) Office {
	t.Helper()
	return Office{
		Desk:   e.Token(t, "desk", auth.Requester),
		Coord:  e.Token(t, "pranata", auth.Coordinator),
		Head:   e.Token(t, "kasi-infra", auth.Approver),
		Viewer: e.Token(t, "auditor", auth.Viewer),
	}
}

// Client is a client of the hub's API with token (none if empty): the
// way for tests' ordinary calls; Do is for the deliberately malformed.
func (e *Env) Client(t testing.TB, token string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(e.Server.URL, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Do sends a request with token (none if empty) and body (JSON-encoded
// unless it is a []byte or nil) and returns the status and the answer as
// it came: for requests the typed client cannot send (malformed bodies,
// wrong types) and answers compared byte for byte.
func (e *Env) Do(t testing.TB, token, method, path string, body any) (int, []byte) {
	t.Helper()
	resp, out := e.DoResponse(t, token, method, path, body)
	return resp.StatusCode, out
}

// DoResponse is Do, with the answer's status and header in its
// http.Response (whose body is read and closed).
func (e *Env) DoResponse(t testing.TB, token, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// Feed gives the hub events as the broker would, and waits until they
// are stored.
func (e *Env) Feed(t testing.TB, evs ...wire.Event) {
	t.Helper()
	before := e.Hub.Stats().Ingest
	for _, ev := range evs {
		j, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		e.Hub.Handle(mqttlink.Message{Topic: "kunci/v1/" + ev.Site + "/" + ev.Door + "/events", Payload: j, QoS: 1})
	}
	waitfor.NoError(t, 10*time.Second, func() error {
		s := e.Hub.Stats().Ingest
		if s.Stored+s.Duplicates+s.Malformed+s.Held < before.Stored+before.Duplicates+before.Malformed+before.Held+uint64(len(evs)) {
			return fmt.Errorf("events not stored: %+v", s)
		}
		return nil
	})
}

// Pub is a publisher that keeps what it was given: the retained documents
// by topic, and every other message in order. Every publish succeeds.
type Pub struct {
	mu       sync.Mutex
	Retained map[string][]byte
	Messages []mqttlink.Message
}

// Publish implements hub.Publisher.
func (p *Pub) Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token {
	p.mu.Lock()
	defer p.mu.Unlock()
	if retained {
		p.Retained[topic] = bytes.Clone(payload)
	} else {
		p.Messages = append(p.Messages, mqttlink.Message{Topic: topic, Payload: bytes.Clone(payload), QoS: qos})
	}
	return mqttlink.Completed(nil)
}

// RetainedDoc returns the retained document of topic, waiting up to 5 s
// for it to satisfy ok.
func (p *Pub) RetainedDoc(topic string, ok func([]byte) bool) ([]byte, bool) {
	var d []byte
	err := waitfor.Try(5*time.Second, func() error {
		p.mu.Lock()
		doc, have := p.Retained[topic]
		p.mu.Unlock()
		d = doc
		if !have || !ok(doc) {
			return errNotYet
		}
		return nil
	})
	return d, err == nil
}

var errNotYet = errors.New("hubtest: not yet")

// Sent returns the non-retained messages so far.
func (p *Pub) Sent() []mqttlink.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]mqttlink.Message(nil), p.Messages...)
}

// Clock is a clock a test moves, safe to read from the hub's goroutines.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now reads the clock.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// Password is the password of the users User makes.
const Password = "kata-sandi-uji-1"

// User adds a console user login, named name, with roles and Password.
func (e *Env) User(t testing.TB, login, name string, roles ...auth.Role) auth.User {
	t.Helper()
	u, err := e.Users.Add(auth.NewUser{Login: login, Name: name, Roles: roles, Password: Password})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Status gives the hub the door's status as the broker would (retained
// on the door's status topic).
func (e *Env) Status(t testing.TB, s wire.Status) {
	t.Helper()
	tp, err := topic.New(topic.DefaultPrefix, Site, Door)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	e.Hub.Handle(mqttlink.Message{Topic: tp.Status(), Payload: j})
}

// Visit is the door's events of one escorted visit of permit id by
// escort S-004, 30 s apart from start, numbered from seq first on (a
// second visit starts where the first ended: Visit(…, len(first)+1)).
func Visit(id string, start time.Time, first uint64) []wire.Event {
	types := []wire.EventType{wire.EvEscortAwaited, wire.EvGranted, wire.EvUnlocked, wire.EvOpened, wire.EvVisitEntered,
		wire.EvClosed, wire.EvLocked, wire.EvExitRequested, wire.EvUnlocked, wire.EvOpened, wire.EvVisitExited,
		wire.EvClosed, wire.EvLocked, wire.EvSecured}
	var evs []wire.Event
	for i, typ := range types {
		seq := first + uint64(i)
		e := wire.Event{ID: fmt.Sprintf("%s/%s/e1/%d", Site, Door, seq), Seq: seq, Epoch: "e1", Site: Site,
			Door: Door, Type: typ, At: start.Add(time.Duration(i) * 30 * time.Second), ClockSynced: true}
		switch typ {
		case wire.EvEscortAwaited, wire.EvGranted, wire.EvVisitEntered, wire.EvVisitExited:
			e.Permit, e.Escort = id, "S-004"
		}
		evs = append(evs, e)
	}
	return evs
}

// Issue adds escort S-004 (EscortUID) through admin and issues permit
// P-1 for the guest's card (GuestUID, NIK) at Door from from for an hour:
// filed through desk, classified, approved and escorted through head (an
// approver and coordinator).
func Issue(t testing.TB, admin, desk, head *client.Client, from time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.PutStaff(ctx, api.StaffRequest{ID: "S-004", Name: "Budi", Site: Site, CardUIDs: []string{EscortUID},
		Escort: true}); err != nil {
		t.Fatalf("staff: %v", err)
	}
	if _, err := desk.Request(ctx, api.PermitRequest{ID: "P-1", Site: Site, Door: Door, Guest: "Siti", NIK: NIK,
		Organisation: "PT A", Purpose: "work", NotBefore: from, NotAfter: from.Add(time.Hour), CardUID: GuestUID}); err != nil {
		t.Fatalf("request: %v", err)
	}
	if _, err := head.Coordinate(ctx, "P-1", permit.Server); err != nil {
		t.Fatalf("coordinate: %v", err)
	}
	if _, err := head.Approve(ctx, "P-1"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if _, err := head.Escort(ctx, "P-1", "S-004"); err != nil {
		t.Fatalf("escort: %v", err)
	}
}
