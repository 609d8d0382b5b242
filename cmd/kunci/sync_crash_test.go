//go:build unix

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// TestSyncSurvivesKillsAndIngestRestarts runs the real agent binary with
// MQTT sync against a real Mosquitto and the hub's ingest in this process,
// under a storm of simulated input, until the agent has stored at least
// 10,000 events. Meanwhile the agent is killed with SIGKILL at random
// moments at least five times (and started again on the same store), and
// the ingest is stopped at least twice (its link and its store closed) and
// started again on the same file after a pause. At the end the hub's store
// must hold the agent's epoch as exactly seqs 1..N, N the agent's last
// seq, each event as the agent logged and stored it, and the agent's store
// nothing unacked: design.md's "no event is lost by kill -9 or a hub down;
// at least once on the wire, exactly once in the hub's store, in seq order
// per door".
//
// No deadline bounds the whole: a loaded machine slows the stream and the
// settle, and only a stretch of stall without progress (no event stored
// by the agent nor taken by the hub) fails them.
func TestSyncSurvivesKillsAndIngestRestarts(t *testing.T) {
	const (
		total          = 10000 // events the agent stores, at least, over all its lives
		kills          = 5
		ingestRestarts = 2
		stall          = 30 * time.Second // the longest stretch allowed without progress
		// how long the settled state must hold before the clean stop:
		// longer than escort_window (2s), the longest timer the storm may
		// leave pending, whose event would come after the settle
		quiet = 3 * time.Second
	)
	// registered first, checked last: after every process, link and
	// goroutine of the test is gone
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)
	began := time.Now()

	broker := mqtttest.StartMosquitto(t)
	dir := t.TempDir()
	bin := buildKunci(t, dir)
	fx := newAgentFixture(t, bin, dir)
	cfg := agentConfig{unlock: "200ms", broker: broker.URL(), clientID: "kunci-sync-crash"}

	signer, err := permit.LoadSigner(fx.priv)
	if err != nil {
		t.Fatal(err)
	}
	hubs := &hubSupervisor{t: t, broker: broker.URL(), path: filepath.Join(dir, "hub.db"), signer: signer}
	t.Cleanup(hubs.shutdown)
	var restarting sync.WaitGroup
	t.Cleanup(restarting.Wait) // runs before hubs.shutdown
	if err := hubs.start(); err != nil {
		t.Fatal(err)
	}

	built := time.Since(began)
	streamStart := time.Now()
	killAt := spreadThresholds(rng, kills, total)
	ingestAt := spreadThresholds(rng, ingestRestarts, total)
	t.Logf("kills after seq %v, ingest stops after seq %v", killAt, ingestAt)

	var (
		hist      = newAgentHistory()
		runs      []*syncRun
		prevLast  uint64
		epoch     string
		stormSum  stormStats
		ki        int // kills done
		ingestGo  int // ingest stops begun
		inRestart atomic.Bool
		unacked   []uint64 // events the agent held unacked at each kill
	)
	ingestDue := func(seq uint64) bool {
		return ingestGo < len(ingestAt) && !inRestart.Load() && seq >= ingestAt[ingestGo]
	}
	killDue := func(seq uint64) bool { return ki < len(killAt) && seq >= killAt[ki] }
	streamed := func(seq uint64) bool {
		return ki == len(killAt) && ingestGo == len(ingestAt) && !inRestart.Load() && seq >= total
	}
	run := fx.start(t, cfg, 0)
	runs = append(runs, &syncRun{agentRun: run, from: 1})
	storm := startStorm(t, run, rng, fullStorm)
	prog := newProgress(stall)
	for {
		seq := awaitSeq(t, run, prog, hubs, func(seq uint64) bool {
			return ingestDue(seq) || killDue(seq) || streamed(seq)
		}, func() string {
			return fmt.Sprintf("%d of %d kills, %d of %d ingest stops, towards seq %d", ki, len(killAt), ingestGo, len(ingestAt), total)
		})
		prevLast = max(prevLast, seq)
		if streamed(seq) {
			break
		}

		if ingestDue(seq) {
			pause := time.Duration(200+rng.IntN(801)) * time.Millisecond
			ingestGo++
			inRestart.Store(true)
			restarting.Go(func() {
				defer inRestart.Store(false)
				hubs.stop()
				time.Sleep(pause) // the hub down for a while, not a wait for anything
				if err := hubs.start(); err != nil {
					t.Errorf("ingest restart: %v", err)
				}
			})
			t.Logf("ingest stopped at agent seq %d for %v", seq, pause)
		}

		if killDue(seq) {
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // a random moment, not a wait for anything
			stormSum.add(killRun(t, run, storm))
			snap := readSyncStore(t, fx.store, hist)
			if epoch == "" {
				epoch = snap.epoch
			} else if snap.epoch != epoch {
				t.Fatalf("kill %d: epoch changed across a restart: %s, then %s", ki, epoch, snap.epoch)
			}
			cur := runs[len(runs)-1]
			if snap.last < cur.from {
				t.Fatalf("kill %d: store ends at seq %d, but this run started at %d: agent.started is missing", ki, snap.last, cur.from)
			}
			cur.to = snap.last
			hist.takeLog(t, ki, cur)
			unacked = append(unacked, snap.last-snap.acked)
			prevLast = snap.last
			if t.Failed() {
				t.Fatalf("kill %d: stopping; child stderr:\n%s", ki, tail(run.stderr.String(), 40))
			}
			ki++
			run = fx.start(t, cfg, snap.last)
			runs = append(runs, &syncRun{agentRun: run, from: snap.last + 1})
			storm = startStorm(t, run, rng, fullStorm)
		}
	}
	stormSum.add(storm.stop())
	streamTime := time.Since(streamStart)
	if stormSum.refused > 0 {
		t.Errorf("the live agent refused %d well-formed requests, first: %s", stormSum.refused, stormSum.firstRefusal)
	}

	// settle: everything closed, so that no input adds events, and wait
	// until the agent holds nothing unacked and the hub has it all, for
	// quiet on end
	for _, req := range [][2]string{{"/sim/door", `{"open":false}`}, {"/sim/rack", `{"rack":"R1","open":false}`},
		{"/sim/rack", `{"rack":"R2","open":false}`}} {
		if err := run.post(req[0], req[1]); err != nil {
			t.Fatalf("POST %s %s: %v", req[0], req[1], err)
		}
	}
	settleStart, settleSeq := time.Now(), prevLast
	prog = newProgress(stall)
	var (
		lastSeen    uint64
		settledFrom time.Time // of the settled state as it is now; zero while unsettled
	)
	waitfor.Until(t, backstop, "the settle", func() bool {
		var st struct {
			Seq uint64 `json:"seq"`
		}
		var evs []json.RawMessage
		if err := run.getJSON("/status", &st); err != nil {
			t.Fatalf("/status while settling: %v", err)
		}
		if err := run.getJSON("/events?after=0&limit=1", &evs); err != nil {
			t.Fatalf("/events while settling: %v", err)
		}
		through := hubs.through(epoch)
		prog.see(t, st.Seq+through, func() string {
			var first []struct {
				Seq  uint64 `json:"seq"`
				Type string `json:"type"`
			}
			_ = run.getJSON("/events?after=0&limit=5", &first)
			return fmt.Sprintf("the agent still holds unacked events (first: %+v), status seq %d, hub through %d; hub %+v\nagent:\n%s\nbroker:\n%s",
				first, st.Seq, through, hubs.stats(), tail(run.stderr.String(), 20), tail(broker.Log(), 20))
		})
		switch {
		case len(evs) != 0 || through != st.Seq || st.Seq != lastSeen:
			settledFrom = time.Time{}
		case settledFrom.IsZero():
			settledFrom = time.Now()
		}
		lastSeen = st.Seq
		return !settledFrom.IsZero() && time.Since(settledFrom) >= quiet
	})
	settled := time.Since(settleStart)

	// a clean stop, then the store as it was left
	if err := run.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-run.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent did not stop within 10s of SIGTERM\n%s", tail(run.stderr.String(), 40))
	}
	run.client.CloseIdleConnections()
	if run.err != nil {
		t.Errorf("the agent's clean stop ended with %v\n%s", run.err, tail(run.stderr.String(), 20))
	}
	snap := readSyncStore(t, fx.store, hist)
	if snap.epoch != epoch {
		t.Fatalf("epoch changed: %s, then %s", epoch, snap.epoch)
	}
	cur := runs[len(runs)-1]
	cur.to = snap.last
	hist.takeLog(t, len(runs)-1, cur)
	n := snap.last
	if snap.acked != n || len(snap.left) != 0 {
		t.Errorf("agent store after the settle: acked through %d, last seq %d, %d events left; want all acked", snap.acked, n, len(snap.left))
	}
	if n < total {
		t.Errorf("the agent stored %d events; want at least %d", n, total)
	}

	hubs.shutdown()
	is := hubs.stats()
	checkHubStore(t, hubs.path, epoch, n, hist, runs)
	if is.Malformed != 0 || is.StoreErrors != 0 {
		t.Errorf("the ingest refused input: %+v", is)
	}
	if is.Stored != n {
		t.Errorf("the ingests stored %d events in all; want %d, each once", is.Stored, n)
	}
	if len(runs)-1 < kills || hubs.restarts < ingestRestarts {
		t.Errorf("%d kills and %d ingest restarts; want at least %d and %d", len(runs)-1, hubs.restarts, kills, ingestRestarts)
	}

	t.Logf("%d events (epoch %s, seq 1..%d stored once each by the hub), %d SIGKILLs (unacked at each: %v), %d ingest restarts, in %v (build and keys %v, stream %v, settle %v from seq %d)",
		n, epoch, n, len(runs)-1, unacked, hubs.restarts, time.Since(began).Round(time.Millisecond),
		built.Round(time.Millisecond), streamTime.Round(time.Millisecond), settled.Round(time.Millisecond), settleSeq)
	t.Logf("duplicates dropped by the ingest (only on the wire): %d; ingest in all %+v", is.Duplicates, is)
	t.Logf("checked against the agent: %d events logged, %d read from its store after kills, %d relay movements, %d run starts; %d storm requests answered, %d cut by a kill",
		len(hist.logged), len(hist.stored), len(hist.relay), len(runs), stormSum.ok, stormSum.failed)
}

// backstop bounds a wait whose real bound is a progress: only a wait that
// the progress check let run on (it would be a bug of the test) ends here.
const backstop = 15 * time.Minute

// awaitSeq polls the agent's /status until due accepts its seq, and
// returns the seq; the agent exiting, or no progress (of the agent's seq
// and the events the hub stored) for prog's limit, fails t with state.
func awaitSeq(t *testing.T, run *agentRun, prog *progress, hubs *hubSupervisor, due func(uint64) bool, state func() string) uint64 {
	t.Helper()
	var seq uint64
	waitfor.Until(t, backstop, "the stream's next step", func() bool {
		var st struct {
			Seq uint64 `json:"seq"`
		}
		if err := run.getJSON("/status", &st); err != nil {
			select {
			case <-run.exited:
				t.Fatalf("the agent exited during the storm: %v\n%s", run.err, tail(run.stderr.String(), 40))
			default:
			}
		}
		seq = max(seq, st.Seq)
		hub := hubs.stats()
		prog.see(t, seq+hub.Stored, func() string { return fmt.Sprintf("agent seq %d, %s; hub %+v", seq, state(), hub) })
		return due(seq)
	})
	return seq
}

// progress fails a test when a count stops growing for longer than limit:
// a bound on a stretch without progress, which a loaded machine makes
// slower but does not end, where a deadline for the whole fails.
type progress struct {
	limit time.Duration
	last  uint64
	since time.Time
}

func newProgress(limit time.Duration) *progress { return &progress{limit: limit, since: time.Now()} }

// see takes the count n; when it has not grown for longer than limit, see
// fails t with what state says.
func (p *progress) see(t testing.TB, n uint64, state func() string) {
	t.Helper()
	if n > p.last {
		p.last, p.since = n, time.Now()
		return
	}
	if d := time.Since(p.since); d > p.limit {
		t.Fatalf("no progress for %v (count %d): %s", d.Round(time.Millisecond), n, state())
	}
}

// spreadThresholds returns n seqs in (5%, 90%) of total, one in each of n
// equal slots, at a random place in it: moments spread over the stream.
func spreadThresholds(rng *rand.Rand, n int, total uint64) []uint64 {
	lo, span := total/20, total*85/100/uint64(n)
	out := make([]uint64, n)
	for i := range out {
		out[i] = lo + uint64(i)*span + rng.Uint64N(span)
	}
	return out
}

// hubSupervisor runs the hub's side in this process: the ingest store, the
// ingest and its link on a persistent session, stopped and started again on
// the same file.
type hubSupervisor struct {
	t      *testing.T
	broker string
	path   string
	signer *permit.Signer // the hub's key, which signs the acks

	mu       sync.Mutex
	cur      *syncHub
	sum      ingest.Stats // of the ingests stopped
	restarts int          // starts after the first
	starts   int
	closed   bool
}

type syncHub struct {
	st     *ingest.Store
	in     *ingest.Ingest
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *hubSupervisor) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("hub: the test is over")
	}
	if s.cur != nil {
		return errors.New("hub: already running")
	}
	st, err := ingest.OpenStore(s.path)
	if err != nil {
		return err
	}
	in, err := ingest.New(st, ingest.Options{Signer: s.signer})
	if err != nil {
		st.Close()
		return err
	}
	lo := ingest.LinkOptions(mqttlink.Options{Broker: s.broker, ClientID: "hub-sync-crash",
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 250 * time.Millisecond}, "", false)
	link, err := mqttlink.New(lo, in.Handle)
	if err != nil {
		st.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &syncHub{st: st, in: in, cancel: cancel}
	h.wg.Go(func() {
		if err := link.Run(ctx); err != nil {
			s.t.Errorf("hub link: %v", err)
		}
	})
	h.wg.Go(func() {
		if err := in.Run(ctx, link); err != nil {
			s.t.Errorf("ingest: %v", err)
		}
	})
	s.cur = h
	if s.starts > 0 {
		s.restarts++
	}
	s.starts++
	return nil
}

// stop ends the ingest and its link at once, checks the file and closes
// it: what the link had taken and the ingest not stored is lost to this
// hub, and the agent publishes it again.
func (s *hubSupervisor) stop() {
	s.mu.Lock()
	h := s.cur
	s.cur = nil
	s.mu.Unlock()
	if h == nil {
		return
	}
	h.cancel()
	h.wg.Wait()
	if err := boltcheck.Check(h.st.DB()); err != nil {
		s.t.Errorf("ingest store: bbolt check: %v", err)
	}
	if err := h.st.Close(); err != nil {
		s.t.Errorf("ingest store: close: %v", err)
	}
	st := h.in.Stats()
	s.mu.Lock()
	addIngestStats(&s.sum, st)
	s.mu.Unlock()
}

// shutdown stops the hub for good.
func (s *hubSupervisor) shutdown() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
}

func (s *hubSupervisor) stats() ingest.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := s.sum
	if s.cur != nil {
		addIngestStats(&sum, s.cur.in.Stats())
	}
	return sum
}

// through is the hub's through for the door's epoch, 0 while it is down.
func (s *hubSupervisor) through(epoch string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || epoch == "" {
		return 0
	}
	n, err := s.cur.st.Through("demo", "server-room", epoch)
	if err != nil {
		s.t.Errorf("hub through: %v", err)
	}
	return n
}

func addIngestStats(a *ingest.Stats, b ingest.Stats) {
	a.Received += b.Received
	a.Malformed += b.Malformed
	a.Stored += b.Stored
	a.Duplicates += b.Duplicates
	a.Held += b.Held
	a.Dropped += b.Dropped
	a.Commits += b.Commits
	a.StoreErrors += b.StoreErrors
	a.Acks += b.Acks
	a.AckErrors += b.AckErrors
}

// syncRun is one life of the agent: it stored seqs from..to.
type syncRun struct {
	*agentRun
	from, to uint64
}

// loggedEvent is the agent's "event" log line, written after the event's
// commit: its seq and the fields it has set.
type loggedEvent struct {
	Seq                                               uint64
	Type                                              wire.EventType
	Reason                                            wire.Reason
	Reader, Permit, Escort, Staff, Rack, Card, Detail string
}

// agentHistory is what the agent said over all its lives: its log lines
// and the events read from its store after each kill, by seq.
type agentHistory struct {
	logged map[uint64]loggedEvent
	stored map[uint64]agent.Event
	relay  []relayLine
}

func newAgentHistory() *agentHistory {
	return &agentHistory{logged: map[uint64]loggedEvent{}, stored: map[uint64]agent.Event{}}
}

// takeLog reads the stderr of an ended run: every event and relay line,
// each within the run's seqs. The kill may cut the last line short; an
// error logged or a race report fails the test.
func (h *agentHistory) takeLog(t *testing.T, i int, r *syncRun) {
	t.Helper()
	out := r.stderr.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("run %d: the child reported a data race", i)
	}
	lines := strings.Split(out, "\n")
	next := "unlock" // movements alternate from the locked state of the start
	for j, l := range lines {
		if l == "" {
			continue
		}
		var rec struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Action string `json:"action"`
			loggedEvent
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			if j == len(lines)-1 || strings.HasPrefix(l, "WARNING: DATA RACE") || !strings.HasPrefix(l, "{") {
				continue
			}
			t.Errorf("run %d: stderr line %d is not JSON: %v: %s", i, j+1, err, l)
			continue
		}
		switch {
		case rec.Level == "ERROR":
			t.Errorf("run %d: the agent logged an error: %s", i, l)
		}
		if (rec.Msg == "event" || rec.Msg == "relay") && (rec.Seq < r.from || rec.Seq > r.to) {
			t.Errorf("run %d (seqs %d..%d): %s line with seq %d", i, r.from, r.to, rec.Msg, rec.Seq)
			continue
		}
		switch rec.Msg {
		case "event":
			if old, ok := h.logged[rec.Seq]; ok {
				t.Errorf("run %d: seq %d logged twice: %+v, then %+v", i, rec.Seq, old, rec.loggedEvent)
			}
			h.logged[rec.Seq] = rec.loggedEvent
		case "relay":
			if rec.Action != next {
				t.Errorf("run %d: relay %s at seq %d; want %s (movements alternate from locked)", i, rec.Action, rec.Seq, next)
			}
			if next = "lock"; rec.Action == "lock" {
				next = "unlock"
			}
			h.relay = append(h.relay, relayLine{Action: rec.Action, Seq: rec.Seq})
		}
	}
}

// syncStore is the agent's store as a run left it.
type syncStore struct {
	epoch       string
	last, acked uint64
	left        []uint64 // seqs still held, unacked
}

// readSyncStore opens the stopped agent's store read-only, checks it with
// bbolt, and checks its event log: every seq from acked+1 to the bucket's
// sequence held, nothing else, each event naming its own seq, id and the
// store's epoch. The events held go into hist.
func readSyncStore(t *testing.T, path string, hist *agentHistory) syncStore {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open the agent's store: %v", err)
	}
	defer db.Close()
	var s syncStore
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("agent store: bbolt check: %v", err)
		}
		meta := tx.Bucket([]byte("meta"))
		if meta == nil || meta.Get([]byte("epoch")) == nil {
			return errors.New("no meta bucket or epoch")
		}
		s.epoch = string(meta.Get([]byte("epoch")))
		if v := meta.Get([]byte("acked_through")); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("acked_through of %d bytes", len(v))
			}
			s.acked = binary.BigEndian.Uint64(v)
		}
		ev := tx.Bucket([]byte("events"))
		if ev == nil {
			return errors.New("no events bucket")
		}
		s.last = ev.Sequence()
		if s.acked > s.last {
			return fmt.Errorf("acked through %d, beyond the last seq %d", s.acked, s.last)
		}
		want := s.acked + 1
		err := ev.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("event key %x: want 8 bytes", k)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return fmt.Errorf("event log holds seq %d where %d is due (acked through %d)", seq, want, s.acked)
			}
			want++
			var e agent.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if e.Seq != seq || e.Epoch != s.epoch || e.ID != fmt.Sprintf("demo/server-room/%s/%d", s.epoch, seq) {
				return fmt.Errorf("event under key %d says seq %d, epoch %q, id %q (store epoch %s)", seq, e.Seq, e.Epoch, e.ID, s.epoch)
			}
			if old, ok := hist.stored[seq]; ok && !sameStored(old, e) {
				return fmt.Errorf("event %d changed in the store across a restart: %+v, then %+v", seq, old, e)
			}
			hist.stored[seq] = e
			s.left = append(s.left, seq)
			return nil
		})
		if err != nil {
			return err
		}
		if want != s.last+1 {
			return fmt.Errorf("event log ends at seq %d, the bucket's sequence is %d", want-1, s.last)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("agent store: %v", err)
	}
	return s
}

func sameStored(a, b agent.Event) bool {
	a.Replayed, b.Replayed = false, false
	return a.At.Equal(b.At) && a.Type == b.Type && a.MonoNS == b.MonoNS && a.Boot == b.Boot &&
		a.ClockSynced == b.ClockSynced && a.Reader == b.Reader && a.Permit == b.Permit && a.Escort == b.Escort &&
		a.Reason == b.Reason && a.Rack == b.Rack && a.Staff == b.Staff && a.Card == b.Card && a.Detail == b.Detail
}

// checkHubStore opens the hub's store after the ingest stopped and checks
// it against the agent: the door has one epoch, the agent's, holding
// exactly seqs 1..n, each with its own id; every event the agent logged or
// held in its store is there as it was; every run starts with
// agent.started; every relay movement follows its justifying event.
func checkHubStore(t *testing.T, path, epoch string, n uint64, hist *agentHistory, runs []*syncRun) {
	t.Helper()
	st, err := ingest.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.DB().View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("ingest store: bbolt check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Door("demo", "server-room")
	if err != nil {
		t.Fatal(err)
	}
	if want := []ingest.Epoch{{Epoch: epoch, Through: n}}; !slices.Equal(d.Epochs, want) {
		t.Errorf("hub's epochs of the door: %+v; want %+v", d.Epochs, want)
	}
	if through, err := st.Through("demo", "server-room", epoch); err != nil || through != n {
		t.Errorf("hub's through = %d, %v; want %d", through, err, n)
	}
	if tot, err := st.Total(); err != nil || tot != n {
		t.Errorf("hub's total = %d, %v; want %d", tot, err, n)
	}

	types := make(map[uint64]wire.EventType, n)
	var count uint64
	bad := 0
	fail := func(format string, a ...any) {
		if bad++; bad <= 20 {
			t.Errorf(format, a...)
		}
	}
	err = st.Walk("demo", "server-room", func(e ingest.Event) error {
		count++
		if e.Seq != count {
			return fmt.Errorf("hub's event #%d has seq %d: a gap or a duplicate", count, e.Seq)
		}
		if want := fmt.Sprintf("demo/server-room/%s/%d", epoch, e.Seq); e.ID != want || e.Epoch != epoch ||
			e.Site != "demo" || e.Door != "server-room" {
			fail("hub's event %d: id %q, epoch %q, door %s/%s; want id %q", e.Seq, e.ID, e.Epoch, e.Site, e.Door, want)
		}
		types[e.Seq] = e.Type
		if l, ok := hist.logged[e.Seq]; ok {
			got := loggedEvent{Seq: e.Seq, Type: e.Type, Reader: e.Reader, Permit: e.Permit, Escort: e.Escort,
				Staff: e.Staff, Reason: e.Reason, Rack: e.Rack, Card: e.Card, Detail: e.Detail}
			if got != l {
				fail("hub's event %d is %+v; the agent logged %+v", e.Seq, got, l)
			}
		}
		if a, ok := hist.stored[e.Seq]; ok {
			h := agent.Event{Type: e.Type, At: e.At, ClockSynced: e.ClockSynced, Boot: e.Boot, MonoNS: e.MonoNS,
				Reader: e.Reader, Permit: e.Permit, Escort: e.Escort, Reason: e.Reason, Rack: e.Rack,
				Staff: e.Staff, Card: e.Card, Detail: e.Detail}
			if !sameStored(h, a) {
				fail("hub's event %d is %+v; the agent's store held %+v", e.Seq, e, a)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("hub store: %v", err)
	}
	if count != n {
		t.Errorf("hub holds %d events of the door; want %d", count, n)
	}
	for seq := range hist.logged {
		if seq > n {
			t.Errorf("the agent logged seq %d, beyond its last %d", seq, n)
		}
	}
	for i, r := range runs {
		if typ := types[r.from]; typ != wire.EvStarted {
			t.Errorf("run %d starts at seq %d with %q; want %s", i, r.from, typ, wire.EvStarted)
		}
	}
	want := map[string]wire.EventType{"unlock": wire.EvUnlocked, "lock": wire.EvLocked}
	for _, l := range hist.relay {
		if typ := types[l.Seq]; want[l.Action] == "" || typ != want[l.Action] {
			fail("relay %s reported with seq %d, which the hub holds as %q", l.Action, l.Seq, typ)
		}
	}
	if len(hist.relay) == 0 {
		t.Errorf("no relay movement reported: the storm opened nothing, or the relay log line changed")
	}
	if bad > 20 {
		t.Errorf("... and %d more mismatches", bad-20)
	}
	byType := map[wire.EventType]int{}
	for _, typ := range types {
		byType[typ]++
	}
	t.Logf("hub's events by type: %v", byType)
}
