//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestCrashSIGKILL runs the real binary as a child under a storm of
// simulated taps and door events and kills it with SIGKILL at random
// moments. After every kill the store must open, pass bbolt's consistency
// check, hold a gap-free log in one epoch, and hold the justifying event of
// every relay movement the child reported: design.md's "no event is lost,
// not by kill -9 at any moment" and "the relay moves only after the event
// that justifies it is durably stored".
func TestCrashSIGKILL(t *testing.T) {
	kills := 30
	if testing.Short() {
		kills = 20
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)
	began := time.Now()

	dir := t.TempDir()
	bin := buildKunci(t, dir)
	fx := newCrashFixture(t, bin, dir)

	var (
		epoch      string
		lastSeq    uint64
		lastLog    storeLog
		relayTotal int
		stormTotal stormStats
	)
	for i := range kills {
		run := fx.start(t, lastSeq)
		stats := run.stormThenKill(t, rng, time.Duration(50+rng.IntN(351))*time.Millisecond)
		stormTotal.add(stats)
		if stats.refused > 0 {
			t.Errorf("kill %d: the live agent refused %d well-formed requests, first: %s", i, stats.refused, stats.firstRefusal)
		}

		lines := run.relayLines(t)
		log := readStoreLog(t, fx.store)
		if epoch == "" {
			epoch = log.epoch
		} else if log.epoch != epoch {
			t.Fatalf("kill %d: epoch changed across a restart: %s, then %s", i, epoch, log.epoch)
		}
		if log.last <= lastSeq {
			t.Fatalf("kill %d: store ends at seq %d, not past %d of the previous run: agent.started is missing", i, log.last, lastSeq)
		}
		if got := log.types[lastSeq+1]; got != "agent.started" {
			t.Errorf("kill %d: first event of the run (seq %d) is %q, want agent.started", i, lastSeq+1, got)
		}
		checkRelayLines(t, i, lines, log, lastSeq)
		relayTotal += len(lines)
		lastSeq, lastLog = log.last, log
		if t.Failed() {
			t.Fatalf("kill %d: stopping; child stderr:\n%s", i, tail(run.stderr.String(), 40))
		}
	}
	if relayTotal == 0 {
		t.Errorf("no relay movement reported in %d runs: the storm opened nothing, or the relay log line changed", kills)
	}
	t.Logf("%d SIGKILLs in %s: %d events stored (epoch %s, seq 1..%d gap-free), %d relay movements verified against their stored events; %d storm requests answered, %d cut by a kill",
		kills, time.Since(began).Round(time.Millisecond), lastSeq, epoch, lastSeq, relayTotal, stormTotal.ok, stormTotal.failed)
	byType := map[string]int{}
	for _, typ := range lastLog.types {
		byType[typ]++
	}
	t.Logf("events by type: %v", byType)
}

// buildKunci builds the binary under test; under -race the child gets the
// race detector too, so that a race in the agent under the storm shows.
func buildKunci(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kunci")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Cards of the storm; UIDs of 7, 4 and 10 bytes.
const (
	crashGuestUID   = "04A1B2C3D4E5F6"
	crashEscortUID  = "04E5F6A1B2C3D4"
	crashSoloUID    = "0A0B0C0D"
	crashUnknownUID = "08112233445566778899"
)

type crashFixture struct {
	bin, dir, store string
	keys, records   string
	pub             string
}

// newCrashFixture makes keys and signed records with the binary itself, as
// an installer without a hub would.
func newCrashFixture(t *testing.T, bin, dir string) *crashFixture {
	t.Helper()
	fx := &crashFixture{bin: bin, dir: dir, store: filepath.Join(dir, "agent.db"),
		keys: filepath.Join(dir, "keys"), records: filepath.Join(dir, "records")}
	if err := os.MkdirAll(fx.records, 0o700); err != nil {
		t.Fatal(err)
	}
	runKunci(t, bin, "keygen", "--out", fx.keys)
	privs, _ := filepath.Glob(filepath.Join(fx.keys, "hub-*.key"))
	pubs, _ := filepath.Glob(filepath.Join(fx.keys, "hub-*.pub"))
	if len(privs) != 1 || len(pubs) != 1 {
		t.Fatalf("keygen wrote keys %v and %v, want one pair", privs, pubs)
	}
	fx.pub = pubs[0]
	sign := []string{"--key", privs[0], "--site-key", filepath.Join(fx.keys, "site.key"), "--site", "demo"}
	rec := func(name string) []string { return []string{"-o", filepath.Join(fx.records, name)} }
	runKunci(t, bin, slices.Concat([]string{"sign", "staff"}, sign, rec("staff-S-004.json"),
		[]string{"--id", "S-004", "--card", crashEscortUID, "--doors", "server-room", "--escort"})...)
	runKunci(t, bin, slices.Concat([]string{"sign", "staff"}, sign, rec("staff-S-001.json"),
		[]string{"--id", "S-001", "--card", crashSoloUID, "--doors", "server-room", "--escort", "--solo"})...)
	runKunci(t, bin, slices.Concat([]string{"sign", "permit"}, sign, rec("permit-P-0012.json"),
		[]string{"--id", "P-0012", "--door", "server-room", "--card", crashGuestUID, "--escort", "S-004",
			"--until", "+24h", "--entries", "0", "--approved-by", "kasi-infra"})...)
	return fx
}

func runKunci(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("kunci %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// writeConfig writes agent.yaml for the next run, listening on addr.
func (fx *crashFixture) writeConfig(t *testing.T, addr string) string {
	t.Helper()
	yaml := simAgentYAML(fx.store, addr, filepath.Join(fx.keys, "site.key"), fx.pub, fmt.Sprintf(`records_dir: %q
rules:
  unlock: 200ms
  escort_window: 2s
`, fx.records))
	path := filepath.Join(fx.dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// simAgentYAML is agent.yaml of the simulated door demo/server-room (two
// readers, racks R1 and R2, the trusted clock) with rest appended.
func simAgentYAML(store, addr, siteKey, pub, rest string) string {
	return fmt.Sprintf(`site: demo
door: server-room
store: %q
listen: %q
site_key_file: %q
trusted_keys: [%q]
clock: trusted
hardware: sim
readers:
  - {name: entry, type: sim}
  - {name: exit, type: sim}
racks: [R1, R2]
`, store, addr, siteKey, pub) + rest
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// lockedBuffer collects the child's stderr; exec copies into it from its
// own goroutine while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type agentRun struct {
	cmd    *exec.Cmd
	base   string
	stderr *lockedBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
	client *http.Client
}

// start runs the agent and returns once it serves HTTP and has stored its
// agent.started (status seq past prevSeq), with the relay in its safe state.
func (fx *crashFixture) start(t *testing.T, prevSeq uint64) *agentRun {
	t.Helper()
	for attempt := 0; ; attempt++ {
		run, err := fx.tryStart(t, prevSeq)
		if err == nil {
			return run
		}
		// another process may take the free port between our pick and the child's listen
		if attempt < 3 && strings.Contains(run.stderr.String(), "already in use") {
			continue
		}
		t.Fatalf("agent did not start: %v\nstderr:\n%s", err, tail(run.stderr.String(), 40))
	}
}

func (fx *crashFixture) tryStart(t *testing.T, prevSeq uint64) (*agentRun, error) {
	t.Helper()
	addr := freeAddr(t)
	return launchAgent(t, fx.bin, fx.writeConfig(t, addr), addr, prevSeq)
}

// launchAgent runs `kunci agent --config cfg --log-json`, which listens on
// addr, and returns once it serves HTTP and has stored its agent.started
// (status seq past prevSeq), checking that the relay is in its safe state.
// The process is killed when the test ends.
func launchAgent(t *testing.T, bin, cfg, addr string, prevSeq uint64) (*agentRun, error) {
	t.Helper()
	run := &agentRun{base: "http://" + addr, stderr: &lockedBuffer{}, exited: make(chan struct{}),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	run.cmd = exec.Command(bin, "agent", "--config", cfg, "--log-json")
	run.cmd.Stderr = run.stderr
	if err := run.cmd.Start(); err != nil {
		return run, err
	}
	t.Cleanup(func() {
		_ = run.cmd.Process.Kill()
		<-run.exited
		run.client.CloseIdleConnections()
	})
	go func() {
		run.err = run.cmd.Wait()
		close(run.exited)
	}()

	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-run.exited:
			return run, fmt.Errorf("agent exited before it was ready: %v", run.err)
		case <-deadline.C:
			return run, errors.New("no /status with seq past the previous run within 10s")
		case <-poll.C:
		}
		var st struct {
			Lock string `json:"lock"`
			Seq  uint64 `json:"seq"`
		}
		if run.getJSON("/status", &st) != nil || st.Seq <= prevSeq {
			continue
		}
		if st.Lock != "locked" {
			t.Errorf("/status right after start: lock %q, want locked", st.Lock)
		}
		var sim struct {
			Relay string `json:"relay"`
		}
		if err := run.getJSON("/sim/state", &sim); err != nil {
			return run, fmt.Errorf("/sim/state: %w", err)
		}
		if sim.Relay != "locked" {
			t.Errorf("/sim/state right after start: relay %q, want locked (the safe state)", sim.Relay)
		}
		return run, nil
	}
}

func (r *agentRun) getJSON(path string, v any) error {
	resp, err := r.client.Get(r.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

type stormStats struct {
	ok, failed, refused int
	firstRefusal        string
}

func (s *stormStats) add(o stormStats) {
	s.ok += o.ok
	s.failed += o.failed
	s.refused += o.refused
	if s.firstRefusal == "" {
		s.firstRefusal = o.firstRefusal
	}
}

// stormThenKill posts random simulator input from four goroutines as fast
// as the agent takes it, sends SIGKILL after d and waits for the child to
// die. A worker stops at its first request cut by the kill; a request that
// fails before the kill, or an answer other than 200 (only the live agent
// answers), is a refusal.
func (r *agentRun) stormThenKill(t *testing.T, rng *rand.Rand, d time.Duration) stormStats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		total stormStats
		wg    sync.WaitGroup
		dying atomic.Bool // set before SIGKILL: an error seen while unset came from the live agent
	)
	for range 4 {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Go(func() {
			var s stormStats
			for ctx.Err() == nil {
				path, body := stormInput(wrng)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, strings.NewReader(body))
				if err != nil {
					panic(err)
				}
				resp, err := r.client.Do(req)
				if err != nil && dying.Load() {
					s.failed++
					break
				}
				if err != nil {
					s.refused++
					if s.firstRefusal == "" {
						s.firstRefusal = fmt.Sprintf("POST %s %s before the kill: %v", path, body, err)
					}
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					s.ok++
					continue
				}
				s.refused++
				if s.firstRefusal == "" {
					s.firstRefusal = fmt.Sprintf("POST %s %s: %s %s", path, body, resp.Status, bytes.TrimSpace(b))
				}
			}
			mu.Lock()
			total.add(s)
			mu.Unlock()
		})
	}
	select {
	case <-time.After(d):
	case <-r.exited:
		t.Errorf("agent exited during the storm, before the kill: %v", r.err)
	}
	dying.Store(true)
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-r.exited
	cancel()
	wg.Wait()
	r.client.CloseIdleConnections()
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("agent ended with %v, want death by SIGKILL", r.err)
	}
	return total
}

// stormInput picks one simulator request: taps of every card on both
// readers, the door, the racks and the exit button, weighted so that
// guest and escort often meet inside the escort window.
func stormInput(rng *rand.Rand) (path, body string) {
	switch n := rng.IntN(100); {
	case n < 50:
		uids := []string{crashGuestUID, crashGuestUID, crashEscortUID, crashEscortUID, crashSoloUID, crashUnknownUID}
		reader := "entry"
		if rng.IntN(4) == 0 {
			reader = "exit"
		}
		return "/sim/tap", fmt.Sprintf(`{"reader":%q,"uid":%q}`, reader, uids[rng.IntN(len(uids))])
	case n < 75:
		return "/sim/door", fmt.Sprintf(`{"open":%t}`, rng.IntN(2) == 0)
	case n < 90:
		return "/sim/rack", fmt.Sprintf(`{"rack":%q,"open":%t}`, []string{"R1", "R2"}[rng.IntN(2)], rng.IntN(2) == 0)
	default:
		return "/sim/exit-button", ""
	}
}

// relayLine is the agent's log line after a relay movement.
type relayLine struct {
	Action string `json:"action"`
	Seq    uint64 `json:"seq"`
}

// relayLines returns the relay movements the dead child reported, in
// order. The kill may cut the last line short; any other line that is not
// JSON, an error logged, or a race report fails the test.
func (r *agentRun) relayLines(t *testing.T) []relayLine {
	t.Helper()
	out := r.stderr.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("the child reported a data race")
	}
	lines := strings.Split(out, "\n")
	var relay []relayLine
	for i, l := range lines {
		if l == "" {
			continue
		}
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			relayLine
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			if i == len(lines)-1 || strings.HasPrefix(l, "WARNING: DATA RACE") || !strings.HasPrefix(l, "{") {
				continue // cut by the kill, or the race detector's report (flagged above)
			}
			t.Errorf("stderr line %d is not JSON: %v: %s", i+1, err, l)
			continue
		}
		if rec.Level == "ERROR" {
			t.Errorf("the agent logged an error: %s", l)
		}
		if rec.Msg == "relay" {
			relay = append(relay, rec.relayLine)
		}
	}
	return relay
}

// storeLog is what the store file holds after a kill.
type storeLog struct {
	epoch string
	last  uint64
	types map[uint64]string
}

// readStoreLog opens the dead child's store, checks it with bbolt and
// checks the event log: keys 1..Sequence() with no gap (nothing is acked
// in this test, so nothing was deleted), each event naming its own seq, id
// and the store's epoch.
func readStoreLog(t *testing.T, path string) storeLog {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open store after SIGKILL: %v", err)
	}
	defer db.Close()
	log := storeLog{types: map[uint64]string{}}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		meta := tx.Bucket([]byte("meta"))
		if meta == nil || meta.Get([]byte("epoch")) == nil {
			return errors.New("no meta bucket or epoch")
		}
		log.epoch = string(meta.Get([]byte("epoch")))
		ev := tx.Bucket([]byte("events"))
		if ev == nil {
			return errors.New("no events bucket")
		}
		want := uint64(1)
		err := ev.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("event key %x: want 8 bytes", k)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return fmt.Errorf("event log jumps from seq %d to %d", want-1, seq)
			}
			want++
			var e struct {
				ID    string `json:"id"`
				Seq   uint64 `json:"seq"`
				Epoch string `json:"epoch"`
				Type  string `json:"type"`
			}
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if e.Seq != seq || e.Epoch != log.epoch || e.ID != fmt.Sprintf("demo/server-room/%s/%d", log.epoch, seq) {
				return fmt.Errorf("event under key %d says seq %d, epoch %q, id %q (store epoch %s)", seq, e.Seq, e.Epoch, e.ID, log.epoch)
			}
			log.types[seq] = e.Type
			log.last = seq
			return nil
		})
		if err != nil {
			return err
		}
		if s := ev.Sequence(); s != log.last {
			return fmt.Errorf("events bucket sequence is %d, last event is %d", s, log.last)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("store after SIGKILL: %v", err)
	}
	return log
}

// checkRelayLines requires every movement of run i to follow its own
// stored justification: door.unlocked for unlock, door.locked for lock,
// from this run, in order, alternating from the locked state of the start.
func checkRelayLines(t *testing.T, i int, lines []relayLine, log storeLog, prevSeq uint64) {
	t.Helper()
	want := map[string]string{"unlock": "door.unlocked", "lock": "door.locked"}
	after, next := prevSeq, "unlock"
	for j, l := range lines {
		typ, ok := log.types[l.Seq]
		switch {
		case want[l.Action] == "":
			t.Errorf("kill %d: relay line %d: action %q", i, j, l.Action)
		case !ok:
			t.Errorf("kill %d: relay %s reported with seq %d, which is not in the store (last %d)", i, l.Action, l.Seq, log.last)
		case typ != want[l.Action]:
			t.Errorf("kill %d: relay %s reported with seq %d, which is a %s event, want %s", i, l.Action, l.Seq, typ, want[l.Action])
		case l.Seq <= after:
			t.Errorf("kill %d: relay %s reported with seq %d, not after %d", i, l.Action, l.Seq, after)
		case l.Action != next:
			t.Errorf("kill %d: relay line %d: %s, want %s (movements alternate from locked)", i, j, l.Action, next)
		}
		after = l.Seq
		if l.Action == "unlock" {
			next = "lock"
		} else {
			next = "unlock"
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
