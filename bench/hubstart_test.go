package bench

// The hub's start with the guest book kept by the event store (issue 11):
// the store holding HUB_BOOK_EVENTS events of bookRig's generator, on
// bbolt (a working copy of bench/cache's file) and on PostgreSQL (a
// database made once from it and kept on the machine's server), opened
// with its book and given the permits, against the book rebuilt from the
// events as the hub did at every start before; then the queries of the
// guest book and the service times on the book opened. hub.sh runs them
// (its part start) and prints the table.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/permit"
)

// pgCacheVersion names the layout of the cached PostgreSQL databases:
// raise it with hubFormatVersion, or when pgevents' schema changes what
// a database made before would lack.
const pgCacheVersion = 1

// pgAt returns the DSN of database name on pgtest's server.
func pgAt(name string) (string, error) {
	u, err := url.Parse(pgtest.Server())
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// pgAdmin runs fn on a connection to the server's maintenance database.
func pgAdmin(fn func(ctx context.Context, c *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, pgtest.Server())
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(ctx, c)
}

// cachedPGEvents returns the DSN of a database on the machine's server
// holding the events of the bbolt store src (a working copy: it is opened
// for writing) and their guest book, making it the first time under a
// temporary name renamed when complete. The cache, like bench/cache, is
// kept between runs: drop the kunci_bench_* databases to free the space.
func cachedPGEvents(src string, g hubGen, perDoor int, log io.Writer) (string, error) {
	name := fmt.Sprintf("kunci_bench_events_%dx%d_v%d_%d", g.doors, perDoor, hubFormatVersion, pgCacheVersion)
	tmp := name + "_tmp"
	var found bool
	if err := pgAdmin(func(ctx context.Context, c *pgx.Conn) error {
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&found); err != nil || found {
			return err
		}
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+tmp+" WITH (FORCE)"); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "CREATE DATABASE "+tmp); err != nil {
			return err
		}
		// loading need not wait for the disk; the benchmark reads
		_, err := c.Exec(ctx, "ALTER DATABASE "+tmp+" SET synchronous_commit = off")
		return err
	}); err != nil || found {
		return pgAt(name)
	}
	start := time.Now()
	if err := fillPG(tmp, src); err != nil {
		return "", fmt.Errorf("fill %s: %w", tmp, err)
	}
	if err := pgAdmin(func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "ALTER DATABASE "+tmp+" RESET synchronous_commit"); err != nil {
			return err
		}
		_, err := c.Exec(ctx, "ALTER DATABASE "+tmp+" RENAME TO "+name)
		return err
	}); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "bench: made PostgreSQL database %s (%d events) in %s\n", name, g.doors*perDoor,
		time.Since(start).Round(100*time.Millisecond))
	return pgAt(name)
}

// fillPG imports every event of the bbolt store at src into database
// name, door by door, ten thousand a commit (each keeping its change of
// the guest book, as the ingest's would), then vacuums and analyses it.
func fillPG(name, src string) error {
	dsn, err := pgAt(name)
	if err != nil {
		return err
	}
	from, err := ingest.OpenStore(src)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := pgevents.Open(context.Background(), dsn, pgevents.Options{Timeout: 10 * time.Minute})
	if err != nil {
		return err
	}
	defer to.Close()
	doors, err := from.Doors()
	if err != nil {
		return err
	}
	var batch []ingest.Event
	for _, d := range doors {
		if err := from.Walk(d.Site, d.Door, func(e ingest.Event) error {
			if batch = append(batch, e); len(batch) == 10_000 {
				err := to.Import(batch)
				batch = batch[:0]
				return err
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := to.Import(batch); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	_, err = to.Pool().Exec(ctx, "VACUUM ANALYZE")
	return err
}

// startRig is the event store of BenchmarkHubStart on both backends,
// none of them open.
type startRig struct {
	g        hubGen
	path     string // the bbolt working copy
	wfPath   string // a working copy of the workflow store holding the permits
	pgDSN    string
	perDoor  int
	doorDay  workflow.Filter
	migrated ingest.BookOpened // the working copy's first open
}

var startRigs sync.Map // doors, perDoor -> func() (*startRig, error)

// openStartRig makes the working copy of the cached bbolt store (whose
// first open keeps its book if the cache had none) and the cached
// PostgreSQL database made from it; once per process and size.
func openStartRig(tb testing.TB, doors, perDoor int) *startRig {
	tb.Helper()
	f, _ := startRigs.LoadOrStore([2]int{doors, perDoor}, sync.OnceValues(func() (*startRig, error) {
		g := newHubGen(tb, doors)
		src, err := cachedHubStore(cacheDir(), g, perDoor, os.Stderr)
		if err != nil {
			return nil, err
		}
		// the permits are made when needed and not kept: a start
		// measured with them in the heap would pay for them in its
		// collections, as no hub does
		r := &startRig{g: g, path: hubStoreCopy(tb, src), perDoor: perDoor, doorDay: doorDay(g, perDoor)}
		wf, err := cachedHubWorkflow(cacheDir(), g, perDoor, func() []workflow.Record { return g.permits(perDoor) }, os.Stderr)
		if err != nil {
			return nil, err
		}
		if r.wfPath, err = workCopy(wf, runDir(tb)); err != nil {
			return nil, err
		}
		if err := copyFile(wf+workflow.KeysSuffix, r.wfPath+workflow.KeysSuffix); err != nil {
			return nil, err
		}
		st, err := ingest.OpenStore(r.path)
		if err != nil {
			return nil, err
		}
		_, r.migrated = st.Book()
		if err := st.Close(); err != nil {
			return nil, err
		}
		if r.pgDSN, err = cachedPGEvents(r.path, g, perDoor, os.Stderr); err != nil {
			return nil, err
		}
		return r, nil
	}))
	r, err := f.(func() (*startRig, error))()
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// cachedHubWorkflow returns the path of a workflow store in dir holding
// permits, the records of g's first perDoor events of each door, making it
// the first time under a temporary name renamed when complete.
func cachedHubWorkflow(dir string, g hubGen, perDoor int, gen func() []workflow.Record, log io.Writer) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("hub-workflow-%dx%d-v%d.db", g.doors, perDoor, hubWorkflowVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	start := time.Now()
	permits := gen()
	err := genConsoleWorkflow(tmp, permits)
	if err == nil {
		err = os.Rename(tmp+workflow.KeysSuffix, path+workflow.KeysSuffix)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		os.Remove(tmp + workflow.KeysSuffix)
		return "", fmt.Errorf("generate %d permits: %w", len(permits), err)
	}
	fmt.Fprintf(log, "bench: generated %s (%d permits) in %s\n", path, len(permits), time.Since(start).Round(100*time.Millisecond))
	return path, nil
}

// startHub is the hub's start on ev: the workflow store opened, the hub
// made (hub.New: the permits' digests read and given to the kept book,
// the current records read and signed); what is not in it is the API and
// the link.
func (r *startRig) startHub(open func() (ingest.EventStore, error)) (*workflow.Book, func() error, error) {
	h, closeAll, err := r.startWholeHub(open)
	if err != nil {
		return nil, nil, err
	}
	return h.Book(), closeAll, nil
}

// startWholeHub is startHub, returning the hub.
func (r *startRig) startWholeHub(open func() (ingest.EventStore, error)) (*hub.Hub, func() error, error) {
	// in the order of hub/server's Open: the workflow store, its digests
	// read while the event store opens
	wf, err := workflow.Open(r.wfPath, workflow.Options{SiteKeys: map[string]permit.SiteKey{site: siteKey}, Signer: benchHubKey})
	if err != nil {
		return nil, nil, err
	}
	wf.PrefetchDigests()
	ev, err := open()
	if err != nil {
		wf.Close()
		return nil, nil, err
	}
	closeAll := func() error { return errors.Join(wf.Close(), ev.Close()) }
	h, err := hub.New(hub.Options{Workflow: wf, Events: ev, Signer: benchHubKey, Log: discardLog()})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return h, closeAll, nil
}

// openBoltStore opens r's bbolt event store.
func (r *startRig) openBoltStore() (ingest.EventStore, error) { return ingest.OpenStore(r.path) }

// openPGStore opens r's PostgreSQL event store.
func (r *startRig) openPGStore() (ingest.EventStore, error) {
	return pgevents.Open(context.Background(), r.pgDSN, pgevents.Options{})
}

// openBolt opens r's bbolt store until tb ends.
func (r *startRig) openBolt(tb testing.TB) *ingest.Store {
	tb.Helper()
	st, err := ingest.OpenStore(r.path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})
	return st
}

// BenchmarkHubStart measures the hub's start over HUB_BOOK_EVENTS
// (1,000,000) events of HUB_BOOK_DOORS (100) doors, one permit a visit:
// rebuild is the guest book built from every stored event and the
// permits' records as the hub did at each start before the store kept it
// (hub.BuildBook, the baseline; the records in memory, not read);
// bbolt and postgres open the event store alone (ingest.OpenStore,
// pgevents.Open: the kept book read, knowing no permit), a second
// baseline; hub-bbolt and hub-postgres are the whole start of a hub
// (startHub: the workflow store holding the permits opened, the event
// store, hub.New: the permits' digests read and given to the book, the
// records the start acts on read whole and signed), which the target
// (at most 1 s at 10,000,000 events) is about. ms is the median of the
// iterations' wall time, warm page cache; cpu-ms the median of the CPU
// time the process spent on each (user and system, every thread: the
// collector's too), which a machine shared with other work inflates less;
// migrate-ms is the first open of a store written before the book was
// kept (built once from its events).
func BenchmarkHubStart(b *testing.B) {
	n, doors := bookSize(b)
	r := openStartRig(b, doors, n/doors)
	run := func(name string, start func() (*workflow.Book, func() error, error)) {
		b.Run(name, func(b *testing.B) {
			var ds, cpus []float64
			rows := 0
			runtime.GC() // what the last one left is not this one's to collect
			for b.Loop() {
				t, c := time.Now(), cpuTime()
				bk, closeFn, err := start()
				if err != nil {
					b.Fatal(err)
				}
				ds, cpus = append(ds, millis(time.Since(t))), append(cpus, millis(cpuTime()-c))
				rows = bk.Len()
				if err := closeFn(); err != nil {
					b.Fatal(err)
				}
				bk = nil
				runtime.GC()
			}
			b.ReportMetric(median(ds), "ms")
			b.ReportMetric(median(cpus), "cpu-ms")
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(n), "events")
			if name == "bbolt" && r.migrated.Built {
				b.ReportMetric(millis(r.migrated.Took), "migrate-ms")
			}
		})
	}
	b.Run("rebuild", func(b *testing.B) {
		st, err := ingest.OpenStore(r.path)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close() // bbolt locks the file
		permits := r.g.permits(r.perDoor)
		var ds, cpus []float64
		rows := 0
		for b.Loop() {
			t, c := time.Now(), cpuTime()
			bk, err := hub.BuildBook(st, permits)
			if err != nil {
				b.Fatal(err)
			}
			ds, cpus = append(ds, millis(time.Since(t))), append(cpus, millis(cpuTime()-c))
			rows = bk.Len()
		}
		b.ReportMetric(median(ds), "ms")
		b.ReportMetric(median(cpus), "cpu-ms")
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(n), "events")
	})
	open := func(st ingest.EventStore, err error) (*workflow.Book, func() error, error) {
		if err != nil {
			return nil, nil, err
		}
		bk, opened := st.Book()
		if opened.Built {
			st.Close()
			return nil, nil, errors.New("the book was built again")
		}
		return bk, st.Close, nil
	}
	run("bbolt", func() (*workflow.Book, func() error, error) { return open(ingest.OpenStore(r.path)) })
	run("postgres", func() (*workflow.Book, func() error, error) {
		return open(pgevents.Open(context.Background(), r.pgDSN, pgevents.Options{}))
	})
	run("hub-bbolt", func() (*workflow.Book, func() error, error) { return r.startHub(r.openBoltStore) })
	run("hub-postgres", func() (*workflow.Book, func() error, error) {
		return r.startHub(r.openPGStore)
	})
}

// cpuTime is the CPU time the process has spent, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHubBookQueries measures the console's and the API's queries of
// the guest book and the service times on the book of a hub started on
// the bbolt store of HUB_BOOK_EVENTS (1,000,000) events (startHub: the
// permits known by their digests, each guest's name read from its record
// when a row is first returned), each against a baseline measured in the
// same run. The target (p99 under 50 ms) is for the queries that answer
// a page of the console or the API:
//   - page: the console's first page of the guest book (Hub.GuestRows'
//     Book.Page, the 50 newest), against page-scan, the same page found by
//     reading every row (Filter.Organisation "", matched row by row, as
//     Page did before);
//   - door-day: one door's day, and permit: one permit's visits
//     (Book.Query), against the same rows by a scan of every row;
//   - org-page: the first page of one organisation's visits (a filter
//     read row by row: no index);
//   - sla-month: the console's service-time report of one month
//     (Hub.ServiceSummaries of the month, as its Waktu Layanan page
//     does), and sla-12-months the same of its default window of twelve
//     months and each of them: both from the summaries the guest book
//     keeps per month (cold-ms: the first report of the twelve months
//     after the start, which summarises every month); and
//     sla-12-months-changed the twelve months with a permit of the last
//     month changed before each (a notification's time), so that each
//     report summarises that month again, as a report does while the
//     office works.
//
// Not pages, and not held to the 50 ms: the export of every row (csv:
// Hub.WriteGuestCSV's pages of workflow.GuestPage rows streamed to a
// discarding writer, rows-per-s; its first page first-ms) and the API's
// service-time report of every permit (sla-all, every permit's times,
// rows-per-s). p50-ms, p99-ms and max-ms are of the iterations; rows what
// each returns.
func BenchmarkHubBookQueries(b *testing.B) {
	n, doors := bookSize(b)
	r := openStartRig(b, doors, n/doors)
	h, closeHub, err := r.startWholeHub(r.openBoltStore)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeHub() })
	bk := h.Book()
	visits := n / doors / len(r.g.visit)
	permit := hubPermitID(visits / 2 * doors)
	org := workflow.Filter{Organisation: "mitra 07"}
	month := r.g.visitStart(0, visits/2).Add(-26 * time.Hour)
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	year := workflow.Filter{From: month.AddDate(0, -11, 0), To: month.AddDate(0, 1, 0)}
	// the first query of a page after the start reads its guests from
	// their records; the rest find them kept (the scan's rows below
	// read every one)
	cold := map[string]float64{}
	for name, f := range map[string]workflow.Filter{"page": {}, "door-day": r.doorDay, "permit": {Permit: permit}, "org-page": org} {
		t := time.Now()
		if rows, _ := h.GuestRows(f, 0, 50, false); len(rows) == 0 || rows[0].Guest == "" {
			b.Fatalf("%s: no row, or one without its guest", name)
		}
		cold[name] = millis(time.Since(t))
	}
	// scan is the rows f selects found by reading every row, as a book
	// without an index would
	all := bk.Rows()
	scan := func(keep func(*workflow.Row) bool) int {
		k := 0
		for i := range all {
			if keep(&all[i]) {
				k++
			}
		}
		return k
	}
	// sla is the console's report of f's window (Waktu Layanan): the
	// window and each of its months, from the summaries the book keeps
	// per month
	sla := func(f workflow.Filter) int {
		bounds := workflow.MonthBounds(f.From, f.To)
		all, months := h.ServiceSummaries(f, bounds)
		if all.Summary.Total.Count == 0 || len(months) != len(bounds)-1 {
			return 0
		}
		return all.Permits
	}
	// the first report of the twelve months after the start summarises
	// every month of them
	t := time.Now()
	if sla(year) == 0 {
		b.Fatal("sla-12-months: nothing")
	}
	cold["sla-12-months"] = millis(time.Since(t))
	// changed is a change of a permit requested in the window's last
	// month before each report: its notification handed earlier each time
	told := month.AddDate(0, 1, 0)
	changed := func() {
		told = told.Add(-time.Second)
		bk.Notified(permit, 2, told)
	}
	for _, q := range []struct {
		name string
		run  func() int
	}{
		{"page", func() int { rows, _ := h.GuestRows(workflow.Filter{}, 0, 50, false); return len(rows) }},
		{"page-scan", func() int { return min(50, scan(func(*workflow.Row) bool { return true })) }},
		{"door-day", func() int { return len(bk.Query(r.doorDay)) }},
		{"door-day-scan", func() int {
			f := r.doorDay
			return scan(func(w *workflow.Row) bool {
				return w.Site == f.Site && w.Door == f.Door && !w.Entered.Before(f.From) && w.Entered.Before(f.To)
			})
		}},
		{"permit", func() int { return len(bk.Query(workflow.Filter{Permit: permit})) }},
		{"permit-scan", func() int { return scan(func(w *workflow.Row) bool { return w.Permit == permit }) }},
		{"org-page", func() int { rows, _ := h.GuestRows(org, 0, 50, false); return len(rows) }},
		{"sla-month", func() int { return sla(workflow.Filter{From: month, To: month.AddDate(0, 1, 0)}) }},
		{"sla-12-months", func() int { return sla(year) }},
		{"sla-12-months-changed", func() int { return sla(year) }},
	} {
		b.Run(q.name, func(b *testing.B) {
			var ds []time.Duration
			rows := 0
			for b.Loop() {
				if q.name == "sla-12-months-changed" {
					changed()
				}
				t := time.Now()
				rows = q.run()
				ds = append(ds, time.Since(t))
			}
			if rows == 0 {
				b.Fatalf("%s: nothing", q.name)
			}
			slices.Sort(ds)
			b.ReportMetric(millis(percentile(ds, 50)), "p50-ms")
			b.ReportMetric(millis(percentile(ds, 99)), "p99-ms")
			b.ReportMetric(millis(ds[len(ds)-1]), "max-ms")
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(n), "events")
			if c, ok := cold[q.name]; ok {
				b.ReportMetric(c, "cold-ms")
			}
		})
	}
}

// BenchmarkHubBookExports measures, on the hub of BenchmarkHubBookQueries,
// the exports that are not pages: every row of the guest book as CSV
// (csv: Hub.EachGuestRows' pages of workflow.GuestPage rows written to a
// discarding writer as the API's and the console's CSV streams them;
// rows-per-s of the whole, cold-rows-per-s of the first export, which
// reads every guest's name from its record, first-ms until its first page
// was written)
// and the service times of every permit (sla-all: the API's report,
// rows-per-s). Medians of the iterations.
func BenchmarkHubBookExports(b *testing.B) {
	n, doors := bookSize(b)
	r := openStartRig(b, doors, n/doors)
	h, closeHub, err := r.startWholeHub(r.openBoltStore)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeHub() })
	bk := h.Book()
	b.Run("csv", func(b *testing.B) {
		var rates, firsts []float64
		rows := 0
		for b.Loop() {
			w := &countingWriter{}
			t := time.Now()
			var first time.Duration
			rows = 0
			c, err := workflow.NewCSV(w)
			if err == nil {
				err = h.EachGuestRows(workflow.Filter{}, false, func(rs []workflow.Row) error {
					if rows == 0 {
						first = time.Since(t)
					}
					rows += len(rs)
					return c.Write(rs)
				})
			}
			if err != nil {
				b.Fatal(err)
			}
			rates, firsts = append(rates, float64(rows)/time.Since(t).Seconds()), append(firsts, millis(first))
			if rows != bk.Len() || w.n == 0 {
				b.Fatalf("csv: %d rows of %d, %d bytes", rows, bk.Len(), w.n)
			}
		}
		b.ReportMetric(median(rates), "rows-per-s")
		b.ReportMetric(rates[0], "cold-rows-per-s")
		b.ReportMetric(median(firsts), "first-ms")
		b.ReportMetric(float64(rows), "rows")
	})
	b.Run("sla-all", func(b *testing.B) {
		var rates []float64
		rows := 0
		for b.Loop() {
			t := time.Now()
			rows = len(h.ServiceTimes(workflow.Filter{}))
			rates = append(rates, float64(rows)/time.Since(t).Seconds())
		}
		b.ReportMetric(median(rates), "rows-per-s")
		b.ReportMetric(float64(rows), "rows")
	})
}

// countingWriter counts what is written to it, and keeps nothing.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// byDoor is the rows of bk door after door, each door's in order: the
// kept book numbers its rows as they were stored, the doors interleaved,
// the one built from the events door after door.
func byDoor(bk *workflow.Book) []workflow.Row {
	return slices.SortedStableFunc(slices.Values(bk.Rows()), func(a, b workflow.Row) int { return strings.Compare(a.Door, b.Door) })
}

// TestHubStart takes BenchmarkHubStart's paths on a small store: the
// bbolt file and the PostgreSQL database made from it open with the book
// rebuilt from their events.
func TestHubStart(t *testing.T) {
	const doors, perDoor = 3, 400
	g := newHubGen(t, doors)
	src, err := cachedHubStore(t.TempDir(), g, perDoor, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := &startRig{g: g, perDoor: perDoor}
	permits := g.permits(perDoor)
	if r.path, err = workCopy(src, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	st := r.openBolt(t)
	want, err := hub.BuildBook(st, permits)
	if err != nil {
		t.Fatal(err)
	}
	bk, _ := st.Book()
	bk.AddPermits(permits)
	if bk.Len() == 0 || !reflect.DeepEqual(byDoor(bk), byDoor(want)) {
		t.Fatalf("bbolt: %d rows; rebuilt %d", bk.Len(), want.Len())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if r.wfPath, err = cachedHubWorkflow(t.TempDir(), g, perDoor, func() []workflow.Record { return permits }, io.Discard); err != nil {
		t.Fatal(err)
	}
	hbk, closeHub, err := r.startHub(r.openBoltStore)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byDoor(hbk), byDoor(want)) {
		t.Fatalf("the hub's start: %d rows; rebuilt %d", hbk.Len(), want.Len())
	}
	if got, w := hbk.ServiceTimes(workflow.Filter{}), want.ServiceTimes(workflow.Filter{}); len(got) == 0 || !slices.Equal(got, w) {
		t.Fatalf("the hub's start: %d service times; rebuilt %d", len(got), len(w))
	}
	// the pages: of one door, the same rows; of all doors, the kept book
	// numbers its rows as stored (byDoor), so the same count and every
	// row with its guest
	for _, f := range []workflow.Filter{{}, doorDay(g, perDoor), {Permit: hubPermitID(7)}, {Organisation: "mitra 07"}} {
		got, gn := hbk.Page(f, 0, 5)
		w, wn := want.Page(f, 0, 5)
		if gn != wn || len(got) == 0 || len(got) != len(w) || (f.Door != "" || f.Permit != "") && !reflect.DeepEqual(got, w) {
			t.Fatalf("the hub's start: page %+v: %d rows of %d; rebuilt %d of %d", f, len(got), gn, len(w), wn)
		}
		for _, row := range got {
			if row.Guest == "" || row.NIK == "" || row.Organisation == "" {
				t.Fatalf("the hub's start: page %+v: a row without its guest: %+v", f, row)
			}
		}
	}
	if err := closeHub(); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.DB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := fillPG(u.Path[1:], r.path); err != nil {
		t.Fatal(err)
	}
	pg, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	bk, opened := pg.Book()
	bk.AddPermits(permits)
	if opened.Built || !reflect.DeepEqual(byDoor(bk), byDoor(want)) {
		t.Fatalf("postgres: %+v, %d rows; rebuilt %d", opened, bk.Len(), want.Len())
	}
	if got, w := bk.ServiceTimes(workflow.Filter{}), want.ServiceTimes(workflow.Filter{}); len(got) == 0 || !slices.Equal(got, w) {
		t.Fatalf("postgres: %d service times; rebuilt %d", len(got), len(w))
	}
}
