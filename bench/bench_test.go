package bench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/wire"
)

// largeEnv must be 1 for the cases with a million permits: their store
// takes about a minute to generate the first time and a GiB of disk, which
// a plain `go test ./...` and CI should not pay. run.sh sets it.
const largeEnv = "KUNCI_BENCH_LARGE"

// sizes are the store sizes of the issue.
var sizes = []int{10_000, 1_000_000}

const large = 1_000_000

// warmup visits run before the measured ones: the first transactions on a
// fresh copy grow the file and fault in the tree's upper pages.
const warmup = 5

func isLarge(n int) bool { return n > 100_000 }

func needLarge(tb testing.TB, n int) {
	if isLarge(n) && os.Getenv(largeEnv) != "1" {
		tb.Skipf("%d permits: set %s=1 or use bench/run.sh", n, largeEnv)
	}
}

func cached(tb testing.TB, n int) string {
	tb.Helper()
	path, err := cachedStore(cacheDir(), n, os.Stderr)
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestCacheStores makes the stores of every size in bench/cache, so that
// run.sh generates them before anything is timed, and the disk is quiet
// again when the benchmarks start. It only runs with KUNCI_BENCH_LARGE=1.
func TestCacheStores(t *testing.T) {
	if os.Getenv(largeEnv) != "1" {
		t.Skipf("writes bench/cache: set %s=1 or use bench/run.sh", largeEnv)
	}
	for _, n := range sizes {
		cached(t, n)
	}
}

// percentile returns the nearest-rank p-th percentile of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// reportLatency reports p50, p99 and the maximum of ds in nanoseconds as
// prefix+"p50-ns" and so on, the numbers run.sh compares.
func reportLatency(b *testing.B, prefix string, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(percentile(ds, 50)), prefix+"p50-ns")
	b.ReportMetric(float64(percentile(ds, 99)), prefix+"p99-ns")
	b.ReportMetric(float64(ds[len(ds)-1]), prefix+"max-ns")
}

var bEvents = []byte("events")

// unlockedEvent returns a door.unlocked event as the door stores it for a
// grant: every field the store and the loop fill in, the same detail.
// TestBareEventSize keeps the two the same size.
func unlockedEvent(seq uint64, clk agenttest.RunningClock) agent.Event {
	return agent.Event{ID: fmt.Sprintf("%s/%s/%s/%d", site, door, "a1b2c3", seq), Seq: seq, Epoch: "a1b2c3",
		Site: site, Door: door, Type: wire.EvUnlocked, At: clk.Now().UTC(), ClockSynced: true,
		Boot: "bench001", MonoNS: int64(clk.Mono()), Detail: "permit " + permitID(int(seq%large))}
}

// bareDB is a fresh bbolt file in dir, opened as the agent opens its store,
// with the events bucket made.
func bareDB(tb testing.TB, dir string) *bolt.DB {
	tb.Helper()
	f, err := os.CreateTemp(dir, "bare-*.db")
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	// bbolt makes a new database in an empty file
	db, err := bolt.Open(f.Name(), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bEvents)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	return db
}

// bareUpdate is what one durable event costs at the least: one bbolt
// Update, fsync'd on commit, putting one door.unlocked event at the next
// sequence key. It returns how long the Update took.
func bareUpdate(db *bolt.DB, clk agenttest.RunningClock) (time.Duration, error) {
	start := time.Now()
	err := db.Update(func(tx *bolt.Tx) error {
		ev := tx.Bucket(bEvents)
		seq, err := ev.NextSequence()
		if err != nil {
			return err
		}
		j, err := json.Marshal(unlockedEvent(seq, clk))
		if err != nil {
			return err
		}
		return ev.Put(binary.BigEndian.AppendUint64(nil, seq), j)
	})
	return time.Since(start), err
}

// BenchmarkBareUpdate is the baseline of BenchmarkTapToRelay: one bare
// fsync'd Update of one event, on a fresh file in the directory where the
// door's store copies go. It runs first, before any large copy is made.
func BenchmarkBareUpdate(b *testing.B) {
	db := bareDB(b, runDir(b))
	clk := newBenchClock()
	for range warmup {
		if _, err := bareUpdate(db, clk); err != nil {
			b.Fatal(err)
		}
	}
	var lats []time.Duration
	for b.Loop() {
		d, err := bareUpdate(db, clk)
		if err != nil {
			b.Fatal(err)
		}
		lats = append(lats, d)
	}
	reportLatency(b, "", lats)
}

// BenchmarkTapToRelay measures the grant: from calling Door.Tap with the
// escort's card, the guest's card having been tapped just before, until
// the relay's Unlock is called. In between the door fingerprints the UID,
// looks the card up in the store, runs the machine, appends the events
// (tap, access.granted, door.unlocked) in one fsync'd transaction and only
// then moves the relay. Each iteration is one whole visit with a random
// permit; ns/op is the whole visit (seven inputs, seven transactions),
// p50-ns and p99-ns are the grant alone.
//
// After each visit it also times one bare update on a file beside the
// store (bare-p50-ns, bare-p99-ns): a baseline that saw the same disk at
// the same moments, which the separate BenchmarkBareUpdate cannot promise
// on a shared machine.
func BenchmarkTapToRelay(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("permits=%d", n), func(b *testing.B) {
			needLarge(b, n)
			work := storeCopy(b, n)
			db := bareDB(b, filepath.Dir(work))
			clk := newBenchClock()
			ctx := b.Context()
			rd := runDoor(b, work)
			rng := rand.New(rand.NewPCG(uint64(n), 2))
			visit := func() (time.Duration, time.Duration) {
				lat, err := rd.visit(ctx, rng.IntN(n))
				if err != nil {
					b.Fatal(err)
				}
				bare, err := bareUpdate(db, clk)
				if err != nil {
					b.Fatal(err)
				}
				return lat, bare
			}
			for range warmup {
				visit()
			}
			var lats, bares []time.Duration
			for b.Loop() {
				lat, bare := visit()
				lats, bares = append(lats, lat), append(bares, bare)
			}
			reportLatency(b, "", lats)
			reportLatency(b, "bare-", bares)
		})
	}
}

// BenchmarkStartReady measures agent start: from agent.OpenStore on a copy
// of the store, through agent.NewDoor, until the Run loop has stored its
// agent.started event (the status seq changes after the write) and takes
// input. Each iteration starts twice: first with the file dropped from the
// page cache (cold-ms, as after a power cut), then again at once (warm-ms,
// a restart of the service). Every start appends an event or two to the
// copy; that changes nothing measurable.
func BenchmarkStartReady(b *testing.B) {
	for _, n := range []int{large} {
		b.Run(fmt.Sprintf("permits=%d", n), func(b *testing.B) {
			needLarge(b, n)
			work := storeCopy(b, n)
			ctx := b.Context()
			var cold, warm []time.Duration
			start := func() time.Duration {
				t0 := time.Now()
				rd, err := startDoor(ctx, work)
				el := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				if err := rd.stop(); err != nil {
					b.Fatal(err)
				}
				return el
			}
			for b.Loop() {
				if err := dropCache(work); err != nil {
					b.Fatal(err)
				}
				cold = append(cold, start())
				warm = append(warm, start())
			}
			ms := func(ds []time.Duration, p float64) float64 {
				slices.Sort(ds)
				return float64(percentile(ds, p)) / 1e6
			}
			b.ReportMetric(ms(cold, 50), "cold-ms")
			b.ReportMetric(ms(cold, 100), "cold-max-ms")
			b.ReportMetric(ms(warm, 50), "warm-ms")
			b.ReportMetric(ms(warm, 100), "warm-max-ms")
		})
	}
}

func heapMiB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkHeap reports the Go heap (HeapAlloc after a collection) of the
// process with the door running on the store and b.N visits done:
// heap-MiB. heap-base-MiB is the same before the store was opened, what
// the test binary itself holds. The store's file is mapped by bbolt, not
// on the heap; store-MiB is its size, for scale.
func BenchmarkHeap(b *testing.B) {
	for _, n := range []int{large} {
		b.Run(fmt.Sprintf("permits=%d", n), func(b *testing.B) {
			needLarge(b, n)
			work := storeCopy(b, n)
			fi, err := os.Stat(work)
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			base := heapMiB()
			rd := runDoor(b, work)
			rng := rand.New(rand.NewPCG(uint64(n), 3))
			for b.Loop() {
				if _, err := rd.visit(ctx, rng.IntN(n)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heapMiB(), "heap-MiB")
			b.ReportMetric(base, "heap-base-MiB")
			b.ReportMetric(float64(fi.Size())/(1<<20), "store-MiB")
		})
	}
}
