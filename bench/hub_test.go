package bench

// The benchmarks of the hub issue. Ingest: 100 doors publish 1,000 events
// each through a real Mosquitto (mqtttest) to the hub's ingest on its
// persistent session, which stores them in its own bbolt file and acks;
// the baseline is the same messages from the same publishers to a
// subscriber that only counts them. Guest book: a million events stored
// by the ingest in a bbolt file (made once in bench/cache), the hub's Book
// rebuilt from them at start-up, and its queries against the batch
// GuestBook over the events read from the store. hub.sh runs them and
// prints the table; the quick tests at the end take each path through at
// a small size.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

const (
	// hubDoors, hubIngestEvents and hubBookEvents are the sizes of the
	// issue: 100 doors x 1,000 events ingested, 1,000,000 events stored.
	hubDoors        = 100
	hubIngestEvents = 1_000
	hubBookEvents   = 1_000_000
	// hubFormatVersion names the layout of generated event stores. Raise
	// it whenever the generator writes something else.
	hubFormatVersion = 1
	// hubWorkflowVersion names the layout of generated workflow stores
	// (2: the permits have a history, so their service times are known).
	hubWorkflowVersion = 2
	// hubEpoch is every generated door's epoch: one agent store each.
	hubEpoch = "b00c01"
	// A door's visits start visitGap apart (doors in turn, visitGap/doors
	// after each other); the events of a visit come eventStep apart.
	visitGap  = time.Hour
	eventStep = 2 * time.Minute
	// pubWindow is how many publishes a door keeps awaiting their PUBACK,
	// as the agent's pump does (outbox.Options.Window's default).
	pubWindow = 256
)

// hubGen makes the events of many doors: each an endless run of one
// escorted visit as a real door recorded it (doorRecord): the guest's tap,
// escort.awaited, the escort's tap, access.granted, door.unlocked,
// door.opened, visit.entered, door.closed, door.locked, the exit tap,
// exit.requested, door.unlocked, visit.exited, door.opened, door.closed,
// door.locked, room.secured. Visit v of door d is that of permit
// v*doors+d, escorted by its escort.
type hubGen struct {
	visit   []agent.Event
	entered int // the index of visit.entered in visit
	doors   int
	// start and gap place the visits (benchNow and visitGap when zero).
	start time.Time
	gap   time.Duration
}

func newHubGen(tb testing.TB, doors int) hubGen {
	tb.Helper()
	evs := doorRecord(tb).events
	first := slices.IndexFunc(evs, func(e agent.Event) bool { return e.Type == wire.EvTap })
	if first >= 0 {
		evs = evs[first:]
	}
	end := slices.IndexFunc(evs, func(e agent.Event) bool { return e.Type == wire.EvSecured })
	if first < 0 || end < 0 {
		tb.Fatalf("the recorded visits have no tap followed by %s", wire.EvSecured)
	}
	g := hubGen{visit: evs[:end+1], doors: doors}
	for _, want := range []wire.EventType{wire.EvGranted, wire.EvVisitExited} {
		if !slices.ContainsFunc(g.visit, func(e agent.Event) bool { return e.Type == want }) {
			tb.Fatalf("the recorded visit has no %s", want)
		}
	}
	if g.entered = slices.IndexFunc(g.visit, func(e agent.Event) bool { return e.Type == wire.EvVisitEntered }); g.entered < 0 {
		tb.Fatalf("the recorded visit has no %s", wire.EvVisitEntered)
	}
	return g
}

// door returns the topics of door d.
func (g hubGen) door(d int) topic.Door {
	return topic.Door{Prefix: topic.DefaultPrefix, Site: site, Door: fmt.Sprintf("door-%03d", d)}
}

func hubPermitID(k int) string { return fmt.Sprintf("P-%06d", k+1) }

// visitStart is when visit v of door d starts.
func (g hubGen) visitStart(d, v int) time.Time {
	start, gap := g.start, g.gap
	if start.IsZero() {
		start, gap = benchNow, visitGap
	}
	return start.Add(time.Duration(v)*gap + time.Duration(d)*gap/time.Duration(g.doors))
}

// event returns event i (seq i+1) of door d as the door publishes it.
func (g hubGen) event(d, i int) ingest.Event {
	v, j := i/len(g.visit), i%len(g.visit)
	k := v*g.doors + d
	start := g.visitStart(d, v)
	e := g.visit[j]
	e.At = start.Add(time.Duration(j) * eventStep)
	e.MonoNS = int64(e.At.Sub(g.visitStart(0, 0)))
	id, escort := hubPermitID(k), staffID(escortOf(k))
	if e.Permit != "" {
		e.Permit = id
	}
	if e.Escort != "" {
		e.Escort = escort
	}
	if e.Staff != "" {
		e.Staff = escort
	}
	switch {
	case strings.HasPrefix(e.Detail, "permit "):
		e.Detail = "permit " + id
	case strings.HasPrefix(e.Detail, "inside since "):
		e.Detail = "inside since " + start.Add(time.Duration(g.entered)*eventStep).Format(time.RFC3339)
	}
	t := g.door(d)
	e.Seq, e.Epoch, e.Site, e.Door, e.Replayed = uint64(i+1), hubEpoch, t.Site, t.Door, false
	e.ID = fmt.Sprintf("%s/%s/%s/%d", t.Site, t.Door, hubEpoch, e.Seq)
	return e
}

// payloads returns the JSON of the first perDoor events of every door.
func (g hubGen) payloads(perDoor int) ([][][]byte, error) {
	out := make([][][]byte, g.doors)
	for d := range out {
		out[d] = make([][]byte, perDoor)
		for i := range perDoor {
			j, err := json.Marshal(g.event(d, i))
			if err != nil {
				return nil, err
			}
			out[d][i] = j
		}
	}
	return out, nil
}

// permits returns the hub's records of every permit whose visit is among
// the first perDoor events of a door: issued, approved, escorted.
func (g hubGen) permits(perDoor int) []workflow.Record {
	visits := (perDoor + len(g.visit) - 1) / len(g.visit)
	recs := make([]workflow.Record, 0, visits*g.doors)
	for k := range visits * g.doors {
		t := g.door(k % g.doors)
		start := g.visitStart(k%g.doors, k/g.doors)
		eq := []string{"laptop"}
		if k%3 == 0 {
			eq = append(eq, "switch 48 port", "patch cables")
		}
		// requested a day before, each step of the SOP taking a few
		// minutes, some longer than its standard
		req := start.Add(-26 * time.Hour)
		coo := req.Add(time.Duration(k%7+1) * time.Minute)
		app := coo.Add(time.Duration(k%4+1) * time.Minute)
		esc := app.Add(time.Duration(k%3+1) * time.Minute)
		hist := []workflow.Transition{{State: workflow.Requested, By: "desk", At: req, Version: 1},
			{State: workflow.Coordinated, By: "K-0001", At: coo, Version: 2}, {State: workflow.Approved, By: "M-0001", At: app, Version: 3},
			{State: workflow.Escorted, By: "M-0001", At: esc, Version: 4}, {State: workflow.Issued, By: "M-0001", At: esc, Version: 5}}
		recs = append(recs, workflow.Record{ID: hubPermitID(k), Version: 5, State: workflow.Issued,
			Site: t.Site, Door: t.Door, Guest: fmt.Sprintf("Guest %d", k), NIK: fmt.Sprintf("3302%012d", k),
			Organisation: fmt.Sprintf("PT Mitra %02d", k%40), Purpose: "scheduled maintenance", Equipment: eq,
			NotBefore: start.Add(-time.Hour), NotAfter: start.Add(3 * time.Hour), Entries: 1,
			Category: categoryOf(k), Requester: "desk", Coordinator: "K-0001", Approver: "M-0001",
			ApprovedAt: app, Escort: staffID(escortOf(k)), History: hist})
	}
	return recs
}

// noAcks is the ingest's publisher while a store is generated: nobody
// takes the acks.
type noAcks struct{}

func (noAcks) Publish(string, byte, bool, []byte) mqttlink.Token { return mqttlink.Completed(nil) }

// cachedHubStore returns the path of an ingest store in dir holding the
// first perDoor events of each of g's doors, making it the first time
// under a temporary name renamed when complete.
func cachedHubStore(dir string, g hubGen, perDoor int, log io.Writer) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("hub-events-%dx%d-v%d.db", g.doors, perDoor, hubFormatVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	start := time.Now()
	if err := genHubStore(tmp, g, perDoor); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("generate %d x %d events: %w", g.doors, perDoor, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	if fi, err := os.Stat(path); err == nil {
		fmt.Fprintf(log, "bench: generated %s (%d events, %d MiB) in %s\n",
			path, g.doors*perDoor, fi.Size()>>20, time.Since(start).Round(100*time.Millisecond))
	}
	return path, nil
}

// genHubStore stores the events through the hub's own ingest (Handle, as
// from the broker, and Run), the doors' events arriving interleaved as in
// the field.
func genHubStore(path string, g hubGen, perDoor int) error {
	st, err := ingest.OpenStore(path)
	if err != nil {
		return err
	}
	defer st.Close()
	in, err := ingest.New(st, ingest.Options{MaxBatch: 10_000, QueueDepth: 10_000, Signer: benchHubKey})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- in.Run(ctx, noAcks{}) }()
	for i := range perDoor {
		for d := range g.doors {
			j, err := json.Marshal(g.event(d, i))
			if err != nil {
				return err
			}
			in.Handle(mqttlink.Message{Topic: g.door(d).Events(), Payload: j, QoS: 1})
		}
	}
	want := uint64(g.doors * perDoor)
	err = poll(2*time.Minute, func() (bool, error) {
		s := in.Stats()
		if s.Malformed+s.StoreErrors+s.Dropped > 0 {
			return false, fmt.Errorf("ingest %+v", s)
		}
		return s.Stored >= want, nil
	})
	cancel()
	if err := errors.Join(err, <-ran); err != nil {
		return err
	}
	if total, err := st.Total(); err != nil || total != want {
		return fmt.Errorf("store holds %d events (%v), want %d", total, err, want)
	}
	return st.Close()
}

// hubCopies holds this process's working copy of each cached event store:
// the cache is never opened for writing (ingest.OpenStore writes).
var hubCopies sync.Map // cached path -> func() (string, error)

func hubStoreCopy(tb testing.TB, src string) string {
	tb.Helper()
	f, _ := hubCopies.LoadOrStore(src, sync.OnceValues(func() (string, error) { return workCopy(src, runDir(tb)) }))
	p, err := f.(func() (string, error))()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// rebuildBook is the hub's start-up (hub.BuildBook): a Book of the
// permits from every door's stored events. It returns the events stored.
func rebuildBook(st *ingest.Store, permits []workflow.Record) (*workflow.Book, int, error) {
	bk, err := hub.BuildBook(st, permits)
	if err != nil {
		return nil, 0, err
	}
	n, err := st.Total()
	return bk, int(n), err
}

var errStop = errors.New("stop")

// storedGuestBook is the guest book without a Book: the batch GuestBook
// over the stored events of the doors f names (every door without one),
// read from the store, then the rows entered in [f.From, f.To).
func storedGuestBook(st *ingest.Store, permits []workflow.Record, f workflow.Filter) ([]workflow.Row, error) {
	doors := []ingest.DoorEvents{{Site: f.Site, Door: f.Door}}
	if f.Door == "" {
		var err error
		if doors, err = st.Doors(); err != nil {
			return nil, err
		}
	}
	var walkErr error
	events := func(yield func(wire.Event) bool) {
		for _, d := range doors {
			err := st.Walk(d.Site, d.Door, func(e ingest.Event) error {
				if !yield(e) {
					return errStop
				}
				return nil
			})
			if err != nil {
				if !errors.Is(err, errStop) {
					walkErr = err
				}
				return
			}
		}
	}
	rows := workflow.GuestBook(permits, events)
	if walkErr != nil {
		return nil, walkErr
	}
	return slices.DeleteFunc(rows, func(r workflow.Row) bool {
		return (!f.From.IsZero() && r.Entered.Before(f.From)) || (!f.To.IsZero() && !r.Entered.Before(f.To))
	}), nil
}

// books holds the Book of each working copy, built once per process for
// the query benchmarks.
var books sync.Map // path -> func() (*workflow.Book, error)

func sharedBook(tb testing.TB, path string, st *ingest.Store, permits []workflow.Record) *workflow.Book {
	tb.Helper()
	f, _ := books.LoadOrStore(path, sync.OnceValues(func() (*workflow.Book, error) {
		bk, _, err := rebuildBook(st, permits)
		return bk, err
	}))
	bk, err := f.(func() (*workflow.Book, error))()
	if err != nil {
		tb.Fatal(err)
	}
	return bk
}

// bookRig is a generated event store open for the guest-book benchmarks.
type bookRig struct {
	g       hubGen
	path    string
	st      *ingest.Store
	permits []workflow.Record
	// doorDay selects one door's visits of one day in the middle of the
	// stored ones.
	doorDay workflow.Filter
}

func openBookRig(tb testing.TB, dir string, doors, perDoor int, log io.Writer, cached func(string) string) *bookRig {
	tb.Helper()
	g := newHubGen(tb, doors)
	src, err := cachedHubStore(dir, g, perDoor, log)
	if err != nil {
		tb.Fatal(err)
	}
	path := cached(src)
	st, err := ingest.OpenStore(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})
	return &bookRig{g: g, path: path, st: st, permits: g.permits(perDoor), doorDay: doorDay(g, perDoor)}
}

// doorDay selects one door's visits of one day in the middle of the first
// perDoor events of g's doors.
func doorDay(g hubGen, perDoor int) workflow.Filter {
	visits := perDoor / len(g.visit)
	day := g.visitStart(0, visits/2).Truncate(24 * time.Hour)
	t := g.door(g.doors / 2)
	return workflow.Filter{Site: t.Site, Door: t.Door, From: day, To: day.Add(24 * time.Hour)}
}

func millis(d time.Duration) float64 { return float64(d) / 1e6 }

// bookSize is the size of the guest-book benchmarks' store:
// HUB_BOOK_EVENTS (1,000,000) events of HUB_BOOK_DOORS (100) doors, the
// large sizes only with KUNCI_BENCH_LARGE=1.
func bookSize(b *testing.B) (n, doors int) {
	n = envInt(b, "HUB_BOOK_EVENTS", hubBookEvents)
	doors = envInt(b, "HUB_BOOK_DOORS", hubDoors)
	needLarge(b, n)
	if n%doors != 0 {
		b.Fatalf("HUB_BOOK_EVENTS=%d is not a multiple of HUB_BOOK_DOORS=%d", n, doors)
	}
	return n, doors
}

// BenchmarkHubBook measures the guest book over HUB_BOOK_EVENTS
// (1,000,000) events of HUB_BOOK_DOORS (100) doors stored by the ingest:
// rebuild is the hub's start-up, a Book made from the permits and every
// stored event (rebuild-ms, ev/s); all and door-day are Book.Query of
// every row and of one door's day (book), against the batch GuestBook over
// the same events read from the store (guestbook). ms is the median of the
// iterations; rows the rows returned.
func BenchmarkHubBook(b *testing.B) {
	n, doors := bookSize(b)
	r := openBookRig(b, cacheDir(), doors, n/doors, os.Stderr, func(src string) string { return hubStoreCopy(b, src) })
	b.Run("rebuild", func(b *testing.B) {
		var ds []float64
		var events, rows int
		for b.Loop() {
			t := time.Now()
			bk, got, err := rebuildBook(r.st, r.permits)
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, millis(time.Since(t)))
			events, rows = got, bk.Len()
		}
		if events != n {
			b.Fatalf("rebuilt from %d events, want %d", events, n)
		}
		b.ReportMetric(median(ds), "rebuild-ms")
		b.ReportMetric(float64(n)/median(ds)*1e3, "ev/s")
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(len(r.permits)), "permits")
	})
	bk := sharedBook(b, r.path, r.st, r.permits)
	for _, q := range []struct {
		name string
		f    workflow.Filter
	}{{"all", workflow.Filter{}}, {"door-day", r.doorDay}} {
		for _, c := range []struct {
			name  string
			query func() ([]workflow.Row, error)
		}{
			{"book", func() ([]workflow.Row, error) { return bk.Query(q.f), nil }},
			{"guestbook", func() ([]workflow.Row, error) { return storedGuestBook(r.st, r.permits, q.f) }},
		} {
			b.Run(q.name+"/"+c.name, func(b *testing.B) {
				var ds []float64
				var rows []workflow.Row
				for b.Loop() {
					t := time.Now()
					var err error
					if rows, err = c.query(); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, millis(time.Since(t)))
				}
				if len(rows) == 0 {
					b.Fatalf("%+v: no rows", q.f)
				}
				b.ReportMetric(median(ds), "ms")
				b.ReportMetric(float64(len(rows)), "rows")
				b.ReportMetric(float64(n), "events")
			})
		}
	}
}

// runLinks runs links until the returned stop, once each has connected.
func runLinks(tb testing.TB, links ...*mqttlink.Link) (stop func()) {
	tb.Helper()
	ups := make([]<-chan struct{}, len(links))
	for i, l := range links {
		ups[i] = l.NextConnection()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, l := range links {
		wg.Go(func() {
			if err := l.Run(ctx); err != nil {
				tb.Errorf("link: %v", err)
			}
		})
	}
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	tb.Cleanup(stop)
	for i, up := range ups {
		waitConn(tb, up, 30*time.Second, fmt.Sprintf("link %d of %d", i+1, len(links)))
	}
	return stop
}

// publishDoor publishes a door's events in order, QoS 1, with at most
// pubWindow awaiting their PUBACK, as the agent's pump does.
func publishDoor(ctx context.Context, l *mqttlink.Link, t string, pls [][]byte) error {
	window := make([]mqttlink.Token, 0, pubWindow)
	for _, p := range pls {
		if len(window) == pubWindow {
			if err := mqttlink.Wait(ctx, window[0]); err != nil {
				return err
			}
			window = window[1:]
		}
		window = append(window, l.Publish(t, 1, false, p))
	}
	for _, tok := range window {
		if err := mqttlink.Wait(ctx, tok); err != nil {
			return err
		}
	}
	return nil
}

// ingestResult is one run of many doors' events through the broker.
type ingestResult struct {
	n        int
	elapsed  time.Duration // from the first publish until the last event counted, or every door's final ack
	stored   time.Duration // the hub: until the commit of the last event
	pubacked time.Duration // until every publish was PUBACKed
	hub      ingest.Stats
}

// runHubIngest starts a fresh Mosquitto and, with hub, the hub's ingest
// on its persistent session into a bbolt file in dir; without, a
// subscriber on the same session options that only counts the messages.
// Then one link per door (clean session, subscribed to its events/ack)
// connects, and the clock runs from the first publish until the hub has
// acked every door's last event (each ack follows the commit) or the
// subscriber has counted them all.
func runHubIngest(tb testing.TB, dir string, g hubGen, pls [][][]byte, hub bool) ingestResult {
	tb.Helper()
	if !hub {
		return runIngest(tb, dir, g, pls, ingestSetup{})
	}
	return runIngest(tb, dir, g, pls, ingestSetup{replicas: 1})
}

// ingestSetup is what takes the doors' events in runIngest: a subscriber
// that counts them (replicas 0), the hub's ingest into a bbolt file
// (replicas 1, no dsn), or replicas ingests into the PostgreSQL database
// dsn, each a store of its own, on the shared subscription.
type ingestSetup struct {
	replicas int
	dsn      string
}

func runIngest(tb testing.TB, dir string, g hubGen, pls [][][]byte, setup ingestSetup) ingestResult {
	tb.Helper()
	hub := setup.replicas > 0
	n, perDoor := 0, len(pls[0])
	for _, p := range pls {
		n += len(p)
	}
	m := mqtttest.StartMosquitto(tb)
	defer m.Stop()
	// base is read by the callbacks: set before any of them runs
	base := time.Now()
	var counted, storedN atomic.Int64
	var storedAt atomic.Int64 // since base
	done := make(chan struct{})
	finish := sync.OnceFunc(func() { close(done) })

	var hs []*syncHub
	byTopic := map[string]int{} // the counting subscriber's own
	stopSub := func() {}
	hubPath := filepath.Join(dir, "hub.db")
	onStored := func(evs []ingest.Event) {
		if storedN.Add(int64(len(evs))) == int64(n) {
			storedAt.Store(int64(time.Since(base)))
		}
	}
	switch {
	case hub && setup.dsn == "":
		hs = append(hs, startSyncHub(tb, m.URL(), hubPath, ingest.Options{OnStored: onStored}, mqttlink.Options{}))
		defer func() { hs[0].stop(); checkBolt(tb, hubPath) }()
	case hub:
		for i := range setup.replicas {
			st, err := pgevents.Open(context.Background(), setup.dsn, pgevents.Options{})
			if err != nil {
				tb.Fatal(err)
			}
			hs = append(hs, startSyncHubOn(tb, m.URL(), st, ingest.Options{OnStored: onStored},
				mqttlink.Options{ClientID: fmt.Sprintf("kunci-hub-%d", i+1)}, true, 15*time.Second))
		}
		defer func() {
			for _, h := range hs {
				h.stop()
			}
		}()
	default:
		sub, err := mqttlink.New(ingest.LinkOptions(mqttlink.Options{Broker: m.URL(), ClientID: "kunci-bench-count"}, "", false),
			func(msg mqttlink.Message) {
				byTopic[msg.Topic]++
				if counted.Add(1) == int64(n) {
					finish()
				}
			})
		if err != nil {
			tb.Fatal(err)
		}
		stopSub = runLinks(tb, sub)
		defer stopSub()
	}

	links := make([]*mqttlink.Link, g.doors)
	var finals atomic.Int64
	for d := range links {
		t := g.door(d)
		var once sync.Once
		l, err := mqttlink.New(mqttlink.Options{Broker: m.URL(), ClientID: "kunci-bench-" + t.Door, CleanSession: true,
			Subscriptions: map[string]byte{t.EventsAck(): 1}}, func(msg mqttlink.Message) {
			// the clear members, as an old agent reads them: a Pi verifies
			// its own door's acks, these 100 doors would share the hub's CPU
			var a permit.AckPayload
			if err := json.Unmarshal(msg.Payload, &a); err != nil || a.Epoch != hubEpoch || a.Through < uint64(perDoor) {
				return
			}
			once.Do(func() {
				if finals.Add(1) == int64(g.doors) {
					finish()
				}
			})
		})
		if err != nil {
			tb.Fatal(err)
		}
		links[d] = l
	}
	stopLinks := runLinks(tb, links...)
	defer stopLinks()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+time.Duration(n)*2*time.Millisecond)
	defer cancel()
	var pubs sync.WaitGroup
	pubErrs := make([]error, g.doors)
	start := time.Now()
	for d, l := range links {
		pubs.Go(func() { pubErrs[d] = publishDoor(ctx, l, g.door(d).Events(), pls[d]) })
	}
	pubs.Wait()
	res := ingestResult{n: n, pubacked: time.Since(start)}
	if err := errors.Join(pubErrs...); err != nil {
		tb.Fatalf("publish: %v", err)
	}
	select {
	case <-done:
		res.elapsed = time.Since(start)
	case <-ctx.Done():
		what := fmt.Sprintf("subscriber counted %d of %d", counted.Load(), n)
		if hub {
			what = fmt.Sprintf("%d of %d doors acked, hub %+v", finals.Load(), g.doors, sumStats(hs))
		}
		tb.Fatalf("%s\n%s", what, m.Log())
	}
	stopLinks()
	if !hub {
		stopSub()
		for d := range g.doors {
			if got := byTopic[g.door(d).Events()]; got != perDoor {
				tb.Errorf("subscriber counted %d messages of door %d, want %d", got, d, perDoor)
			}
		}
		return res
	}
	res.stored = time.Duration(storedAt.Load()) - start.Sub(base)
	res.hub = sumStats(hs)
	st := hs[0].st
	if total, err := st.Total(); err != nil || total != uint64(n) {
		tb.Errorf("hub store holds %d events (%v), want %d", total, err, n)
	}
	for d := range g.doors {
		t := g.door(d)
		if th, err := st.Through(t.Site, t.Door, hubEpoch); err != nil || th != uint64(perDoor) {
			tb.Errorf("%s: through %d (%v), want %d", t.Door, th, err, perDoor)
		}
	}
	if s := res.hub; s.Stored != uint64(n) || s.Malformed != 0 || s.StoreErrors != 0 {
		tb.Errorf("hub stats %+v: want %d stored, none malformed, no store errors", s, n)
	}
	return res
}

// sumStats is the ingests' counters added up.
func sumStats(hs []*syncHub) ingest.Stats {
	var t ingest.Stats
	for _, h := range hs {
		s := h.in.Stats()
		t.Received += s.Received
		t.Stored += s.Stored
		t.Duplicates += s.Duplicates
		t.Held += s.Held
		t.Dropped += s.Dropped
		t.Commits += s.Commits
		t.StoreErrors += s.StoreErrors
		t.Conflicts += s.Conflicts
		t.Acks += s.Acks
		t.Malformed += s.Malformed
	}
	return t
}

// ingestPayloads is the doors and their events of the ingest benchmarks:
// HUB_DOORS (100) doors, HUB_EVENTS (1,000) events each.
func ingestPayloads(b *testing.B) (hubGen, [][][]byte) {
	g := newHubGen(b, envInt(b, "HUB_DOORS", hubDoors))
	pls, err := g.payloads(envInt(b, "HUB_EVENTS", hubIngestEvents))
	if err != nil {
		b.Fatal(err)
	}
	return g, pls
}

// BenchmarkHubIngest measures HUB_DOORS (100) doors publishing
// HUB_EVENTS (1,000) events each at once through a fresh Mosquitto per
// iteration: kunci is the hub's ingest storing them durably and acking
// (ev/s until every door has its final ack; stored-ev/s until the commit
// of the last event), subscriber the same messages to a subscriber that
// only counts them. puback-ev/s is until the publishers had every PUBACK.
// Medians over the iterations; the hub's commits, acks and duplicates of
// the last.
func BenchmarkHubIngest(b *testing.B) {
	g, pls := ingestPayloads(b)
	for _, c := range []struct {
		name string
		hub  bool
	}{{"subscriber", false}, {"kunci", true}} {
		b.Run(c.name, func(b *testing.B) {
			var rates, stored, pubacked []float64
			var last ingestResult
			for b.Loop() {
				last = runHubIngest(b, runDir(b), g, pls, c.hub)
				rates = append(rates, float64(last.n)/last.elapsed.Seconds())
				pubacked = append(pubacked, float64(last.n)/last.pubacked.Seconds())
				if c.hub {
					stored = append(stored, float64(last.n)/last.stored.Seconds())
				}
			}
			b.ReportMetric(median(rates), "ev/s")
			b.ReportMetric(median(pubacked), "puback-ev/s")
			b.ReportMetric(float64(last.n), "events")
			b.ReportMetric(float64(g.doors), "doors")
			if c.hub {
				b.ReportMetric(median(stored), "stored-ev/s")
				b.ReportMetric(float64(last.hub.Commits), "hub-commits")
				b.ReportMetric(float64(last.hub.Acks), "hub-acks")
				b.ReportMetric(float64(last.hub.Duplicates), "hub-dups")
			}
		})
	}
}

// TestCacheHubStore makes the event store of BenchmarkHubBook in
// bench/cache, so that hub.sh generates it before anything is timed. It
// only runs with KUNCI_BENCH_LARGE=1.
func TestCacheHubStore(t *testing.T) {
	if os.Getenv(largeEnv) != "1" {
		t.Skipf("writes bench/cache: set %s=1 or use bench/hub.sh", largeEnv)
	}
	n := envInt(t, "HUB_BOOK_EVENTS", hubBookEvents)
	doors := envInt(t, "HUB_BOOK_DOORS", hubDoors)
	if _, err := cachedHubStore(cacheDir(), newHubGen(t, doors), n/doors, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// TestHubIngest takes a few doors' events through both cases of
// BenchmarkHubIngest.
func TestHubIngest(t *testing.T) {
	g := newHubGen(t, 4)
	pls, err := g.payloads(60)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pls[1] {
		e, err := ingest.DecodeEvent(topic.DefaultPrefix, g.door(1).Events(), p, ingest.DefaultMaxEventSize)
		if err != nil {
			t.Fatalf("payload %d: %v\n%s", i, err, p)
		}
		if e.Seq != uint64(i+1) || e.Replayed {
			t.Errorf("payload %d: seq %d replayed %v", i, e.Seq, e.Replayed)
		}
	}
	for _, hub := range []bool{false, true} {
		r := runHubIngest(t, t.TempDir(), g, pls, hub)
		if r.elapsed <= 0 || (hub && (r.stored <= 0 || r.stored > r.elapsed || r.hub.Acks == 0)) {
			t.Errorf("hub %v: %+v", hub, r)
		}
	}
}

// TestHubBook checks the guest-book benchmark on a small store: the cache
// is made once, the rebuilt Book holds a row per visit entered and agrees
// with the batch GuestBook on both queries, and the day has visits.
func TestHubBook(t *testing.T) {
	const doors, perDoor = 3, 400
	dir := t.TempDir()
	r := openBookRig(t, dir, doors, perDoor, io.Discard, func(src string) string {
		p, err := workCopy(src, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
	src, err := cachedHubStore(dir, r.g, perDoor, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := cachedHubStore(dir, r.g, perDoor, io.Discard); err != nil || again != src {
		t.Errorf("second cachedHubStore = %s, %v; want %s", again, err, src)
	} else if fi2, err := os.Stat(again); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("the cached store was made again")
	}

	bk, events, err := rebuildBook(r.st, r.permits)
	if err != nil {
		t.Fatal(err)
	}
	entered := 0
	for i := range perDoor {
		if r.g.event(0, i).Type == wire.EvVisitEntered {
			entered++
		}
	}
	if events != doors*perDoor || bk.Len() != doors*entered {
		t.Fatalf("rebuilt from %d events, %d rows; want %d, %d", events, bk.Len(), doors*perDoor, doors*entered)
	}
	for _, f := range []workflow.Filter{{}, r.doorDay} {
		got := bk.Query(f)
		want, err := storedGuestBook(r.st, r.permits, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("%+v: Book %d rows, GuestBook %d", f, len(got), len(want))
		}
		open := 0 // the last visit of a door may still be under way
		for i := range got {
			g, w := got[i], want[i]
			if g.Permit != w.Permit || g.Guest != w.Guest || g.NIK != w.NIK || !g.Entered.Equal(w.Entered) ||
				!g.Exited.Equal(w.Exited) || !g.Secured.Equal(w.Secured) || len(g.Alarms) != 0 ||
				!slices.Equal(g.Equipment, w.Equipment) {
				t.Fatalf("%+v: row %d\nBook      %+v\nGuestBook %+v", f, i, g, w)
			}
			if g.Exited.IsZero() {
				open++
			} else if g.Secured.IsZero() || g.Guest == "" || g.Escort == "" {
				t.Errorf("row %d, a whole visit: %+v", i, g)
			}
		}
		if open > doors {
			t.Errorf("%+v: %d visits still under way, at most one a door", f, open)
		}
	}
}
