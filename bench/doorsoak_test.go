package bench

// The door soak of issue 12's "Must show": a door wired to a real
// Mosquitto by `kunci agent`'s own wiring (sync/agentsync), run in a
// process of its own (the test binary run again as the door, so that its
// RSS is the door's alone), for DOORSOAK (10 min in doorsoak.sh) while the
// hub is down: its persistent session was made before, and the broker
// queues the door's events for it, but nothing acks. Meanwhile
//   - a flood of DOORSOAK_RATE (1,000) malformed or refused messages a
//     second on the door's permits/<id> and cmd topics;
//   - a visit every DOORSOAK_EVERY (4 s): the guest's tap, the escort's
//     (the grant), the door open and shut, the guest's tap out, the door
//     open and shut; each followed by a bare fsync'd update on a file
//     beside the store (the stall benchmark's paired baseline);
//   - the backlog growing: the store starts with DOORSOAK_BACKLOG events
//     not yet acked, and its quota (DOORSOAK_MAX_EVENTS) is small, so
//     that the soak takes it through low and full.
//
// Then the hub comes back, takes what the broker queued for it, and acks;
// the soak checks that the hub holds every event of the door once, and
// every visit's safety events (its taps, escort.awaited, access.granted,
// door.unlocked, visit.entered, visit.exited, the door's moves) among
// them.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/agentsync"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// doorProcEnv, when set, makes the test binary the soak's door: its value
// is the doorProcConfig as JSON.
const doorProcEnv = "KUNCI_BENCH_DOOR_PROC"

// doorProcConfig is what the door's process is started with.
type doorProcConfig struct {
	Broker    string
	Store     string // a copy of a permits store, holding no events
	Permits   int    // permits in it
	MaxEvents uint64 // the store's quota
	Backlog   int    // events appended before the door starts, none acked
}

// doorSoakConfig is one soak.
type doorSoakConfig struct {
	dur       time.Duration // the soak, hub down
	every     time.Duration // a visit's pace
	rate      int           // flood messages a second
	maxEvents uint64
	backlog   int
	permits   int
	// atFull: go on past dur until this many visits ended with the store
	// full (the short test's way of reaching every level on any machine)
	atFull int
	limit  time.Duration // atFull's bound
}

func doorSoakConfigOf(tb testing.TB) doorSoakConfig {
	if v := os.Getenv("DOORSOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			tb.Fatalf("DOORSOAK=%q: want a duration such as 10m", v)
		}
		// the defaults fit 10 minutes at this pace: the flood's refusals
		// are stored at about 9 a second (coalesced) and the visits make
		// 17 events each, all safety events, so the store goes from
		// the low band (low at the first visit) to full after some 4
		// minutes, and the 1,600 events of the reserve hold the safety
		// events of the rest with room to spare
		return doorSoakConfig{dur: d, every: envDuration(tb, "DOORSOAK_EVERY", 4*time.Second),
			rate: envInt(tb, "DOORSOAK_RATE", garbageRate), maxEvents: uint64(envInt(tb, "DOORSOAK_MAX_EVENTS", 160_000)),
			backlog: envInt(tb, "DOORSOAK_BACKLOG", 155_000), permits: stallPermits}
	}
	// go test ./...: a few seconds, visits back to back, through low and
	// full, a few visits at full: 17 safety events each, within the
	// reserve of 500 with room for the one write that crosses into full
	// (a second's refusals may come in one, and are stored whole)
	return doorSoakConfig{every: time.Millisecond, rate: 300, maxEvents: 50_000,
		backlog: 44_500, permits: sanityN, atFull: 3, limit: time.Minute}
}

// resendMark is how many events the pump publishes during one visit and
// its bare update (17 events of its own, the status) beyond which the visit
// met the pump publishing again: a probe (256) or the log.
const resendMark = 200

// doorSoakResult is what the door's process saw during the soak.
type doorSoakResult struct {
	Visits, VisitsAtFull int
	Grants, Bares        []time.Duration
	// Resending: the pump published more than resendMark events during
	// the visit and its bare update: it was sending its log again
	Resending     []bool
	Elapsed       time.Duration
	LowAt, FullAt time.Duration // since the soak began; -1: not reached
	MaxLevel      agent.SpaceLevel
	MaxPending    uint64
	End           agent.Space
	StoreBytes    int64  // the store file's size at the end
	BacklogLast   uint64 // the newest seq of the backlog
	LastSeq       uint64
	Epoch         string
	// the door process's garbage collections and heap allocations over
	// the soak: what the flood's handling costs it
	GCCycles, AllocBytes uint64
	Traced               int                // slow visits written out by KUNCI_DOORSOAK_TRACE
	Metrics              map[string]float64 // the door's kunci_agent_ and kunci_mqtt_ samples
	Err                  string
}

// doorDrainResult is the door's way back: the hub acking all of the
// soak's events. Last and Acked are read once the door stopped: the door
// may store a few events after the soak (the refusals' summaries of the
// flood's last windows), which wait in its store if the hub had not acked
// them yet.
type doorDrainResult struct {
	Elapsed     time.Duration
	Last, Acked uint64
	Err         string
}

// runDoorProcess is the soak's door, run by TestMain when doorProcEnv is
// set. It prints "ready" once its link is up; then it answers "soak DUR
// EVERY ATFULL LIMIT" with a doorSoakResult and "drain SEQ LIMIT" (once
// the hub acked SEQ) with a doorDrainResult, one JSON line each; it stops
// the door, prints its store's newest and acked seq as a last
// doorDrainResult and exits when its input ends.
func runDoorProcess() error {
	var c doorProcConfig
	if err := json.Unmarshal([]byte(os.Getenv(doorProcEnv)), &c); err != nil {
		return fmt.Errorf("%s: %w", doorProcEnv, err)
	}
	recordOnce.Do(func() { record, recordErr = recordVisits() })
	if recordErr != nil {
		return recordErr
	}
	st, err := agent.OpenStore(c.Store, site, door)
	if err != nil {
		return err
	}
	st.SetQuota(agent.Quota{MaxEvents: c.MaxEvents})
	if err := record.fill(st, c.Backlog, fillBatch); err != nil {
		st.Close()
		return err
	}
	backlogLast, err := st.LastSeq()
	if err != nil {
		st.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := metrics.NewRegistry()
	rd, err := startDoorOn(ctx, st, reg)
	if err != nil {
		st.Close()
		return err
	}
	rd.lowSpaceOK = true
	s, err := agentsync.New(agentsync.Config{Link: mqttlink.Options{Broker: c.Broker, ClientID: "kunci-bench-soak-door"},
		Topics: syncTopics, Keys: keyring(), HomeAssistant: true, Racks: doorConfig().Racks, Version: "bench",
		Metrics: reg, Log: discardLog()}, rd.door, rd.store)
	if err != nil {
		return errors.Join(err, rd.stop())
	}
	g := lifecycle.New(ctx, lifecycle.Options{})
	s.Start(g)
	stop := func() error {
		g.Stop(nil)
		return errors.Join(g.Wait(), rd.stop())
	}
	w := &wiredDoor{runningDoor: rd, metrics: reg}
	if err := poll(15*time.Second, func() (bool, error) { return w.sample("kunci_mqtt_connected") == 1, nil }); err != nil {
		return errors.Join(fmt.Errorf("door link: %w", err), stop())
	}
	bare, err := bolt.Open(filepath.Join(filepath.Dir(c.Store), "bare.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return errors.Join(err, stop())
	}
	defer bare.Close()
	if err := bare.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bEvents)
		return err
	}); err != nil {
		return errors.Join(err, stop())
	}
	fmt.Println("ready")
	out := json.NewEncoder(os.Stdout)
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch {
		case len(f) == 5 && f[0] == "soak":
			dur, err1 := time.ParseDuration(f[1])
			every, err2 := time.ParseDuration(f[2])
			atFull, err3 := strconv.Atoi(f[3])
			limit, err4 := time.ParseDuration(f[4])
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				return errors.Join(err, stop())
			}
			r := soakDoor(ctx, w, bare, c.Store, c.Permits, dur, every, atFull, limit)
			r.BacklogLast, r.Epoch = backlogLast, st.Epoch()
			if err := out.Encode(r); err != nil {
				return errors.Join(err, stop())
			}
		case len(f) == 3 && f[0] == "drain":
			seq, err1 := strconv.ParseUint(f[1], 10, 64)
			limit, err2 := time.ParseDuration(f[2])
			if err := errors.Join(err1, err2); err != nil {
				return errors.Join(err, stop())
			}
			if err := out.Encode(drainDoor(st, seq, limit)); err != nil {
				return errors.Join(err, stop())
			}
		default:
			return errors.Join(fmt.Errorf("door process: %q?", lines.Text()), stop())
		}
	}
	if err := stop(); err != nil {
		return err
	}
	// stopped: the store is closed; read it as it was left
	end, err := agent.OpenStore(c.Store, site, door)
	if err != nil {
		return err
	}
	var r doorDrainResult
	r.Last, err = end.LastSeq()
	if err == nil {
		r.Acked, err = end.Acked()
	}
	if err := errors.Join(err, end.Close()); err != nil {
		return err
	}
	return out.Encode(r)
}

// soakDoor runs visits every every for dur (and on, up to limit, until
// atFull visits ended with the store full, and then until the full store
// refused an event), each followed by a bare update on bare, and notes the
// store's level after each.
func soakDoor(ctx context.Context, w *wiredDoor, bare *bolt.DB, store string, permits int, dur, every time.Duration, atFull int, limit time.Duration) doorSoakResult {
	r := doorSoakResult{LowAt: -1, FullAt: -1}
	clk := newBenchClock()
	rng := rand.New(rand.NewPCG(uint64(permits), 6))
	tick := time.NewTicker(every)
	defer tick.Stop()
	gc0 := readGC()
	fr, frDir, frSlow := soakTrace()
	var frLog io.Writer = io.Discard
	if fr != nil {
		if f, err := os.Create(filepath.Join(frDir, "visits.tsv")); err == nil {
			defer f.Close()
			frLog = f
		}
		if f, err := os.Create(filepath.Join(frDir, "allocs-start.pprof")); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		if f, err := os.Create(filepath.Join(frDir, "cpu.pprof")); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
				if f, err := os.Create(filepath.Join(frDir, "allocs.pprof")); err == nil {
					_ = pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}()
		}
	}
	start := time.Now()
	for {
		el := time.Since(start)
		if el >= dur && (r.VisitsAtFull >= atFull || el >= limit) {
			break
		}
		pub0 := w.sample("kunci_agent_outbox_published_total")
		lat, err := w.visit(ctx, rng.IntN(permits))
		if err != nil {
			r.Err = fmt.Sprintf("visit %d: %v", r.Visits+1, err)
			break
		}
		b, err := bareUpdate(bare, clk)
		if err != nil {
			r.Err = fmt.Sprintf("bare update: %v", err)
			break
		}
		if fr != nil && lat >= frSlow && r.Traced < 8 {
			r.Traced++
			if f, err := os.Create(filepath.Join(frDir, fmt.Sprintf("visit-%d-%dus.trace", r.Visits+1, lat.Microseconds()))); err == nil {
				_, _ = fr.WriteTo(f)
				f.Close()
			}
		}
		if fr != nil {
			fmt.Fprintf(frLog, "%d\t%.1f\t%d\t%d\t%s\n", r.Visits+1, time.Since(start).Seconds(), lat.Microseconds(), b.Microseconds(), w.store.Space().Level)
		}
		r.Visits++
		r.Grants, r.Bares = append(r.Grants, lat), append(r.Bares, b)
		r.Resending = append(r.Resending, w.sample("kunci_agent_outbox_published_total")-pub0 > resendMark)
		sp := w.store.Space()
		r.MaxLevel, r.MaxPending = max(r.MaxLevel, sp.Level), max(r.MaxPending, sp.Pending)
		if sp.Level >= agent.SpaceLow && r.LowAt < 0 {
			r.LowAt = time.Since(start)
		}
		if sp.Level == agent.SpaceFull {
			r.VisitsAtFull++
			if r.FullAt < 0 {
				r.FullAt = time.Since(start)
			}
		}
		select {
		case <-ctx.Done():
			r.Err = ctx.Err().Error()
			return r
		case <-tick.C:
		}
	}
	if atFull > 0 && r.Err == "" {
		// the visits' events are all kept while full; the flood's refusal
		// notes, written once a second, are what the full store refuses
		if err := poll(max(limit-time.Since(start), time.Second), func() (bool, error) {
			return w.sample("kunci_agent_events_refused_total") > 0, nil
		}); err != nil {
			r.Err = fmt.Sprintf("no refusal note refused with the store full: %v", err)
		}
	}
	r.Elapsed = time.Since(start)
	gc1 := readGC()
	r.GCCycles, r.AllocBytes = gc1[0]-gc0[0], gc1[1]-gc0[1]
	r.End = w.store.Space()
	if fi, err := os.Stat(store); err == nil {
		r.StoreBytes = fi.Size()
	}
	r.LastSeq, _ = w.store.LastSeq()
	r.Metrics = map[string]float64{}
	for line := range strings.Lines(string(w.metrics.Text())) {
		if strings.HasPrefix(line, "kunci_agent_") || strings.HasPrefix(line, "kunci_mqtt_") {
			if name, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
				r.Metrics[name], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return r
}

// drainDoor waits until the hub has acked st's events through seq.
func drainDoor(st *agent.Store, seq uint64, limit time.Duration) doorDrainResult {
	start := time.Now()
	err := poll(limit, func() (bool, error) {
		acked, err := st.Acked()
		return acked >= seq, err
	})
	r := doorDrainResult{Elapsed: time.Since(start)}
	r.Acked, _ = st.Acked()
	r.Last, _ = st.LastSeq()
	if err != nil {
		r.Err = fmt.Sprintf("acked %d of %d: %v", r.Acked, seq, err)
	}
	return r
}

// doorProc is the door's process, seen from the soak.
type doorProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	stop func()
	// end is its last line, read by stop
	end    doorDrainResult
	endErr error
}

func startDoorProc(tb testing.TB, c doorProcConfig) *doorProc {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), doorProcEnv+"="+string(j))
	cmd.Stderr = os.Stderr
	p := &doorProc{cmd: cmd}
	if p.in, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.out = bufio.NewScanner(out)
	p.out.Buffer(nil, 64<<20)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p.stop = sync.OnceFunc(func() {
		p.in.Close()
		line, err := p.line(time.Minute)
		if err == nil {
			err = json.Unmarshal([]byte(line), &p.end)
		}
		p.endErr = err
		if err := cmd.Wait(); err != nil {
			tb.Errorf("door process: %v", err)
		}
	})
	tb.Cleanup(p.stop)
	if line, err := p.line(time.Minute); err != nil || line != "ready" {
		tb.Fatalf("door process did not start: %q, %v", line, err)
	}
	return p
}

// line reads the next line of the door's output, waiting at most d.
func (p *doorProc) line(d time.Duration) (string, error) {
	ch := make(chan bool, 1)
	go func() { ch <- p.out.Scan() }()
	select {
	case ok := <-ch:
		if !ok {
			return "", errors.Join(errors.New("door process: no output"), p.out.Err())
		}
		return p.out.Text(), nil
	case <-time.After(d):
		p.cmd.Process.Kill()
		return "", fmt.Errorf("door process: nothing within %v", d)
	}
}

// ask sends the line cmd and decodes the answer into v.
func (p *doorProc) ask(cmd string, d time.Duration, v any) error {
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		return err
	}
	line, err := p.line(d)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(line), v)
}

// rssWatch samples a process's VmRSS once a second, and its anonymous
// part (RssAnon: the heap and stacks; the rest is mapped files, bbolt's
// pages among them, which the kernel can drop).
type rssWatch struct {
	mu        sync.Mutex
	max, last uint64 // KiB
	anonMax   uint64
	samples   int
	stop      func()
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			kb, err := procField(pid, "status", "VmRSS:")
			anon, aerr := procField(pid, "status", "RssAnon:")
			if err == nil && aerr == nil {
				w.mu.Lock()
				w.max, w.last, w.anonMax, w.samples = max(w.max, kb), kb, max(w.anonMax, anon), w.samples+1
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	w.stop = func() { cancel(); wg.Wait() }
	return w
}

// foreignKey signs the flood's refused records: a key the door does not
// pin.
var foreignKey = func() ed25519.PrivateKey {
	h := sha256.Sum256([]byte("kunci bench foreign key"))
	return ed25519.NewKeyFromSeed(h[:])
}()

// downlinkFlood returns the soak's flood: in turn a cut-off document on
// one of 5,000 permit topics, the same on the cmd topic, and a well-formed
// permit signed by a key the door does not trust on its own topic (one of
// 64): malformed, and refused.
func downlinkFlood() (floodMsg, error) {
	signed := make([][]byte, 64)
	for i := range signed {
		p := guestPermit(i)
		doc, err := permit.NewSigner(foreignKey).Sign(permit.KindPermit, &p)
		if err != nil {
			return nil, err
		}
		signed[i] = doc
	}
	cut := []byte(`{"kind":"permit","body":`)
	return func(i int64) (string, []byte) {
		switch i % 3 {
		case 0:
			return malformedPermit(i / 3)
		case 1:
			return syncTopics.Cmd(), cut
		}
		k := int(i/3) % len(signed)
		return syncTopics.Permit(permitID(k)), signed[k]
	}, nil
}

// doorSoak is one whole soak: its result, the door's drain, the door's
// RSS and what the hub stored afterwards.
type doorSoak struct {
	cfg          doorSoakConfig
	res          doorSoakResult
	drain        doorDrainResult
	end          doorDrainResult // the door's store once it stopped
	rssMax       uint64          // KiB, sampled once a second during the soak
	rssEnd       uint64
	rssHWM       uint64 // the kernel's peak, after the soak
	rssAnonMax   uint64
	brokerRSS    uint64        // KiB, when the soak ended: the hub's queue
	hubUp        time.Duration // from the hub's start until its link was up (subscribed)
	hubBack      time.Duration // from the hub's start until the soak's events were acked
	rssSamples   int
	floodSent    int
	hub          ingest.Stats
	hubEvents    int                    // events of the door the hub holds
	hubDupIDs    int                    // of them, ids seen twice
	hubSeqGaps   int                    // seqs 1..hubEvents the hub lacks
	types        map[wire.EventType]int // of the events after the backlog, at the hub
	safetyMissed []string
}

func runDoorSoak(tb testing.TB, c doorSoakConfig) doorSoak {
	tb.Helper()
	central := centralDir(tb)
	m := mqtttest.StartMosquittoIn(tb, filepath.Join(central, "broker"))
	defer m.Stop()
	hubPath := filepath.Join(central, "hub.db")
	// the hub's persistent session, made before it goes away: the broker
	// queues the door's events for it
	startSyncHub(tb, m.URL(), hubPath, ingest.Options{}, mqttlink.Options{}).stop()

	work := ownCopy(tb, c.permits)
	p := startDoorProc(tb, doorProcConfig{Broker: m.URL(), Store: work, Permits: c.permits,
		MaxEvents: c.maxEvents, Backlog: c.backlog})
	msg, err := downlinkFlood()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(tb.Context())
	defer cancel()
	sent, stopFlood, err := startFlood(ctx, m.URL(), c.rate, msg)
	if err != nil {
		tb.Fatal(err)
	}
	s := doorSoak{cfg: c}
	rss := watchRSS(p.cmd.Process.Pid)
	err = p.ask(fmt.Sprintf("soak %s %s %d %s", c.dur, c.every, c.atFull, max(c.limit, c.dur)), c.dur+max(c.limit, c.dur)+time.Minute, &s.res)
	rss.stop()
	s.floodSent = sent()
	stopFlood()
	if err != nil {
		tb.Fatalf("soak: %v", err)
	}
	if s.res.Err != "" {
		tb.Errorf("soak: %s", s.res.Err)
	}
	s.rssMax, s.rssEnd, s.rssAnonMax, s.rssSamples = rss.max, rss.last, rss.anonMax, rss.samples
	s.rssHWM, _ = procField(p.cmd.Process.Pid, "status", "VmHWM:")

	// the broker holds for the hub's session what the pump published:
	// its whole log again at each ack timeout (10 s, doubling to 5 min)
	if pid, err := brokerPID(m); err == nil {
		s.brokerRSS, _ = procField(pid, "status", "VmRSS:")
	}
	back := time.Now()
	// the broker hands the session its queue before the SUBACK
	h := startSyncHubWait(tb, m.URL(), hubPath, ingest.Options{}, mqttlink.Options{}, 10*time.Minute)
	s.hubUp = time.Since(back)
	if err := p.ask(fmt.Sprintf("drain %d 10m", s.res.LastSeq), 11*time.Minute, &s.drain); err != nil {
		tb.Fatalf("drain: %v", err)
	}
	if s.drain.Err != "" {
		tb.Errorf("drain: %s", s.drain.Err)
	}
	p.stop()
	if p.endErr != nil {
		tb.Fatalf("the door's end: %v", p.endErr)
	}
	s.end = p.end
	s.hubBack = time.Since(back)
	s.hub = h.in.Stats()
	s.checkHub(tb, h.st)
	h.stop()
	return s
}

// checkHub reads back what the hub stored of the door: every seq once,
// and every visit's safety events.
func (s *doorSoak) checkHub(tb testing.TB, st ingest.EventStore) {
	tb.Helper()
	ids := map[string]bool{}
	seqs := map[uint64]bool{}
	s.types = map[wire.EventType]int{}
	err := st.Walk(site, door, func(e ingest.Event) error {
		if e.Epoch != s.res.Epoch {
			return fmt.Errorf("event %s of another epoch than the door's %s", e.ID, s.res.Epoch)
		}
		s.hubEvents++
		if ids[e.ID] {
			s.hubDupIDs++
		}
		ids[e.ID], seqs[e.Seq] = true, true
		if e.Seq > s.res.BacklogLast {
			s.types[e.Type]++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	for q := uint64(1); q <= uint64(s.hubEvents); q++ {
		if !seqs[q] {
			s.hubSeqGaps++
		}
	}
	v := s.res.Visits
	for _, want := range []struct {
		t   wire.EventType
		n   int
		min bool // at least n: the door's start may add one
	}{{wire.EvTap, 3 * v, false}, {wire.EvEscortAwaited, v, false}, {wire.EvGranted, v, false}, {wire.EvUnlocked, 2 * v, false},
		{wire.EvVisitEntered, v, false}, {wire.EvVisitExited, v, false},
		{wire.EvOpened, 2 * v, false}, {wire.EvClosed, 2 * v, false}, {wire.EvSecured, v, true}} {
		if got := s.types[want.t]; got != want.n && !(want.min && got > want.n) {
			s.safetyMissed = append(s.safetyMissed, fmt.Sprintf("%s: %d stored, %d visits made %d", want.t, got, v, want.n))
		}
	}
}

// BenchmarkDoorSoak runs the door soak once (-benchtime=1x) and reports:
// grant-p50-us, grant-p99-us, bare-p50-us, bare-p99-us (the paired bare
// update) and visits; visits-resending (those during which the pump sent
// its log again, see resendMark), calm-grant-p99-us and calm-bare-p99-us
// (the others); store-MiB (the store file, mapped: it counts in the RSS); rss-max-MiB (sampled once a second),
// rss-hwm-MiB (the kernel's peak), rss-end-MiB and rss-anon-max-MiB (its
// anonymous part, sampled) of the door's process;
// the quota (max-events, reserve), the highest level reached (0 ok, 1
// low, 2 full), low-at-s and full-at-s (-1: never), pending-max and
// pending-end, refused (events not stored, the store full), downlink-
// refused (messages the downlink refused) and flood-sent; then, the hub
// back: drain-s, hub-events, hub-dup-ids, hub-seq-gaps (each should be
// the door's last seq, 0 and 0), safety-missed (visits' safety events the
// hub lacks: 0), taps-stored (3 a visit). published, ack-timeouts,
// probes and full-resends are the pump's during the soak (with no ack it
// publishes a probe again at each timeout, 10 s doubling to 5 min, the
// log again only when an ack says the hub lacks it), and
// hub-received and hub-duplicates what the hub then took from the
// broker's queue; broker-rss-MiB is Mosquitto's RSS when the soak ended
// (the queue), hub-up-s the hub's link coming up (the broker hands over the
// queue before the SUBACK), hub-back-s until the soak's events were
// acked, drain-s the part of it after the link was up.
func BenchmarkDoorSoak(b *testing.B) {
	c := doorSoakConfigOf(b)
	var s doorSoak
	for b.Loop() {
		s = runDoorSoak(b, c)
	}
	us := func(ds []time.Duration, p float64) float64 {
		d := slices.Clone(ds)
		slices.Sort(d)
		return float64(percentile(d, p)) / 1e3
	}
	r := s.res
	if len(r.Grants) == 0 {
		b.Fatal("no visit")
	}
	b.ReportMetric(us(r.Grants, 50), "grant-p50-us")
	b.ReportMetric(us(r.Grants, 99), "grant-p99-us")
	b.ReportMetric(us(r.Grants, 100), "grant-max-us")
	b.ReportMetric(us(r.Bares, 50), "bare-p50-us")
	b.ReportMetric(us(r.Bares, 99), "bare-p99-us")
	b.ReportMetric(float64(r.Visits), "visits")
	var calmG, calmB []time.Duration
	for i, re := range r.Resending {
		if !re {
			calmG, calmB = append(calmG, r.Grants[i]), append(calmB, r.Bares[i])
		}
	}
	b.ReportMetric(float64(r.Visits-len(calmG)), "visits-resending")
	if len(calmG) > 0 {
		b.ReportMetric(us(calmG, 99), "calm-grant-p99-us")
		b.ReportMetric(us(calmB, 99), "calm-bare-p99-us")
	}
	b.ReportMetric(float64(r.StoreBytes)/(1<<20), "store-MiB")
	b.ReportMetric(r.Elapsed.Seconds(), "soak-s")
	b.ReportMetric(float64(r.GCCycles)/r.Elapsed.Seconds(), "gc-per-s")
	b.ReportMetric(float64(r.AllocBytes)/r.Elapsed.Seconds()/(1<<20), "alloc-MiB-per-s")
	b.ReportMetric(float64(s.rssMax)/1024, "rss-max-MiB")
	b.ReportMetric(float64(s.rssHWM)/1024, "rss-hwm-MiB")
	b.ReportMetric(float64(s.rssEnd)/1024, "rss-end-MiB")
	b.ReportMetric(float64(s.rssAnonMax)/1024, "rss-anon-max-MiB")
	b.ReportMetric(float64(r.End.MaxEvents), "max-events")
	b.ReportMetric(float64(r.End.Reserve), "reserve")
	b.ReportMetric(float64(s.cfg.backlog), "backlog")
	b.ReportMetric(float64(r.MaxLevel), "level-max")
	b.ReportMetric(secsOrNever(r.LowAt), "low-at-s")
	b.ReportMetric(secsOrNever(r.FullAt), "full-at-s")
	b.ReportMetric(float64(r.VisitsAtFull), "visits-at-full")
	b.ReportMetric(float64(r.MaxPending), "pending-max")
	b.ReportMetric(float64(r.End.Pending), "pending-end")
	b.ReportMetric(r.Metrics["kunci_agent_events_refused_total"], "refused")
	b.ReportMetric(sumPrefix(r.Metrics, "kunci_agent_downlink_rejected_total"), "downlink-refused")
	b.ReportMetric(r.Metrics["kunci_mqtt_dropped_total"], "mqtt-dropped")
	b.ReportMetric(float64(s.floodSent)/r.Elapsed.Seconds(), "flood-per-s")
	b.ReportMetric(float64(r.LastSeq-r.BacklogLast), "soak-events")
	b.ReportMetric(r.Metrics["kunci_agent_outbox_published_total"], "published")
	b.ReportMetric(r.Metrics["kunci_agent_outbox_ack_timeouts_total"], "ack-timeouts")
	b.ReportMetric(r.Metrics["kunci_agent_outbox_probes_total"], "probes")
	b.ReportMetric(r.Metrics["kunci_agent_outbox_full_resends_total"], "full-resends")
	b.ReportMetric(float64(s.hub.Received), "hub-received")
	b.ReportMetric(float64(s.hub.Duplicates), "hub-duplicates")
	b.ReportMetric(s.drain.Elapsed.Seconds(), "drain-s")
	b.ReportMetric(s.hubUp.Seconds(), "hub-up-s")
	b.ReportMetric(s.hubBack.Seconds(), "hub-back-s")
	b.ReportMetric(float64(s.brokerRSS)/1024, "broker-rss-MiB")
	b.ReportMetric(float64(r.LastSeq), "last-seq")
	b.ReportMetric(float64(s.hubEvents), "hub-events")
	b.ReportMetric(float64(s.hubDupIDs), "hub-dup-ids")
	b.ReportMetric(float64(s.hubSeqGaps), "hub-seq-gaps")
	b.ReportMetric(float64(len(s.safetyMissed)), "safety-missed")
	b.ReportMetric(float64(s.types[wire.EvTap]), "taps-stored")
	b.ReportMetric(float64(s.end.Last-r.LastSeq), "events-after-soak")
	for _, m := range s.safetyMissed {
		b.Error(m)
	}
	if err := s.delivered(); err != nil {
		b.Error(err)
	}
}

// delivered reports whether the hub holds the door's events 1..n once
// each, n at least the soak's last seq, and the door kept every event
// after n: it acked no more than the hub stored.
func (s *doorSoak) delivered() error {
	n := uint64(s.hubEvents)
	if s.hubDupIDs != 0 || s.hubSeqGaps != 0 || n < s.res.LastSeq || n > s.end.Last || s.end.Acked > n {
		return fmt.Errorf("hub holds %d events (%d ids twice, %d seqs missing); the door's last seq was %d after the soak, "+
			"%d when it stopped, acked through %d", n, s.hubDupIDs, s.hubSeqGaps, s.res.LastSeq, s.end.Last, s.end.Acked)
	}
	return nil
}

func secsOrNever(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return d.Seconds()
}

// sumPrefix sums the samples whose names start with prefix (every label).
func sumPrefix(m map[string]float64, prefix string) float64 {
	var n float64
	for k, v := range m {
		if k == prefix || strings.HasPrefix(k, prefix+"{") {
			n += v
		}
	}
	return n
}

// TestDoorSoak takes the door soak through in a few seconds, checking
// what it shows and nothing of its timing: the flood is refused and
// counted; the store goes low, then full, and while full the door refuses
// (counts) the flood's refusal notes but stores every visit's events, and
// stays inside its quota; the door's RSS was read; and once the hub is back it holds
// every event of the door once, in order, with no gap.
func TestDoorSoak(t *testing.T) {
	c := doorSoakConfigOf(t)
	s := runDoorSoak(t, c)
	r := s.res
	if r.Visits == 0 || len(r.Grants) != r.Visits {
		t.Fatalf("%d visits, %d grants timed", r.Visits, len(r.Grants))
	}
	if r.MaxLevel != agent.SpaceFull || r.LowAt < 0 || r.FullAt < r.LowAt || r.VisitsAtFull < c.atFull {
		t.Errorf("levels: max %s, low at %v, full at %v, %d visits at full; want low, then full, %d visits at full",
			r.MaxLevel, r.LowAt, r.FullAt, r.VisitsAtFull, c.atFull)
	}
	if r.MaxPending > r.End.MaxEvents || r.End.Pending > r.End.MaxEvents {
		t.Errorf("store over its quota: %d pending at most, %d at the end, quota %d; stored after the backlog: %v", r.MaxPending, r.End.Pending, r.End.MaxEvents, s.types)
	}
	if r.Metrics["kunci_agent_events_refused_total"] == 0 {
		t.Errorf("no event refused with the store full: %v", r.Metrics)
	}
	if s.types[wire.EvStoreLowSpace] != 2 {
		t.Errorf("%d store.low_space events, want 2 (low, then full)", s.types[wire.EvStoreLowSpace])
	}
	if sumPrefix(r.Metrics, "kunci_agent_downlink_rejected_total") == 0 || s.floodSent == 0 {
		t.Errorf("flood: %d sent, %v refused", s.floodSent, sumPrefix(r.Metrics, "kunci_agent_downlink_rejected_total"))
	}
	if s.rssSamples == 0 || s.rssHWM == 0 {
		t.Errorf("the door's RSS was not read: %d samples, peak %d KiB", s.rssSamples, s.rssHWM)
	}
	for _, m := range s.safetyMissed {
		t.Error(m)
	}
	if err := s.delivered(); err != nil {
		t.Error(err)
	}
	if s.drain.Acked < r.LastSeq {
		t.Errorf("the hub acked through %d, want at least %d", s.drain.Acked, r.LastSeq)
	}
}

// soakTrace starts a flight recorder when KUNCI_DOORSOAK_TRACE names a
// directory ("DIR" or "DIR:SLOW", SLOW a duration, 3ms by default): the
// soak then writes the last seconds of the door process's execution trace
// there after each of its first 8 visits whose grant took SLOW or more,
// for go tool trace. A way to see what a slow grant waited for.
func soakTrace() (*trace.FlightRecorder, string, time.Duration) {
	v := os.Getenv("KUNCI_DOORSOAK_TRACE")
	if v == "" {
		return nil, "", 0
	}
	dir, slow := v, 3*time.Millisecond
	if d, s, ok := strings.Cut(v, ":"); ok {
		if t, err := time.ParseDuration(s); err == nil {
			dir, slow = d, t
		}
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 2 * time.Second, MaxBytes: 32 << 20})
	if err := os.MkdirAll(dir, 0o755); err != nil || fr.Start() != nil {
		return nil, "", 0
	}
	return fr, dir, slow
}

// readGC returns the process's garbage collections and bytes allocated
// on the heap so far.
func readGC() [2]uint64 {
	ms := []rtmetrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(ms)
	var r [2]uint64
	for i, m := range ms {
		if m.Value.Kind() == rtmetrics.KindUint64 {
			r[i] = m.Value.Uint64()
		}
	}
	return r
}
