package bench

// The targets of the "Sync over MQTT" issue, measured against the real
// uplink: an agent store, the outbox pump on its own mqttlink.Link, a real
// Mosquitto (mqtttest, persistence on, unlimited queues), and the hub's
// ingest on a persistent session into its own bbolt file. sync.sh runs the
// benchmarks and prints the table (benchtable -sync). The quick tests at
// the end take each path through with a few events, so that `go test`
// keeps the benchmarks working without paying for them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/status"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// syncTopics are the topics of the benchmark's door.
var syncTopics = topic.Door{Prefix: topic.DefaultPrefix, Site: site, Door: door}

const (
	// drainN is the backlog of the issue.
	drainN = 100_000
	// fillBatch is how many events one Store.Append writes while the
	// backlog is made: the file holds the same events as after 100,000
	// taps, made in seconds rather than minutes.
	fillBatch = 1_000
	// pubChunk is the most lines one `mosquitto_pub -l` is given.
	// mosquitto_pub 2.0 stops at the PUBACK of the message whose id is
	// its last message's id, and ids wrap after 65,535: with 100,000
	// lines it quits after about 34,465 and exits 0 (the broker logs a
	// bogus "disconnected due to out of memory"). Below the wrap it
	// publishes every line.
	pubChunk = 50_000
	// recordedVisits is how many visits of a real door make the events
	// that the backlog repeats.
	recordedVisits = 8
	// visitSpacing is how far apart the repeated visits are put in time.
	visitSpacing = time.Minute
)

// envInt and envDuration read a setting of sync.sh, or give def.
func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

// recorded is what a real door wrote during recordedVisits visits: its
// events (without agent.started) and its status JSON afterwards.
type recorded struct {
	events []agent.Event
	status []byte
}

var (
	recordOnce sync.Once
	record     recorded
	recordErr  error
)

// doorRecord returns the events and status of real visits, made once per
// process on a generated store of sanityN permits.
func doorRecord(tb testing.TB) recorded {
	tb.Helper()
	recordOnce.Do(func() { record, recordErr = recordVisits() })
	if recordErr != nil {
		tb.Fatal(recordErr)
	}
	return record
}

func recordVisits() (recorded, error) {
	dir, err := os.MkdirTemp("", "kunci-bench-visits-")
	if err != nil {
		return recorded{}, err
	}
	defer os.RemoveAll(dir)
	src, err := cachedStore(dir, sanityN, io.Discard)
	if err != nil {
		return recorded{}, err
	}
	ctx := context.Background()
	rd, err := startDoor(ctx, src)
	if err != nil {
		return recorded{}, err
	}
	for v := range recordedVisits {
		if _, err := rd.visit(ctx, v*13%sanityN); err != nil {
			rd.stop()
			return recorded{}, err
		}
	}
	st, err := json.Marshal(rd.door.Status())
	if err != nil {
		rd.stop()
		return recorded{}, err
	}
	evs, err := rd.store.Events(0, 100_000)
	if err := errors.Join(err, rd.stop()); err != nil {
		return recorded{}, err
	}
	var out []agent.Event
	for _, e := range evs {
		if e.Type != wire.EvStarted {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return recorded{}, errors.New("the visits stored no events")
	}
	return recorded{events: out, status: st}, nil
}

// event returns the i-th event of an endless repetition of the recorded
// visits, a visitSpacing later per repetition, without its identity (the
// store fills it in).
func (r recorded) event(i int) agent.Event {
	e := r.events[i%len(r.events)]
	shift := time.Duration(i/len(r.events)) * visitSpacing
	e.At, e.MonoNS = e.At.Add(shift), e.MonoNS+int64(shift)
	e.ID, e.Seq, e.Epoch, e.Site, e.Door, e.Replayed = "", 0, "", "", "", false
	return e
}

// fill appends n events to st in Appends of at most batch events.
func (r recorded) fill(st *agent.Store, n, batch int) error {
	for i := 0; i < n; {
		b := &agent.Batch{}
		for ; i < n && len(b.Events) < batch; i++ {
			b.Events = append(b.Events, r.event(i))
		}
		if err := st.Append(b); err != nil {
			return err
		}
	}
	return nil
}

// payloads returns n events as the pump publishes a backlog: identity
// filled in as Store.Append fills it, replayed.
func (r recorded) payloads(epoch string, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for i := range n {
		e := r.event(i)
		seq := uint64(i + 1)
		e.Seq, e.Epoch, e.Site, e.Door, e.Replayed = seq, epoch, site, door, true
		e.ID = fmt.Sprintf("%s/%s/%s/%d", site, door, epoch, seq)
		j, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// ackWatch tells when the pump has taken the hub's ack through a seq. It
// goes on from it at once; it deletes the acked events from the store
// within outbox.DefaultDeleteInterval, and when it stops.
type ackWatch struct {
	mu      sync.Mutex
	through uint64 // the newest ack the pump took
	target  uint64
	reached chan struct{}
}

// took notes an ack the pump took.
func (w *ackWatch) took(through uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.through = max(w.through, through)
	if w.reached != nil && w.through >= w.target {
		close(w.reached)
		w.reached = nil
	}
}

// await returns a channel closed once the pump has taken an ack through
// seq.
func (w *ackWatch) await(seq uint64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if w.through >= seq {
		close(ch)
		return ch
	}
	w.target, w.reached = seq, ch
	return ch
}

// checkBolt runs bbolt's consistency check on the closed file at path.
func checkBolt(tb testing.TB, path string) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if err := boltcheck.Check(db); err != nil {
		tb.Errorf("%s: %v", path, err)
	}
}

// waitConn waits for a channel from NextConnection, at most d.
func waitConn(tb testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		tb.Fatalf("%s did not connect within %v", what, d)
	}
}

// poll checks cond every millisecond until it holds, at most d.
func poll(d time.Duration, cond func() (bool, error)) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("still waiting after %v", d)
		}
	}
}

// syncHub is the hub's side: the ingest on a persistent session into its
// own bbolt file.
type syncHub struct {
	st   ingest.EventStore
	in   *ingest.Ingest
	link *mqttlink.Link
	stop func()
}

// startSyncHub opens the ingest store at path and runs the ingest with o
// on a link with lo to broker; it returns once the link is up.
func startSyncHub(tb testing.TB, broker, path string, o ingest.Options, lo mqttlink.Options) *syncHub {
	tb.Helper()
	return startSyncHubWait(tb, broker, path, o, lo, 15*time.Second)
}

// startSyncHubWait is startSyncHub waiting up to wait for the link: a
// session with a long queue at the broker is handed it before its SUBACK.
func startSyncHubWait(tb testing.TB, broker, path string, o ingest.Options, lo mqttlink.Options, wait time.Duration) *syncHub {
	tb.Helper()
	st, err := ingest.OpenStore(path)
	if err != nil {
		tb.Fatal(err)
	}
	return startSyncHubOn(tb, broker, st, o, lo, false, wait)
}

// startSyncHubOn is startSyncHubWait on the event store st, on the shared
// subscription if shared (one of several hub replicas on one store).
func startSyncHubOn(tb testing.TB, broker string, st ingest.EventStore, o ingest.Options, lo mqttlink.Options, shared bool, wait time.Duration) *syncHub {
	tb.Helper()
	o.Signer = benchHubKey
	in, err := ingest.New(st, o)
	if err != nil {
		tb.Fatal(err)
	}
	lo.Broker = broker
	link, err := mqttlink.New(ingest.LinkOptions(lo, "", shared), in.Handle)
	if err != nil {
		tb.Fatal(err)
	}
	up := link.NextConnection()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := link.Run(ctx); err != nil {
			tb.Errorf("hub link: %v", err)
		}
	})
	wg.Go(func() {
		if err := in.Run(ctx, link); err != nil {
			tb.Errorf("ingest: %v", err)
		}
	})
	h := &syncHub{st: st, in: in, link: link, stop: sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})}
	tb.Cleanup(h.stop)
	waitConn(tb, up, wait, "hub link")
	return h
}

// syncAgent is the agent's side: the store, and the pump on a clean
// session link with the will and the subscriptions of `kunci agent`.
type syncAgent struct {
	acks   *ackWatch
	link   *mqttlink.Link
	pump   *outbox.Pump
	notify chan struct{}
	ackErr atomic.Pointer[error]
	// startPump starts the pump; stop stops pump and link, not the store.
	startPump func()
	stop      func()
}

// benchHubKey signs the hub's acks in the benchmarks with the bench's hub
// key (hubKey); benchKeys, the doors' keyring, trusts it: every ack is
// signed and verified as in the field.
var (
	benchHubKey = permit.NewSigner(hubKey)
	benchKeys   = keyring()
)

// startSyncAgent runs a link with lo to broker for the store st and
// prepares a pump with po; it returns once the link is up.
func startSyncAgent(tb testing.TB, broker string, st *agent.Store, po outbox.Options, lo mqttlink.Options) *syncAgent {
	tb.Helper()
	t := syncTopics
	acked, err := st.Acked()
	if err != nil {
		tb.Fatal(err)
	}
	a := &syncAgent{acks: &ackWatch{through: acked}, notify: make(chan struct{}, 1)}
	lo.Broker, lo.ClientID, lo.CleanSession, lo.Will = broker, "kunci-bench-agent", true, status.Will(t)
	lo.Subscriptions = map[string]byte{t.EventsAck(): 1, t.Permits(): 1, t.StaffAll(): 1, t.Cmd(): 1, t.Availability(): 1}
	a.link, err = mqttlink.New(lo, func(m mqttlink.Message) {
		if m.Topic != t.EventsAck() {
			return
		}
		if err := a.pump.HandleAck(m.Payload); err != nil {
			a.ackErr.CompareAndSwap(nil, &err)
			return
		}
		if ack, err := outbox.DecodeAck(m.Payload, benchKeys); err == nil {
			a.acks.took(ack.Through)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	po.Door, po.Keys = t, benchKeys
	if a.pump, err = outbox.New(st, a.link, a.notify, po); err != nil {
		tb.Fatal(err)
	}
	up := a.link.NextConnection()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.link.Run(ctx); err != nil {
			tb.Errorf("agent link: %v", err)
		}
	})
	a.startPump = sync.OnceFunc(func() {
		wg.Go(func() {
			if err := a.pump.Run(ctx); err != nil {
				tb.Errorf("pump: %v", err)
			}
		})
	})
	a.stop = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
	})
	tb.Cleanup(a.stop)
	waitConn(tb, up, 15*time.Second, "agent link")
	return a
}

func (a *syncAgent) signal() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// drainConfig is one way of running the drain.
type drainConfig struct {
	Window      int           // outbox.Options.Window; 0: the default
	AckInterval time.Duration // ingest.Options.AckInterval; 0: the default
}

// drainResult is one drain of a backlog.
type drainResult struct {
	n       int
	elapsed time.Duration
	pump    outbox.Stats
	hub     ingest.Stats
}

func (r drainResult) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// drainKunci fills a new agent store in dir with n recorded events, then
// measures from the pump's start until the hub has stored and acked every
// one and the agent has deleted them (drainStore).
func drainKunci(tb testing.TB, dir string, n int, c drainConfig) drainResult {
	tb.Helper()
	rec := doorRecord(tb)
	st, err := agent.OpenStore(filepath.Join(dir, "agent.db"), site, door)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
		checkBolt(tb, filepath.Join(dir, "agent.db"))
	}()
	if err := rec.fill(st, n, fillBatch); err != nil {
		tb.Fatal(err)
	}
	return drainStore(tb, dir, st, c)
}

// drainStore measures the drain of everything st holds not yet acked,
// from the pump's start until the hub has stored and acked every event
// and the agent has deleted them: a fresh Mosquitto, the hub's ingest
// (its store in dir) and the agent's link are up before the clock starts.
// The hub is new, so st's acked seq must be 0.
func drainStore(tb testing.TB, dir string, st *agent.Store, c drainConfig) drainResult {
	tb.Helper()
	last, err := st.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	n := int(last)
	m := mqtttest.StartMosquitto(tb)
	defer m.Stop()
	hubPath := filepath.Join(dir, "hub.db")
	h := startSyncHub(tb, m.URL(), hubPath, ingest.Options{AckInterval: c.AckInterval}, mqttlink.Options{})
	defer func() { h.stop(); checkBolt(tb, hubPath) }()
	a := startSyncAgent(tb, m.URL(), st, outbox.Options{Window: c.Window}, mqttlink.Options{})
	defer a.stop()
	done := a.acks.await(last)
	limit := 2*time.Minute + time.Duration(n)*2*time.Millisecond
	start := time.Now()
	a.startPump()
	select {
	case <-done:
	case <-time.After(limit):
		tb.Fatalf("after %v: pump %+v, hub %+v\n%s", limit, a.pump.Stats(), h.in.Stats(), m.Log())
	}
	r := drainResult{n: n, elapsed: time.Since(start)}
	a.stop()
	r.pump, r.hub = a.pump.Stats(), h.in.Stats()
	if p := a.ackErr.Load(); p != nil {
		tb.Errorf("an ack was refused: %v", *p)
	}
	if left, err := st.Events(0, 1); err != nil || len(left) != 0 {
		tb.Errorf("agent store after the drain: %d events left, %v", len(left), err)
	}
	if th, err := h.st.Through(site, door, st.Epoch()); err != nil || th != last {
		tb.Errorf("hub through %d, %v; want %d", th, err, last)
	}
	if r.hub.Stored != uint64(n) || r.hub.Malformed != 0 || r.hub.StoreErrors != 0 {
		tb.Errorf("hub stats %+v: want %d stored, none malformed, no store errors", r.hub, n)
	}
	return r
}

// drainMosquittoPub is the baseline of drainKunci: the same number of
// event payloads published by `mosquitto_pub -q 1 -l` (in runs of at
// most chunk lines) to a fresh Mosquitto, and received by `mosquitto_sub
// -q 1` on a persistent session, as the hub's. It measures from starting
// the subscriber until it has received every message and exited. Nothing
// is stored and nothing acked end to end: it is what the broker and two C
// clients do on this machine.
func drainMosquittoPub(tb testing.TB, dir string, n, chunk int) time.Duration {
	tb.Helper()
	pub, sub := mosquittoClients(tb)
	pls, err := doorRecord(tb).payloads("b4c3a1", n)
	if err != nil {
		tb.Fatal(err)
	}
	var files []string
	for i := 0; i < n; i += chunk {
		f := filepath.Join(dir, fmt.Sprintf("payloads-%03d.txt", len(files)))
		if err := os.WriteFile(f, append(bytes.Join(pls[i:min(i+chunk, n)], []byte("\n")), '\n'), 0o600); err != nil {
			tb.Fatal(err)
		}
		files = append(files, f)
	}
	m := mqtttest.StartMosquitto(tb)
	defer m.Stop()
	common := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", syncTopics.Events()}
	subArgs := append(slices.Clone(common), "-c", "-i", "kunci-bench-sub")
	if out, err := exec.Command(sub, append(subArgs, "-E")...).CombinedOutput(); err != nil {
		tb.Fatalf("mosquitto_sub -E: %v\n%s", err, out)
	}
	recv := filepath.Join(dir, "received.txt")
	out, err := os.Create(recv)
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+time.Duration(n)*time.Millisecond)
	defer cancel()
	subCmd := exec.CommandContext(ctx, sub, append(subArgs, "-C", strconv.Itoa(n))...)
	var subErr bytes.Buffer
	subCmd.Stdout, subCmd.Stderr = out, &subErr
	start := time.Now()
	if err := subCmd.Start(); err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		in, err := os.Open(f)
		if err != nil {
			tb.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, pub, append(slices.Clone(common), "-l")...)
		cmd.Stdin = in
		msg, err := cmd.CombinedOutput()
		in.Close()
		if err != nil {
			tb.Fatalf("mosquitto_pub -l < %s: %v\n%s", f, err, msg)
		}
	}
	if err := subCmd.Wait(); err != nil {
		tb.Fatalf("mosquitto_sub: %v\n%s\nbroker log:\n%s", err, subErr.String(), m.Log())
	}
	el := time.Since(start)
	if got, err := countLines(recv); err != nil || got != n {
		tb.Fatalf("mosquitto_sub received %d messages (%v), want %d", got, err, n)
	}
	return el
}

// drainPumpOnly is the agent's half of drainKunci, for finding where the
// time goes: the pump publishes a backlog of n events to a broker that
// nobody subscribes to, from its start until the broker has PUBACKed all
// of them. Nothing is acked end to end, and nothing deleted.
func drainPumpOnly(tb testing.TB, dir string, n int) time.Duration {
	tb.Helper()
	st, err := agent.OpenStore(filepath.Join(dir, "agent.db"), site, door)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	if err := doorRecord(tb).fill(st, n, fillBatch); err != nil {
		tb.Fatal(err)
	}
	m := mqtttest.StartMosquitto(tb)
	defer m.Stop()
	a := startSyncAgent(tb, m.URL(), st, outbox.Options{}, mqttlink.Options{})
	defer a.stop()
	start := time.Now()
	a.startPump()
	err = poll(2*time.Minute+time.Duration(n)*2*time.Millisecond, func() (bool, error) {
		return a.pump.Stats().Published >= uint64(n), nil
	})
	if err != nil {
		tb.Fatalf("pump: %v: %+v", err, a.pump.Stats())
	}
	return time.Since(start)
}

// drainHubOnly is the hub's half of drainKunci: n event payloads wait in
// the hub's persistent session (published by mosquitto_pub while the hub
// was away), and the clock runs from starting the hub until it has stored
// them all. Its acks go to the broker; no agent takes them.
func drainHubOnly(tb testing.TB, dir string, n int) time.Duration {
	tb.Helper()
	pub, _ := mosquittoClients(tb)
	pls, err := doorRecord(tb).payloads("c5d6e7", n)
	if err != nil {
		tb.Fatal(err)
	}
	m := mqtttest.StartMosquitto(tb)
	defer m.Stop()
	path := filepath.Join(dir, "hub.db")
	// the session and its subscription, then the hub goes away
	startSyncHub(tb, m.URL(), path, ingest.Options{}, mqttlink.Options{}).stop()
	for i := 0; i < n; i += pubChunk {
		cmd := exec.Command(pub, "-h", "127.0.0.1", "-p", strconv.Itoa(m.Port), "-q", "1", "-t", syncTopics.Events(), "-l")
		cmd.Stdin = bytes.NewReader(append(bytes.Join(pls[i:min(i+pubChunk, n)], []byte("\n")), '\n'))
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	start := time.Now()
	h := startSyncHub(tb, m.URL(), path, ingest.Options{}, mqttlink.Options{})
	defer func() { h.stop(); checkBolt(tb, path) }()
	err = poll(2*time.Minute+time.Duration(n)*2*time.Millisecond, func() (bool, error) {
		return h.in.Stats().Stored >= uint64(n), nil
	})
	if err != nil {
		tb.Fatalf("hub: %v: %+v", err, h.in.Stats())
	}
	return time.Since(start)
}

// mosquittoClients returns the paths of mosquitto_pub and mosquitto_sub,
// skipping the benchmark where they are missing.
func mosquittoClients(tb testing.TB) (pub, sub string) {
	tb.Helper()
	pub, err1 := exec.LookPath("mosquitto_pub")
	sub, err2 := exec.LookPath("mosquitto_sub")
	if err := errors.Join(err1, err2); err != nil {
		tb.Skipf("the baseline needs the Mosquitto clients (apt-get install -y mosquitto-clients): %v", err)
	}
	return pub, sub
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<16)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte("\n"))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// BenchmarkSyncDrain measures draining a backlog of SYNC_N (100,000)
// events with end-to-end acks (kunci: the defaults; kunci-tuned: the pump's
// Window SYNC_WINDOW, 1024, and the hub's AckInterval SYNC_ACK_INTERVAL,
// 250ms), and the baseline mosquitto_pub, each iteration on a fresh broker.
// ev/s is events per second; the kunci cases also report the hub's commits
// and acks and the pump's resends of the last iteration. pump-only and
// hub-only run each half alone, to tell where the time goes.
func BenchmarkSyncDrain(b *testing.B) {
	n := envInt(b, "SYNC_N", drainN)
	tuned := drainConfig{Window: envInt(b, "SYNC_WINDOW", 1024),
		AckInterval: envDuration(b, "SYNC_ACK_INTERVAL", 250*time.Millisecond)}
	b.Run("mosquitto_pub", func(b *testing.B) {
		mosquittoClients(b)
		var rates []float64
		for b.Loop() {
			el := drainMosquittoPub(b, runDir(b), n, pubChunk)
			rates = append(rates, float64(n)/el.Seconds())
		}
		b.ReportMetric(median(rates), "ev/s")
		b.ReportMetric(float64(n), "events")
	})
	for _, c := range []struct {
		name string
		cfg  drainConfig
	}{{"kunci", drainConfig{}}, {"kunci-tuned", tuned}} {
		b.Run(c.name, func(b *testing.B) {
			var rates []float64
			var last drainResult
			for b.Loop() {
				last = drainKunci(b, runDir(b), n, c.cfg)
				rates = append(rates, last.rate())
			}
			b.ReportMetric(median(rates), "ev/s")
			b.ReportMetric(float64(n), "events")
			b.ReportMetric(float64(cmp0(c.cfg.Window, 256)), "window")
			b.ReportMetric(float64(cmp0(c.cfg.AckInterval, 50*time.Millisecond))/1e6, "ack-interval-ms")
			b.ReportMetric(float64(last.hub.Commits), "hub-commits")
			b.ReportMetric(float64(last.hub.Acks), "hub-acks")
			b.ReportMetric(float64(last.hub.Duplicates), "hub-dups")
			b.ReportMetric(float64(last.pump.Resends), "pump-resends")
		})
	}
	for _, c := range []struct {
		name string
		f    func(testing.TB, string, int) time.Duration
	}{{"pump-only", drainPumpOnly}, {"hub-only", drainHubOnly}} {
		b.Run(c.name, func(b *testing.B) {
			var rates []float64
			for b.Loop() {
				rates = append(rates, float64(n)/c.f(b, runDir(b), n).Seconds())
			}
			b.ReportMetric(median(rates), "ev/s")
			b.ReportMetric(float64(n), "events")
		})
	}
}

// cmp0 is v, or def when v is zero: the default the package applies.
func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// restartResult is one broker outage: from the broker listening again
// until each link was up, the first event appended during the outage was
// stored at the hub, and every event of the outage was acked.
type restartResult struct {
	backlog                            uint64
	agentUp, hubUp, firstStored, acked time.Duration
}

// restartRig is a running uplink with the links' default backoff and a
// door appending events as it would: two events every 10 ms.
type restartRig struct {
	m   *mqtttest.Mosquitto
	st  *agent.Store
	h   *syncHub
	a   *syncAgent
	dir string
}

func startRestartRig(tb testing.TB, dir string) *restartRig {
	tb.Helper()
	st, err := agent.OpenStore(filepath.Join(dir, "agent.db"), site, door)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	m := mqtttest.StartMosquitto(tb)
	r := &restartRig{m: m, st: st, dir: dir}
	r.h = startSyncHub(tb, m.URL(), filepath.Join(dir, "hub.db"), ingest.Options{}, mqttlink.Options{})
	r.a = startSyncAgent(tb, m.URL(), st, outbox.Options{}, mqttlink.Options{})
	r.a.startPump()
	return r
}

// produce appends recorded events, two every 10 ms, until ctx ends.
func (r *restartRig) produce(ctx context.Context, tb testing.TB, rec recorded) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i += 2 {
		b := &agent.Batch{Events: []agent.Event{rec.event(i), rec.event(i + 1)}}
		if err := r.st.Append(b); err != nil {
			tb.Error(err)
			return
		}
		r.a.signal()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// warm waits until the door has appended n events and they are acked.
func (r *restartRig) warm(tb testing.TB, n uint64) {
	tb.Helper()
	err := poll(time.Minute, func() (bool, error) {
		last, err := r.st.LastSeq()
		return last >= n, err
	})
	if err != nil {
		tb.Fatalf("%d events appended: %v", n, err)
	}
	r.settle(tb)
}

// settle waits until everything appended so far is acked.
func (r *restartRig) settle(tb testing.TB) {
	tb.Helper()
	last, err := r.st.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	done := r.a.acks.await(last)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		tb.Fatalf("events through %d not acked: pump %+v, hub %+v", last, r.a.pump.Stats(), r.h.in.Stats())
	}
}

// listening returns a channel that gets the time addr first accepted a
// connection, trying every millisecond.
func listening(ctx context.Context, addr string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
			if err == nil {
				ch <- time.Now()
				c.Close()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ch
}

// outage stops the broker for down while events keep coming, starts it
// again and measures the way back.
func (r *restartRig) outage(tb testing.TB, down time.Duration) restartResult {
	tb.Helper()
	r.settle(tb)
	r.m.Stop()
	agentConn, hubConn := r.a.link.NextConnection(), r.h.link.NextConnection()
	before, err := r.st.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	time.Sleep(down)
	backlogLast, err := r.st.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	upCh := listening(ctx, r.m.Addr())
	r.m.Start()
	up := <-upCh
	res := restartResult{backlog: backlogLast - before}
	done := r.a.acks.await(backlogLast)
	epoch := r.st.Epoch()
	err = poll(2*time.Minute, func() (bool, error) {
		now := time.Since(up)
		for _, c := range []struct {
			ch <-chan struct{}
			d  *time.Duration
		}{{agentConn, &res.agentUp}, {hubConn, &res.hubUp}, {done, &res.acked}} {
			select {
			case <-c.ch:
				if *c.d == 0 {
					*c.d = now
				}
			default:
			}
		}
		if res.firstStored == 0 {
			th, err := r.h.st.Through(site, door, epoch)
			if err != nil {
				return false, err
			}
			if th > before {
				res.firstStored = now
			}
		}
		return res.acked > 0 && res.firstStored > 0 && res.agentUp > 0 && res.hubUp > 0, nil
	})
	if err != nil {
		tb.Fatalf("after the broker came back: %v; got %+v; pump %+v, hub %+v", err, res, r.a.pump.Stats(), r.h.in.Stats())
	}
	return res
}

// BenchmarkSyncRestart stops Mosquitto for SYNC_DOWN (10 s) with the pump
// running and two events appended every 10 ms, starts it again, and
// measures from the broker listening again: each link up and subscribed
// (agent-up-ms, hub-up-ms; the hub's session hands over its queue before
// the SUBACK, so its first events can be stored earlier), the first event
// appended during the outage stored at the hub (first-ms), every event of
// the outage acked (acked-ms); medians over the iterations, and the
// largest. Both links and the pump run with their
// defaults: the links' jittered backoff decides most of it.
func BenchmarkSyncRestart(b *testing.B) {
	down := envDuration(b, "SYNC_DOWN", 10*time.Second)
	rec := doorRecord(b)
	r := startRestartRig(b, runDir(b))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.produce(ctx, b, rec) })
	defer func() { cancel(); wg.Wait() }()
	r.warm(b, 200)
	var agentUp, hubUp, first, acked, backlog []float64
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	for b.Loop() {
		res := r.outage(b, down)
		agentUp, hubUp = append(agentUp, ms(res.agentUp)), append(hubUp, ms(res.hubUp))
		first, acked = append(first, ms(res.firstStored)), append(acked, ms(res.acked))
		backlog = append(backlog, float64(res.backlog))
	}
	b.ReportMetric(median(agentUp), "agent-up-ms")
	b.ReportMetric(median(hubUp), "hub-up-ms")
	b.ReportMetric(median(first), "first-ms")
	b.ReportMetric(slices.Max(first), "first-max-ms")
	b.ReportMetric(median(acked), "acked-ms")
	b.ReportMetric(slices.Max(acked), "acked-max-ms")
	b.ReportMetric(median(backlog), "backlog-ev")
	b.ReportMetric(down.Seconds(), "down-s")
}

// agentsResult is one run of many agent links on one broker.
type agentsResult struct {
	n                       int
	total, p50, p99         time.Duration // connecting: all, and per link
	heapPer, stackPer       float64       // Go bytes per link
	goroutinesPer           float64
	rssPer                  float64 // the broker's bytes per connection
	pubacked, endToEnd      time.Duration
	brokerFiles, ownFiles   uint64
	rssBefore, rssAfter     uint64
	heapBefore, heapAfter   uint64
	stackBefore, stackAfter uint64
}

// memStats returns the Go heap in use and the goroutine stacks, after a
// collection.
func memStats() (heap, stack uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// brokerPID finds the process of m by its configuration file.
func brokerPID(m *mqtttest.Mosquitto) (int, error) {
	conf := filepath.Join(m.Dir, "mosquitto.conf")
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(cmdline), "\x00"), conf) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs mosquitto -c %s", conf)
}

// procField returns the first number of the line of /proc/PID/FILE that
// starts with prefix: "VmRSS:" of status in KiB, "Max open files" of
// limits (the soft limit).
func procField(pid int, file, prefix string) (uint64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), file))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			break
		}
		if fs[0] == "unlimited" {
			return 1 << 62, nil
		}
		return strconv.ParseUint(fs[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/%s: no %q", pid, file, prefix)
}

// runAgents connects n agent links to one fresh Mosquitto, each with the
// will, clean session and subscriptions of `kunci agent`, all at once, and
// measures their connecting and memory; then each publishes its status
// (retained) and one event (QoS 1), which a hub ingest stores and acks.
func runAgents(tb testing.TB, dir string, n int) agentsResult {
	tb.Helper()
	rec := doorRecord(tb)
	m := mqtttest.StartMosquitto(tb)
	defer m.Stop()
	pid, err := brokerPID(m)
	if err != nil {
		tb.Skipf("cannot watch the broker's memory: %v", err)
	}
	res := agentsResult{n: n}
	// each link is a socket here and one in the broker; a few more for
	// the hub, the listener, the stores and the log
	need := uint64(n + 64)
	if res.brokerFiles, err = procField(pid, "limits", "Max open files"); err != nil {
		tb.Fatal(err)
	}
	if res.ownFiles, err = procField(os.Getpid(), "limits", "Max open files"); err != nil {
		tb.Fatal(err)
	}
	if res.brokerFiles < need || res.ownFiles < need {
		tb.Skipf("%d links need %d open files: Mosquitto may open %d, this process %d; raise `ulimit -n` (sync.sh does)",
			n, need, res.brokerFiles, res.ownFiles)
	}
	h := startSyncHub(tb, m.URL(), filepath.Join(dir, "hub.db"), ingest.Options{}, mqttlink.Options{})
	defer h.stop()

	if res.rssBefore, err = procField(pid, "status", "VmRSS:"); err != nil {
		tb.Fatal(err)
	}
	g0 := runtime.NumGoroutine()
	res.heapBefore, res.stackBefore = memStats()

	type agentLink struct {
		t      topic.Door
		link   *mqttlink.Link
		up     <-chan struct{}
		start  time.Time
		connAt time.Time
	}
	var acks atomic.Int64
	allAcked := make(chan struct{})
	agents := make([]*agentLink, n)
	for i := range agents {
		t := topic.Door{Prefix: topic.DefaultPrefix, Site: site, Door: fmt.Sprintf("door-%04d", i)}
		var once sync.Once
		link, err := mqttlink.New(mqttlink.Options{Broker: m.URL(), ClientID: "kunci-bench-" + t.Door,
			CleanSession: true, Will: status.Will(t),
			Subscriptions: map[string]byte{t.EventsAck(): 1, t.Permits(): 1, t.StaffAll(): 1, t.Cmd(): 1, t.Availability(): 1},
		}, func(msg mqttlink.Message) {
			if msg.Topic == t.EventsAck() {
				once.Do(func() {
					if acks.Add(1) == int64(n) {
						close(allAcked)
					}
				})
			}
		})
		if err != nil {
			tb.Fatal(err)
		}
		agents[i] = &agentLink{t: t, link: link, up: link.NextConnection()}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var links, waits sync.WaitGroup
	defer func() { cancel(); links.Wait() }()
	t0 := time.Now()
	for _, a := range agents {
		a.start = time.Now()
		links.Go(func() {
			if err := a.link.Run(ctx); err != nil {
				tb.Errorf("%s: %v", a.t.Door, err)
			}
		})
		waits.Go(func() {
			select {
			case <-a.up:
				a.connAt = time.Now()
			case <-time.After(time.Minute):
			}
		})
	}
	waits.Wait()
	var lats []time.Duration
	last := t0
	for _, a := range agents {
		if a.connAt.IsZero() {
			tb.Fatalf("%s did not connect within a minute\n%s", a.t.Door, m.Log())
		}
		lats = append(lats, a.connAt.Sub(a.start))
		if a.connAt.After(last) {
			last = a.connAt
		}
	}
	slices.Sort(lats)
	res.total, res.p50, res.p99 = last.Sub(t0), percentile(lats, 50), percentile(lats, 99)
	res.heapAfter, res.stackAfter = memStats()
	if res.rssAfter, err = procField(pid, "status", "VmRSS:"); err != nil {
		tb.Fatal(err)
	}
	res.heapPer = (float64(res.heapAfter) - float64(res.heapBefore)) / float64(n)
	res.stackPer = (float64(res.stackAfter) - float64(res.stackBefore)) / float64(n)
	res.goroutinesPer = float64(runtime.NumGoroutine()-g0) / float64(n)
	res.rssPer = (float64(res.rssAfter) - float64(res.rssBefore)) * 1024 / float64(n)

	// every door says how it is and what happened, at once
	var toks []mqttlink.Token
	p0 := time.Now()
	for _, a := range agents {
		e := rec.event(0)
		e.Seq, e.Epoch, e.Site, e.Door = 1, "0a0b0c", a.t.Site, a.t.Door
		e.ID = fmt.Sprintf("%s/%s/%s/1", e.Site, e.Door, e.Epoch)
		ev, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		toks = append(toks, a.link.Publish(a.t.Status(), status.QoS, true, rec.status),
			a.link.Publish(a.t.Events(), 1, false, ev))
	}
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	for _, tok := range toks {
		if err := mqttlink.Wait(wctx, tok); err != nil {
			tb.Fatalf("publish: %v", err)
		}
	}
	res.pubacked = time.Since(p0)
	select {
	case <-allAcked:
		res.endToEnd = time.Since(p0)
	case <-wctx.Done():
		tb.Fatalf("%d of %d hub acks after a minute; hub %+v", acks.Load(), n, h.in.Stats())
	}
	if total, err := h.st.Total(); err != nil || total != uint64(n) {
		tb.Errorf("hub stored %d events (%v), want %d", total, err, n)
	}
	return res
}

// BenchmarkSyncAgents connects SYNC_AGENTS (1,000) simulated agents to one
// Mosquitto and reports connecting (connect-ms: all, connect-p50-ms and
// connect-p99-ms: per link from its Run), memory (heap-KiB/link and
// stack-KiB/link: the Go heap and goroutine stacks this process grew by,
// goroutines/link; broker-rss-KiB/conn: Mosquitto's VmRSS growth), and the
// time until every agent's status and event were PUBACKed (puback-ms) and
// every hub ack was back (e2e-ms). Medians over the iterations.
func BenchmarkSyncAgents(b *testing.B) {
	n := envInt(b, "SYNC_AGENTS", 1000)
	var rs []agentsResult
	for b.Loop() {
		rs = append(rs, runAgents(b, runDir(b), n))
	}
	med := func(f func(agentsResult) float64) float64 {
		var vs []float64
		for _, r := range rs {
			vs = append(vs, f(r))
		}
		return median(vs)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(float64(n), "agents")
	b.ReportMetric(med(func(r agentsResult) float64 { return ms(r.total) }), "connect-ms")
	b.ReportMetric(med(func(r agentsResult) float64 { return ms(r.p50) }), "connect-p50-ms")
	b.ReportMetric(med(func(r agentsResult) float64 { return ms(r.p99) }), "connect-p99-ms")
	b.ReportMetric(med(func(r agentsResult) float64 { return r.heapPer / 1024 }), "heap-KiB/link")
	b.ReportMetric(med(func(r agentsResult) float64 { return r.stackPer / 1024 }), "stack-KiB/link")
	b.ReportMetric(med(func(r agentsResult) float64 { return r.goroutinesPer }), "goroutines/link")
	b.ReportMetric(med(func(r agentsResult) float64 { return r.rssPer / 1024 }), "broker-rss-KiB/conn")
	b.ReportMetric(med(func(r agentsResult) float64 { return ms(r.pubacked) }), "puback-ms")
	b.ReportMetric(med(func(r agentsResult) float64 { return ms(r.endToEnd) }), "e2e-ms")
	b.ReportMetric(float64(rs[len(rs)-1].brokerFiles), "broker-nofile")
}

// TestSyncDrain drains a small backlog the way BenchmarkSyncDrain does.
func TestSyncDrain(t *testing.T) {
	const n = 2_000
	for _, c := range []drainConfig{{}, {Window: 64, AckInterval: 5 * time.Millisecond}} {
		r := drainKunci(t, t.TempDir(), n, c)
		if r.pump.Published < n {
			t.Errorf("%+v: pump published %d, want at least %d", c, r.pump.Published, n)
		}
	}
}

// TestSyncHalves runs each half of the drain alone.
func TestSyncHalves(t *testing.T) {
	if el := drainPumpOnly(t, t.TempDir(), 500); el <= 0 {
		t.Errorf("pump alone took %v", el)
	}
	if el := drainHubOnly(t, t.TempDir(), 500); el <= 0 {
		t.Errorf("hub alone took %v", el)
	}
}

// TestSyncBaseline runs the mosquitto_pub baseline in several runs of
// mosquitto_pub, each of which must deliver all its lines.
func TestSyncBaseline(t *testing.T) {
	if el := drainMosquittoPub(t, t.TempDir(), 1_000, 300); el <= 0 {
		t.Errorf("baseline took %v", el)
	}
}

// TestSyncRestart takes the uplink through a short broker outage.
func TestSyncRestart(t *testing.T) {
	rec := doorRecord(t)
	r := startRestartRig(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.produce(ctx, t, rec) })
	defer func() { cancel(); wg.Wait() }()
	r.warm(t, 20)
	res := r.outage(t, 200*time.Millisecond)
	if res.backlog == 0 || res.firstStored > res.acked || res.agentUp > res.firstStored {
		t.Errorf("outage %+v: want a backlog, the agent up before the first event stored, stored before acked", res)
	}
}

// TestSyncAgents connects a few agent links as BenchmarkSyncAgents does.
func TestSyncAgents(t *testing.T) {
	r := runAgents(t, t.TempDir(), 20)
	if r.p50 <= 0 || r.p99 < r.p50 || r.total < r.p99 || r.rssAfter == 0 {
		t.Errorf("agents %+v: implausible", r)
	}
}

// TestRecordedVisits checks that the backlog is made of the door's own
// events: the visits' types, and payloads as the pump would publish them.
func TestRecordedVisits(t *testing.T) {
	rec := doorRecord(t)
	types := map[wire.EventType]bool{}
	for _, e := range rec.events {
		types[e.Type] = true
	}
	for _, want := range []wire.EventType{wire.EvTap, wire.EvGranted, wire.EvUnlocked, wire.EvOpened, wire.EvClosed} {
		if !types[want] {
			t.Errorf("recorded visits lack %s: %v", want, types)
		}
	}
	pls, err := rec.payloads("a1b2c3", 2*len(rec.events))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pls {
		e, err := ingest.DecodeEvent(topic.DefaultPrefix, syncTopics.Events(), p, ingest.DefaultMaxEventSize)
		if err != nil {
			t.Fatalf("payload %d: %v\n%s", i, err, p)
		}
		if e.Seq != uint64(i+1) || !e.Replayed {
			t.Errorf("payload %d: seq %d replayed %v", i, e.Seq, e.Replayed)
		}
	}
	if !bytes.Contains(rec.status, []byte(`"seq"`)) {
		t.Errorf("status %s is not the door's status JSON", rec.status)
	}
}
