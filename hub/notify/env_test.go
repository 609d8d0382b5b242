package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/notify/notifytest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(killChild())
	}
	goleak.VerifyTestMain(m)
}

var jakarta = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		panic(err)
	}
	return loc
}()

// monday10 is a Monday at 10:00 in Jakarta, office hours.
var monday10 = time.Date(2026, 11, 23, 10, 0, 0, 0, jakarta)

// env is a notifier on a real bbolt file (a PostgreSQL database under
// TestOnPostgres) with the three real peers: the SMTP server, a webhook
// receiver and the Telegram fake.
type env struct {
	t     testing.TB
	path  string
	pg    func() (kv.DB, error) // the database under TestOnPostgres
	db    kv.DB
	file  *bolt.DB // the bbolt file, nil on PostgreSQL
	clock *hubtest.Clock
	now   func() time.Time // the notifier's clock: clock.Now
	cfg   notify.Config
	n     *notify.Notifier
	reg   *metrics.Registry
	logs  *logBuffer
	fsync bool // the store syncs every commit, as the hub's does

	smtp *notifytest.SMTPServer
	hook *notifytest.Webhook
	tg   *notifytest.Telegram

	mu     sync.Mutex
	acked  map[string]bool
	handed []string // OnHanded's calls: key@unix ns
}

// Recipients of every env's config.
const (
	rEmail = "ict-email" // ict@example.go.id
	rHead  = "head-ict"  // kepala@example.go.id
	rTG    = "ict-group" // Telegram -1001234567890
	rHook  = "soc"       // the webhook receiver
)

// newEnv builds an env whose config has the recipients above and rules.
func newEnv(t testing.TB, rules ...notify.Rule) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "hub.db"), clock: hubtest.NewClock(monday10), acked: map[string]bool{},
		smtp: notifytest.NewSMTPServer(t), hook: notifytest.NewWebhook(t), tg: notifytest.NewTelegram(t)}
	e.hook.Now, e.now = e.clock.Now, e.clock.Now
	if kvtest.OnPostgres(t) {
		e.pg = kvtest.Postgres(t)
	}
	e.cfg = notify.Config{
		Email:    e.smtp.Config("Kunci <kunci@example.go.id>"),
		Telegram: &notify.TelegramConfig{BaseURL: e.tg.URL, TokenFile: e.tg.TokenFile},
		Recipients: []notify.Recipient{
			{Name: rEmail, Email: "ict@example.go.id"},
			{Name: rHead, Email: "kepala@example.go.id"},
			{Name: rTG, Telegram: "-1001234567890"},
			{Name: rHook, Webhook: e.hook.URL, SecretFile: e.hook.SecretFile},
		},
		Rules: rules,
	}
	e.open()
	t.Cleanup(e.close)
	return e
}

// open opens the store and a notifier on it, as the hub does at start.
func (e *env) open() {
	e.t.Helper()
	var err error
	if e.pg != nil {
		e.db, err = e.pg()
	} else {
		// NoSync: the tests close the store before they open it again, so
		// the fsyncs of a thousand commits would only slow them down.
		e.file, err = bolt.Open(e.path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: !e.fsync})
		if err == nil {
			e.db = kv.Bolt(e.file)
		}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.reg, e.logs = metrics.NewRegistry(), &logBuffer{}
	e.n, err = notify.New(notify.Options{DB: e.db, Config: e.cfg, Acked: e.isAcked, Now: e.now, OnHanded: e.onHanded,
		Log: slog.New(slog.NewTextHandler(e.logs, nil)), Metrics: e.reg})
	if err != nil {
		e.t.Fatal(err)
	}
}

// close checks the store's integrity and closes it.
func (e *env) close() {
	if e.db == nil {
		return
	}
	if e.file != nil {
		if err := boltcheck.Check(e.file); err != nil {
			e.t.Errorf("store: %v", err)
		}
	}
	if err := e.db.Close(); err != nil {
		e.t.Error(err)
	}
	e.db, e.file = nil, nil
}

// restart closes the store as a hub stopped mid-queue leaves it and opens
// it again with a new notifier.
func (e *env) restart() {
	e.t.Helper()
	e.close()
	e.open()
}

func (e *env) onHanded(key string, at time.Time) {
	e.mu.Lock()
	e.handed = append(e.handed, fmt.Sprintf("%s@%d", key, at.UnixNano()))
	e.mu.Unlock()
}

// handedCalls returns OnHanded's calls so far, key@unix ns each.
func (e *env) handedCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.handed)
}

// listHanded returns what Handed lists, key@unix ns each.
func (e *env) listHanded() []string {
	e.t.Helper()
	var out []string
	if err := e.n.Handed(func(key string, at time.Time) { out = append(out, fmt.Sprintf("%s@%d", key, at.UnixNano())) }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) ack(key string) {
	e.mu.Lock()
	e.acked[key] = true
	e.mu.Unlock()
}

func (e *env) isAcked(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.acked[key]
}

// deliver makes one pass and returns when the next is due.
func (e *env) deliver() time.Time {
	e.t.Helper()
	next, err := e.n.DeliverDue(context.Background())
	if err != nil {
		e.t.Fatalf("DeliverDue: %v", err)
	}
	return next
}

// maxPasses bounds runFor's passes, so that a notifier that keeps saying
// "now" (no backoff) fails the test instead of hanging it.
const maxPasses = 10000

// runFor makes passes for d of the clock's time, moving the clock to each
// next due time, and calls after (if any) after each pass. It stops early
// when nothing is due any more.
func (e *env) runFor(d time.Duration, after func()) {
	e.t.Helper()
	end := e.clock.Now().Add(d)
	for range maxPasses {
		next := e.deliver()
		if after != nil {
			after()
		}
		if next.IsZero() || next.After(end) {
			return
		}
		e.clock.Add(max(next.Sub(e.clock.Now()), 0))
	}
	e.t.Fatalf("%d passes within %v: the notifier retries without backing off", maxPasses, d)
}

func (e *env) notify(m notify.Message) {
	e.t.Helper()
	if err := e.n.Notify(m); err != nil {
		e.t.Fatalf("Notify(%s): %v", m.Key, err)
	}
}

// metric returns a sample's value in the registry's text ("name" or
// `name{label="v"}`), failing when it is missing.
func (e *env) metric(sample string) float64 {
	e.t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindSubmatch(e.reg.Text())
	if m == nil {
		e.t.Fatalf("no sample %s in:\n%s", sample, e.reg.Text())
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) stats() notify.Stats {
	e.t.Helper()
	s, err := e.n.Stats()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// peersClean fails the test when a peer refused a request (a bad
// signature, a wrong token path).
func (e *env) peersClean() {
	e.t.Helper()
	if errs := e.hook.Errors(); len(errs) > 0 {
		e.t.Errorf("the webhook receiver refused: %q", errs)
	}
	if errs := e.tg.Errors(); len(errs) > 0 {
		e.t.Errorf("the Telegram fake refused: %q", errs)
	}
}

// forced is a door.forced alarm's message, as the alarm records would
// write it: masked, both languages.
func forced(key, door string, at time.Time) notify.Message {
	return notify.Message{
		Key: key, Topic: notify.AlarmTopic("door.forced"), Site: "diskominfo", Door: door,
		Subject: notify.Text{ID: "Pintu " + door + " dibuka paksa", EN: "Door " + door + " forced open"},
		Body: notify.Text{
			ID: fmt.Sprintf("Pintu %s di diskominfo dibuka tanpa akses pada %s WIB.", door, at.In(jakarta).Format("02-01-2006 15:04")),
			EN: fmt.Sprintf("Door %s at diskominfo was opened without access at %s WIB.", door, at.In(jakarta).Format("2006-01-02 15:04")),
		},
		At: at,
	}
}

// rule is a rule of topics to the first step's recipients.
func rule(topics []string, to ...string) notify.Rule {
	return notify.Rule{Topics: topics, Steps: []notify.Step{{To: to}}}
}

// escalating is a rule of alarms: first to first, then after to then.
func escalating(first string, after time.Duration, then string) notify.Rule {
	return notify.Rule{Topics: []string{"alarm.*"}, Steps: []notify.Step{{To: []string{first}}, {After: wire.Duration(after), To: []string{then}}}}
}

// logBuffer is a log's text, safe for the notifier's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
