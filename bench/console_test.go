package bench

// The console's benchmarks of the console issue, on a hub holding 100,000
// visits: a year of escorted visits at a few doors (the door's own events,
// 17 a visit, as for the hub's benchmarks), their permits issued with
// their whole history, and the staff who escort them, made once in
// bench/cache. The hub runs as hubtest runs it (real bbolt files, the
// console behind the API's handler); the pages are timed through that
// handler with a signed-in session's cookie, the live update and the
// streams through a real HTTP server. console.sh runs them and prints the
// table; TestConsole takes each path through at a small size.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

const (
	// consoleVisits and consoleDoors are the size: 100,000 visits
	// at a few doors, a year of them.
	consoleVisits = 100_000
	consoleDoors  = 10
	// consoleFormatVersion names the layout of the generated hub; raise it
	// whenever the generator writes something else.
	consoleFormatVersion = 2 // 2: hub.db sealed, with its keys file
	// consoleStreams is how many dashboards are open at once.
	consoleStreams = 100
)

// consoleStart is when the generated year begins: it ends on 2026-12-01,
// so that the service-time page's default, the last six months of the
// clock, finds visits (it reads time.Now, not the hub's clock).
var consoleStart = time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)

// consoleGen returns the generator of visits visits at consoleDoors doors,
// spread over the year from consoleStart.
func consoleGen(tb testing.TB, visits int) hubGen {
	g := newHubGen(tb, consoleDoors)
	g.start = consoleStart
	g.gap = 365 * 24 * time.Hour / time.Duration((visits+consoleDoors-1)/consoleDoors)
	return g
}

// consolePermits returns the records of g's permits, issued, each with
// the history of the SOP's steps 1 to 4 (a few minutes each, some past
// their standard) before its visit.
func consolePermits(g hubGen, perDoor int) []workflow.Record {
	recs := g.permits(perDoor)
	for k := range recs {
		r := &recs[k]
		step := func(i int) time.Duration { return time.Duration(1+(k*7+i*3)%6) * time.Minute }
		req := r.ApprovedAt.Add(-step(1) - step(2))
		r.FormOpened = req.Add(-step(0))
		at := []time.Time{req, req.Add(step(1)), r.ApprovedAt, r.ApprovedAt.Add(step(3))}
		for i, st := range []workflow.State{workflow.Requested, workflow.Coordinated, workflow.Approved, workflow.Escorted, workflow.Issued} {
			by := []string{"desk", r.Coordinator, r.Approver, r.Approver, r.Approver}[i]
			r.History = append(r.History, workflow.Transition{State: st, By: by, At: at[min(i, 3)], Version: uint64(i + 1)})
		}
		r.Version = uint64(len(r.History))
	}
	return recs
}

// cachedConsoleHub returns the folder in dir holding a generated hub's
// stores, events.db (visits visits through the ingest, as genHubStore
// does) and hub.db with its keys file (their permits, workflow.Store.Import,
// and the escorts S-0001..S-0100), making it the first time under a
// temporary name renamed when complete.
func cachedConsoleHub(dir string, visits int, g hubGen, log io.Writer) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("console-%d-v%d", visits, consoleFormatVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	perDoor := visits / g.doors * len(g.visit)
	err := genHubStore(filepath.Join(tmp, "events.db"), g, perDoor)
	if err == nil {
		err = genConsoleWorkflow(filepath.Join(tmp, "hub.db"), consolePermits(g, perDoor))
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("generate a hub of %d visits: %w", visits, err)
	}
	fmt.Fprintf(log, "bench: generated %s (%d visits, %d events) in %s\n",
		path, visits, g.doors*perDoor, time.Since(start).Round(100*time.Millisecond))
	return path, nil
}

func genConsoleWorkflow(path string, recs []workflow.Record) error {
	wf, err := workflow.Open(path, workflow.Options{})
	if err != nil {
		return err
	}
	defer wf.Close()
	if err := wf.Import(recs); err != nil {
		return err
	}
	for n := 1; n <= escorts; n++ {
		m := workflow.StaffMember{ID: staffID(n), Name: fmt.Sprintf("Pendamping %03d", n), Site: site,
			Cards: staffRecord(n).Cards, Escort: true}
		if _, err := wf.PutStaff(m, "admin"); err != nil {
			return err
		}
	}
	return wf.Close()
}

// consoleRig is a hub running on a working copy of a generated one, with
// an admin signed in to its console.
type consoleRig struct {
	e      *hubtest.Env
	g      hubGen
	events int // stored per door
	cookie string
	jar    http.CookieJar
	seq    uint64 // of the last event fed to door 0
}

func openConsoleRig(tb testing.TB, dir string, visits int, log io.Writer) *consoleRig {
	tb.Helper()
	g := consoleGen(tb, visits)
	src, err := cachedConsoleHub(dir, visits, g, log)
	if err != nil {
		tb.Fatal(err)
	}
	work := runDir(tb)
	for _, f := range []string{"hub.db", "hub.db" + workflow.KeysSuffix, "events.db"} {
		p, err := workCopy(filepath.Join(src, f), work)
		if err == nil {
			err = os.Rename(p, filepath.Join(work, f))
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	// testing keeps a finished benchmark's cleanups, and hubtest's holds
	// the Env: emptied after it ran, the next run's heap does not count
	// this hub's
	var env *hubtest.Env
	tb.Cleanup(func() {
		if env != nil {
			*env = hubtest.Env{}
		}
	})
	env = hubtest.New(tb, hubtest.Options{Dir: work})
	r := &consoleRig{e: env, g: g, events: visits / g.doors * len(g.visit)}
	r.seq = uint64(r.events)
	r.e.User(tb, "admin-bench", "Admin Bench", auth.Admin)
	r.signIn(tb, "admin-bench")
	// the start-up's garbage (every record and event read once) collected,
	// as in a hub that has been running for a while
	runtime.GC()
	return r
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in as a browser does, the sign-in page then its form, and
// keeps the session's cookie.
func (r *consoleRig) signIn(tb testing.TB, login string) {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := *r.e.Server.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(r.e.Server.URL + "/masuk")
	if err != nil {
		tb.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		tb.Fatalf("no CSRF token on the sign-in page:\n%s", page)
	}
	form := url.Values{"csrf": {string(m[1])}, "login": {login}, "password": {hubtest.Password}}
	req, _ := http.NewRequest("POST", r.e.Server.URL+"/masuk", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", r.e.Server.URL)
	if resp, err = c.Do(req); err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("signing in: %d", resp.StatusCode)
	}
	u, _ := url.Parse(r.e.Server.URL)
	for _, ck := range jar.Cookies(u) {
		if strings.Contains(ck.Name, "sesi") {
			r.cookie = ck.Name + "=" + ck.Value
		}
	}
	if r.cookie == "" {
		tb.Fatal("no session cookie after signing in")
	}
	r.jar = jar
}

// get serves path through the hub's handler, as the session's browser
// asks for it, and returns the answer and its server time.
func (r *consoleRig) get(path string) (*httptest.ResponseRecorder, time.Duration) {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Cookie", r.cookie)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	w := httptest.NewRecorder()
	t := time.Now()
	r.e.API.ServeHTTP(w, req)
	return w, time.Since(t)
}

// consolePages are the pages timed, each with a text its answer must hold.
var consolePages = []struct{ name, path, want string }{
	{"dashboard", "/", "door-000"},
	{"guestbook", "/buku-tamu", "Guest "},
	{"servicetimes", "/waktu-layanan", "<svg"},
}

// needLargeHub skips a benchmark on the hub unless asked for.
func needLargeHub(tb testing.TB, visits int) {
	if visits > 10_000 && os.Getenv(largeEnv) != "1" {
		tb.Skipf("%d visits: set %s=1 or use bench/console.sh", visits, largeEnv)
	}
}

// BenchmarkConsolePages times the server's answer to GET of each page:
// p50-ns, p99-ns, max-ns over the iterations, after a few untimed.
func BenchmarkConsolePages(b *testing.B) {
	visits := envInt(b, "CONSOLE_VISITS", consoleVisits)
	needLargeHub(b, visits)
	r := openConsoleRig(b, cacheDir(), visits, os.Stderr)
	for _, p := range consolePages {
		b.Run(p.name, func(b *testing.B) {
			for range warmup {
				r.get(p.path)
			}
			var ds []time.Duration
			for b.Loop() {
				w, d := r.get(p.path)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), p.want) {
					b.Fatalf("GET %s: %d, %q not in the page:\n%.2000s", p.path, w.Code, p.want, w.Body.String())
				}
				ds = append(ds, d)
			}
			reportLatency(b, "", ds)
			b.ReportMetric(float64(visits), "visits")
		})
	}
}

// sseEvent is one event of a stream, when its last line was read.
type sseEvent struct {
	name, data string
	at         time.Time
}

// stream opens the dashboard's stream and sends each of its events to
// the channel returned, which closes when the stream ends; cancel ends it.
func (r *consoleRig) stream(tb testing.TB) (<-chan sseEvent, context.CancelFunc) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", r.e.Server.URL+"/beranda/aliran", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	c := *r.e.Server.Client()
	c.Jar = r.jar
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		tb.Fatalf("stream: %d", resp.StatusCode)
	}
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		for ev := range hubtest.SSEEvents(resp.Body) {
			select {
			case ch <- sseEvent{name: ev.Name, data: ev.Data, at: time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	tb.Cleanup(cancel)
	return ch, cancel
}

// feed gives the hub door 0's next event, of type typ, as the broker
// would, without waiting for it to be stored, and returns it.
func (r *consoleRig) feed(tb testing.TB, typ wire.EventType) wire.Event {
	tb.Helper()
	r.seq++
	t := r.g.door(0)
	e := wire.Event{ID: fmt.Sprintf("%s/%s/%s/%d", t.Site, t.Door, hubEpoch, r.seq), Seq: r.seq, Epoch: hubEpoch,
		Site: t.Site, Door: t.Door, Type: typ, At: time.Now().UTC(), ClockSynced: true}
	j, err := json.Marshal(e)
	if err != nil {
		tb.Fatal(err)
	}
	r.e.Hub.Handle(mqttlink.Message{Topic: t.Events(), Payload: j, QoS: 1})
	return e
}

// errStreamEnded: the dashboard's stream closed.
var errStreamEnded = errors.New("the dashboard's stream ended")

// next returns the stream's next event named name (a prefix), waiting up
// to 10 s.
func next(ch <-chan sseEvent, name string) (sseEvent, error) {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ev, errStreamEnded
			}
			if strings.HasPrefix(ev.name, name) {
				return ev, nil
			}
		case <-timeout.C:
			return sseEvent{}, fmt.Errorf("no %q event within 10 s", name)
		}
	}
}

// doorEventID is the stream's event name of door 0's card (the
// console's eventID: the hex of site/door).
func (r *consoleRig) doorEventID() string {
	t := r.g.door(0)
	return fmt.Sprintf("pintu-%x", t.Site+"/"+t.Door)
}

// liveUpdate feeds door 0 an event and returns how long until the
// stream's client had read the door's new card.
func (r *consoleRig) liveUpdate(tb testing.TB, ch <-chan sseEvent, typ wire.EventType, before string) (time.Duration, string) {
	tb.Helper()
	t := time.Now()
	r.feed(tb, typ)
	ev, err := next(ch, r.doorEventID())
	if err != nil {
		tb.Fatal(err)
	}
	if ev.data == before {
		tb.Fatalf("the door's card did not change with %s:\n%s", typ, ev.data)
	}
	return ev.at.Sub(t), ev.data
}

// BenchmarkConsoleLive times a door's event, handed to the hub as the
// broker hands it (stored durably by the ingest, then sent to the
// watchers), until the dashboard's stream has brought the door's card
// to its client: p50-ns, p99-ns, max-ns.
func BenchmarkConsoleLive(b *testing.B) {
	visits := envInt(b, "CONSOLE_VISITS", consoleVisits)
	needLargeHub(b, visits)
	r := openConsoleRig(b, cacheDir(), visits, os.Stderr)
	ch, _ := r.stream(b)
	if _, err := next(ch, "grid"); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	card := ""
	types := []wire.EventType{wire.EvOpened, wire.EvClosed}
	i := 0
	for b.Loop() {
		var d time.Duration
		d, card = r.liveUpdate(b, ch, types[i%2], card)
		ds = append(ds, d)
		i++
	}
	reportLatency(b, "", ds)
	b.ReportMetric(float64(visits), "visits")
}

// heapInUse is the Go heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// streamsHeap opens n dashboard streams and returns the heap before, with
// them open (each has its first grid), and after updates events were
// stored and sent to them and every stream has read the last change (a
// status of hubtest's door, whose rack is named marker), so that nothing
// is in flight; the
// streams' clients (their reading goroutines and buffers) are in the same
// process and counted too.
func (r *consoleRig) streamsHeap(tb testing.TB, n, updates int, marker string) (before, open, after uint64) {
	tb.Helper()
	before = heapInUse()
	markerCard := fmt.Sprintf("pintu-%x", hubtest.Site+"/"+hubtest.Door)
	var caughtUp atomic.Int64 // streams that read the marker
	done := make(chan struct{}, n)
	var cancels []context.CancelFunc
	for range n {
		ch, cancel := r.stream(tb)
		cancels = append(cancels, cancel)
		if _, err := next(ch, "grid"); err != nil {
			tb.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			seen := false
			for ev := range ch {
				// the card sent for the status itself: a grid sent after
				// lost updates shows the state of the moment, the marker
				// maybe, with updates still queued behind it
				if !seen && ev.name == markerCard && strings.Contains(ev.data, marker) {
					seen = true
					caughtUp.Add(1)
				}
			}
		}()
	}
	open = heapInUse()
	types := []wire.EventType{wire.EvOpened, wire.EvClosed}
	var last wire.Event
	for i := range updates {
		last = r.feed(tb, types[i%2])
	}
	// the hub has sent the last event to the watchers once the door's
	// state shows it (the same lock)
	if err := poll(time.Minute, func() (bool, error) {
		for _, d := range r.e.Hub.Doors() {
			if d.Site == last.Site && d.Door == last.Door {
				return d.LastEventAt.Equal(last.At), nil
			}
		}
		return false, nil
	}); err != nil {
		tb.Fatalf("the updates were not stored: %v", err)
	}
	// a watcher drops its oldest updates, never its newest: the marker
	// comes to every stream last
	r.e.Status(tb, wire.Status{Door: wire.Closed, Lock: wire.Locked, Mode: wire.ModeNormal, Racks: map[string]string{marker: wire.Closed}})
	if err := poll(time.Minute, func() (bool, error) { return caughtUp.Load() == int64(n), nil }); err != nil {
		tb.Fatalf("%d of %d streams showed the last change: %v", caughtUp.Load(), n, err)
	}
	after = heapInUse()
	for _, c := range cancels {
		c()
	}
	for range n {
		<-done
	}
	return before, open, after
}

// BenchmarkConsoleStreams opens 100 dashboards at once: heap-base-MiB
// before, heap-open-MiB with them open, heap-updated-MiB once 1,000 of a
// door's events and a status went to all of them and each showed the
// status; per-stream-KiB and per-stream-updated-KiB, the growth over the
// first, over their number.
func BenchmarkConsoleStreams(b *testing.B) {
	visits := envInt(b, "CONSOLE_VISITS", consoleVisits)
	needLargeHub(b, visits)
	n := envInt(b, "CONSOLE_STREAMS", consoleStreams)
	r := openConsoleRig(b, cacheDir(), visits, os.Stderr)
	var before, open, after uint64
	i := 0
	for b.Loop() {
		before, open, after = r.streamsHeap(b, n, 1_000, fmt.Sprintf("RAK-%d", i))
		i++
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(mib(before), "heap-base-MiB")
	b.ReportMetric(mib(open), "heap-open-MiB")
	b.ReportMetric(mib(after), "heap-updated-MiB")
	b.ReportMetric((float64(open)-float64(before))/float64(n)/1024, "per-stream-KiB")
	b.ReportMetric((float64(after)-float64(before))/float64(n)/1024, "per-stream-updated-KiB")
	b.ReportMetric(float64(n), "streams")
}

// TestCacheConsoleHub makes the hub of the console's benchmarks in
// bench/cache, so that console.sh generates it before anything is timed.
// It only runs with KUNCI_BENCH_LARGE=1.
func TestCacheConsoleHub(t *testing.T) {
	if os.Getenv(largeEnv) != "1" {
		t.Skipf("writes bench/cache: set %s=1 or use bench/console.sh", largeEnv)
	}
	visits := envInt(t, "CONSOLE_VISITS", consoleVisits)
	if _, err := cachedConsoleHub(cacheDir(), visits, consoleGen(t, visits), os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// TestConsole takes every benchmark's path through on a small generated
// hub: the pages answer, the live update arrives, the streams open.
func TestConsole(t *testing.T) {
	const visits = 200
	r := openConsoleRig(t, t.TempDir(), visits, io.Discard)
	if n := len(r.e.Hub.Book().Rows()); n != visits {
		t.Errorf("the guest book has %d rows, want %d", n, visits)
	}
	for _, p := range consolePages {
		if w, _ := r.get(p.path); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), p.want) {
			t.Errorf("GET %s: %d, %q not in the page:\n%.2000s", p.path, w.Code, p.want, w.Body.String())
		}
	}
	ch, cancel := r.stream(t)
	if _, err := next(ch, "grid"); err != nil {
		t.Fatal(err)
	}
	card := ""
	for _, typ := range []wire.EventType{wire.EvOpened, wire.EvClosed} {
		_, card = r.liveUpdate(t, ch, typ, card)
	}
	cancel()
	if before, open, after := r.streamsHeap(t, 5, 20, "RAK-uji"); before == 0 || open == 0 || after == 0 {
		t.Errorf("heap %d, %d, %d", before, open, after)
	}
}
