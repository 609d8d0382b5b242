package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// hubShutdown bounds the hub's shutdown: under TimeoutStopSec=30 of
// configs/kunci-hub.service.
const hubShutdown = 20 * time.Second

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
	h, err := server.Open(s, log)
	if err != nil {
		return err
	}
	if tok, issued, err := h.Tokens().EnsureAdmin("admin"); err != nil {
		h.Close()
		return err
	} else if issued {
		// not printed: under systemd stdout is kept in the journal
		if err := auth.WriteTokenFile(cfg.AdminTokenFile, tok); err != nil {
			h.Close()
			return fmt.Errorf("admin_token_file: %w", err)
		}
		log.Warn("first start: an admin token was written; read it, keep it safe, then delete the file",
			"file", cfg.AdminTokenFile)
	}
	l, err := listen(cfg.Listen, "listen: in "+*cfgPath)
	if err != nil {
		h.Close()
		return err
	}
	g := lifecycle.New(ctx, lifecycle.Options{Timeout: hubShutdown})
	h.Start(g)
	h.Serve(g, l, cfg.TLSCertFile, cfg.TLSKeyFile)
	fmt.Fprintf(stdout, "kunci hub: API on %s, broker %s\n", l.Addr(), cfg.MQTT.Broker)
	return g.Wait()
}

// hubSetupOf reads the keys hub.yaml names.
func hubSetupOf(cfg *config.Hub) (server.Setup, error) {
	signer, err := permit.LoadSigner(cfg.SigningKey)
	if err != nil {
		return server.Setup{}, fmt.Errorf("signing_key: %w", err)
	}
	s := server.Setup{Store: cfg.Store, EventsStore: cfg.EventsStore, Signer: signer, SiteKeys: map[string]permit.SiteKey{},
		Prefix: cfg.MQTT.Prefix, Shared: cfg.MQTT.Shared, Retention: time.Duration(cfg.Retention)}
	for site, f := range cfg.SiteKeys {
		if s.SiteKeys[site], err = permit.LoadSiteKey(f); err != nil {
			return server.Setup{}, fmt.Errorf("site_keys.%s: %w", site, err)
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
