//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/syncbuf"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// The hub soak of the hub-hardening issue: the real `kunci hub` binary on
// a Mosquitto of its own, its API attacked from loopback while doors send
// their events, and the hub watched from outside: /healthz and an API read
// timed from an address the attackers do not use, the hub's RSS read from
// /proc, and at the end every door's events read back from its store.
//
// The attackers:
//   - slow clients: each opens a connection, sends a request's head with
//     Content-Length: 100000 and then one byte of body every few seconds;
//     when the hub closes it, it opens another;
//   - watchers that never read: GET /api/watch with a token, and nothing
//     read after;
//   - one door's credential sending made-up epochs out of order, with a
//     large detail, as fast as the broker takes them.
//
// Both HTTP attackers come from soakSources loopback addresses (Linux
// routes all of 127/8 to lo), the probe from another one: a limit per
// client then limits the attackers, not the probe. Against as many
// attacking addresses as the hub allows connections in all, no limit can
// tell the probe from them; SECURITY.md says so.
const soakEnv = "KUNCI_BENCH_SOAK" // the soak's length; unset: the short run of go test

const soakSources = 8

type soakConfig struct {
	dur       time.Duration // attack and traffic
	quiet     time.Duration // probes before the attack: the baseline
	slow      int           // slow HTTP clients
	watchers  int           // watchers that never read
	doors     int           // doors with normal traffic
	doorEvery time.Duration // a door's pace: one event every doorEvery
	evilRate  int           // out-of-order events a second from one door's credential
	probe     time.Duration // time between two probes
}

func soakConfigOf(tb testing.TB) soakConfig {
	if v := os.Getenv(soakEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			tb.Fatalf("%s=%q: want a duration such as 10m", soakEnv, v)
		}
		return soakConfig{dur: d, quiet: 20 * time.Second, slow: envInt(tb, "SOAK_SLOW", 2000),
			watchers: envInt(tb, "SOAK_WATCHERS", 200), doors: envInt(tb, "SOAK_DOORS", 100),
			doorEvery: envDuration(tb, "SOAK_DOOR_EVERY", time.Second), evilRate: envInt(tb, "SOAK_EVIL_RATE", 1000),
			probe: 100 * time.Millisecond}
	}
	// go test ./...: the harness kept working, a few seconds
	return soakConfig{dur: 4 * time.Second, quiet: time.Second, slow: 64, watchers: 8, doors: 4,
		doorEvery: 50 * time.Millisecond, evilRate: 200, probe: 50 * time.Millisecond}
}

// soakResult is what a soak saw.
type soakResult struct {
	quietHealth, quietAPI latencies // before the attack
	health, api           latencies // during it
	probeFailures         []string  // probes that failed, during the attack
	rssMax, rssEnd        uint64    // KiB
	published             int       // the doors' events, each acked
	stored                int       // of them, read back from the hub's store
	slowConns             int64     // connections the slow clients opened
	slowRefused           int64     // of them, closed before the head was sent, or dials refused
	slowHeldMax           time.Duration
	slowOpenAtEnd         int64 // slow connections the hub had not closed when the soak ended
	watchersUp            int64 // watch streams answered 200
	evilSent              int64
	metrics               map[string]float64 // the hub's, at the end
}

type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// soakHub is a `kunci hub` process.
type soakHub struct {
	cmd           *exec.Cmd
	done          chan struct{}
	addr          string
	admin, viewer string
	events        string // its events store
	log           syncbuf.Buffer
}

func buildKunciBin(tb testing.TB, dir string) string {
	tb.Helper()
	bin := filepath.Join(dir, "kunci")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/kunci").CombinedOutput(); err != nil {
		tb.Fatalf("go build ../cmd/kunci: %v\n%s", err, out)
	}
	return bin
}

func startSoakHub(tb testing.TB, dir, bin, broker string, doors []topic.Door) *soakHub {
	tb.Helper()
	keys := filepath.Join(dir, "keys")
	if out, err := exec.Command(bin, "keygen", "--out", keys).CombinedOutput(); err != nil {
		tb.Fatalf("kunci keygen: %v\n%s", err, out)
	}
	privs, _ := filepath.Glob(filepath.Join(keys, "hub-*.key"))
	if len(privs) != 1 {
		tb.Fatalf("keygen wrote %v", privs)
	}
	names := make([]string, len(doors))
	for i, d := range doors {
		names[i] = fmt.Sprintf("%q", d.Site+"/"+d.Door)
	}
	h := &soakHub{addr: fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(tb)), events: filepath.Join(dir, "hub-events.db"),
		done: make(chan struct{})}
	cfg := filepath.Join(dir, "hub.yaml")
	yaml := fmt.Sprintf("listen: %q\nstore: %q\nevents_store: %q\nadmin_token_file: %q\nsigning_key: %q\n"+
		"site_keys: {%s: %q}\ndoors: [%s]\nmqtt: {broker: %q}\n",
		h.addr, filepath.Join(dir, "hub.db"), h.events, filepath.Join(dir, "admin.token"), privs[0],
		site, filepath.Join(keys, "site.key"), strings.Join(names, ", "), broker)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	h.cmd = exec.Command(bin, "hub", "--config", cfg)
	h.cmd.Stderr = &h.log
	if err := h.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { h.cmd.Wait(); close(h.done) }()
	tb.Cleanup(func() { h.cmd.Process.Kill(); <-h.done })
	anyone, err := client.New("http://"+h.addr, "")
	if err != nil {
		tb.Fatal(err)
	}
	if err := poll(30*time.Second, func() (bool, error) {
		select {
		case <-h.done:
			return false, fmt.Errorf("kunci hub exited: %s", h.logText())
		default:
		}
		return anyone.Health(context.Background()) == nil, nil
	}); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		tb.Fatal(err)
	}
	h.admin = strings.TrimSpace(string(b))
	adm, err := client.New("http://"+h.addr, h.admin)
	if err != nil {
		tb.Fatal(err)
	}
	nt, err := adm.AddToken(context.Background(), api.TokenRequest{Name: "soak-viewer", Roles: []string{"viewer"}})
	if err != nil {
		tb.Fatal(err)
	}
	h.viewer = nt.Token
	return h
}

func (h *soakHub) logText() string { return h.log.String() }

// loopbackSource is the i-th attacking address: 127.0.1.1 and on.
func loopbackSource(i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%soakSources))}
}

// slowClient sends request heads whose body never comes, one after the
// other, until ctx ends.
func slowClient(ctx context.Context, i int, addr string, r *soakResult, heldMax *atomic.Int64) {
	d := net.Dialer{LocalAddr: loopbackSource(i), Timeout: 5 * time.Second}
	paths := []string{"/healthz", "/api/permits", "/api/staff"}
	for n := 0; ctx.Err() == nil; n++ {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			atomic.AddInt64(&r.slowRefused, 1)
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		atomic.AddInt64(&r.slowConns, 1)
		opened := time.Now()
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
			paths[n%len(paths)])
		if _, err := io.WriteString(c, head); err != nil {
			atomic.AddInt64(&r.slowRefused, 1)
			c.Close()
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		closed := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(closed) }() // the hub's answer, or its close
		tick := time.NewTicker(3 * time.Second)
	trickle:
		for {
			select {
			case <-ctx.Done():
				break trickle
			case <-closed:
				break trickle
			case <-tick.C:
				if _, err := io.WriteString(c, " "); err != nil {
					break trickle
				}
			}
		}
		tick.Stop()
		// a connection still open when the soak ends counts as held
		// until then
		if ctx.Err() != nil {
			atomic.AddInt64(&r.slowOpenAtEnd, 1)
		}
		held := int64(time.Since(opened))
		for old := heldMax.Load(); held > old && !heldMax.CompareAndSwap(old, held); old = heldMax.Load() {
		}
		c.Close()
		<-closed
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// lazyWatcher opens a watch stream and reads nothing of it.
func lazyWatcher(ctx context.Context, i int, addr, token string, r *soakResult) {
	d := net.Dialer{LocalAddr: loopbackSource(i), Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /api/watch HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n\r\n", token)
	// the status line, then nothing more
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
	if err == nil && strings.Contains(line, " 200 ") {
		atomic.AddInt64(&r.watchersUp, 1)
	}
	<-ctx.Done()
}

// evilDoor publishes events of made-up epochs with seqs far ahead, each
// with a large detail, at rate a second.
func evilDoor(ctx context.Context, tb testing.TB, broker string, g hubGen, rate int, sent *atomic.Int64) {
	l, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "soak-evil", CleanSession: true, Log: discardLog()}, nil)
	if err != nil {
		tb.Error(err)
		return
	}
	up := l.NextConnection()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { l.Run(lctx) })
	select {
	case <-up:
	case <-ctx.Done():
		return
	}
	t := topic.Door{Prefix: topic.DefaultPrefix, Site: site, Door: "evil"}
	detail := strings.Repeat("x", 15000)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := max(1, rate/100)
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := 0; ctx.Err() == nil; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range per {
			e := g.event(0, n%len(g.visit))
			e.Site, e.Door = t.Site, t.Door
			e.Epoch = fmt.Sprintf("%06x", rnd.Uint32()&0xffffff)
			e.Seq = 2 + uint64(rnd.IntN(4096))
			e.ID = fmt.Sprintf("%s/%s/%s/%d", t.Site, t.Door, e.Epoch, e.Seq)
			if n%2 == 0 {
				e.Detail = detail
			}
			p, _ := json.Marshal(e)
			l.Publish(t.Events(), 0, false, p)
			n++
			sent.Add(1)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// soakDoors run the doors' normal traffic: each publishes its events in
// order at its pace (QoS 1, waiting for each PUBACK) and takes its acks.
type soakDoors struct {
	g         hubGen
	links     []*mqttlink.Link
	published []atomic.Int64
	acked     []atomic.Uint64
}

func startSoakDoors(tb testing.TB, broker string, g hubGen) *soakDoors {
	tb.Helper()
	s := &soakDoors{g: g, published: make([]atomic.Int64, g.doors), acked: make([]atomic.Uint64, g.doors)}
	for d := range g.doors {
		t := g.door(d)
		l, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "soak-" + t.Door, CleanSession: true,
			Subscriptions: map[string]byte{t.EventsAck(): 1}, Log: discardLog()}, func(m mqttlink.Message) {
			var a struct {
				Epoch   string `json:"epoch"`
				Through uint64 `json:"through"`
			}
			if json.Unmarshal(m.Payload, &a) == nil && a.Epoch == hubEpoch {
				for old := s.acked[d].Load(); a.Through > old && !s.acked[d].CompareAndSwap(old, a.Through); old = s.acked[d].Load() {
				}
			}
		})
		if err != nil {
			tb.Fatal(err)
		}
		s.links = append(s.links, l)
	}
	runLinks(tb, s.links...)
	return s
}

func (s *soakDoors) run(ctx context.Context, tb testing.TB, every time.Duration) {
	var wg sync.WaitGroup
	for d, l := range s.links {
		wg.Go(func() {
			t := s.g.door(d).Events()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				p, _ := json.Marshal(s.g.event(d, i))
				// a door sends its events again until acked; here the
				// broker is up, and a PUBACK is enough to go on. The
				// wait outlives the soak: a publish under way when it
				// ends still counts once the broker has it
				wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := mqttlink.Wait(wctx, l.Publish(t, 1, false, p))
				cancel()
				if err != nil {
					tb.Errorf("door %d: event %d not published: %v", d, i+1, err)
					return
				}
				s.published[d].Add(1)
			}
		})
	}
	wg.Wait()
}

// probe times /healthz and one API read every interval until ctx ends.
func probe(ctx context.Context, addr, token string, every time.Duration, health, apiLat *latencies, failures *[]string) {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, 1)}}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(path string) (time.Duration, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s", resp.Status)
		}
		return time.Since(start), err
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, p := range []struct {
			path string
			lat  *latencies
		}{{"/healthz", health}, {"/api/doors", apiLat}} {
			d, err := get(p.path)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				*failures = append(*failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), p.path, err))
				continue
			}
			*p.lat = append(*p.lat, d)
		}
	}
}

// runSoak runs one soak of c against a fresh hub in dir.
func runSoak(tb testing.TB, dir string, c soakConfig) soakResult {
	tb.Helper()
	bin := buildKunciBin(tb, dir)
	broker := mqtttest.StartMosquitto(tb)
	g := newHubGen(tb, c.doors)
	doorTopics := make([]topic.Door, c.doors)
	for d := range doorTopics {
		doorTopics[d] = g.door(d)
	}
	h := startSoakHub(tb, dir, bin, broker.URL(), doorTopics)
	var r soakResult

	// RSS, every half second from the start
	rssCtx, rssStop := context.WithCancel(context.Background())
	var rssWG sync.WaitGroup
	rssWG.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb, err := procField(h.cmd.Process.Pid, "status", "VmRSS:"); err == nil {
				r.rssMax = max(r.rssMax, kb)
				r.rssEnd = kb
			}
			select {
			case <-rssCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	defer func() { rssStop(); rssWG.Wait() }()

	// the baseline: the probes on the quiet hub
	var quietFail []string
	qctx, qcancel := context.WithTimeout(context.Background(), c.quiet)
	probe(qctx, h.addr, h.viewer, c.probe, &r.quietHealth, &r.quietAPI, &quietFail)
	qcancel()
	if len(quietFail) > 0 {
		tb.Fatalf("the quiet hub failed %d probes: %v", len(quietFail), quietFail[:min(5, len(quietFail))])
	}

	doors := startSoakDoors(tb, broker.URL(), g)
	ctx, cancel := context.WithTimeout(context.Background(), c.dur)
	defer cancel()
	var wg sync.WaitGroup
	var heldMax atomic.Int64
	var evilSent atomic.Int64
	for i := range c.slow {
		wg.Go(func() { slowClient(ctx, i, h.addr, &r, &heldMax) })
	}
	for i := range c.watchers {
		wg.Go(func() { lazyWatcher(ctx, i, h.addr, h.viewer, &r) })
	}
	wg.Go(func() { evilDoor(ctx, tb, broker.URL(), g, c.evilRate, &evilSent) })
	wg.Go(func() { doors.run(ctx, tb, c.doorEvery) })
	probe(ctx, h.addr, h.viewer, c.probe, &r.health, &r.api, &r.probeFailures)
	wg.Wait()
	r.slowHeldMax = time.Duration(heldMax.Load())
	r.evilSent = evilSent.Load()

	// every door's last event acked: the hub stored them all
	if err := poll(60*time.Second, func() (bool, error) {
		for d := range doors.links {
			if doors.acked[d].Load() < uint64(doors.published[d].Load()) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		for d := range doors.links {
			tb.Logf("door %d: published %d, acked through %d", d, doors.published[d].Load(), doors.acked[d].Load())
		}
		tb.Fatalf("the doors' events were not all acked: %v\nhub log:\n%s", err, h.logText())
	}
	adm, err := client.New("http://"+h.addr, h.admin)
	if err != nil {
		tb.Fatal(err)
	}
	if r.metrics, err = adm.Metrics(context.Background()); err != nil {
		tb.Logf("the hub's metrics: %v", err)
	}
	rssStop()
	rssWG.Wait()
	h.cmd.Process.Signal(os.Interrupt)
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		tb.Fatalf("kunci hub did not stop on SIGINT")
	}

	// read back: each door's events, seq 1 to what it published, once each
	st, err := ingest.OpenStore(h.events)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	for d := range doors.links {
		t, want := g.door(d), int(doors.published[d].Load())
		evs, err := st.Events(t.Site, t.Door, hubEpoch, 0, want+10)
		if err != nil {
			tb.Fatal(err)
		}
		ids := map[string]bool{}
		for i, e := range evs {
			if e.Seq != uint64(i+1) || ids[e.ID] {
				tb.Errorf("door %s: event %d is seq %d (id %s, seen before: %v)", t.Door, i, e.Seq, e.ID, ids[e.ID])
				break
			}
			ids[e.ID] = true
		}
		if len(evs) != want {
			tb.Errorf("door %s: %d events stored, %d published and acked", t.Door, len(evs), want)
		}
		r.published += want
		r.stored += len(evs)
	}
	evilStored, err := st.Door(site, "evil")
	if err == nil {
		for _, ep := range evilStored.Epochs {
			if ep.Through > 0 {
				tb.Errorf("the made-up epoch %s stored events through %d", ep.Epoch, ep.Through)
			}
		}
	}
	return r
}

func (r soakResult) report(tb testing.TB, c soakConfig) {
	tb.Logf("soak of %v: %d slow clients, %d watchers, %d doors at one event per %v, %d out-of-order events/s",
		c.dur, c.slow, c.watchers, c.doors, c.doorEvery, c.evilRate)
	tb.Logf("quiet: /healthz p50 %v p99 %v; /api/doors p50 %v p99 %v (%d probes)", r.quietHealth.pct(0.5),
		r.quietHealth.pct(0.99), r.quietAPI.pct(0.5), r.quietAPI.pct(0.99), len(r.quietHealth))
	tb.Logf("soak: /healthz p50 %v p99 %v max %v; /api/doors p50 %v p99 %v max %v (%d probes, %d failed)",
		r.health.pct(0.5), r.health.pct(0.99), r.health.pct(1), r.api.pct(0.5), r.api.pct(0.99), r.api.pct(1),
		len(r.health), len(r.probeFailures))
	tb.Logf("hub RSS max %.1f MiB, at the end %.1f MiB", float64(r.rssMax)/1024, float64(r.rssEnd)/1024)
	tb.Logf("slow clients: %d connections, %d refused, held at most %v, %d open at the end; watchers answered: %d; out-of-order sent: %d",
		r.slowConns, r.slowRefused, r.slowHeldMax.Round(time.Millisecond), r.slowOpenAtEnd, r.watchersUp, r.evilSent)
	tb.Logf("doors: %d events published and acked, %d stored once each", r.published, r.stored)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.metrics {
			if !yield(k) {
				return
			}
		}
	}) {
		if strings.Contains(k, "dropped") || strings.Contains(k, "refused") || strings.Contains(k, "malformed") ||
			strings.Contains(k, "held") || strings.Contains(k, "watch") || strings.Contains(k, "conn") {
			tb.Logf("  %s %g", k, r.metrics[k])
		}
	}
	for _, f := range r.probeFailures[:min(10, len(r.probeFailures))] {
		tb.Logf("probe failed: %s", f)
	}
}

// TestHubSoak is the short soak of go test: the harness runs, the hub
// survives it, and every door's event is stored once.
func TestHubSoak(t *testing.T) {
	if os.Getenv(soakEnv) != "" {
		t.Skip("the full soak runs as BenchmarkHubSoak (bench/soak.sh)")
	}
	c := soakConfigOf(t)
	r := runSoak(t, t.TempDir(), c)
	r.report(t, c)
	if len(r.probeFailures) > 0 {
		t.Errorf("%d probes failed during the soak", len(r.probeFailures))
	}
	if r.slowConns == 0 || r.evilSent == 0 || r.published == 0 {
		t.Errorf("the soak did not run: %d slow connections, %d out-of-order events, %d door events",
			r.slowConns, r.evilSent, r.published)
	}
}

// BenchmarkHubSoak is the soak of the issue, KUNCI_BENCH_SOAK long
// (bench/soak.sh: 10m). Its metrics: the probes' p99 before and during
// the attack, the hub's RSS, and the events.
func BenchmarkHubSoak(b *testing.B) {
	if os.Getenv(soakEnv) == "" {
		b.Skipf("set %s=10m (bench/soak.sh)", soakEnv)
	}
	c := soakConfigOf(b)
	for b.Loop() {
		r := runSoak(b, b.TempDir(), c)
		r.report(b, c)
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		b.ReportMetric(ms(r.quietHealth.pct(0.99)), "quiet-healthz-p99-ms")
		b.ReportMetric(ms(r.health.pct(0.99)), "healthz-p99-ms")
		b.ReportMetric(ms(r.quietAPI.pct(0.99)), "quiet-api-p99-ms")
		b.ReportMetric(ms(r.api.pct(0.99)), "api-p99-ms")
		b.ReportMetric(float64(len(r.probeFailures)), "probe-failures")
		b.ReportMetric(float64(r.rssMax)/1024, "rss-max-MiB")
		b.ReportMetric(float64(r.published), "events-published")
		b.ReportMetric(float64(r.published-r.stored), "events-missing")
		b.ReportMetric(r.slowHeldMax.Seconds(), "slow-held-max-s")
		b.ReportMetric(float64(r.slowOpenAtEnd), "slow-open-at-end")
	}
}
