package bench

// The target of the architecture issue's point 4: nothing on the MQTT side
// stalls the door's loop. The grant is timed on a door wired to a real
// Mosquitto by `kunci agent`'s own wiring (sync/agentsync: outbox pump,
// signed downlink, status publisher, Home Assistant's discovery and
// events, in a lifecycle group), with the hub's ingest
// acking, while (a) the pump drains a backlog of drainN events and (b) a
// publisher sends 1,000 malformed messages a second to the door's
// downlink topics. The baseline is the bare fsync'd bbolt update, timed
// after every visit on a file beside the door's store, under the same
// load.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/sync/agentsync"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// stallPermits is the door's store for the stall benchmark.
const stallPermits = 10_000

// garbageRate is the malformed messages a second of load (b).
const garbageRate = 1000

// centralEnv names the directory where the stall benchmark puts the
// broker's persistence and the hub's store: the central server's disk,
// not the Pi's. In the field the broker and the hub run on the central
// server, and their fsyncs never queue with the door's on its SD card; on
// the bench's one machine the default, /dev/shm (tmpfs), keeps them off
// the disk that holds the door's store and the bare updates.
const centralEnv = "KUNCI_BENCH_CENTRAL"

// centralDir returns a new directory under centralEnv's directory
// (/dev/shm by default), removed when tb ends, with an empty broker
// directory in it. Without /dev/shm (not Linux) it falls back to
// tb.TempDir, which may share the door's disk, and says so.
func centralDir(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(centralEnv)
	if base == "" {
		base = "/dev/shm"
		if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
			tb.Logf("no %s: the broker and the hub share the temporary directory's disk", base)
			base = tb.TempDir()
		}
	}
	d, err := os.MkdirTemp(base, "kunci-bench-central-")
	if err != nil {
		tb.Fatalf("%s: %v", centralEnv, err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			tb.Error(err)
		}
	})
	if err := os.Mkdir(filepath.Join(d, "broker"), 0o700); err != nil {
		tb.Fatal(err)
	}
	return d
}

// wiredDoor is a running door with `kunci agent`'s MQTT side
// (agentsync) running on it.
type wiredDoor struct {
	*runningDoor
	metrics *metrics.Registry // the agent's /metrics: the link's, the downlink's and the pump's
	stop    func()
}

// wireDoor connects rd to broker as `kunci agent` does, with Home
// Assistant's discovery and event feed on, and runs every part of it in a
// lifecycle group, as the agent does; it returns once the link is up.
func wireDoor(tb testing.TB, broker string, rd *runningDoor) *wiredDoor {
	tb.Helper()
	reg := metrics.NewRegistry()
	s, err := agentsync.New(agentsync.Config{Link: mqttlink.Options{Broker: broker, ClientID: "kunci-bench-door"},
		Topics: syncTopics, Keys: keyring(), HomeAssistant: true, Racks: doorConfig().Racks, Version: "bench",
		Metrics: reg, Log: discardLog()}, rd.door, rd.store)
	if err != nil {
		tb.Fatal(err)
	}
	g := lifecycle.New(context.Background(), lifecycle.Options{})
	s.Start(g)
	w := &wiredDoor{runningDoor: rd, metrics: reg, stop: sync.OnceFunc(func() {
		g.Stop(nil)
		if err := g.Wait(); err != nil {
			tb.Errorf("door's MQTT side: %v", err)
		}
	})}
	tb.Cleanup(w.stop)
	if err := poll(15*time.Second, func() (bool, error) { return w.sample("kunci_mqtt_connected") == 1, nil }); err != nil {
		tb.Fatalf("door link: %v", err)
	}
	return w
}

// sample returns the value of the sample line of w's metrics that starts
// with name and its labels (`kunci_mqtt_dropped_total`,
// `kunci_agent_downlink_rejected_total{reason="malformed"}`), 0 when
// there is none.
func (w *wiredDoor) sample(name string) float64 {
	for line := range strings.Lines(string(w.metrics.Text())) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// samples returns w's sample lines whose names start with prefix, for a
// report.
func (w *wiredDoor) samples(prefix string) string {
	var out []string
	for line := range strings.Lines(string(w.metrics.Text())) {
		if strings.HasPrefix(line, prefix) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, ", ")
}

// refused is how many malformed downlink messages the door refused.
func (w *wiredDoor) refused() uint64 {
	return uint64(w.sample(fmt.Sprintf("kunci_agent_downlink_rejected_total{reason=%q}", wire.ReasonMalformed)))
}

// BenchmarkTapUnderLoad times the grant, as BenchmarkTapToRelay does, on a
// door wired to Mosquitto with the hub's ingest acking, under each load:
//   - load=none: connected, nothing else going on;
//   - load=backlog: the pump drains drainN events made before the
//     measurement. Only the visits that ended before the hub had acked the
//     whole backlog are counted (draining-visits); the backlog may be
//     gone before b.N visits are (after-drain-visits, not counted).
//     drain-ev-per-s is how fast the hub's acks deleted the backlog
//     during the measured visits;
//   - load=garbage: garbageRate malformed messages a second on the door's
//     permit topics (garbage-per-s is the rate that reached the broker).
//
// bare-p50-ns and bare-p99-ns are the bare fsync'd update after each
// visit, under the same load: the baseline of the 1.5x target.
// door-cores is how many CPUs the door's process (the door, its MQTT
// side, the bare updates) kept busy on average during the measured
// visits, central-cores the broker and the central side (the hub's
// ingest, the flood), machine-busy-pct the share of all the machine's CPU
// time anything used, other processes included.
func BenchmarkTapUnderLoad(b *testing.B) {
	for _, load := range []string{"none", "backlog", "garbage"} {
		b.Run("load="+load, func(b *testing.B) { tapUnderLoad(b, load, drainN, 0, garbageRate) })
	}
}

// loadResult is what one run under load saw.
type loadResult struct {
	lats, bares []time.Duration
	draining    bool      // load=backlog, and the hub has not acked all of it
	drainedAt   time.Time // when a visit first ended with the backlog acked
	after       int       // visits not counted: they ended after the drain
	drainPerS   float64   // backlog events acked a second during the measured visits
	garbagePerS float64
	refused     uint64
	mqttDropped uint64
	// CPUs kept busy by the door's process, and by the broker and the
	// central side; the machine's busy per cent
	doorCores, centralCores, busy float64
}

// tapUnderLoad runs visits (b.N of them for a benchmark, visits for a
// test) under load with a backlog of backlog events, and reports or
// checks what it saw.
func tapUnderLoad(tb testing.TB, load string, backlog, visits, rate int) {
	tb.Helper()
	b, _ := tb.(*testing.B)
	n := stallPermits
	if b == nil {
		n = sanityN
	}
	// the door's store and the bare updates on the bench's disk, the Pi's;
	// the broker and the hub on the central server's
	central := centralDir(tb)
	work := ownCopy(tb, n)
	db := bareDB(tb, filepath.Dir(work))
	clk := newBenchClock()
	ctx := tb.Context()
	m := mqtttest.StartMosquittoIn(tb, filepath.Join(central, "broker"))
	pinCentral(tb, m.Pid())
	defer m.Stop()
	c := startCentral(tb, m.URL(), filepath.Join(central, "hub.db"))
	defer c.stop()
	rd := runDoor(tb, work)
	if load == "backlog" {
		if err := doorRecord(tb).fill(rd.store, backlog, fillBatch); err != nil {
			tb.Fatal(err)
		}
	}
	backlogEnd, err := rd.store.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	w := wireDoor(tb, m.URL(), rd)
	defer w.stop()
	if load == "garbage" {
		if rate <= 0 {
			rate = garbageRate
		}
		c.flood(tb, rate)
	}
	sent := func() int {
		s, err := c.stats()
		if err != nil {
			tb.Fatal(err)
		}
		return s.Sent
	}
	rng := rand.New(rand.NewPCG(uint64(n), 4))
	r := loadResult{draining: load == "backlog"}
	visit := func() {
		lat, err := rd.visit(ctx, rng.IntN(n))
		if err != nil {
			tb.Fatal(err)
		}
		bare, err := bareUpdate(db, clk)
		if err != nil {
			tb.Fatal(err)
		}
		if r.draining {
			acked, err := rd.store.Acked()
			if err != nil {
				tb.Fatal(err)
			}
			if r.draining = acked < backlogEnd; !r.draining {
				r.drainedAt = time.Now()
			}
		}
		if load == "backlog" && !r.draining {
			r.after++
			return
		}
		r.lats, r.bares = append(r.lats, lat), append(r.bares, bare)
	}
	for range warmup {
		visit()
	}
	r.lats, r.bares, r.after = nil, nil, 0
	acked0, err := rd.store.Acked()
	if err != nil {
		tb.Fatal(err)
	}
	pid, pidErr := brokerPID(m)
	cpu0, cpuOK := sampleCPU(pid, c.pid())
	start, sent0 := time.Now(), sent()
	if b != nil {
		for b.Loop() {
			visit()
		}
	} else {
		for range visits {
			visit()
		}
	}
	elapsed := time.Since(start)
	if cpu1, ok := sampleCPU(pid, c.pid()); ok && cpuOK && pidErr == nil {
		r.doorCores, r.centralCores, r.busy = cpu0.until(cpu1)
	}
	acked, err := rd.store.Acked()
	if err != nil {
		tb.Fatal(err)
	}
	drainTime := elapsed
	if !r.drainedAt.IsZero() {
		drainTime = max(r.drainedAt.Sub(start), 0)
	}
	r.drainPerS = float64(min(acked, backlogEnd)-min(acked0, backlogEnd)) / drainTime.Seconds()
	r.garbagePerS = float64(sent()-sent0) / elapsed.Seconds()
	r.refused = w.refused()
	r.mqttDropped = uint64(w.sample("kunci_mqtt_dropped_total"))
	if b != nil {
		if len(r.lats) == 0 {
			b.Fatalf("the backlog was acked before the first measured visit ended")
		}
		reportLatency(b, "", r.lats)
		reportLatency(b, "bare-", r.bares)
		switch load {
		case "backlog":
			b.ReportMetric(float64(len(r.lats)), "draining-visits")
			b.ReportMetric(float64(r.after), "after-drain-visits")
			b.ReportMetric(r.drainPerS, "drain-ev-per-s")
		case "garbage":
			b.ReportMetric(r.garbagePerS, "garbage-per-s")
			b.ReportMetric(float64(r.refused), "refused")
		}
		b.ReportMetric(float64(r.mqttDropped), "mqtt-dropped")
		if r.doorCores > 0 {
			b.ReportMetric(r.doorCores, "door-cores")
			b.ReportMetric(r.centralCores, "central-cores")
			b.ReportMetric(r.busy, "machine-busy-pct")
		}
		return
	}
	// the rest of the log, backlog or the visits' own events, drains
	// after the visits: the hub stored and acked every event
	if err := poll(time.Minute, func() (bool, error) {
		evs, err := rd.store.Events(0, 1)
		return len(evs) == 0, err
	}); err != nil {
		s, serr := c.stats()
		tb.Errorf("load=%s: log (backlog %d) not drained: %v; pump %s; hub %+v, %v", load, backlog, err,
			w.samples("kunci_agent_outbox_"), s.Hub, serr)
	}
	if load == "garbage" {
		if err := poll(time.Minute, func() (bool, error) { return w.refused() > 0, nil }); err != nil {
			tb.Errorf("no malformed message refused: %v (%d sent)", err, sent())
		}
	}
}

// TestTapUnderLoad takes each load of BenchmarkTapUnderLoad through with a
// few visits and a small backlog, so that `go test` keeps it working: the
// backlog drains, the flood is refused and counted, every visit opens and
// relocks the door, and the hub stores every event of each run (each its
// own store copy: -count=2 runs it twice).
func TestTapUnderLoad(t *testing.T) {
	tapUnderLoad(t, "backlog", 2_000, 10, 0)
	tapUnderLoad(t, "garbage", 0, 10, 0)
}
