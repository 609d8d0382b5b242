//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// The cards of the end-to-end test: one guest card per permit, so that
// each denial is about its own permit.
const (
	e2eEscort      = "04E5F6A1B2C3D4" // S-004, the escort of every permit
	e2eOtherEscort = "04E5F6A1B2C3D5" // S-005, may escort, assigned to none
	e2eVisit       = "04A1B2C3D4E501" // the complete visit
	e2eAlone       = "04A1B2C3D4E502" // no escort, wrong escort, then revoked
	e2eExpired     = "04A1B2C3D4E503"
	e2eEarly       = "04A1B2C3D4E504" // window not begun
	e2eLockdown    = "04A1B2C3D4E505"
)

// e2e is the whole system as separate processes of the real binary: a
// Mosquitto, `kunci hub --config`, `kunci agent --config`, and the client
// verbs as the office runs them.
type e2e struct {
	t        *testing.T
	dir, bin string
	broker   *mqtttest.Mosquitto
	hub      *hubProc   // the hub the client verbs reach
	hubs     []*hubProc // every hub: one, or the replicas
	agent    *agentRun
	admin    string
	tokens   map[string]string
}

// e2eHub is what a test sets of the hub beyond newE2E's.
type e2eHub struct {
	doors   string // hub.yaml's doors ([demo/server-room])
	extra   string // more of hub.yaml, as written
	noAgent bool   // the hub and the broker only
	// replicas, when 2 or more, is how many `kunci hub` processes share
	// one PostgreSQL database (store and events both) and the broker's
	// shared subscription, each with its client id and HTTP address; else
	// one hub keeps its bbolt files
	replicas int
}

// hubConfig is hub.yaml of the process tests' hubs.
type hubConfig struct {
	addr, store, events, adminToken string
	signingKey, siteKey             string
	doors                           string // a YAML list
	broker                          string
	clientID                        string // set: a replica on the shared subscription
}

func (c hubConfig) yaml() string {
	mqtt := fmt.Sprintf("{broker: %q}", c.broker)
	if c.clientID != "" {
		mqtt = fmt.Sprintf("{broker: %q, client_id: %s, shared: true}", c.broker, c.clientID)
	}
	return fmt.Sprintf(`listen: %q
store: %q
events_store: %q
admin_token_file: %q
signing_key: %q
site_keys: {demo: %q}
doors: %s
mqtt: %s
`, c.addr, c.store, c.events, c.adminToken, c.signingKey, c.siteKey, c.doors, mqtt)
}

// binKeys runs the binary's keygen into dir and returns the hub's key
// pair (the site key is dir/site.key).
func binKeys(t *testing.T, bin, dir string) (priv, pub string) {
	t.Helper()
	runKunci(t, bin, "keygen", "--out", dir)
	privs, _ := filepath.Glob(filepath.Join(dir, "hub-*.key"))
	pubs, _ := filepath.Glob(filepath.Join(dir, "hub-*.pub"))
	if len(privs) != 1 || len(pubs) != 1 {
		t.Fatalf("keygen: %v %v; want one key pair", privs, pubs)
	}
	return privs[0], pubs[0]
}

func newE2E(t *testing.T) *e2e { return newE2EWith(t, e2eHub{}) }

func newE2EWith(t *testing.T, h e2eHub) *e2e {
	t.Helper()
	if h.doors == "" {
		h.doors = "[demo/server-room]"
	}
	dir := t.TempDir()
	x := &e2e{t: t, dir: dir, bin: buildKunci(t, dir), broker: mqtttest.StartMosquitto(t), tokens: map[string]string{}}
	keys := filepath.Join(dir, "keys")
	priv, pub := binKeys(t, x.bin, keys)
	var dsn string
	if h.replicas > 1 {
		dsn = pgtest.DB(t)
	}
	for i := range max(h.replicas, 1) {
		c := hubConfig{addr: freeAddr(t), store: filepath.Join(dir, "hub.db"), events: filepath.Join(dir, "hub-events.db"),
			adminToken: filepath.Join(dir, "admin.token"), signingKey: priv, siteKey: filepath.Join(keys, "site.key"),
			doors: h.doors, broker: x.broker.URL()}
		p := &hubProc{name: "kunci hub", addr: c.addr, cfg: filepath.Join(dir, "hub.yaml")}
		if dsn != "" {
			c.store, c.events, c.clientID = dsn, dsn, fmt.Sprintf("kunci-hub-%d", i+1)
			p.name, p.cfg = fmt.Sprintf("hub-%d", i+1), filepath.Join(dir, fmt.Sprintf("hub-%d.yaml", i+1))
		}
		writeFile(t, p.cfg, c.yaml()+h.extra)
		x.hubs = append(x.hubs, p)
	}
	// the first makes the stores (or the schema) and the admin token; the
	// other replicas find them
	x.hub = x.hubs[0]
	x.startHub()
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatalf("the hub's first start wrote no admin token: %v", err)
	}
	x.admin = strings.TrimSpace(string(b))
	for _, p := range x.hubs[1:] {
		p.start(t, x.bin)
	}
	if h.noAgent {
		return x
	}

	agentAddr := freeAddr(t)
	agentCfg := filepath.Join(dir, "agent.yaml")
	writeFile(t, agentCfg, simAgentYAML(filepath.Join(dir, "agent.db"), agentAddr, filepath.Join(keys, "site.key"), pub,
		fmt.Sprintf("rules:\n  escort_window: 1s\nmqtt: {broker: %q}\n", x.broker.URL())))
	if x.agent, err = launchAgent(t, x.bin, agentCfg, agentAddr, 0); err != nil {
		t.Fatal(err)
	}
	return x
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startHub runs `kunci hub --config` and waits for its API.
func (x *e2e) startHub() {
	x.t.Helper()
	x.hub.start(x.t, x.bin)
}

// api is a client of the hub's API as the holder of token.
func (x *e2e) api(token string) *client.Client {
	x.t.Helper()
	c, err := client.New("http://"+x.hub.addr, token)
	if err != nil {
		x.t.Fatal(err)
	}
	return c
}

// stopHub ends the hub with sig and waits for it.
func (x *e2e) stopHub(sig syscall.Signal) {
	x.t.Helper()
	x.hub.cmd.Process.Signal(sig)
	select {
	case <-x.hub.done:
	case <-time.After(10 * time.Second):
		x.t.Fatalf("kunci hub did not stop on %v", sig)
	}
}

// kunci runs a client verb as who (a token name, or "" for the admin) and
// returns its stdout and whether it succeeded.
func (x *e2e) kunci(who string, args ...string) (string, error) {
	x.t.Helper()
	tok := x.admin
	if who != "" {
		tok = x.tokens[who]
	}
	cmd := exec.Command(x.bin, args...)
	cmd.Env = append(os.Environ(), "KUNCI_HUB=http://"+x.hub.addr, "KUNCI_TOKEN="+tok)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kunci %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (x *e2e) must(who string, args ...string) string {
	x.t.Helper()
	out, err := x.kunci(who, args...)
	if err != nil {
		x.t.Fatal(err)
	}
	return out
}

func mustJSON[T any](x *e2e, who string, args ...string) T {
	x.t.Helper()
	var v T
	out := x.must(who, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		x.t.Fatalf("kunci %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// taken is the number of signed records and commands the door took.
func (x *e2e) taken() int {
	x.t.Helper()
	resp, err := x.agent.client.Get(x.agent.base + "/metrics")
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "kunci_agent_downlink_taken_total "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// waitTaken waits until the door took more than n records and commands.
func (x *e2e) waitTaken(n int, what string) {
	x.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for x.taken() <= n {
		if time.Now().After(deadline) {
			x.t.Fatalf("the door did not take %s within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// at is x with the client verbs and the API reaching hub i of x.hubs
// (a replica); the rest (the door, the tokens) is shared.
func (x *e2e) at(i int) *e2e {
	y := *x
	y.hub = x.hubs[i]
	return &y
}

// issue runs SOP steps 1-4 with the client verbs for a guest card and
// returns the permit once the door holds it.
func (x *e2e) issue(card, from, until string) string {
	x.t.Helper()
	return issueVia(x, x, x, card, from, until)
}

// issueVia runs SOP steps 1-4 as issue does, each through its own hub:
// the request at desk, the classification at coordinator, the approval
// and the escort at head.
func issueVia(desk, coordinator, head *e2e, card, from, until string) string {
	desk.t.Helper()
	before := desk.taken()
	p := mustJSON[api.Permit](desk, "desk", "permit", "request", "--site", "demo", "--door", "server-room",
		"--guest", "Tamu "+card[len(card)-2:], "--nik", "32010101010100"+card[len(card)-2:], "--org", "PT Contoh",
		"--purpose", "maintenance", "--equipment", "laptop", "--from", from, "--until", until, "--card", card)
	coordinator.must("pranata", "permit", "coordinate", p.ID, "--category", "server")
	head.must("kasi", "permit", "approve", p.ID)
	head.must("kasi", "permit", "escort", p.ID, "--staff", "S-004")
	desk.waitTaken(before, "permit "+p.ID)
	return p.ID
}

// visit is SOP steps 5-8 at the door for a guest card of an issued
// permit: the guest and the escort tap in, the door opens and closes, a
// rack is opened and locked again, the guest taps out, the door opens and
// closes; the door then checks the room.
func (x *e2e) visit(card string) {
	x.t.Helper()
	x.tap("entry", card)
	x.tap("entry", e2eEscort)
	if r := x.relay(); r != "unlocked" {
		x.t.Fatalf("relay %s after guest and escort; want unlocked", r)
	}
	for _, s := range []string{`/sim/door {"open":true}`, `/sim/door {"open":false}`,
		`/sim/rack {"rack":"R1","open":true}`, `/sim/rack {"rack":"R1","open":false}`} {
		p, b, _ := strings.Cut(s, " ")
		x.post(p, b)
	}
	x.tap("exit", card)
	x.post("/sim/door", `{"open":true}`)
	x.post("/sim/door", `{"open":false}`)
}

// securedRow waits until the hub's guest book has the visit of permit id
// with the room secured, and returns its row.
func (x *e2e) securedRow(id string) api.GuestRow {
	x.t.Helper()
	var row api.GuestRow
	c := x.api(x.tokens["kasi"])
	waitfor.NoError(x.t, 10*time.Second, func() error {
		rows, err := c.GuestBook(x.t.Context(), workflow.Filter{Permit: id})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Permit == id {
				row = r
			}
		}
		if row.Secured.IsZero() {
			return fmt.Errorf("no secured visit of %s in the guest book of %s: %+v", id, x.hub.name, row)
		}
		return nil
	})
	return row
}

// checkVisitRow checks the guest-book row of issue's permit for the card
// ending in 01 after visit: every column of the paper book, the NIK
// masked, the times in order.
func checkVisitRow(t *testing.T, where string, row api.GuestRow) {
	t.Helper()
	if row.Guest != "Tamu 01" || row.NIK != "3201**********01" || row.Organisation != "PT Contoh" || row.Purpose != "maintenance" ||
		row.Category != permit.Server || row.Escort != "S-004" || row.Approver != "kasi" || row.Entered.IsZero() ||
		row.Exited.Before(row.Entered) || row.Secured.Before(row.Exited) || len(row.Equipment) != 1 || len(row.Alarms) != 0 {
		t.Errorf("%s: guest-book row %+v", where, row)
	}
}

// checkVisitTimes checks the service times of issue's permit id in rep:
// each timed step known and within its standard.
func checkVisitTimes(t *testing.T, where string, rep api.SLAReport, id string) {
	t.Helper()
	var times *api.PermitTimes
	for i := range rep.Permits {
		if rep.Permits[i].Permit == id {
			times = &rep.Permits[i]
		}
	}
	if times == nil {
		t.Fatalf("%s: no service times of %s: %+v", where, id, rep)
	}
	for _, s := range times.Steps {
		if s.Step != "6" && s.Step != "1" && (!s.Known || !s.Within) {
			t.Errorf("%s: step %s of %s = %+v; want known and within the standard", where, s.Step, id, s)
		}
	}
}

func (x *e2e) post(path, body string) {
	x.t.Helper()
	if err := x.agent.post(path, body); err != nil {
		x.t.Fatalf("POST %s %s: %v", path, body, err)
	}
}

func (x *e2e) tap(reader, uid string) {
	x.t.Helper()
	x.post("/sim/tap", fmt.Sprintf(`{"reader":%q,"uid":%q}`, reader, uid))
}

// events returns the door's events the hub stored, of typ ("" for all).
func (x *e2e) events(typ wire.EventType) []wire.Event {
	x.t.Helper()
	evs, err := x.api(x.admin).Events(x.t.Context(), client.EventQuery{Site: "demo", Door: "server-room",
		Type: typ, Limit: 10000})
	if err != nil {
		x.t.Fatal(err)
	}
	return evs
}

// waitDenied waits until the hub stored an access.denied after seq mark
// and returns it.
func (x *e2e) waitDenied(mark uint64) wire.Event {
	x.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range x.events("access.denied") {
			if e.Seq > mark {
				return e
			}
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("no access.denied after seq %d reached the hub within 10 s", mark)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastSeq is the door's last event seq, from its status.
func (x *e2e) lastSeq() uint64 {
	x.t.Helper()
	var st struct {
		Seq  uint64 `json:"seq"`
		Mode string `json:"mode"`
	}
	if err := x.agent.getJSON("/status", &st); err != nil {
		x.t.Fatal(err)
	}
	return st.Seq
}

func (x *e2e) relay() string {
	x.t.Helper()
	var st struct {
		Relay string `json:"relay"`
	}
	if err := x.agent.getJSON("/sim/state", &st); err != nil {
		x.t.Fatal(err)
	}
	return st.Relay
}

// TestEndToEnd drives the SOP through the real binary and a real
// Mosquitto: the office's client verbs, the hub, the door: a complete
// guest-book row and service-time report; each denial path at the door;
// the requester refused as approver; the hub killed and restarted under
// traffic losing and duplicating nothing.
func TestEndToEnd(t *testing.T) {
	x := newE2E(t)
	for name, role := range map[string]string{"desk": "requester", "pranata": "coordinator", "kasi": "approver",
		"self": "requester,approver"} {
		nt := mustJSON[api.NewToken](x, "", "token", "add", "--name", name, "--role", role)
		x.tokens[name] = nt.Token
	}
	before := x.taken()
	x.must("", "staff", "add", "--id", "S-004", "--name", "Budi", "--site", "demo", "--card", e2eEscort, "--escort")
	x.must("", "staff", "add", "--id", "S-005", "--name", "Joko", "--site", "demo", "--card", e2eOtherEscort, "--escort")
	x.waitTaken(before+1, "the staff records")

	t.Run("full SOP", func(t *testing.T) {
		id := x.issue(e2eVisit, "now", "now+4h")
		x.visit(e2eVisit)
		checkVisitRow(t, "the hub", x.securedRow(id))
		csv := x.must("kasi", "guestbook", "--csv")
		if !strings.Contains(csv, id) || strings.Contains(csv, "32010101010100") {
			t.Errorf("guest book CSV:\n%s", csv)
		}
		checkVisitTimes(t, "the hub", mustJSON[api.SLAReport](x, "kasi", "sla"), id)
		if out := x.must("kasi", "sla"); !strings.Contains(out, id) {
			t.Errorf("kunci sla does not show %s:\n%s", id, out)
		}
	})

	t.Run("denials", func(t *testing.T) {
		alone := x.issue(e2eAlone, "now", "now+4h")
		expired := x.issue(e2eExpired, "now-3h", "now-1h")
		early := x.issue(e2eEarly, "now+2h", "now+4h")
		locked := x.issue(e2eLockdown, "now", "now+4h")
		check := func(name, permitID string, reason wire.Reason, act func()) {
			mark := x.lastSeq()
			act()
			e := x.waitDenied(mark)
			if e.Reason != reason || (permitID != "" && e.Permit != permitID) {
				t.Errorf("%s: access.denied %+v; want reason %s for %s", name, e, reason, permitID)
			}
			if r := x.relay(); r != "locked" {
				t.Errorf("%s: relay %s; want locked", name, r)
			}
		}
		check("no escort", alone, "escort_timeout", func() { x.tap("entry", e2eAlone) })
		check("wrong escort", alone, "wrong_escort", func() { x.tap("entry", e2eAlone); x.tap("entry", e2eOtherEscort) })
		check("expired", expired, "expired", func() { x.tap("entry", e2eExpired) })
		check("outside window", early, "not_yet_valid", func() { x.tap("entry", e2eEarly) })
		before := x.taken()
		x.must("kasi", "permit", "revoke", alone, "--reason", "work cancelled")
		x.waitTaken(before, "the revocation")
		check("revoked", alone, "revoked", func() { x.tap("entry", e2eAlone) })
		before = x.taken()
		x.must("", "door", "lockdown", "--door", "demo/server-room")
		x.waitTaken(before, "the lockdown")
		check("lockdown", "", "lockdown", func() { x.tap("entry", e2eLockdown); x.tap("entry", e2eEscort) })
		before = x.taken()
		x.must("", "door", "release", "--door", "demo/server-room")
		x.waitTaken(before, "the release")
		x.tap("entry", e2eLockdown)
		x.tap("entry", e2eEscort)
		if r := x.relay(); r != "unlocked" {
			t.Errorf("after release: relay %s; want unlocked for %s", r, locked)
		}
	})

	t.Run("self-approval refused", func(t *testing.T) {
		p := mustJSON[api.Permit](x, "self", "permit", "request", "--site", "demo", "--door", "server-room",
			"--guest", "Tamu 09", "--nik", "3201010101010109", "--org", "PT Contoh", "--purpose", "audit",
			"--from", "now", "--until", "now+1h", "--card", "04A1B2C3D4E509")
		x.must("pranata", "permit", "coordinate", p.ID, "--category", "network")
		_, err := x.kunci("self", "permit", "approve", p.ID)
		if err == nil || !strings.Contains(err.Error(), "requester") {
			t.Errorf("approval by the requester: %v; want refused naming the requester", err)
		}
		if got := mustJSON[api.Permit](x, "kasi", "permit", "show", p.ID); got.State != "coordinated" {
			t.Errorf("after the refused approval: state %s", got.State)
		}
	})

	t.Run("hub restarted mid-stream", func(t *testing.T) {
		// a stream of door events while the hub is killed, then stopped
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				open := n%2 == 0
				if x.agent.post("/sim/rack", fmt.Sprintf(`{"rack":"R2","open":%v}`, open)) == nil {
					n++
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		time.Sleep(300 * time.Millisecond)
		x.stopHub(syscall.SIGKILL)
		time.Sleep(300 * time.Millisecond)
		x.startHub()
		time.Sleep(300 * time.Millisecond)
		x.stopHub(syscall.SIGTERM)
		x.startHub()
		time.Sleep(300 * time.Millisecond)
		close(stop)
		if n := <-done; n < 50 {
			t.Fatalf("only %d rack events during the restarts", n)
		}
		if r := x.relay(); r == "" {
			t.Fatal("no relay state")
		}
		last := x.lastSeq()
		deadline := time.Now().Add(15 * time.Second)
		var evs []wire.Event
		for {
			evs = x.events("")
			if n := len(evs); n > 0 && evs[n-1].Seq >= last {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hub holds events up to %d of the door's %d after 15 s", evs[len(evs)-1].Seq, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
		seen := map[string]bool{}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("hub's event #%d has seq %d: a gap or a duplicate", i, e.Seq)
			}
			if seen[e.ID] {
				t.Fatalf("event %s stored twice", e.ID)
			}
			seen[e.ID] = true
		}
		// the door deleted only what the hub acked: its local log is empty
		// once the acks arrived
		var local []wire.Event
		deadline = time.Now().Add(10 * time.Second)
		for {
			if err := x.agent.getJSON("/events?after=0", &local); err != nil {
				t.Fatal(err)
			}
			if len(local) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(local) != 0 {
			t.Errorf("the door still holds %d events the hub has", len(local))
		}
	})
	t.Run("backup and restore", func(t *testing.T) {
		before := [][]string{{"guestbook", "--csv"}, {"sla"}, {"guestbook", "--json"}}
		answers := func() []string {
			var out []string
			for _, args := range before {
				out = append(out, x.must("kasi", args...))
			}
			return out
		}
		was := answers()
		archive := filepath.Join(x.dir, "backup.tar")
		if out := x.must("", "hub", "backup", "--out", archive); !strings.Contains(out, "checked") ||
			!strings.Contains(out, "hub-events.db") {
			t.Errorf("kunci hub backup said:\n%s", out)
		}
		if fi, err := os.Stat(archive); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("the archive: %v, %v; want a file only its owner reads", fi, err)
		}
		if _, err := x.kunci("", "hub", "backup", "--out", archive); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Errorf("a backup over an existing file: %v; want refused", err)
		}
		if _, err := x.kunci("kasi", "hub", "backup", "--out", archive+".2"); err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("a backup by an approver: %v; want refused (admin only)", err)
		}
		if _, err := os.Stat(archive + ".2"); err == nil {
			t.Error("a refused backup left a file")
		}
		if _, err := x.kunci("", "hub", "restore", "--from", archive, "--config", x.hub.cfg, "--replace"); err == nil ||
			!strings.Contains(err.Error(), "stop the hub") {
			t.Errorf("a restore while the hub runs: %v; want refused", err)
		}
		x.stopHub(syscall.SIGTERM)
		// the backup into new places, then the hub started on them
		cfg, err := os.ReadFile(x.hub.cfg)
		if err != nil {
			t.Fatal(err)
		}
		restored := filepath.Join(x.dir, "restored")
		moved := strings.NewReplacer(filepath.Join(x.dir, "hub.db"), filepath.Join(restored, "hub.db"),
			filepath.Join(x.dir, "hub-events.db"), filepath.Join(restored, "hub-events.db")).Replace(string(cfg))
		if err := os.MkdirAll(restored, 0o700); err != nil {
			t.Fatal(err)
		}
		x.hub.cfg = filepath.Join(x.dir, "hub-restored.yaml")
		writeFile(t, x.hub.cfg, moved)
		if out := x.must("", "hub", "restore", "--from", archive, "--config", x.hub.cfg); !strings.Contains(out, "restored") {
			t.Errorf("kunci hub restore said:\n%s", out)
		}
		if _, err := x.kunci("", "hub", "restore", "--from", archive, "--config", x.hub.cfg); err == nil ||
			!strings.Contains(err.Error(), "--replace") {
			t.Errorf("a restore over stores: %v; want refused without --replace", err)
		}
		x.must("", "hub", "restore", "--from", archive, "--config", x.hub.cfg, "--replace")
		x.startHub()
		for i, now := range answers() {
			if now != was[i] {
				t.Errorf("kunci %s after the restore differs from before the backup:\n%s\n-- before:\n%s",
					strings.Join(before[i], " "), now, was[i])
			}
		}
	})
	t.Run("migrate to PostgreSQL", func(t *testing.T) {
		// the restored hub's stores, copied into a database, and the hub
		// started on it: the guest book and the service times the same,
		// byte for byte
		reports := [][]string{{"guestbook", "--csv"}, {"sla"}}
		answers := func() []string {
			var out []string
			for _, args := range reports {
				out = append(out, x.must("kasi", args...))
			}
			return out
		}
		was := answers()
		dsn := pgtest.DB(t)
		restored := filepath.Join(x.dir, "restored")
		if _, err := x.kunci("", "hub", "migrate", "--from", restored, "--to", dsn); err == nil ||
			!strings.Contains(err.Error(), "stop the hub") {
			t.Errorf("a migration while the hub runs: %v; want refused", err)
		}
		x.stopHub(syscall.SIGTERM)
		out := x.must("", "hub", "migrate", "--from", restored, "--to", dsn)
		if !strings.Contains(out, "copied and counted") || !strings.Contains(out, "in the database") ||
			!strings.Contains(out, "keys of the guests' personal data in the database") {
			t.Errorf("kunci hub migrate said:\n%s", out)
		}
		if _, err := x.kunci("", "hub", "migrate", "--from", restored, "--to", dsn); err == nil ||
			!strings.Contains(err.Error(), "already") {
			t.Errorf("a second migration into the same database: %v; want refused", err)
		}
		cfg, err := os.ReadFile(x.hub.cfg)
		if err != nil {
			t.Fatal(err)
		}
		onPG := strings.NewReplacer(
			fmt.Sprintf("store: %q", filepath.Join(restored, "hub.db")),
			fmt.Sprintf("store: %q", dsn), // the keys in the database too
			fmt.Sprintf("events_store: %q", filepath.Join(restored, "hub-events.db")), fmt.Sprintf("events_store: %q", dsn),
		).Replace(string(cfg))
		if onPG == string(cfg) {
			t.Fatalf("the hub's config names no store to move:\n%s", cfg)
		}
		onBolt := x.hub.cfg
		x.hub.cfg = filepath.Join(x.dir, "hub-postgres.yaml")
		writeFile(t, x.hub.cfg, onPG)
		x.startHub()
		for i, now := range answers() {
			if now != was[i] {
				t.Errorf("kunci %s on PostgreSQL differs from before the migration:\n%s\n-- before:\n%s",
					strings.Join(reports[i], " "), now, was[i])
			}
		}
		// the database is this subtest's: the rest goes on with the files
		x.stopHub(syscall.SIGTERM)
		x.hub.cfg = onBolt
		x.startHub()
	})
	// both ends' /metrics as Prometheus reads them. The hub was restarted
	// since most of its work, and counts begin again at a start: only
	// what this hub process surely did is checked
	door := scrapeMetrics(t, x.agent.client, x.agent.base+"/metrics", "")
	central := scrapeMetrics(t, x.agent.client, "http://"+x.hub.addr+"/metrics", x.admin)
	for _, c := range []struct {
		s    scraped
		name string
	}{
		{door, "kunci_agent_downlink_taken_total"}, {door, "kunci_agent_outbox_acks_total"},
		{central, "kunci_hub_api_requests_total"},
	} {
		if v, ok := c.s.value(c.name, ""); !ok || v < 1 {
			t.Errorf("%s = %g (%v); want at least 1", c.name, v, ok)
		}
	}
	x.checkLogs(e2eEscort, e2eOtherEscort, e2eVisit, e2eAlone, e2eExpired, e2eEarly, e2eLockdown)
}

// checkLogs fails the test if a hub's or the door's log carries one of
// the cards' UIDs or a NIK of issue's guests, or a hub logged an error.
func (x *e2e) checkLogs(cards ...string) {
	x.t.Helper()
	logs := map[string]string{"the door": x.agent.stderr.String()}
	for _, p := range x.hubs {
		logs[p.name] = p.stderr.String()
		for _, l := range strings.Split(logs[p.name], "\n") {
			if strings.Contains(l, `"level":"ERROR"`) {
				x.t.Errorf("%s logged an error: %s", p.name, l)
			}
		}
	}
	for who, log := range logs {
		assertNoUID(x.t, who+"'s log", log, cards...)
		if strings.Contains(log, "32010101010100") {
			x.t.Errorf("a NIK in %s's log", who)
		}
	}
}
