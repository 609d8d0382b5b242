package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hardware/sim"
	"github.com/kunci-project/kunci/hub/demo"
	"github.com/kunci-project/kunci/internal/syncbuf"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// invoke runs the command line in-process, as main does.
func invoke(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(t.Context(), args, &o, &e)
	return o.String(), e.String(), err
}

// hubKeys runs kunci keygen into a fresh folder and returns its files.
type hubKeys struct {
	dir, id, priv, pub, site string
}

func makeKeys(t *testing.T) hubKeys {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	out, _, err := invoke(t, "keygen", "--out", dir)
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	privs, _ := filepath.Glob(filepath.Join(dir, "hub-*.key"))
	if len(privs) != 1 {
		t.Fatalf("keygen wrote %q; want one hub-<id>.key", privs)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(privs[0]), "hub-"), ".key")
	if !strings.Contains(out, id) {
		t.Errorf("keygen printed %q; want the key id %s", out, id)
	}
	return hubKeys{dir: dir, id: id, priv: privs[0], pub: filepath.Join(dir, "hub-"+id+".pub"),
		site: filepath.Join(dir, "site.key")}
}

func TestKeygen(t *testing.T) {
	k := makeKeys(t)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(k.id) {
		t.Errorf("key id %q; want 16 hex digits", k.id)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{k.priv, 0o600}, {k.site, 0o600}, {k.pub, 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		// the public key may be readable by anyone; the secrets by the owner only
		if got := fi.Mode().Perm(); got&^f.mode != 0 || (f.mode == 0o600 && got != 0o600) {
			t.Errorf("%s: mode %v; want %v", filepath.Base(f.path), got, f.mode)
		}
	}
	s, err := permit.LoadSigner(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.ID()) != k.id {
		t.Errorf("private key id %s; file named %s", s.ID(), k.id)
	}
	ring, err := permit.LoadKeyring(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ring[permit.KeyID(k.id)]; !ok {
		t.Errorf("public key file does not hold key %s", k.id)
	}
	if _, err := permit.LoadSiteKey(k.site); err != nil {
		t.Error(err)
	}

	// a second keygen in the same folder overwrites nothing
	before := map[string][]byte{}
	for _, p := range []string{k.priv, k.pub, k.site} {
		before[p], _ = os.ReadFile(p)
	}
	if _, _, err := invoke(t, "keygen", "--out", k.dir); err != nil {
		t.Fatalf("second keygen: %v", err)
	}
	for p, b := range before {
		if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
			t.Errorf("second keygen changed %s", filepath.Base(p))
		}
	}
	if privs, _ := filepath.Glob(filepath.Join(k.dir, "hub-*.key")); len(privs) != 2 {
		t.Errorf("after a second keygen: %q; want a second hub key beside the first", privs)
	}
}

func TestKeygenUnwritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := invoke(t, "keygen", "--out", filepath.Join(f, "keys"))
	if err == nil || !strings.Contains(err.Error(), "keygen") {
		t.Errorf("keygen into a file's path = %v; want a keygen error", err)
	}
}

// uidForms are ways the same UID may appear in output: none may.
func uidForms(uid string) []string {
	h := strings.ToLower(strings.NewReplacer(":", "", "-", "", " ", "").Replace(uid))
	return []string{h, strings.ToUpper(h), uid, h[:8], strings.ToUpper(h[:8])}
}

func assertNoUID(t *testing.T, what, out string, uids ...string) {
	t.Helper()
	for _, u := range uids {
		for _, f := range uidForms(u) {
			if strings.Contains(out, f) {
				t.Errorf("%s contains the card UID %q: %s", what, f, out)
			}
		}
	}
}

func TestSign(t *testing.T) {
	k := makeKeys(t)
	ring, err := permit.LoadKeyring(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := permit.LoadSiteKey(k.site)
	if err != nil {
		t.Fatal(err)
	}
	fp := func(uid string) permit.Fingerprint {
		f, err := sk.FingerprintText(uid)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	const guest, escort, solo = "04:a1:B2:C3:D4:E5:F6", "04E5F6A1B2C3D4", "0A0B0C0D"
	decode := func(what, out string) permit.Record {
		t.Helper()
		rec, err := ring.Decode([]byte(strings.TrimSpace(out)))
		if err != nil {
			t.Fatalf("%s: Decode = %v", what, err)
		}
		// the signed body too, not only the printed document
		var doc permit.Signed
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		assertNoUID(t, what+" body", string(doc.Body), guest, escort, solo)
		return rec
	}

	start := time.Now()
	out, errOut, err := invoke(t, "sign", "permit", "--key", k.priv, "--site-key", k.site, "--id", "P-0012",
		"--card", guest, "--escort", "S-004", "--approved-by", "kasi-infra", "--until", "+2h", "--entries", "2")
	if err != nil {
		t.Fatalf("sign permit: %v\n%s", err, errOut)
	}
	assertNoUID(t, "sign permit output", out+errOut, guest)
	rec := decode("permit", out)
	p := rec.Permit
	if p == nil {
		t.Fatalf("sign permit made %+v; want a permit", rec)
	}
	if p.ID != "P-0012" || p.Site != "demo" || p.Door != "server-room" || p.Escort != "S-004" ||
		p.Card != fp("04A1B2C3D4E5F6") || p.Entries != 2 || p.Version != 1 || p.Category != permit.Server ||
		p.ApprovedBy != "kasi-infra" || string(rec.Key) != k.id {
		t.Errorf("permit = %+v (key %s); want P-0012 for demo/server-room, escort S-004, the card's fingerprint", p, rec.Key)
	}
	if d := p.NotAfter.Sub(start); d < 2*time.Hour-2*time.Second || d > 2*time.Hour+2*time.Second {
		t.Errorf("not_after is %v from now; want 2h", d)
	}
	if d := start.Sub(p.NotBefore); d < 5*time.Minute-2*time.Second || d > 5*time.Minute+2*time.Second {
		t.Errorf("not_before is %v before now; want the default 5m", d)
	}

	out, errOut, err = invoke(t, "sign", "staff", "--key", k.priv, "--site-key", k.site, "--id", "S-004",
		"--card", escort+", "+solo, "--escort", "--version", "3")
	if err != nil {
		t.Fatalf("sign staff: %v\n%s", err, errOut)
	}
	assertNoUID(t, "sign staff output", out+errOut, escort, solo)
	st := decode("staff", out).Staff
	if st == nil || st.ID != "S-004" || !st.Escort || st.Solo || st.Version != 3 || len(st.Cards) != 2 ||
		st.Cards[0] != fp(escort) || st.Cards[1] != fp(solo) {
		t.Errorf("staff = %+v; want S-004, escort, version 3, both cards' fingerprints", st)
	}

	file := filepath.Join(t.TempDir(), "revoke-P-0012.json")
	out, errOut, err = invoke(t, "sign", "revocation", "--key", k.priv, "--permit", "P-0012", "--by", "kasi-infra",
		"--reason", "card lost", "--version", "2", "-o", file)
	if err != nil {
		t.Fatalf("sign revocation: %v\n%s", err, errOut)
	}
	if out != "" {
		t.Errorf("sign -o printed %q; want nothing", out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r := decode("revocation", string(b)).Revocation
	if r == nil || r.Permit != "P-0012" || r.Version != 2 || r.By != "kasi-infra" || r.Reason != "card lost" ||
		r.Door != "server-room" {
		t.Errorf("revocation = %+v", r)
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sign -o left %s.tmp behind", file)
	}
}

func TestSignErrors(t *testing.T) {
	k := makeKeys(t)
	permitArgs := func(extra ...string) []string {
		return append([]string{"sign", "permit", "--key", k.priv, "--site-key", k.site, "--id", "P-1",
			"--escort", "S-004", "--approved-by", "kasi", "--card", "04A1B2C3D4E5F6"}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no kind", []string{"sign"}, []string{"want permit, staff or revocation"}},
		{"unknown kind", []string{"sign", "visitor", "--key", k.priv}, []string{`"visitor"`, "want permit, staff or revocation"}},
		{"missing key", []string{"sign", "permit", "--site-key", k.site, "--card", "04A1B2C3"}, []string{"--key is required"}},
		{"key not found", permitArgs("--key", filepath.Join(k.dir, "nope.key")), []string{"--key", "nope.key"}},
		{"public key as key", permitArgs("--key", k.pub), []string{"--key", "PRIVATE KEY"}},
		{"site key missing", permitArgs("--site-key", filepath.Join(k.dir, "none.key")), []string{"site key", "none.key"}},
		{"card 3 bytes", permitArgs("--card", "8877AA"), []string{"--card", "3 bytes, want 4, 7 or 10"}},
		{"card not hex", permitArgs("--card", "8877AAZZ"), []string{"--card", "not a hex digit"}},
		{"card empty", permitArgs("--card", ""), []string{"--card"}},
		{"staff card bad", []string{"sign", "staff", "--key", k.priv, "--site-key", k.site, "--id", "S-1",
			"--card", "0A0B0C0D,8877AA5544", "--escort"}, []string{"--card", "5 bytes"}},
		{"bad until", permitArgs("--until", "tomorrow"), []string{"--until", `"tomorrow"`, "RFC 3339"}},
		{"bad until offset", permitArgs("--until", "+8 hours"), []string{"--until", "offset like +8h"}},
		{"bad from", permitArgs("--from", "2026-13-01"), []string{"--from"}},
		{"until before from", permitArgs("--from", "+2h", "--until", "+1h"), []string{"sign permit"}},
		{"no permit id", permitArgs("--id", ""), []string{"sign permit", "id"}},
		{"bad category", permitArgs("--category", "power"), []string{"sign permit", "categor"}},
		{"revocation without permit", []string{"sign", "revocation", "--key", k.priv}, []string{"sign revocation"}},
		{"unknown flag", permitArgs("--door-name", "x"), []string{"door-name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := invoke(t, tc.args...)
			if err == nil {
				t.Fatalf("kunci %s = nil, printed %q; want an error", strings.Join(tc.args, " "), out)
			}
			msg := err.Error() + "\n" + errOut
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q; want it to contain %q", msg, w)
				}
			}
			if out != "" {
				t.Errorf("printed %q on a failure", out)
			}
			assertNoUID(t, "error", msg, "8877AA5544")
			for _, f := range uidForms("04A1B2C3D4E5F6") {
				if strings.Contains(err.Error(), f) {
					t.Errorf("error %q repeats the card UID", err)
				}
			}
		})
	}
}

// writeAgentConfig writes an agent.yaml for a door on listen with keys k.
func writeAgentConfig(t *testing.T, k hubKeys, listen, extra string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	y := fmt.Sprintf(`site: demo
door: server-room
store: data/agent.db
listen: %s
site_key_file: %s
trusted_keys: [%s]
clock: trusted
readers: [{name: entry, type: sim}, {name: exit, type: sim}]
racks: [R1, R2]
%s`, listen, k.site, k.pub, extra)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAgentBadConfig(t *testing.T) {
	k := makeKeys(t)
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"bad duration", "rules:\n  unlock: 5x\n", []string{"agent.yaml", "rules.unlock", `"5x" is not a duration`}},
		{"typo", "rules:\n  unlok: 5s\n", []string{"agent.yaml", "rules.unlok", "not found"}},
		{"bad clock", "clock: ntp\n", []string{"agent.yaml", "clock"}},
	} {
		cfg := writeAgentConfig(t, k, "127.0.0.1:0", tc.extra)
		_, _, err := invoke(t, "agent", "--config", cfg)
		if err == nil {
			t.Errorf("%s: agent = nil; want an error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: agent = %q; want it to contain %q", tc.name, err, w)
			}
		}
	}
	_, _, err := invoke(t, "agent", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("agent with a missing config = %v; want an error naming the file", err)
	}
	// keys that do not exist are found when the agent starts, not by Validate
	bad := k
	bad.pub = filepath.Join(k.dir, "hub-XXXXXXXXXXXXXXXX.pub")
	_, _, err = invoke(t, "agent", "--config", writeAgentConfig(t, bad, "127.0.0.1:0", ""))
	if err == nil || !strings.Contains(err.Error(), "trusted_keys") || !strings.Contains(err.Error(), "hub-XXXXXXXXXXXXXXXX.pub") {
		t.Errorf("agent with a missing trusted key = %v; want an error naming trusted_keys and the file", err)
	}
}

func TestAgentPortTaken(t *testing.T) {
	k := makeKeys(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	cfg := writeAgentConfig(t, k, addr, "")
	done := make(chan error, 1)
	go func() {
		_, _, err := invoke(t, "agent", "--config", cfg)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent on a taken port did not return")
	}
	if err == nil {
		t.Fatal("agent on a taken port = nil")
	}
	for _, w := range []string{addr, "already in use", "listen:", cfg} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("agent on a taken port = %q; want it to contain %q", err, w)
		}
	}

	_, _, err = invoke(t, "dev", "--data", t.TempDir(), "--listen", addr, "--mqtt", "off")
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("dev on a taken port = %v; want it to name %s and --listen", err, addr)
	}
}

func TestCommands(t *testing.T) {
	out, _, err := invoke(t, "version")
	if err != nil || !strings.HasPrefix(out, "kunci ") || strings.TrimSpace(out) == "kunci" {
		t.Errorf("version = %q, %v; want kunci and a version", out, err)
	}
	out, _, err = invoke(t, "help")
	if err != nil || !strings.Contains(out, "kunci agent --config") {
		t.Errorf("help = %q, %v; want the usage", out, err)
	}
	_, errOut, err := invoke(t, "frobnicate")
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("frobnicate = %v; want unknown command", err)
	}
	if !strings.Contains(errOut, "kunci dev") {
		t.Errorf("unknown command printed %q; want the usage", errOut)
	}
	if _, _, err := invoke(t); err == nil {
		t.Errorf("no command = nil; want an error")
	}
	if _, _, err := invoke(t, "keygen", "--nope"); err == nil {
		t.Errorf("keygen --nope = nil; want a flag error")
	}
}

// syncBuffer is an io.Writer that the test reads while run writes.
type syncBuffer = syncbuf.Buffer

// devRun is a kunci dev running in-process.
type devRun struct {
	base           string // http://addr
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

var devAddr = regexp.MustCompile(`on http://(\S+)\n`)

func startDev(t *testing.T, data string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		// the door alone: TestDevEmbeddedBroker covers the broker and hub;
		// here the whole log stays in the door's store
		d.done <- run(ctx, []string{"dev", "--data", data, "--listen", "127.0.0.1:0", "--mqtt", "off"}, d.stdout, d.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Error("dev did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := devAddr.FindStringSubmatch(d.stdout.String()); m != nil {
			d.base = "http://" + m[1]
			if strings.HasSuffix(m[1], ":0") {
				t.Fatalf("dev printed the address %s, not the one it listens on", m[1])
			}
			return d
		}
		select {
		case err := <-d.done:
			t.Fatalf("dev returned %v before it was ready\nstderr:\n%s", err, d.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("dev printed no address\nstdout:\n%s\nstderr:\n%s", d.stdout, d.stderr)
	return nil
}

// stop cancels dev and returns what run returned.
func (d *devRun) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		d.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("dev did not stop within 10 s of its context ending")
		return nil
	}
}

func (d *devRun) post(t *testing.T, path, body string) sim.State {
	t.Helper()
	resp, err := http.Post(d.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s = %s %s", path, body, resp.Status, b)
	}
	var st sim.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("POST %s: %v: %s", path, err, b)
	}
	return st
}

func (d *devRun) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(d.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func (d *devRun) events(t *testing.T) []agent.Event {
	t.Helper()
	var evs []agent.Event
	d.get(t, "/events?after=0", &evs)
	return evs
}

// find returns the first event of type typ after seq, or nil.
func findEvent(evs []agent.Event, after uint64, typ wire.EventType) *agent.Event {
	for i := range evs {
		if evs[i].Seq > after && evs[i].Type == typ {
			return &evs[i]
		}
	}
	return nil
}

func lastSeq(evs []agent.Event) uint64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

func types(evs []agent.Event, after uint64) []wire.EventType {
	var ts []wire.EventType
	for _, e := range evs {
		if e.Seq > after {
			ts = append(ts, e.Type)
		}
	}
	return ts
}

// The SOP at the simulated door, through the contract of design.md: the
// guest and the escort tap, the door opens, the visit is recorded, the
// door relocks when it closes, the guest taps out.
func TestDevEndToEnd(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	for _, w := range []string{demo.GuestUID, demo.EscortUID, "/sim/tap", "site demo, door server-room"} {
		if !strings.Contains(d.stdout.String(), w) {
			t.Errorf("dev's help does not mention %q:\n%s", w, d.stdout)
		}
	}
	var st sim.State
	if d.get(t, "/sim/state", &st); st.Relay != "locked" || st.Door != "closed" {
		t.Fatalf("state at start = %+v; want locked and closed", st)
	}
	start := d.events(t)
	if len(start) == 0 || start[0].Type != wire.EvStarted {
		t.Fatalf("events at start = %v; want agent.started first", types(start, 0))
	}
	epoch := start[0].Epoch

	// guest, then escort: the relay opens
	if st := d.post(t, "/sim/tap", fmt.Sprintf(`{"reader":"entry","uid":%q}`, demo.GuestUID)); st.Relay != "locked" {
		t.Errorf("after the guest's tap alone: relay %s; want locked", st.Relay)
	}
	d.post(t, "/sim/tap", fmt.Sprintf(`{"reader":"entry","uid":%q}`, demo.EscortUID))
	d.get(t, "/sim/state", &st)
	if st.Relay != "unlocked" {
		t.Fatalf("after guest and escort tapped: relay %s; want unlocked\nevents: %v", st.Relay, types(d.events(t), 0))
	}
	evs := d.events(t)
	if g := findEvent(evs, 0, wire.EvGranted); g == nil || g.Permit != "P-0012" || g.Escort != "S-004" {
		t.Errorf("access.granted = %+v; want permit P-0012 with escort S-004\nevents: %v", g, types(evs, 0))
	}
	mark := lastSeq(evs)

	// door opens: the guest is in
	d.post(t, "/sim/door", `{"open":true}`)
	evs = d.events(t)
	if e := findEvent(evs, mark, wire.EvVisitEntered); e == nil || e.Permit != "P-0012" || e.Escort != "S-004" {
		t.Errorf("after the door opened: visit.entered = %+v; want P-0012 with S-004\nevents: %v", e, types(evs, mark))
	}
	var status struct {
		Door      string `json:"door"`
		Lock      string `json:"lock"`
		Occupancy []struct {
			Permit string `json:"permit"`
		} `json:"occupancy"`
	}
	d.get(t, "/status", &status)
	if len(status.Occupancy) == 0 || status.Occupancy[0].Permit != "P-0012" {
		t.Errorf("status = %+v; want P-0012 inside", status)
	}
	mark = lastSeq(evs)

	// door closes: relocked
	if st := d.post(t, "/sim/door", `{"open":false}`); st.Relay != "locked" {
		t.Errorf("after the door closed: relay %s; want locked", st.Relay)
	}
	evs = d.events(t)
	if findEvent(evs, mark, wire.EvLocked) == nil {
		t.Errorf("after the door closed: no door.locked\nevents: %v", types(evs, mark))
	}
	mark = lastSeq(evs)

	// the guest taps out on the exit reader
	d.post(t, "/sim/tap", fmt.Sprintf(`{"reader":"exit","uid":%q}`, demo.GuestUID))
	evs = d.events(t)
	if e := findEvent(evs, mark, wire.EvVisitExited); e == nil || e.Permit != "P-0012" {
		t.Errorf("after the exit tap: visit.exited = %+v; want P-0012\nevents: %v", e, types(evs, mark))
	}
	d.get(t, "/sim/state", &st)
	if st.Relay != "unlocked" {
		t.Errorf("after the exit tap: relay %s; want unlocked (exit_unlocks)", st.Relay)
	}

	// no raw UID anywhere the contract shows
	raw, _ := json.Marshal(evs)
	var rawStatus json.RawMessage
	d.get(t, "/status", &rawStatus)
	assertNoUID(t, "events and status", string(raw)+string(rawStatus), demo.GuestUID, demo.EscortUID)
	assertNoUID(t, "dev's log", d.stderr.String(), demo.GuestUID, demo.EscortUID)
	for _, e := range evs {
		if e.Epoch != epoch || e.Site != "demo" || e.Door != "server-room" {
			t.Errorf("event %d: epoch %s site %s door %s; want %s demo server-room", e.Seq, e.Epoch, e.Site, e.Door, epoch)
		}
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Errorf("seq %d follows %d; want no gaps", evs[i].Seq, evs[i-1].Seq)
		}
	}
	last := lastSeq(evs)

	// stop with the relay unlocked: run returns nil
	if err := d.stop(t); err != nil {
		t.Errorf("dev after its context ended = %v; want nil", err)
	}
	if strings.Contains(d.stderr.String(), "level=ERROR") {
		t.Errorf("dev logged an error:\n%s", d.stderr)
	}

	// the same data folder again: same epoch, the events go on, the relay
	// starts locked
	d2 := startDev(t, data)
	d2.get(t, "/sim/state", &st)
	if st.Relay != "locked" {
		t.Errorf("second start: relay %s; want locked", st.Relay)
	}
	evs = d2.events(t)
	if len(evs) == 0 || evs[0].Seq != 1 {
		t.Fatalf("second start: events begin at %v; want the whole log from seq 1", types(evs, 0))
	}
	again := findEvent(evs, last, wire.EvStarted)
	if again == nil || again.Seq != last+1 || again.Epoch != epoch {
		t.Errorf("second start: agent.started = %+v; want seq %d in epoch %s", again, last+1, epoch)
	}
	if err := d2.stop(t); err != nil {
		t.Errorf("second dev = %v; want nil", err)
	}
}

func TestStrayWordsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"keygen", "--out", t.TempDir(), "extra"},
		{"sign", "staff", "--key", "a.key", "b.key", "--id", "S-1"},
		{"agent", "--config", "a.yaml", "b.yaml"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), "unexpected") {
			t.Errorf("run(%q) = %v; want an error naming the stray word", args, err)
		}
	}
}

// kunci hub refuses a bad hub.yaml, a missing key and a taken port with a
// message naming the field, the file or the address.
func TestHubBadConfig(t *testing.T) {
	k := makeKeys(t)
	dir := t.TempDir()
	write := func(name, signing, listen, extra string) string {
		path := filepath.Join(dir, name)
		y := fmt.Sprintf("listen: %q\nstore: %q\nevents_store: %q\nsigning_key: %q\nsite_keys: {demo: %q}\ndoors: [demo/server-room]\nmqtt: {broker: tcp://127.0.0.1:1}\n%s",
			listen, filepath.Join(dir, name+".db"), filepath.Join(dir, name+"-events.db"), signing, k.site, extra)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct {
		name, cfg string
		want      []string
	}{
		{"short retention", write("a.yaml", k.priv, "127.0.0.1:0", "retention: 1m\n"), []string{"a.yaml", "retention"}},
		{"open listener", write("b.yaml", k.priv, "0.0.0.0:8080", ""), []string{"b.yaml", "listen", "TLS"}},
		{"no signing key", write("c.yaml", filepath.Join(k.dir, "hub-XXXX.key"), "127.0.0.1:0", ""), []string{"signing_key", "hub-XXXX.key"}},
		{"port taken", write("d.yaml", k.priv, l.Addr().String(), ""), []string{l.Addr().String(), "in use", "d.yaml"}},
		{"missing file", filepath.Join(dir, "none.yaml"), []string{"none.yaml"}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := run(ctx, []string{"hub", "--config", tc.cfg}, io.Discard, io.Discard)
		cancel()
		if err == nil {
			t.Errorf("%s: hub = nil; want an error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: hub = %q; want it to contain %q", tc.name, err, w)
			}
		}
	}
}
