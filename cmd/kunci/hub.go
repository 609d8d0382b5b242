package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// hubSetup is what a hub is opened with, from hub.yaml or by kunci dev.
type hubSetup struct {
	Store, EventsStore string
	Signer             *permit.Signer
	SiteKeys           map[string]permit.SiteKey
	Doors              []hub.DoorName
	Prefix             string
	Link               mqttlink.Options // broker, credentials, client id
	Shared             bool
	// OnlyDoors confines the link to the listed doors' topics (kunci dev
	// on a site's broker must not take real doors' events).
	OnlyDoors bool
	Retention time.Duration
}

// hubServer is a hub opened from its setup: the stores, the hub, the API
// tokens, the API and the MQTT link.
type hubServer struct {
	wf     *workflow.Store
	ev     *ingest.Store
	tokens *auth.Tokens
	hub    *hub.Hub
	api    *api.API
	link   *mqttlink.Link
	o      hubSetup
	log    *slog.Logger
}

func openHub(s hubSetup, log *slog.Logger) (_ *hubServer, err error) {
	if s.Prefix == "" {
		s.Prefix = topic.DefaultPrefix
	}
	for _, p := range []string{s.Store, s.EventsStore} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("hub store: %w", err)
		}
	}
	h := &hubServer{o: s, log: log}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.wf, err = workflow.Open(s.Store, workflow.Options{SiteKeys: s.SiteKeys, Signer: s.Signer}); err != nil {
		return nil, err
	}
	if h.ev, err = ingest.OpenStore(s.EventsStore); err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry() // the hub's /metrics
	if h.tokens, err = auth.New(h.wf.DB(), reg); err != nil {
		return nil, err
	}
	start := time.Now()
	if h.hub, err = hub.New(hub.Options{Workflow: h.wf, Events: h.ev, Signer: s.Signer, Prefix: s.Prefix,
		Doors: s.Doors, Metrics: reg, Log: log}); err != nil {
		return nil, err
	}
	st := h.hub.Stats()
	log.Info("hub open", "store", s.Store, "events", s.EventsStore, "guest_book_rows", st.BookRows,
		"built_in", time.Since(start).Round(time.Millisecond), "signing_key", s.Signer.ID())
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
	if h.link, err = mqttlink.New(lo, h.hub.Handle); err != nil {
		return nil, err
	}
	if h.api, err = api.New(h.hub, h.tokens, api.Options{Publisher: h.link, Retention: s.Retention, Log: log}); err != nil {
		return nil, err
	}
	return h, nil
}

// Run runs the link, the hub (ingest, records) and the retention until
// ctx ends; the hub stops before the link.
func (h *hubServer) Run(ctx context.Context) error {
	linkCtx, stopLink := context.WithCancel(context.Background())
	defer stopLink()
	var linkErr error
	var wg sync.WaitGroup
	wg.Go(func() { linkErr = h.link.Run(linkCtx) })
	wg.Go(func() { h.daily(ctx) })
	err := h.hub.Run(ctx, h.link)
	stopLink()
	wg.Wait()
	s := h.hub.Stats()
	h.log.Info("hub stopped", "stored", s.Ingest.Stored, "duplicates", s.Ingest.Duplicates, "malformed",
		s.Ingest.Malformed, "acks", s.Ingest.Acks, "records_published", s.RecordsPublished)
	return errors.Join(err, linkErr)
}

// daily applies the retention at start and every day, and every day
// refreshes the retained records (expired permits cleared).
func (h *hubServer) daily(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		if h.o.Retention > 0 {
			res, err := h.hub.Purge(h.o.Retention)
			if err != nil {
				h.log.Error("retention: purge failed", "err", err)
			} else if len(res.Purged) > 0 {
				h.log.Info("retention: personal data purged", "permits", len(res.Purged), "retention", h.o.Retention)
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

// Close closes the stores.
func (h *hubServer) Close() error {
	var errs []error
	if h.ev != nil {
		errs = append(errs, h.ev.Close())
	}
	if h.wf != nil {
		errs = append(errs, h.wf.Close())
	}
	return errors.Join(errs...)
}

func cmdHub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("hub", stderr)
	cfgPath := fs.String("config", "/etc/kunci/hub.yaml", "hub config `file`")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadHub(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, *logJSON)
	s, err := hubSetupOf(cfg)
	if err != nil {
		return err
	}
	h, err := openHub(s, log)
	if err != nil {
		return err
	}
	defer h.Close()
	if tok, issued, err := h.tokens.EnsureAdmin("admin"); err != nil {
		return err
	} else if issued {
		// not printed: under systemd stdout is kept in the journal
		if err := auth.WriteTokenFile(cfg.AdminTokenFile, tok); err != nil {
			return fmt.Errorf("admin_token_file: %w", err)
		}
		log.Warn("first start: an admin token was written; read it, keep it safe, then delete the file",
			"file", cfg.AdminTokenFile)
	}
	l, err := listen(cfg.Listen, "listen: in "+*cfgPath)
	if err != nil {
		return err
	}
	return serveHub(ctx, h, l, cfg.TLSCertFile, cfg.TLSKeyFile, log, func(addr string) {
		fmt.Fprintf(stdout, "kunci hub: API on %s, broker %s\n", addr, cfg.MQTT.Broker)
	})
}

// hubSetupOf reads the keys hub.yaml names.
func hubSetupOf(cfg *config.Hub) (hubSetup, error) {
	signer, err := permit.LoadSigner(cfg.SigningKey)
	if err != nil {
		return hubSetup{}, fmt.Errorf("signing_key: %w", err)
	}
	s := hubSetup{Store: cfg.Store, EventsStore: cfg.EventsStore, Signer: signer, SiteKeys: map[string]permit.SiteKey{},
		Prefix: cfg.MQTT.Prefix, Shared: cfg.MQTT.Shared, Retention: time.Duration(cfg.Retention)}
	for site, f := range cfg.SiteKeys {
		if s.SiteKeys[site], err = permit.LoadSiteKey(f); err != nil {
			return hubSetup{}, fmt.Errorf("site_keys.%s: %w", site, err)
		}
	}
	for _, d := range cfg.Doors {
		site, door, _ := strings.Cut(d, "/")
		s.Doors = append(s.Doors, hub.DoorName{Site: site, Door: door})
	}
	m := cfg.MQTT
	s.Link = mqttlink.Options{Broker: m.Broker, ClientID: m.ClientID, Username: m.Username}
	return s, linkSecrets(&s.Link, m.PasswordFile, m.CAFile, m.CertFile, m.KeyFile)
}

// serveHub serves the hub's API on l and runs the hub until ctx ends:
// then the listener closes, the hub stops, and the link after it.
func serveHub(ctx context.Context, h *hubServer, l net.Listener, certFile, keyFile string, log *slog.Logger,
	ready func(addr string)) error {
	// no ReadTimeout or WriteTimeout: either would end the watch streams
	// (the server's read deadline cancels a request's context)
	srv := &http.Server{Handler: h.api, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
		BaseContext:    func(net.Listener) context.Context { return ctx }}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if certFile != "" {
			err = srv.ServeTLS(l, certFile, keyFile)
		} else {
			err = srv.Serve(l)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	})
	var runErr error
	wg.Go(func() {
		runErr = h.Run(ctx)
		cancel()
	})
	log.Info("hub ready", "listen", l.Addr().String())
	if ready != nil {
		ready(l.Addr().String())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		cancel()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	return errors.Join(err, runErr)
}
