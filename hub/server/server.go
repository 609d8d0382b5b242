package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/console"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// Setup is what a hub is opened with, from hub.yaml or by kunci dev.
type Setup struct {
	// Store is the workflow's bbolt file (the users, tokens, alarms, the
	// notification queue and the command log are in it too), or a
	// PostgreSQL DSN for all of them (pgstore.IsDSN: hub/kv/pgkv);
	// EventsStore the doors' events', or a PostgreSQL DSN for them
	// (hub/ingest/pgevents).
	Store, EventsStore string
	// StoreKeys is the keys file of the workflow's personal data: the
	// store's path and workflow.KeysSuffix if empty. With a PostgreSQL
	// Store the keys are in the database (hub/kv/pgkv's Keys), and a
	// keys file here, if there, has its keys brought in at open.
	StoreKeys string
	Signer    *permit.Signer
	SiteKeys  map[string]permit.SiteKey
	Doors     []hub.DoorName
	Prefix    string // topic prefix (topic.DefaultPrefix)
	// Link is the brokers, credentials and client id: the hub keeps a link
	// to each broker (mqttlink.Set), see the package doc.
	Link   mqttlink.Options
	Shared bool // take events through the shared subscription
	// OnlyDoors confines the link to the listed doors' topics (kunci dev
	// on a site's broker must not take real doors' events).
	OnlyDoors bool
	Retention time.Duration // zero: personal data is kept
	// MaxPermitWindow is the longest time window of a permit request
	// (zero: workflow.DefaultMaxWindow).
	MaxPermitWindow time.Duration
	// Location is the site's zone, in which the console shows times (nil:
	// Asia/Jakarta).
	Location *time.Location
	Office   []string // the heading of the console's printed pages
	// HTTP bounds the connections Serve holds and the time a request's
	// body may take (zero fields: httplimit's defaults).
	HTTP httplimit.Limits
	// MaxWatchers bounds the watch streams open at once
	// (hub.DefaultMaxWatchers when zero).
	MaxWatchers int
	// Notify is hub.yaml's notify section: without recipients and rules
	// nobody is told (kunci dev's default).
	Notify notify.Config
	// Silent is hub.yaml's alarms.silence: how long a door may say
	// nothing before a door.offline alarm opens (zero: never).
	Silent time.Duration
	// Version is the hub's, written into its backups.
	Version string
}

// Server is a hub opened from its Setup.
type Server struct {
	wf     *workflow.Store
	ev     ingest.EventStore
	tokens *auth.Tokens
	users  *auth.Users
	hub    *hub.Hub
	api    *api.API
	link   *mqttlink.Set
	notify *notify.Notifier
	s      Setup
	log    *slog.Logger
	// leaders hold the jobs that run once among the replicas sharing a
	// PostgreSQL store (once); republish is the one of republishing
	// every record on connect (hub.Hub.RepublishWhen), nil on bbolt
	leaders   []*pgstore.Leader
	republish *pgstore.Leader
}

// Open opens the stores and builds the hub, its API and its link. Start
// runs them; a Server never started is closed with Close.
func Open(s Setup, log *slog.Logger) (_ *Server, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s.Prefix == "" {
		s.Prefix = topic.DefaultPrefix
	}
	var dirs []string
	for _, p := range []string{s.Store, s.StoreKeys, s.EventsStore} {
		if p != "" && !pgstore.IsDSN(p) {
			dirs = append(dirs, p)
		}
	}
	for _, p := range dirs {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("hub store: %w", err)
		}
	}
	h := &Server{s: s, log: log}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.wf, err = openWorkflow(s, log); err != nil {
		return nil, err
	}
	// hub.New reads every permit's digest: read them while the event
	// store opens and loads its guest book
	h.wf.PrefetchDigests()
	events := s.EventsStore
	if pgstore.IsDSN(events) {
		events = pgstore.Redact(events) // the log never shows a password
		h.ev, err = pgevents.Open(context.Background(), s.EventsStore, pgevents.Options{})
	} else {
		h.ev, err = ingest.OpenStore(s.EventsStore)
	}
	if err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry() // the hub's /metrics
	if h.tokens, err = auth.New(h.wf.KV(), reg); err != nil {
		return nil, err
	}
	// the notifier asks the hub, built next, whether a message was
	// acknowledged; it asks only when it delivers, after Start. Without
	// rules there is none: nobody would be told, and every alarm would
	// cost a write and a log line for nothing.
	var built *hub.Hub
	var notifier hub.Notifier
	if len(s.Notify.Rules) > 0 {
		if h.notify, err = notify.New(notify.Options{DB: h.wf.KV(), Config: s.Notify, Log: log, Metrics: reg,
			Acked: func(key string) bool { return built != nil && built.Acked(key) },
			OnHanded: func(key string, at time.Time) {
				if built != nil {
					built.Handed(key, at)
				}
			}}); err != nil {
			return nil, err
		}
		notifier = h.notify
	}
	start := time.Now()
	if h.hub, err = hub.New(hub.Options{Workflow: h.wf, Events: h.ev, Signer: s.Signer, Prefix: s.Prefix,
		Doors: s.Doors, MaxWatchers: s.MaxWatchers, Metrics: reg, Log: log, Notifier: notifier,
		Location: s.Location, Silent: s.Silent}); err != nil {
		return nil, err
	}
	built = h.hub
	st := h.hub.Stats()
	store := s.Store
	if pgstore.IsDSN(store) {
		store = pgstore.Redact(store)
	}
	log.Info("hub open", "store", store, "events", events, "guest_book_rows", st.BookRows,
		"built_in", time.Since(start).Round(time.Millisecond), "signing_key", s.Signer.ID())
	if pgstore.IsDSN(s.Store) {
		h.republish = pgstore.NewLeader(s.Store, "republish", pgstore.LeaderOptions{Log: log})
		h.leaders = append(h.leaders, h.republish)
		h.hub.RepublishWhen(h.republish.Leading)
	}
	lo := h.hub.LinkOptions(s.Link, s.Shared)
	if s.OnlyDoors {
		lo.Subscriptions = map[string]byte{}
		for _, d := range s.Doors {
			t, err := topic.New(s.Prefix, d.Site, d.Door)
			if err != nil {
				return nil, err
			}
			lo.Subscriptions[t.Events()] = 1
			lo.Subscriptions[t.Status()] = 1
			lo.Subscriptions[t.Availability()] = 1
		}
	}
	lo.Log, lo.Metrics = log, reg
	if h.link, err = mqttlink.NewSet(lo, h.hub.Handle); err != nil {
		return nil, err
	}
	if h.users, err = auth.NewUsers(h.wf.KV(), reg, nil); err != nil {
		return nil, err
	}
	con, err := console.New(console.Options{Hub: h.hub, Users: h.users, Tokens: h.tokens, Publisher: h.link, Location: s.Location, Office: s.Office, Log: log})
	if err != nil {
		return nil, err
	}
	if h.api, err = api.New(h.hub, h.tokens, api.Options{Publisher: h.link, Retention: s.Retention, Log: log, Users: h.users,
		Console: con, Backup: h.Backup}); err != nil {
		return nil, err
	}
	return h, nil
}

// openWorkflow opens the workflow's store: its bbolt file, or its
// PostgreSQL database with the keys in it.
func openWorkflow(s Setup, log *slog.Logger) (*workflow.Store, error) {
	o := workflow.Options{SiteKeys: s.SiteKeys, Signer: s.Signer, MaxWindow: s.MaxPermitWindow, KeysPath: s.StoreKeys}
	if !pgstore.IsDSN(s.Store) {
		return workflow.Open(s.Store, o)
	}
	db, err := pgkv.Open(context.Background(), s.Store, pgkv.Options{})
	if err != nil {
		return nil, err
	}
	o.Keys, o.KeysPath = db.Keys(), ""
	if s.StoreKeys != "" {
		n, err := ImportKeys(s.StoreKeys, db.Keys())
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("hub store: %w", err)
		}
		if n >= 0 {
			log.Warn("hub store: the keys of the guests' personal data are in the database now; delete the keys file once no hub on bbolt needs it: it keeps the keys of the requests purged from now on",
				"file", s.StoreKeys, "keys_brought_in", n)
		}
	}
	wf, err := workflow.OpenDB(db, o)
	if err != nil {
		db.Close()
		return nil, err
	}
	return wf, nil
}

// ImportKeys brings the keys of the keys file at path into keys, those
// keys has none of, and returns how many it brought; -1 when there is no
// file at path.
func ImportKeys(path string, keys workflow.Keys) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	f, err := workflow.OpenKeysFile(path, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	all, err := f.All()
	if err != nil || len(all) == 0 {
		return 0, err
	}
	stored, err := keys.Add(all)
	if err != nil {
		return 0, fmt.Errorf("keys of %s: %w", path, err)
	}
	n := 0
	for id, key := range stored {
		if !bytes.Equal(key, all[id]) {
			return 0, fmt.Errorf("keys of %s: the database has another key of %s: each hub had keys of its own; bring in the file of the hub that filed the request", path, id)
		}
		n++
	}
	return n, nil
}

// Hub returns the hub.
func (h *Server) Hub() *hub.Hub { return h.hub }

// Link returns the hub's links, one per broker.
func (h *Server) Link() *mqttlink.Set { return h.link }

// Backup writes a copy of the hub's stores to w while it runs (GET
// /api/backup): its records, the keys of their personal data, then the
// doors' events, each from one read transaction (see package backup);
// events kept in PostgreSQL are not in it (pg_dump backs them up).
func (h *Server) Backup(w io.Writer) (backup.Manifest, error) {
	return backup.Write(w, h.s.Version, backup.Hub(h.wf, h.ev))
}

// Tokens returns the hub's API tokens.
func (h *Server) Tokens() *auth.Tokens { return h.tokens }

// Users returns the console's people.
func (h *Server) Users() *auth.Users { return h.users }

// Handler returns the hub's HTTP API, for a listener of the caller's
// (kunci dev serves it beside the simulator).
func (h *Server) Handler() http.Handler { return h.api }

// Start runs the hub in g: the ingest, the publishing of records, the
// notifier (when hub.yaml routes any) and the
// daily jobs until lifecycle.Serve, the link until lifecycle.Link; the
// stores close at lifecycle.Store.
func (h *Server) Start(g *lifecycle.Group) {
	g.OnStop(lifecycle.Store, "hub stores", func(context.Context) error { return h.Close() })
	g.Go(lifecycle.Link, "hub link", func(ctx context.Context) error {
		if err := h.link.Run(ctx); err != nil {
			return fmt.Errorf("hub: mqtt: %w", err)
		}
		return nil
	})
	g.Go(lifecycle.Serve, "hub", func(ctx context.Context) error {
		err := h.hub.Run(ctx, h.link)
		s := h.hub.Stats()
		h.log.Info("hub stopped", "stored", s.Ingest.Stored, "duplicates", s.Ingest.Duplicates, "malformed",
			s.Ingest.Malformed, "acks", s.Ingest.Acks, "records_published", s.RecordsPublished)
		return err
	})
	if h.notify != nil {
		g.Go(lifecycle.Serve, "hub notify", h.once("notify", h.notify.Run))
	}
	if db, ok := h.wf.KV().(*pgkv.DB); ok {
		g.Go(lifecycle.Serve, "hub follow", func(ctx context.Context) error {
			h.follow(ctx, db)
			return nil
		})
	}
	if h.republish != nil {
		g.Go(lifecycle.Serve, "hub republish", func(ctx context.Context) error {
			return h.republish.Run(ctx, func(ctx context.Context) error {
				h.hub.Republish() // coming to lead: the broker may have lost some
				<-ctx.Done()
				return nil
			})
		})
	}
	g.Go(lifecycle.Serve, "hub daily", h.once("daily", func(ctx context.Context) error {
		h.daily(ctx)
		return nil
	}))
	h.hub.Metrics().GaugeFunc("kunci_hub_leading_jobs",
		"Jobs that run once among the hub replicas on one PostgreSQL store (daily: retention and the records' refresh; notify: delivering notifications; republish: every retained record again on connect) that this replica leads now.",
		func() float64 { return float64(h.Leading()) })
	shared := func(f func(*pgevents.Store) int64) func() uint64 {
		return func() uint64 {
			if st, ok := h.ev.(*pgevents.Store); ok {
				return uint64(f(st))
			}
			return 0
		}
	}
	h.hub.Metrics().CounterFunc("kunci_hub_guestbook_caught_up_total",
		"Events of the other hub replicas on one PostgreSQL store that this replica's guest book applied.",
		shared((*pgevents.Store).BookCaughtUp))
	h.hub.Metrics().CounterFunc("kunci_hub_guestbook_catchup_errors_total",
		"Catch-ups of the guest book with the other hub replicas' commits that failed (each is tried again a second later).",
		shared((*pgevents.Store).BookErrors))
}

// once returns run as a job that runs once among the hub replicas sharing
// the workflow's PostgreSQL database: led by whichever holds the job's
// advisory lock (pgstore.Leader), handed to another when it stops or
// dies. On bbolt, one hub to a file, it is run itself.
func (h *Server) once(job string, run func(context.Context) error) func(context.Context) error {
	if !pgstore.IsDSN(h.s.Store) {
		return run
	}
	l := pgstore.NewLeader(h.s.Store, job, pgstore.LeaderOptions{Log: h.log})
	h.leaders = append(h.leaders, l)
	return func(ctx context.Context) error { return l.Run(ctx, run) }
}

// Leading is how many of the jobs that run once among replicas this hub
// leads now; on bbolt, where there are none, 0.
func (h *Server) Leading() int {
	n := 0
	for _, l := range h.leaders {
		if l.Leading() {
			n++
		}
	}
	return n
}

// Serve serves the API on l in g until lifecycle.Serve, with TLS when
// certFile is set, holding at most Setup.HTTP's connections and giving a
// request's body Setup.HTTP.BodyTimeout. Call it once.
func (h *Server) Serve(g *lifecycle.Group, l net.Listener, certFile, keyFile string) {
	// no ReadTimeout or WriteTimeout: either would end the watch streams
	// (the server's read deadline cancels a request's context); the body's
	// deadline is httplimit.Deadline's, only on requests that have one
	srv := &http.Server{Handler: httplimit.Deadline(h.api, h.s.HTTP.BodyTimeout), ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	g.Serve(lifecycle.Serve, "hub api", srv, httplimit.NewListener(l, h.s.HTTP, h.hub.Metrics()), certFile, keyFile)
	h.log.Info("hub ready", "listen", l.Addr().String())
}

// daily applies the retention at start and every day, and every day
// refreshes the retained records (expired permits cleared).
func (h *Server) daily(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		if h.s.Retention > 0 {
			res, err := h.hub.Purge(h.s.Retention)
			if err != nil {
				h.log.Error("retention: purge failed", "err", err)
			} else if len(res.Purged) > 0 {
				h.log.Info("retention: personal data purged", "permits", len(res.Purged), "retention", h.s.Retention)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := h.hub.Refresh(); err != nil {
			h.log.Error("hub: refreshing the retained records failed", "err", err)
		}
	}
}

// Close closes the stores; Start has g do it at lifecycle.Store.
func (h *Server) Close() error {
	var errs []error
	if h.ev != nil {
		errs = append(errs, h.ev.Close())
	}
	if h.wf != nil {
		errs = append(errs, h.wf.Close())
	}
	return errors.Join(errs...)
}
