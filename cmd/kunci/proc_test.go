//go:build unix

package main

import (
	"bytes"
	"context"
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

	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/internal/syncbuf"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// The process tests (crash, sync-crash, signals, e2e, replicas) run the
// real binary as a child: this file builds it, makes its keys and records,
// starts `kunci agent` on a simulated door, storms it with simulator input
// and kills it, and runs and kills `kunci hub` (hubProc).

// buildKunci builds the binary under test; under -race the child gets the
// race detector too, so that a race in the agent under the storm shows.
func buildKunci(t testing.TB, dir string) string {
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

// agentFixture is a simulated door's files: the binary, its keys, the
// signed records of the storm's cards, and one store over all the runs.
type agentFixture struct {
	bin, dir, store string
	keys, records   string
	pub, priv       string // the hub's key pair the door trusts
}

// newAgentFixture makes keys and signed records with the binary itself, as
// an installer without a hub would.
func newAgentFixture(t *testing.T, bin, dir string) *agentFixture {
	t.Helper()
	fx := &agentFixture{bin: bin, dir: dir, store: filepath.Join(dir, "agent.db"),
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
	fx.pub, fx.priv = pubs[0], privs[0]
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

// agentConfig is what a test sets of the fixture's agent.yaml.
type agentConfig struct {
	unlock   string // rules.unlock
	broker   string // mqtt.broker; no MQTT when empty
	clientID string // mqtt.client_id
	extra    string // more of agent.yaml, as written
}

// start runs the agent with cfg on the fixture's store and returns once it
// serves HTTP and has stored its agent.started (status seq past prevSeq),
// with the relay in its safe state.
func (fx *agentFixture) start(t *testing.T, cfg agentConfig, prevSeq uint64) *agentRun {
	t.Helper()
	rest := fmt.Sprintf("records_dir: %q\nrules:\n  unlock: %s\n  escort_window: 2s\n", fx.records, cfg.unlock) + cfg.extra
	if cfg.broker != "" {
		rest += fmt.Sprintf("mqtt:\n  broker: %q\n  client_id: %s\n", cfg.broker, cfg.clientID)
	}
	path := filepath.Join(fx.dir, "agent.yaml")
	for attempt := 0; ; attempt++ {
		addr := freeAddr(t)
		if err := os.WriteFile(path, []byte(simAgentYAML(fx.store, addr, filepath.Join(fx.keys, "site.key"), fx.pub, rest)), 0o600); err != nil {
			t.Fatal(err)
		}
		run, err := launchAgent(t, fx.bin, path, addr, prevSeq)
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

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// lockedBuffer is e2e_test.go's name for the buffer of a child's stderr.
type lockedBuffer = syncbuf.Buffer

// agentRun is one life of a child `kunci agent`.
type agentRun struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
	client *http.Client
}

// startWait bounds a child's start, up to its agent.started: a bound for
// a loaded machine's slowest start, not a measure of speed.
const startWait = 30 * time.Second

// launchAgent runs `kunci agent --config cfg --log-json`, which listens on
// addr, and returns once it serves HTTP and has stored its agent.started
// (status seq past prevSeq), checking that the relay is in its safe state.
// The process is killed when the test ends.
func launchAgent(t *testing.T, bin, cfg, addr string, prevSeq uint64) (*agentRun, error) {
	t.Helper()
	run := &agentRun{base: "http://" + addr, stderr: &syncBuffer{}, exited: make(chan struct{}),
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

	var (
		st struct {
			Lock string `json:"lock"`
			Seq  uint64 `json:"seq"`
		}
		exited bool
	)
	err := waitfor.Try(startWait, func() error {
		select {
		case <-run.exited:
			exited = true
			return nil
		default:
		}
		if err := run.getJSON("/status", &st); err != nil {
			return err
		}
		if st.Seq <= prevSeq {
			return fmt.Errorf("/status seq %d, not past %d of the previous run", st.Seq, prevSeq)
		}
		return nil
	})
	switch {
	case exited:
		return run, fmt.Errorf("agent exited before it was ready: %v", run.err)
	case err != nil:
		return run, fmt.Errorf("not ready within %v: %w", startWait, err)
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

func (r *agentRun) post(path, body string) error {
	resp, err := r.client.Post(r.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
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

// stormMix weighs the kinds of simulator input of a storm, in percent of
// the requests; the exit button takes the rest.
type stormMix struct{ tap, door, rack int }

var (
	// everything: taps weighted so that guest and escort often meet
	// inside the escort window, and the door moving
	fullStorm = stormMix{tap: 50, door: 25, rack: 15}
	// no door movement, so that a grant's unlock lasts
	tapStorm = stormMix{tap: 85, rack: 10}
)

// input picks one simulator request: a tap of any card on either reader,
// the door, a rack or the exit button.
func (m stormMix) input(rng *rand.Rand) (path, body string) {
	switch n := rng.IntN(100); {
	case n < m.tap:
		uids := []string{crashGuestUID, crashGuestUID, crashEscortUID, crashEscortUID, crashSoloUID, crashUnknownUID}
		reader := "entry"
		if rng.IntN(4) == 0 {
			reader = "exit"
		}
		return "/sim/tap", fmt.Sprintf(`{"reader":%q,"uid":%q}`, reader, uids[rng.IntN(len(uids))])
	case n < m.tap+m.door:
		return "/sim/door", fmt.Sprintf(`{"open":%t}`, rng.IntN(2) == 0)
	case n < m.tap+m.door+m.rack:
		return "/sim/rack", fmt.Sprintf(`{"rack":%q,"open":%t}`, []string{"R1", "R2"}[rng.IntN(2)], rng.IntN(2) == 0)
	default:
		return "/sim/exit-button", ""
	}
}

// storm posts random simulator input to one agent from four goroutines, as
// fast as the agent takes it, until stopped. Until end is called (before a
// kill or a signal) a failed request or an answer other than 200 is a
// refusal by the live agent; after it, or once the agent exited, a worker
// stops at its first failed request.
type storm struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	ending   atomic.Bool
	answered atomic.Int64 // with 200
	once     sync.Once

	mu    sync.Mutex
	total stormStats
}

func startStorm(t *testing.T, r *agentRun, rng *rand.Rand, mix stormMix) *storm {
	ctx, cancel := context.WithCancel(context.Background())
	s := &storm{cancel: cancel}
	for range 4 {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		s.wg.Go(func() {
			st := s.work(ctx, r, wrng, mix)
			s.mu.Lock()
			s.total.add(st)
			s.mu.Unlock()
		})
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *storm) work(ctx context.Context, r *agentRun, rng *rand.Rand, mix stormMix) stormStats {
	var st stormStats
	refused := func(format string, a ...any) {
		st.refused++
		if st.firstRefusal == "" {
			st.firstRefusal = fmt.Sprintf(format, a...)
		}
	}
	for ctx.Err() == nil {
		path, body := mix.input(rng)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			select {
			case <-r.exited:
			default:
				if !s.ending.Load() {
					refused("POST %s %s before the stop: %v", path, body, err)
					continue
				}
			}
			st.failed++
			return st
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			refused("POST %s %s: %s %s", path, body, resp.Status, bytes.TrimSpace(b))
			continue
		}
		st.ok++
		s.answered.Add(1)
	}
	return st
}

// end says that the agent is about to be stopped: failed requests are
// expected from now on.
func (s *storm) end() { s.ending.Store(true) }

// stop ends the storm and returns its counts; it may be called again.
func (s *storm) stop() stormStats {
	s.once.Do(func() {
		s.end()
		s.cancel()
		s.wg.Wait()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// killRun sends SIGKILL to the agent under the storm and waits for it to
// die and for the storm to end.
func killRun(t *testing.T, r *agentRun, s *storm) stormStats {
	t.Helper()
	select {
	case <-r.exited:
		t.Errorf("agent exited during the storm, before the kill: %v", r.err)
	default:
	}
	s.end()
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-r.exited
	st := s.stop()
	r.client.CloseIdleConnections()
	if ws, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("agent ended with %v, want death by SIGKILL", r.err)
	}
	return st
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// hubProc is one `kunci hub --config` child process.
type hubProc struct {
	name   string
	cfg    string
	addr   string
	cmd    *exec.Cmd
	stderr *lockedBuffer // one log over the restarts
	done   chan struct{} // closed once the process is gone
}

// start runs the hub and waits until it answers /api/health (bounded by
// startWait); it is killed when the test ends.
func (p *hubProc) start(t *testing.T, bin string) {
	t.Helper()
	if p.stderr == nil {
		p.stderr = &lockedBuffer{}
	}
	p.cmd = exec.Command(bin, "hub", "--config", p.cfg, "--log-json")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, done := p.cmd, make(chan struct{})
	p.done = done
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	c := p.api(t, "")
	waitfor.NoError(t, startWait, func() error {
		select {
		case <-done:
			t.Fatalf("%s exited: %v\n%s", p.name, cmd.ProcessState, tail(p.stderr.String(), 30))
		default:
		}
		return c.Health(t.Context())
	})
}

// kill sends SIGKILL and waits for the process to die of it.
func (p *hubProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("%s ended with %v; want death by SIGKILL", p.name, p.cmd.ProcessState)
	}
}

func (p *hubProc) api(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.New("http://"+p.addr, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// metric is the hub's sample of name (a family without labels), 0 when
// absent or unreachable.
func (p *hubProc) metric(ctx context.Context, c *client.Client, name string) float64 {
	m, err := c.Metrics(ctx)
	if err != nil {
		return 0
	}
	return m[name]
}
