package bench

// The offline buffer of issue 12: the door keeps at least 10,000,000
// events while the hub is unreachable, within its quota
// (agent.DefaultMaxEvents). BenchmarkOfflineBuffer measures, on a store
// holding OFFLINE_N events (10,000,000 in offline.sh) that no hub has
// acked: the bytes each stored event takes on disk, the door's own appends
// at the end of such a buffer, the time the buffer took to fill, and the
// drain of all of it through a real Mosquitto with end-to-end acks.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/agent"
)

// offlineFormat names the layout of the generated offline stores; raise it
// when cachedOffline writes something else.
const offlineFormat = 1

// offlineN is the buffer the issue asks for.
const offlineN = 10_000_000

// offlineGen is what the generation of a cached offline store measured,
// kept beside it (offline-N-vF.json): the store is made once, and the
// time its appends took is one of the benchmark's figures.
type offlineGen struct {
	Events     int       // appended, seq 1..Events
	Batch      int       // events per Store.Append
	Seconds    float64   // the appends, in all
	Tenths     []float64 // seconds of each tenth of the appends: does a fuller store append slower?
	JSONBytes  int64     // the events' JSON, summed
	At         time.Time // when it was made
	Load       string    // the machine's load average then
	FileBytes  int64
	PermitsN   int // permits in the store, so that a door can run on it
	StoreMaker string
}

// cachedOffline returns the path of a store in dir holding the permits of
// permits-stallPermits (so that a door can run on it) and n recorded
// events appended in Appends of fillBatch, none acked, and what its
// generation measured, making both the first time. permits is the size of
// the permits store it starts from.
func cachedOffline(tb testing.TB, dir string, permits, n int, log io.Writer) (string, offlineGen) {
	tb.Helper()
	base := filepath.Join(dir, fmt.Sprintf("offline-%d-p%d-v%d", n, permits, offlineFormat))
	path, side := base+".db", base+".json"
	var gen offlineGen
	if j, err := os.ReadFile(side); err == nil {
		if _, serr := os.Stat(path); serr == nil {
			if err := json.Unmarshal(j, &gen); err != nil {
				tb.Fatalf("%s: %v", side, err)
			}
			return path, gen
		}
	}
	src, err := cachedStore(dir, permits, log)
	if err != nil {
		tb.Fatal(err)
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := copyFile(src, tmp); err != nil {
		tb.Fatal(err)
	}
	gen, err = genOffline(tmp, doorRecord(tb), n)
	if err != nil {
		os.Remove(tmp)
		tb.Fatalf("generate %d events: %v", n, err)
	}
	gen.PermitsN = permits
	j, err := json.MarshalIndent(gen, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(side, j, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(log, "bench: generated %s (%d events, %d MiB) in %.1f s\n", path, n, gen.FileBytes>>20, gen.Seconds)
	return path, gen
}

// copyFile copies src to dst, durably: the copy is on disk before anything
// is timed on it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// genOffline appends n recorded events to the store at path in Appends of
// fillBatch, timing each tenth, and sums their JSON.
func genOffline(path string, rec recorded, n int) (offlineGen, error) {
	gen := offlineGen{Events: n, Batch: fillBatch, At: time.Now().UTC(), Load: loadAvg(),
		StoreMaker: "recorded visits' events, Store.Append in batches"}
	st, err := agent.OpenStore(path, site, door)
	if err != nil {
		return gen, err
	}
	defer st.Close()
	if last, err := st.LastSeq(); err != nil || last != 0 {
		return gen, errors.Join(err, fmt.Errorf("the permits store holds events through %d", last))
	}
	start := time.Now()
	for t := range 10 {
		t0 := time.Now()
		lo, hi := n*t/10, n*(t+1)/10
		for i := lo; i < hi; {
			b := &agent.Batch{}
			for ; i < hi && len(b.Events) < fillBatch; i++ {
				b.Events = append(b.Events, rec.event(i))
			}
			if err := st.Append(b); err != nil {
				return gen, err
			}
		}
		gen.Tenths = append(gen.Tenths, time.Since(t0).Seconds())
	}
	gen.Seconds = time.Since(start).Seconds()
	if err := st.Close(); err != nil {
		return gen, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return gen, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bEvents).ForEach(func(_, v []byte) error {
			gen.JSONBytes += int64(len(v))
			return nil
		})
	})
	if fi, serr := os.Stat(path); serr == nil {
		gen.FileBytes = fi.Size()
	}
	return gen, err
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// boltSpace is how a store file's pages are used.
type boltSpace struct {
	fileBytes               int64
	pageSize                int
	events                  int // keys of the events bucket
	depth                   int
	leafPages, branchPages  int
	leafAlloc, leafInuse    int
	branchAlloc             int
	freePages, pendingPages int
	freelistBytes           int // what bbolt writes of its freelist on every commit, about
}

// spaceOf reads the bbolt stats of the closed store at path.
func spaceOf(tb testing.TB, path string) boltSpace {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	s := boltSpace{fileBytes: fi.Size(), pageSize: db.Info().PageSize}
	if err := db.View(func(tx *bolt.Tx) error {
		bs := tx.Bucket(bEvents).Stats()
		s.events, s.depth = bs.KeyN, bs.Depth
		s.leafPages, s.branchPages = bs.LeafPageN+bs.LeafOverflowN, bs.BranchPageN+bs.BranchOverflowN
		s.leafAlloc, s.leafInuse, s.branchAlloc = bs.LeafAlloc, bs.LeafInuse, bs.BranchAlloc
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	st := db.Stats()
	// bbolt writes its freelist, 8 bytes a free page id, on every commit
	s.freePages, s.pendingPages = st.FreePageN, st.PendingPageN
	s.freelistBytes = 8 * (s.freePages + s.pendingPages)
	return s
}

// inputSample is the door's own appends timed on a store: visits of
// permits at random, each input (two taps, the grant, the door's moves)
// one fsync'd transaction, and a bare update after each visit.
type inputSample struct {
	visits        int
	inputs        int
	events        uint64 // appended by the visits
	elapsed       time.Duration
	grants, bares []time.Duration
}

// visitInputs is how many inputs, each one Append, visit hands the door.
const visitInputs = 7

// sampleInputs runs visits visits of the door on the store at path, which
// holds permits permits, with a bare update beside it after each.
func sampleInputs(tb testing.TB, path string, permits, visits int) inputSample {
	tb.Helper()
	db := bareDB(tb, filepath.Dir(path))
	clk := newBenchClock()
	ctx := tb.Context()
	rd, err := startDoor(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := rd.stop(); err != nil {
			tb.Error(err)
		}
	}()
	rng := rand.New(rand.NewPCG(uint64(permits), 5))
	for range warmup {
		if _, err := rd.visit(ctx, rng.IntN(permits)); err != nil {
			tb.Fatal(err)
		}
	}
	s := inputSample{visits: visits, inputs: visits * visitInputs}
	first, err := rd.store.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	for range visits {
		t0 := time.Now()
		lat, err := rd.visit(ctx, rng.IntN(permits))
		s.elapsed += time.Since(t0)
		if err != nil {
			tb.Fatal(err)
		}
		bare, err := bareUpdate(db, clk)
		if err != nil {
			tb.Fatal(err)
		}
		s.grants, s.bares = append(s.grants, lat), append(s.bares, bare)
	}
	last, err := rd.store.LastSeq()
	if err != nil {
		tb.Fatal(err)
	}
	s.events = last - first
	return s
}

func (s inputSample) perInput() time.Duration { return s.elapsed / time.Duration(s.inputs) }
func (s inputSample) eventsPerInput() float64 { return float64(s.events) / float64(s.inputs) }

// offlineResult is one run of the offline buffer.
type offlineResult struct {
	n                 int
	gen               offlineGen
	full, drained     boltSpace
	before, after     inputSample // the door's appends on the full buffer, and after the drain
	drain             drainResult
	compact           agent.CompactStats // the store's compactions, by the drain's deletions
	policy            agent.Space        // of the default quota, with n pending
	copySecs          float64
	workDir, workPath string
}

// runOffline measures the offline buffer of n events (see
// BenchmarkOfflineBuffer); visits are timed on the full buffer and again
// after the drain.
func runOffline(tb testing.TB, n, permits, visits int, log io.Writer) offlineResult {
	tb.Helper()
	path, gen := cachedOffline(tb, cacheDir(), permits, n, log)
	r := offlineResult{n: n, gen: gen, full: spaceOf(tb, path)}
	if r.full.events != n {
		tb.Fatalf("%s holds %d events, want %d", path, r.full.events, n)
	}
	r.workDir = runDir(tb)
	r.workPath = filepath.Join(r.workDir, "agent.db")
	t0 := time.Now()
	if err := copyFile(path, r.workPath); err != nil {
		tb.Fatal(err)
	}
	r.copySecs = time.Since(t0).Seconds()
	r.before = sampleInputs(tb, r.workPath, permits, visits)
	st, err := agent.OpenStore(r.workPath, site, door)
	if err != nil {
		tb.Fatal(err)
	}
	st.SetQuota(agent.Quota{})
	st.SetLog(slog.New(slog.NewTextHandler(log, nil))) // its compactions, with their sizes
	r.policy = st.Space()
	r.drain = drainStore(tb, r.workDir, st, drainConfig{})
	r.compact = st.Compactions()
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	checkBolt(tb, r.workPath)
	r.drained = spaceOf(tb, r.workPath)
	r.after = sampleInputs(tb, r.workPath, permits, visits)
	return r
}

// BenchmarkOfflineBuffer measures the offline buffer of OFFLINE_N
// (10,000,000) events: a store in bench/cache holding the permits of
// permits-10000 and OFFLINE_N of the door's recorded events, none acked,
// made once (offline.sh's first step). One iteration:
//   - the space: file-B/ev is the file's size over the events, leaf-B/ev
//     the bbolt leaf pages the events bucket holds, json-B/ev the events'
//     JSON alone; depth, and the free pages bbolt keeps;
//   - the appends that made it, in Appends of fillBatch (1,000) events, as
//     a backlog's fill or a flood's coalesced writes (not the door's path):
//     fill-s, fill-ev-per-s, measured when the cache was made (fill-first-
//     tenth-s and fill-last-tenth-s: the first and last million);
//   - the door's own path on a working copy of it: OFFLINE_VISITS (200)
//     visits, each seven inputs, each input one fsync'd Append of its
//     events (1 to 3): input-us (mean), inputs-per-s, ev-per-input,
//     grant-p50-us/grant-p99-us and the paired bare update's;
//     door-10M-h is the hours 10,000,000 events take at that rate;
//   - the drain of the whole copy through a real Mosquitto with end-to-end
//     acks (the pump and the hub's ingest with their defaults, the hub's
//     store beside the copy): drain-s, drain-ev-per-s;
//   - the compactions the drain's deletions made (agent/compact.go):
//     compactions, and of the last one the file before and after
//     (compact-before-GiB, compact-after-MiB), the live data it copied
//     (compact-live-MiB) and how long the door's writes waited for it
//     (compact-s);
//   - after the drain, the free pages bbolt keeps listing (after-free-
//     pages, after-freelist-KiB, written on every commit) and the door's
//     inputs again (after-input-us, after-grant-p50-us, after-grant-p99-us).
//
// The quota's policy for the default Quota with the buffer pending:
// quota-events, quota-low-at, quota-full-at, quota-GB (quota-events times
// file-B/ev).
func BenchmarkOfflineBuffer(b *testing.B) {
	n := envInt(b, "OFFLINE_N", offlineN)
	needLarge(b, n)
	visits := envInt(b, "OFFLINE_VISITS", 200)
	var r offlineResult
	for b.Loop() {
		r = runOffline(b, n, stallPermits, visits, os.Stderr)
	}
	reportOffline(b, r)
}

func reportOffline(b *testing.B, r offlineResult) {
	n := float64(r.n)
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return us(percentile(s, p))
	}
	b.ReportMetric(n, "events")
	b.ReportMetric(float64(r.full.fileBytes)/n, "file-B/ev")
	b.ReportMetric(float64(r.full.leafAlloc)/n, "leaf-B/ev")
	b.ReportMetric(float64(r.full.leafInuse)/n, "leaf-inuse-B/ev")
	b.ReportMetric(float64(r.gen.JSONBytes)/n, "json-B/ev")
	b.ReportMetric(float64(r.full.fileBytes)/(1<<30), "file-GiB")
	b.ReportMetric(float64(r.full.depth), "depth")
	b.ReportMetric(float64(r.full.freePages), "free-pages")
	b.ReportMetric(r.gen.Seconds, "fill-s")
	b.ReportMetric(float64(r.gen.Events)/r.gen.Seconds, "fill-ev-per-s")
	if len(r.gen.Tenths) == 10 {
		b.ReportMetric(r.gen.Tenths[0], "fill-first-tenth-s")
		b.ReportMetric(r.gen.Tenths[9], "fill-last-tenth-s")
	}
	for _, s := range []struct {
		prefix string
		v      inputSample
	}{{"", r.before}, {"after-", r.after}} {
		b.ReportMetric(us(s.v.perInput()), s.prefix+"input-us")
		b.ReportMetric(pct(s.v.grants, 50), s.prefix+"grant-p50-us")
		b.ReportMetric(pct(s.v.grants, 99), s.prefix+"grant-p99-us")
		b.ReportMetric(pct(s.v.bares, 50), s.prefix+"bare-p50-us")
		b.ReportMetric(pct(s.v.bares, 99), s.prefix+"bare-p99-us")
	}
	b.ReportMetric(1/r.before.perInput().Seconds(), "inputs-per-s")
	b.ReportMetric(r.before.eventsPerInput(), "ev-per-input")
	b.ReportMetric(offlineN/r.before.eventsPerInput()*r.before.perInput().Hours(), "door-10M-h")
	b.ReportMetric(r.drain.elapsed.Seconds(), "drain-s")
	b.ReportMetric(r.drain.rate(), "drain-ev-per-s")
	b.ReportMetric(float64(r.drain.hub.Duplicates), "drain-hub-dups")
	b.ReportMetric(float64(r.drain.pump.Resends), "drain-resends")
	b.ReportMetric(float64(r.compact.Done), "compactions")
	b.ReportMetric(float64(r.compact.Failed+r.compact.Skipped), "compactions-not-done")
	b.ReportMetric(float64(r.compact.Last.BeforeBytes)/(1<<30), "compact-before-GiB")
	b.ReportMetric(float64(r.compact.Last.AfterBytes)/(1<<20), "compact-after-MiB")
	b.ReportMetric(float64(r.compact.Last.LiveBytes)/(1<<20), "compact-live-MiB")
	b.ReportMetric(r.compact.Last.Took.Seconds(), "compact-s")
	b.ReportMetric(float64(r.drained.freePages), "after-free-pages")
	b.ReportMetric(float64(r.drained.freelistBytes)/1024, "after-freelist-KiB")
	b.ReportMetric(float64(r.drained.fileBytes)/(1<<30), "after-file-GiB")
	q := r.policy
	b.ReportMetric(float64(q.MaxEvents), "quota-events")
	b.ReportMetric(float64(q.MaxEvents/10*9), "quota-low-at")
	b.ReportMetric(float64(q.MaxEvents-q.Reserve), "quota-full-at")
	b.ReportMetric(float64(q.MaxEvents)*float64(r.full.fileBytes)/n/1e9, "quota-GB")
	b.ReportMetric(float64(q.Level), "level-at-n")
	b.ReportMetric(r.copySecs, "copy-s")
}

// TestCacheOffline makes the offline store of OFFLINE_N (10,000,000)
// events in bench/cache, so that offline.sh generates it before anything
// is timed. It only runs with KUNCI_BENCH_LARGE=1.
func TestCacheOffline(t *testing.T) {
	if os.Getenv(largeEnv) != "1" {
		t.Skipf("writes bench/cache: set %s=1 or use bench/offline.sh", largeEnv)
	}
	n := envInt(t, "OFFLINE_N", offlineN)
	path, gen := cachedOffline(t, cacheDir(), stallPermits, n, os.Stderr)
	t.Logf("%s: %d events, %d bytes, appended in %.1f s (tenths %v)", path, gen.Events, gen.FileBytes, gen.Seconds, gen.Tenths)
}

// TestOfflineBuffer takes BenchmarkOfflineBuffer's path through with a
// small buffer: the store is made and reused, holds every event, the
// door's inputs each append one transaction on it, the drain leaves it
// empty with the hub holding each event once (drainStore's checks), and
// the door runs again on the drained store.
func TestOfflineBuffer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KUNCI_BENCH_CACHE", dir)
	const n = 3_000
	r := runOffline(t, n, sanityN, 5, io.Discard)
	if r.gen.Events != n || r.gen.JSONBytes <= 0 || len(r.gen.Tenths) != 10 || r.gen.FileBytes != r.full.fileBytes {
		t.Errorf("generation %+v: want %d events, their JSON, ten tenths, the file's size %d", r.gen, n, r.full.fileBytes)
	}
	if _, again := cachedOffline(t, dir, sanityN, n, io.Discard); again.At != r.gen.At {
		t.Errorf("second cachedOffline made the store again (%v, first %v)", again.At, r.gen.At)
	}
	if r.full.leafInuse < int(r.gen.JSONBytes) || r.full.fileBytes < int64(r.full.leafAlloc) {
		t.Errorf("space %+v: leaves in use below the JSON (%d), or the file below its leaves", r.full, r.gen.JSONBytes)
	}
	for _, s := range []inputSample{r.before, r.after} {
		if len(s.grants) != 5 || s.events < uint64(s.inputs) || s.elapsed <= 0 {
			t.Errorf("input sample %+v: want 5 grants, at least an event an input", s)
		}
	}
	if r.drain.n < n+int(r.before.events) {
		t.Errorf("drained %d events, want the %d of the buffer and the visits'", r.drain.n, n)
	}
	if r.drained.events != 0 {
		t.Errorf("after the drain the store holds %d events", r.drained.events)
	}
	if r.compact.Failed != 0 || r.compact.Skipped != 0 {
		t.Errorf("compactions %+v: one failed or skipped", r.compact)
	}
	if r.policy.MaxEvents != agent.DefaultMaxEvents || r.policy.Level != agent.SpaceOK {
		t.Errorf("policy %+v: want the default quota, level ok", r.policy)
	}
}
