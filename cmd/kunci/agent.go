package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hardware/sim"
	"github.com/kunci-project/kunci/hardware/sysclock"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/sdnotify"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/agentsync"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

func cmdAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("agent", stderr)
	cfgPath := fs.String("config", "/etc/kunci/agent.yaml", "agent config `file`")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadAgent(*cfgPath)
	if err != nil {
		return err
	}
	g := lifecycle.New(ctx, lifecycle.Options{Timeout: agentShutdown})
	if err := wireAgent(g, cfg, newLogger(stderr, *logJSON), "--config "+*cfgPath+" (listen:)", nil, nil); err != nil {
		g.Stop(err)
	}
	return g.Wait()
}

func newLogger(w io.Writer, json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// agentShutdown bounds the agent's shutdown: under TimeoutStopSec=10 of
// configs/kunci-agent.service, after which systemd sends SIGKILL.
const agentShutdown = 8 * time.Second

// wireAgent wires one door from cfg into g. The relay is driven to its
// safe state before anything else, and halted again at every shutdown as
// soon as the door's loop has returned (lifecycle.Safe), before the local
// API and the uplink stop, the store closes, the final status goes out and
// the link closes. ready, when set, is called once the door takes input.
// hubAPI, when set (kunci dev), is served on the same listener under /api/
// and /healthz, and its console at every other path. On an error the
// caller stops g: what was opened is closed.
func wireAgent(g *lifecycle.Group, cfg *config.Agent, log *slog.Logger, moveWith string, ready func(addr string),
	hubAPI http.Handler) error {
	var relay agent.Relay
	var simRelay *sim.Relay
	var hw *board
	if cfg.Hardware == "gpio" {
		var err error
		if hw, err = openBoard(cfg, log); err != nil {
			return err
		}
		relay = hw.Relay()
		g.OnStop(lifecycle.Safe, "board", func(context.Context) error {
			hw.Halt()
			log.Info("relay halted", "relay", relay.String())
			return nil
		})
	} else {
		simRelay = &sim.Relay{}
		if err := simRelay.Lock(); err != nil {
			return err
		}
		relay = simRelay
		g.OnStop(lifecycle.Safe, "relay", func(context.Context) error {
			err := simRelay.Halt()
			log.Info("relay halted", "relay", simRelay.String(), "unlocked", simRelay.Unlocked())
			return err
		})
	}

	siteKey, err := permit.LoadSiteKey(cfg.SiteKeyFile)
	if err != nil {
		return err
	}
	keys, err := permit.LoadKeyring(cfg.TrustedKeys...)
	if err != nil {
		return fmt.Errorf("trusted_keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Store), 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	st, err := agent.OpenStore(cfg.Store, cfg.Site, cfg.Door)
	if err != nil {
		return err
	}
	st.SetQuota(agent.Quota{MaxEvents: cfg.StoreQuota.MaxEvents, MinFree: cfg.StoreQuota.MinFreeMB << 20})
	g.OnStop(lifecycle.Store, "store", func(context.Context) error { return st.Close() })

	clk := agent.NewSystemClock(sysclock.Synced)
	if cfg.Clock == "trusted" {
		clk.IsSynced = nil
	}
	reg := metrics.NewRegistry() // the agent's /metrics
	door, err := agent.NewDoor(agent.Config{Site: cfg.Site, Door: cfg.Door, Rules: cfg.AgentRules(),
		Readers: cfg.ReaderNames(), Racks: cfg.Racks, SiteKey: siteKey, Keys: keys, Boot: sysclock.BootID(),
		Version: version}, st, relay, clk, log, reg)
	if err != nil {
		return err
	}
	l, err := lifecycle.Listen(cfg.Listen, moveWith)
	if err != nil {
		return err
	}
	var mq *agentsync.Sync
	if m := cfg.MQTT; len(m.BrokerList()) > 0 {
		lo := mqttlink.Options{Brokers: m.BrokerList(), ClientID: m.ClientID, Username: m.Username, Metrics: reg}
		if err := lo.LoadSecrets(m.PasswordFile, m.CAFile, m.CertFile, m.KeyFile); err != nil {
			l.Close()
			return err
		}
		mq, err = agentsync.New(agentsync.Config{Link: lo, Topics: topic.Door{Prefix: m.Prefix, Site: cfg.Site, Door: cfg.Door},
			Keys: keys, HomeAssistant: m.HomeAssistant, DiscoveryPrefix: m.DiscoveryPrefix, Racks: cfg.Racks,
			Version: version, Metrics: reg, Log: log}, door, st)
		if err != nil {
			l.Close()
			return fmt.Errorf("mqtt: %w", err)
		}
	}

	mux := http.NewServeMux()
	api := door.Handler()
	mux.Handle("/status", api)
	mux.Handle("/events", api)
	mux.Handle("/metrics", api)
	if hubAPI != nil {
		mux.Handle("/api/", hubAPI)
		mux.Handle("/healthz", hubAPI)
		mux.Handle("/", hubAPI) // the console
	}
	var simulated *sim.Sim
	if simRelay != nil {
		simulated = sim.New(simRelay, door, reg, cfg.ReaderNames(), cfg.Racks)
		mux.Handle("/sim/", simulated.Handler())
	}

	g.Go(lifecycle.Input, "door", door.Run)
	if simulated != nil {
		// the simulated reeds read at start, as real ones do
		g.Go(lifecycle.Input, "sim", func(ctx context.Context) error {
			if err := simulated.Report(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("sim: %w", err)
			}
			return nil
		})
	}
	if hw != nil {
		g.Go(lifecycle.Input, "hardware", func(ctx context.Context) error {
			if err := hw.Run(ctx, door); err != nil {
				return fmt.Errorf("hardware: %w", err)
			}
			return nil
		})
	}
	if mq != nil {
		mq.Start(g)
	}
	// the hub's watch streams (kunci dev) end as the local API stops. A
	// request's body has httplimit's deadline; its headers, an idle
	// connection and the connections held are bounded too (issue 12: slow
	// clients held them without limit). No ReadTimeout: it would end the
	// streams (httplimit.Deadline leaves requests without a body alone).
	g.Serve(lifecycle.Serve, "local API", &http.Server{Handler: httplimit.Deadline(mux, 0),
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10},
		httplimit.NewListener(l, httplimit.Limits{}, reg), "", "")
	// ready only once the door's loop runs (agent.started is stored) and
	// the signed records on disk are applied, so that the first tap finds them
	loaded := make(chan struct{})
	if cfg.RecordsDir != "" {
		g.Go(lifecycle.Input, "records", func(ctx context.Context) error {
			return door.WatchRecords(ctx, cfg.RecordsDir, time.Duration(cfg.RecordsPoll), func() { close(loaded) })
		})
	} else {
		close(loaded)
	}
	sd := sdnotify.New(os.Getenv, os.Getpid(), log)
	g.OnStop(lifecycle.Input, "systemd", func(context.Context) error {
		log.Info("door stopping: the relay goes to its safe state first")
		sd.Stopping()
		return nil
	})
	g.Go(lifecycle.Input, "ready", func(ctx context.Context) error {
		select {
		case <-loaded:
		case <-ctx.Done():
			return nil
		}
		if door.Submit(ctx, agent.Tick{}) != nil {
			return nil
		}
		log.Info("door ready", "site", cfg.Site, "door", cfg.Door, "listen", l.Addr().String(), "store", cfg.Store,
			"epoch", st.Epoch())
		sd.Ready(fmt.Sprintf("door %s/%s ready, local API on %s", cfg.Site, cfg.Door, l.Addr()))
		if ready != nil {
			ready(l.Addr().String())
		}
		// pinged only while the door's loop answers: a hung door is restarted
		sd.Watchdog(ctx, func(ctx context.Context) error { return door.Submit(ctx, agent.Tick{}) })
		return nil
	})
	return nil
}
