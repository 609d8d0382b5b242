package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/lifecycle"
)

// hubShutdown bounds the hub's shutdown: under TimeoutStopSec=30 of
// configs/kunci-hub.service.
const hubShutdown = 20 * time.Second

func cmdHub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return kunci.Subverb(ctx, "hub", args, stdout, stderr,
			map[string]cli.Verb{"backup": cmdHubBackup, "restore": cmdHubRestore, "migrate": cmdHubMigrate}, "backup, restore or migrate")
	}
	fs := kunci.NewFlags("hub", stderr)
	cfgPath := fs.String("config", "/etc/kunci/hub.yaml", "hub config `file`")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadHub(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, *logJSON)
	s, err := server.SetupOf(cfg)
	if err != nil {
		return err
	}
	s.Version = version
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
	l, err := lifecycle.Listen(cfg.Listen, "listen: in "+*cfgPath)
	if err != nil {
		h.Close()
		return err
	}
	g := lifecycle.New(ctx, lifecycle.Options{Timeout: hubShutdown})
	h.Start(g)
	h.Serve(g, l, cfg.TLSCertFile, cfg.TLSKeyFile)
	fmt.Fprintf(stdout, "kunci hub: API on %s, broker %s\n", l.Addr(), strings.Join(cfg.MQTT.BrokerList(), ", "))
	return g.Wait()
}
