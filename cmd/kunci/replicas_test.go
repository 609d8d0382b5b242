//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/uplinktest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/topic"
)

// The jobs that run once among the replicas: the daily one, the notifier
// (hub/server's once) and republishing the records on connect.
const replicaJobs = 3

// TestReplicaSIGKILLUnderTraffic is issue 11's fault test: two `kunci hub`
// processes share one PostgreSQL database and take 100 doors' events
// through Mosquitto's shared subscription; midway through the traffic the
// replica that leads the jobs that run once is killed with SIGKILL. Then
// every door's events are stored exactly once and in seq order (rows per
// door = through = what the door appended), every one is acked (each
// door's log drains), the survivor leads every job within leadBound, and
// its API and console answer. The killed replica is then started again,
// and a second round of traffic through both is stored once too.
//
// The doors are the agent's uplink in this process (uplinktest: its
// bbolt store, the outbox pump with the agent's ack timeout, the signed
// acks): a door publishes again what the dead replica took and never
// stored once the hub's ack has not moved for the ack timeout.
func TestReplicaSIGKILLUnderTraffic(t *testing.T) {
	const (
		doors   = 100
		perDoor = 300 // events of each door in the first round
		more    = 50  // and in the second, with both replicas again
		// leadBound bounds the survivor's taking of every job after the
		// kill: PostgreSQL lets go of a dead session's locks at once
		// (its socket closed); the survivor tries every
		// pgstore.DefaultLeaderRetry (2 s) and leads a
		// DefaultLeaderCheck (1 s) after it got the lock: 3 s, and
		// slack for a loaded machine
		leadBound = 15 * time.Second
		// ackTimeout is the doors' wait for the hub's ack to move before
		// they publish again what it lacks: the agent's (outbox's
		// default, doubling up to 5 min while the ack stays put)
		ackTimeout = 10 * time.Second
		// drainBound bounds every door's log draining after the kill:
		// what the dead replica took comes again after ackTimeout, and
		// the survivor takes it all; a bound for a loaded machine, not a
		// measure. (A survivor dealt only every other event, as with a
		// dead replica's persistent session, took minutes.)
		drainBound = 60 * time.Second
	)
	began := time.Now()
	broker := mqtttest.StartMosquitto(t)
	dsn := pgtest.DB(t)
	dir := t.TempDir()
	bin := buildKunci(t, dir)
	keys := filepath.Join(dir, "keys")
	priv, pub := binKeys(t, bin, keys)
	trusted, err := permit.LoadKeyring(pub)
	if err != nil {
		t.Fatal(err)
	}

	// a receiver for the notifier, so that it is a job to lead; the
	// doors' taps open no alarm, so nothing is sent
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(hook.Close)
	secret := filepath.Join(dir, "webhook.secret")
	writeFile(t, secret, "replica-test-webhook-secret-0123456789\n")

	names := make([]string, doors)
	for i := range names {
		names[i] = fmt.Sprintf("demo/door-%03d", i)
	}
	hubs := make([]*hubProc, 2)
	for i := range hubs {
		p := &hubProc{name: fmt.Sprintf("hub-%d", i+1), cfg: filepath.Join(dir, fmt.Sprintf("hub-%d.yaml", i+1)), addr: freeAddr(t)}
		c := hubConfig{addr: p.addr, store: dsn, events: dsn, adminToken: filepath.Join(dir, "admin.token"), signingKey: priv,
			siteKey: filepath.Join(keys, "site.key"), doors: "[" + strings.Join(names, ", ") + "]", broker: broker.URL(),
			clientID: fmt.Sprintf("kunci-hub-%d", i+1)}
		writeFile(t, p.cfg, c.yaml()+fmt.Sprintf(`notify:
  recipients:
    - {name: soc, webhook: %q, secret_file: %q}
  rules:
    - topics: ["alarm.*"]
      steps:
        - to: [soc]
`, hook.URL+"/hook", secret))
		hubs[i] = p
	}
	// the first makes the schema and the admin token; the second finds
	// them (the keys of the personal data in the database too)
	hubs[0].start(t, bin)
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatalf("the first replica wrote no admin token: %v", err)
	}
	admin := strings.TrimSpace(string(b))
	hubs[1].start(t, bin)
	ctx := t.Context()
	apis := []*client.Client{hubs[0].api(t, admin), hubs[1].api(t, admin)}
	leading := func(i int) float64 { return hubs[i].metric(ctx, apis[i], "kunci_hub_leading_jobs") }
	waitfor.NoError(t, leadBound, func() error {
		if a, b := leading(0), leading(1); a+b != replicaJobs {
			return fmt.Errorf("the replicas lead %v and %v jobs; want %d between them", a, b, replicaJobs)
		}
		return nil
	})
	// a person of the console, signed in on the survivor after the kill
	const login, password = "sari", "kata-sandi-replika-1"
	if _, err := apis[1].AddUser(ctx, api.UserRequest{Login: login, Name: "Sari Wulandari", Roles: []string{"admin"},
		Password: password}); err != nil {
		t.Fatal(err)
	}

	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	stored := func() uint64 {
		var n uint64
		if err := db.QueryRow(ctx, "SELECT coalesce(sum(through), 0) FROM events_epochs").Scan(&n); err != nil {
			t.Fatalf("the stored events: %v", err)
		}
		return n
	}

	ds := make([]*uplinktest.Door, doors)
	for i := range ds {
		ds[i] = uplinktest.Start(t, uplinktest.Options{Broker: broker.URL(), Keys: trusted,
			Door:   topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: fmt.Sprintf("door-%03d", i)},
			Outbox: outbox.Options{AckTimeout: ackTimeout}})
	}
	waitfor.NoError(t, 30*time.Second, func() error {
		for _, d := range ds {
			if !d.Link.Connected() {
				return fmt.Errorf("door %s not connected", d.Topic.Door)
			}
		}
		return nil
	})
	trafficStart := time.Now()
	// ten events a door every 100 ms: 3 s of appending, 10,000 events a
	// second offered to the replicas
	for _, d := range ds {
		d.AppendPaced(t, perDoor, 10, 100*time.Millisecond)
	}
	const total = doors * perDoor
	waitfor.Until(t, drainBound, "the replicas to store 40% of the first round", func() bool { return stored() >= total*2/5 })

	// the kill of the replica leading the jobs (the most of them)
	victim := 0
	if leading(1) > leading(0) {
		victim = 1
	}
	survivor := 1 - victim
	led, atKill, appendedAtKill := leading(victim), stored(), appended(ds)
	hubs[victim].kill(t)
	killed := time.Now()
	t.Logf("%s (leading %v jobs) SIGKILLed at %d of %d events stored, %d appended, %v into the traffic",
		hubs[victim].name, led, atKill, total, appendedAtKill, killed.Sub(trafficStart).Round(time.Millisecond))

	waitfor.NoError(t, leadBound, func() error {
		if n := leading(survivor); n != replicaJobs {
			return fmt.Errorf("the survivor %s leads %v jobs; want %d", hubs[survivor].name, n, replicaJobs)
		}
		return nil
	})
	tookOver := time.Since(killed)

	drain(t, ds, perDoor, drainBound, stored, total)
	drained := time.Since(killed)
	t.Logf("after the kill: every job led by %s in %v, every door acked in %v", hubs[survivor].name,
		tookOver.Round(time.Millisecond), drained.Round(time.Millisecond))
	checkReplicaStore(t, db, ds, perDoor)

	// the survivor answers the API and the console
	got, err := apis[survivor].Doors(ctx)
	if err != nil || len(got) != doors {
		t.Errorf("the survivor's doors: %d, %v; want %d", len(got), err, doors)
	}
	consoleGet(t, "http://"+hubs[survivor].addr, login, password, map[string]string{
		"/buku-tamu": "Buku Tamu", "/pintu/demo/door-000": "door-000"})

	// the killed replica back: once its link is up it takes its share
	// again, and the second round too is stored once
	hubs[victim].start(t, bin)
	waitfor.Until(t, startWait, "the restarted replica's link", func() bool {
		return hubs[victim].metric(ctx, apis[victim], "kunci_mqtt_connected") == 1
	})
	before := hubs[victim].metric(ctx, apis[victim], "kunci_hub_events_stored_total")
	for _, d := range ds {
		d.AppendPaced(t, perDoor+more, 10, 100*time.Millisecond)
	}
	drain(t, ds, perDoor+more, drainBound, stored, doors*(perDoor+more))
	checkReplicaStore(t, db, ds, perDoor+more)
	if n := hubs[victim].metric(ctx, apis[victim], "kunci_hub_events_stored_total"); n <= before {
		t.Errorf("the restarted %s stored no event of the second round (%v)", hubs[victim].name, n)
	}
	if n := leading(0) + leading(1); n != replicaJobs {
		t.Errorf("after the restart the replicas lead %v jobs between them; want %d", n, replicaJobs)
	}
	for _, p := range hubs {
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("%s logged an error: %s", p.name, l)
			}
		}
	}
	var resends, timeouts uint64
	for _, d := range ds {
		s := d.Pump.Stats()
		resends, timeouts = resends+s.Resends, timeouts+s.AckTimeouts
	}
	t.Logf("%d doors x %d events (+%d after the restart) stored once each; survivor led every job %v after the kill, "+
		"every door acked %v after it; doors' resends %d (ack timeouts %d); %v in all",
		doors, perDoor, more, tookOver.Round(time.Millisecond), drained.Round(time.Millisecond), resends, timeouts,
		time.Since(began).Round(time.Millisecond))
}

func appended(ds []*uplinktest.Door) uint64 {
	var n uint64
	for _, d := range ds {
		n += d.Appended()
	}
	return n
}

// drain waits until every door appended want events and holds none
// unacked, and the database has all of them.
func drain(t *testing.T, ds []*uplinktest.Door, want uint64, within time.Duration, stored func() uint64, total uint64) {
	t.Helper()
	waitfor.NoError(t, within, func() error {
		left := 0
		var first *uplinktest.Door
		for _, d := range ds {
			if d.Appended() != want || d.Outstanding(t) != 0 {
				if left++; first == nil {
					first = d
				}
			}
		}
		if left > 0 {
			return fmt.Errorf("%d doors not appended or acked in full (%s: %d appended, %d unacked, pump %+v); %d of %d stored",
				left, first.Topic.Door, first.Appended(), first.Outstanding(t), first.Pump.Stats(), stored(), total)
		}
		if n := stored(); n != total {
			return fmt.Errorf("every door acked, the database holds %d of %d", n, total)
		}
		return nil
	})
	for _, d := range ds {
		if err := d.AckError(); err != nil {
			t.Errorf("door %s refused an ack: %v", d.Topic.Door, err)
		}
	}
}

// checkReplicaStore checks the events table: each door's one epoch holds
// exactly rows 1..want, its through want, and nothing else is there.
func checkReplicaStore(t *testing.T, db *pgx.Conn, ds []*uplinktest.Door, want uint64) {
	t.Helper()
	type row struct{ rows, lo, hi, through uint64 }
	got := map[string]row{}
	rs, err := db.Query(t.Context(), `SELECT e.door, e.epoch, count(*), min(e.seq), max(e.seq), max(x.through)
		FROM events e JOIN events_epochs x USING (site, door, epoch) WHERE e.site = 'demo' GROUP BY e.door, e.epoch`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var door, epoch string
		var r row
		if err := rs.Scan(&door, &epoch, &r.rows, &r.lo, &r.hi, &r.through); err != nil {
			t.Fatal(err)
		}
		got[door+"/"+epoch] = r
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, d := range ds {
		k := d.Topic.Door + "/" + d.Store.Epoch()
		if r := got[k]; r != (row{want, 1, want, want}) {
			if bad++; bad <= 10 {
				t.Errorf("door %s: %d rows, seqs %d..%d, through %d; want %d rows, 1..%d, through %d: each event once",
					k, r.rows, r.lo, r.hi, r.through, want, want, want)
			}
		}
		delete(got, k)
	}
	for k, r := range got {
		t.Errorf("the events table holds a stream no door sent: %s %+v", k, r)
	}
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleGet signs in to the console at base as a person does (the
// sign-in page, its form) and fetches each page of pages, wanting 200 and
// the text it maps to; it returns the pages' bodies.
func consoleGet(t *testing.T, base, login, password string, pages map[string]string) map[string]string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	_, page := get("/masuk")
	m := consoleCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the sign-in page has no CSRF token:\n%s", page)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/masuk",
		strings.NewReader(url.Values{"csrf": {m[1]}, "login": {login}, "password": {password}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	// as a browser posts the form: the console refuses other origins
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("signing in as %s: %s to %q; want 303 to /", login, resp.Status, resp.Header.Get("Location"))
	}
	bodies := map[string]string{}
	for p, want := range pages {
		code, body := get(p)
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s at %s: %d; want 200 and %q in\n%s", p, base, code, want, tail(body, 10))
		}
		bodies[p] = body
	}
	return bodies
}
