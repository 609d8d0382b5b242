package bench

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// recentLimit is the page of the Recent reads: the console's.
const recentLimit = 50

// storeRun is one run of the event-store benchmark on one backend.
type storeRun struct {
	evps         float64         // events stored per second through the ingest
	recent, walk []time.Duration // each Recent page, each door's WalkTypes
	pages        [][]string      // the ids of each Recent page, to compare the backends
	walked       []int           // events each door's WalkTypes gave
}

// runEventStore stores pls (a door's payloads each) through the hub's
// ingest into st, as from the broker: Handle, the doors' events
// interleaved, and Run's batched commits, acks to nowhere. The clock runs
// from the first Handle until the ingest has stored the last event. Then
// reads of the same kinds, chosen by seed: Recent pages (the newest
// recentLimit of a door; a third of them of one type, a third of one
// permit), and WalkTypes of the guest book's types for every door.
func runEventStore(tb testing.TB, st ingest.EventStore, g hubGen, pls [][][]byte, reads int, seed uint64) storeRun {
	tb.Helper()
	perDoor := len(pls[0])
	n := int64(g.doors * perDoor)
	var stored atomic.Int64
	done := make(chan struct{})
	in, err := ingest.New(st, ingest.Options{Signer: benchHubKey, OnStored: func(evs []ingest.Event) {
		if stored.Add(int64(len(evs))) == n {
			close(done)
		}
	}})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- in.Run(ctx, noAcks{}) }()
	start := time.Now()
	for i := range perDoor {
		for d := range g.doors {
			in.Handle(mqttlink.Message{Topic: g.door(d).Events(), Payload: pls[d][i], QoS: 1})
		}
	}
	timeout := time.NewTimer(10 * time.Minute)
	defer timeout.Stop()
	select {
	case <-done:
	case <-timeout.C:
		tb.Fatalf("stored %d of %d events in 10 minutes: %+v", stored.Load(), n, in.Stats())
	}
	r := storeRun{evps: float64(n) / time.Since(start).Seconds()}
	cancel()
	if err := <-ran; err != nil {
		tb.Fatal(err)
	}
	if s := in.Stats(); s.Stored != uint64(n) || s.StoreErrors+s.Malformed+s.Dropped+s.Duplicates != 0 {
		tb.Fatalf("ingest %+v; want %d stored, nothing else", s, n)
	}
	if total, err := st.Total(); err != nil || total != uint64(n) {
		tb.Fatalf("the store holds %d events (%v); want %d", total, err, n)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	visits := perDoor / len(g.visit)
	for i := range reads {
		d := rng.IntN(g.doors)
		t := g.door(d)
		q := ingest.Query{Site: t.Site, Door: t.Door, Limit: recentLimit}
		switch i % 3 {
		case 1:
			q.Type = wire.EvGranted
		case 2:
			q.Permit = hubPermitID(rng.IntN(max(visits, 1))*g.doors + d)
		}
		t0 := time.Now()
		pg, err := st.Recent(q)
		r.recent = append(r.recent, time.Since(t0))
		if err != nil || len(pg.Events) == 0 {
			tb.Fatalf("Recent(%+v) = %d events, %v", q, len(pg.Events), err)
		}
		var ids []string
		for _, e := range pg.Events {
			ids = append(ids, e.ID)
		}
		r.pages = append(r.pages, ids)
	}
	for d := range g.doors {
		t := g.door(d)
		k := 0
		t0 := time.Now()
		if err := st.WalkTypes(t.Site, t.Door, workflow.BookTypes, func(ingest.Event) error { k++; return nil }); err != nil {
			tb.Fatal(err)
		}
		r.walk = append(r.walk, time.Since(t0))
		r.walked = append(r.walked, k)
	}
	return r
}

// eventStores are the two backends, bbolt first: the baseline.
var eventStores = []struct {
	name string
	open func(tb testing.TB) ingest.EventStore
}{
	{"bbolt", func(tb testing.TB) ingest.EventStore {
		path := filepath.Join(runDir(tb), "hub-events.db")
		st, err := ingest.OpenStore(path)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close(); checkBolt(tb, path) })
		return st
	}},
	{"postgres", func(tb testing.TB) ingest.EventStore {
		// commits wait for the disk, as bbolt's fsync does
		st, err := pgevents.Open(context.Background(), pgtest.DurableDB(tb), pgevents.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		return st
	}},
}

// runBoth runs runEventStore on a fresh store of each backend, and checks
// that both read back the same.
func runBoth(tb testing.TB, g hubGen, pls [][][]byte, reads int, seed uint64) []storeRun {
	var runs []storeRun
	for _, s := range eventStores {
		runs = append(runs, runEventStore(tb, s.open(tb), g, pls, reads, seed))
	}
	for i := range runs[0].pages {
		if !slices.Equal(runs[0].pages[i], runs[1].pages[i]) {
			tb.Fatalf("Recent page %d: bbolt %v, postgres %v", i, runs[0].pages[i], runs[1].pages[i])
		}
	}
	if !slices.Equal(runs[0].walked, runs[1].walked) {
		tb.Fatalf("WalkTypes: bbolt %v events by door, postgres %v", runs[0].walked, runs[1].walked)
	}
	return runs
}

// BenchmarkEventStore measures the doors' events store on both backends
// in each iteration: bbolt (hub-events.db, the baseline) and PostgreSQL
// (hub/ingest/pgevents on the machine's server, in a database of its
// own, each commit waiting for the disk as bbolt's does). EVSTORE_DOORS
// (100) doors x EVSTORE_EVENTS (1,000) events go through the hub's ingest
// into a fresh store of each (runEventStore), then EVSTORE_READS (3,000)
// Recent pages and a WalkTypes of every door. Metrics: each backend's
// ev/s and the p50 and p99 of its reads, and postgres/bbolt of each (a
// ratio below 1 of ev/s, above 1 of a latency, is PostgreSQL slower).
// Medians over the iterations.
func BenchmarkEventStore(b *testing.B) {
	doors := envInt(b, "EVSTORE_DOORS", hubDoors)
	perDoor := envInt(b, "EVSTORE_EVENTS", hubIngestEvents)
	reads := envInt(b, "EVSTORE_READS", 3000)
	g := newHubGen(b, doors)
	pls, err := g.payloads(perDoor)
	if err != nil {
		b.Fatal(err)
	}
	metrics := map[string][]float64{}
	add := func(k string, v float64) { metrics[k] = append(metrics[k], v) }
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	seed := uint64(0)
	for b.Loop() {
		seed++
		runs := runBoth(b, g, pls, reads, seed)
		var p99s [2][2]float64
		for i, r := range runs {
			name := eventStores[i].name
			slices.Sort(r.recent)
			slices.Sort(r.walk)
			add(name+"-ev/s", r.evps)
			add(name+"-recent-p50-ms", ms(percentile(r.recent, 50)))
			add(name+"-recent-p99-ms", ms(percentile(r.recent, 99)))
			add(name+"-walk-p50-ms", ms(percentile(r.walk, 50)))
			add(name+"-walk-p99-ms", ms(percentile(r.walk, 99)))
			p99s[i] = [2]float64{ms(percentile(r.recent, 99)), ms(percentile(r.walk, 99))}
		}
		add("pg/bbolt-ev/s", runs[1].evps/runs[0].evps)
		add("pg/bbolt-recent-p99", p99s[1][0]/p99s[0][0])
		add("pg/bbolt-walk-p99", p99s[1][1]/p99s[0][1])
	}
	for k, vs := range metrics {
		b.ReportMetric(median(vs), k)
	}
	b.ReportMetric(float64(doors*perDoor), "events")
}

// TestEventStore runs the event-store benchmark small (4 doors x 60
// events, 30 reads): both backends store every event once through the
// ingest and read back the same pages and walks.
func TestEventStore(t *testing.T) {
	g := newHubGen(t, 4)
	pls, err := g.payloads(60)
	if err != nil {
		t.Fatal(err)
	}
	runs := runBoth(t, g, pls, 30, 1)
	for i, r := range runs {
		if r.evps <= 0 || len(r.recent) != 30 || len(r.walk) != 4 {
			t.Errorf("%s: %d reads, %d walks", eventStores[i].name, len(r.recent), len(r.walk))
		}
		for d, k := range r.walked {
			if k == 0 {
				t.Errorf("%s: door %d walked no guest-book event", eventStores[i].name, d)
			}
		}
	}
}
