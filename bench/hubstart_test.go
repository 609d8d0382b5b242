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
	"slices"
	"strings"
	"sync"
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
	permits  []workflow.Record
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
		r := &startRig{g: g, path: hubStoreCopy(tb, src), permits: g.permits(perDoor), doorDay: doorDay(g, perDoor)}
		wf, err := cachedHubWorkflow(cacheDir(), g, perDoor, r.permits, os.Stderr)
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
func cachedHubWorkflow(dir string, g hubGen, perDoor int, permits []workflow.Record, log io.Writer) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("hub-workflow-%dx%d-v%d.db", g.doors, perDoor, hubWorkflowVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	start := time.Now()
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
// made (hub.New: the permits read, the kept book given them, the current
// records signed); what is not in it is the API and the link.
func (r *startRig) startHub(ev ingest.EventStore, err error) (*workflow.Book, func() error, error) {
	if err != nil {
		return nil, nil, err
	}
	wf, err := workflow.Open(r.wfPath, workflow.Options{SiteKeys: map[string]permit.SiteKey{site: siteKey}, Signer: benchHubKey})
	if err != nil {
		ev.Close()
		return nil, nil, err
	}
	closeAll := func() error { return errors.Join(wf.Close(), ev.Close()) }
	h, err := hub.New(hub.Options{Workflow: wf, Events: ev, Signer: benchHubKey, Log: discardLog()})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return h.Book(), closeAll, nil
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
// (1,000,000) events of HUB_BOOK_DOORS (100) doors: rebuild is the
// guest book built from every stored event as the hub did at each start
// before the store kept it (hub.BuildBook, the baseline); bbolt and
// postgres open the event store (ingest.OpenStore, pgevents.Open) with
// its kept book and give the book the permits (AddPermits), as the hub's
// start now does, the permits in memory; hub-bbolt and hub-postgres are
// the whole start of a hub (startHub: the workflow store holding the
// permits opened, the event store, hub.New). ms is the median of the
// iterations, warm page cache; migrate-ms is the first open of a store
// written before the book was kept (built once from its events).
func BenchmarkHubStart(b *testing.B) {
	n, doors := bookSize(b)
	r := openStartRig(b, doors, n/doors)
	var st *ingest.Store // rebuild's
	run := func(name string, start func() (*workflow.Book, func() error, error)) {
		b.Run(name, func(b *testing.B) {
			var ds []float64
			rows := 0
			for b.Loop() {
				t := time.Now()
				bk, closeFn, err := start()
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, millis(time.Since(t)))
				rows = bk.Len()
				if err := closeFn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(median(ds), "ms")
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(n), "events")
			if name == "bbolt" && r.migrated.Built {
				b.ReportMetric(millis(r.migrated.Took), "migrate-ms")
			}
		})
	}
	run("rebuild", func() (*workflow.Book, func() error, error) {
		if st == nil {
			var err error
			if st, err = ingest.OpenStore(r.path); err != nil {
				return nil, nil, err
			}
		}
		bk, err := hub.BuildBook(st, r.permits)
		return bk, func() error { return nil }, err
	})
	if st != nil {
		if err := st.Close(); err != nil { // bbolt locks the file
			b.Fatal(err)
		}
	}
	open := func(st ingest.EventStore, err error) (*workflow.Book, func() error, error) {
		if err != nil {
			return nil, nil, err
		}
		bk, opened := st.Book()
		if opened.Built {
			st.Close()
			return nil, nil, errors.New("the book was built again")
		}
		bk.AddPermits(r.permits)
		return bk, st.Close, nil
	}
	run("bbolt", func() (*workflow.Book, func() error, error) { return open(ingest.OpenStore(r.path)) })
	run("postgres", func() (*workflow.Book, func() error, error) {
		return open(pgevents.Open(context.Background(), r.pgDSN, pgevents.Options{}))
	})
	run("hub-bbolt", func() (*workflow.Book, func() error, error) { return r.startHub(ingest.OpenStore(r.path)) })
	run("hub-postgres", func() (*workflow.Book, func() error, error) {
		return r.startHub(pgevents.Open(context.Background(), r.pgDSN, pgevents.Options{}))
	})
}

// BenchmarkHubBookQueries measures, on the book the bbolt store kept for
// HUB_BOOK_EVENTS (1,000,000) events, opened and given the permits: the
// console's first page of the guest book (page), every row (all: the API's
// CSV), one door's day (door-day), one permit's visits (permit), and the
// service times of every permit (service-times: the generated permits have
// no history, so no window of request times selects some of them). p50-ms, p99-ms and max-ms are of the iterations;
// rows what each returns.
func BenchmarkHubBookQueries(b *testing.B) {
	n, doors := bookSize(b)
	r := openStartRig(b, doors, n/doors)
	bk, _ := r.openBolt(b).Book()
	bk.AddPermits(r.permits)
	visits := n / doors / len(r.g.visit)
	for _, q := range []struct {
		name string
		run  func() int
	}{
		{"page", func() int { rows, _ := bk.Page(workflow.Filter{}, 0, 50); return len(rows) }},
		{"all", func() int { return len(bk.Query(workflow.Filter{})) }},
		{"door-day", func() int { return len(bk.Query(r.doorDay)) }},
		{"permit", func() int { return len(bk.Query(workflow.Filter{Permit: hubPermitID(visits / 2 * doors)})) }},
		{"service-times", func() int { return len(bk.ServiceTimes(workflow.Filter{})) }},
	} {
		b.Run(q.name, func(b *testing.B) {
			var ds []time.Duration
			rows := 0
			for b.Loop() {
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
		})
	}
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
	r := &startRig{g: g, permits: g.permits(perDoor)}
	if r.path, err = workCopy(src, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	st := r.openBolt(t)
	want, err := hub.BuildBook(st, r.permits)
	if err != nil {
		t.Fatal(err)
	}
	bk, _ := st.Book()
	bk.AddPermits(r.permits)
	if bk.Len() == 0 || !reflect.DeepEqual(byDoor(bk), byDoor(want)) {
		t.Fatalf("bbolt: %d rows; rebuilt %d", bk.Len(), want.Len())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if r.wfPath, err = cachedHubWorkflow(t.TempDir(), g, perDoor, r.permits, io.Discard); err != nil {
		t.Fatal(err)
	}
	hbk, closeHub, err := r.startHub(ingest.OpenStore(r.path))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byDoor(hbk), byDoor(want)) {
		t.Fatalf("the hub's start: %d rows; rebuilt %d", hbk.Len(), want.Len())
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
	bk.AddPermits(r.permits)
	if opened.Built || !reflect.DeepEqual(byDoor(bk), byDoor(want)) {
		t.Fatalf("postgres: %+v, %d rows; rebuilt %d", opened, bk.Len(), want.Len())
	}
	if got, w := bk.ServiceTimes(workflow.Filter{}), want.ServiceTimes(workflow.Filter{}); len(got) == 0 || !slices.Equal(got, w) {
		t.Fatalf("postgres: %d service times; rebuilt %d", len(got), len(w))
	}
}
