package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"syscall"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hardware/sim"
	"github.com/kunci-project/kunci/hardware/sysclock"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
)

func cmdAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("agent", stderr)
	cfgPath := fs.String("config", "/etc/kunci/agent.yaml", "agent config `file`")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.LoadAgent(*cfgPath)
	if err != nil {
		return err
	}
	return runAgent(ctx, cfg, newLogger(stderr, *logJSON), "--config "+*cfgPath+" (listen:)", nil, nil)
}

func newLogger(w io.Writer, json bool) *slog.Logger {
	if json {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// listen opens addr, telling which flag or field moves it when it is taken.
func listen(addr, moveWith string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is already in use by another program; choose another address with %s", addr, moveWith)
		}
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}

// bootID names this boot of the machine, so that events from before and
// after a power cut are told apart.
func bootID() string {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")[:8]
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// runAgent wires one door from cfg and runs it until ctx ends. The relay is
// driven to its safe state before anything else and halted on every way
// out. ready, when set, is called once the door takes input. hubAPI, when
// set (kunci dev), is served on the same listener under /api/ and /healthz.
func runAgent(ctx context.Context, cfg *config.Agent, log *slog.Logger, moveWith string, ready func(addr string),
	hubAPI http.Handler) (err error) {
	// the relay reaches its safe state before anything else, and again on
	// every way out
	var relay agent.Relay
	var simRelay *sim.Relay
	var hw *board
	if cfg.Hardware == "gpio" {
		if hw, err = openBoard(cfg, log); err != nil {
			return err
		}
		relay = hw.Relay()
		defer func() {
			hw.Halt()
			log.Info("relay halted", "relay", relay.String())
		}()
	} else {
		simRelay = &sim.Relay{}
		if err := simRelay.Lock(); err != nil {
			return err
		}
		relay = simRelay
		defer func() {
			err = errors.Join(err, simRelay.Halt())
			log.Info("relay halted", "relay", simRelay.String(), "unlocked", simRelay.Unlocked())
		}()
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
	defer func() { err = errors.Join(err, st.Close()) }()

	clk := agent.NewSystemClock(sysclock.Synced)
	if cfg.Clock == "trusted" {
		clk.IsSynced = nil
	}
	reg := metrics.NewRegistry() // the agent's /metrics
	door, err := agent.NewDoor(agent.Config{Site: cfg.Site, Door: cfg.Door, Rules: cfg.AgentRules(),
		Readers: cfg.ReaderNames(), Racks: cfg.Racks, SiteKey: siteKey, Keys: keys, Boot: bootID(),
		Version: version}, st, relay, clk, log, reg)
	if err != nil {
		return err
	}
	l, err := listen(cfg.Listen, moveWith)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	api := door.Handler()
	mux.Handle("/status", api)
	mux.Handle("/events", api)
	mux.Handle("/metrics", api)
	if hubAPI != nil {
		mux.Handle("/api/", hubAPI)
		mux.Handle("/healthz", hubAPI)
	}
	var simulated *sim.Sim
	if simRelay != nil {
		simulated = sim.New(simRelay, door, reg, cfg.ReaderNames(), cfg.Racks)
		mux.Handle("/sim/", simulated.Handler())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// the watch streams of the hub's API end with ctx
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 5)
	var wg sync.WaitGroup
	// the store closes only after the door's loop and the record watcher end
	defer wg.Wait()
	wg.Go(func() { errc <- door.Run(ctx) })
	if simulated != nil {
		// the simulated reeds read at start, as real ones do
		wg.Go(func() {
			if err := simulated.Report(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("sim: %w", err)
			}
		})
	}
	if hw != nil {
		wg.Go(func() {
			if err := hw.Run(ctx, door); err != nil {
				errc <- fmt.Errorf("hardware: %w", err)
			}
		})
	}
	if cfg.MQTT.Broker != "" {
		mq, err := newAgentSync(ctx, cfg, door, st, keys, reg, log)
		if err != nil {
			cancel()
			return err
		}
		wg.Go(func() {
			if err := mq.Run(ctx); err != nil {
				errc <- fmt.Errorf("mqtt: %w", err)
			}
		})
	}
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	// ready only once the door's loop runs (agent.started is stored) and
	// the signed records on disk are applied, so that the first tap finds them
	loaded := make(chan struct{})
	if cfg.RecordsDir != "" {
		wg.Go(func() {
			errc <- door.WatchRecords(ctx, cfg.RecordsDir, time.Duration(cfg.RecordsPoll), func() { close(loaded) })
		})
	} else {
		close(loaded)
	}
	select {
	case <-loaded:
	case <-ctx.Done():
	}
	sd := newNotifier(os.Getenv, os.Getpid(), log)
	if door.Submit(ctx, agent.Tick{}) == nil {
		log.Info("door ready", "site", cfg.Site, "door", cfg.Door, "listen", l.Addr().String(), "store", cfg.Store,
			"epoch", st.Epoch())
		sd.Ready(fmt.Sprintf("door %s/%s ready, local API on %s", cfg.Site, cfg.Door, l.Addr()))
		// pinged only while the door's loop answers: a hung door is restarted
		wg.Go(func() {
			sd.Watchdog(ctx, func(ctx context.Context) error { return door.Submit(ctx, agent.Tick{}) })
		})
		if ready != nil {
			ready(l.Addr().String())
		}
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sd.Stopping()
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	if err != nil {
		return err
	}
	return nil
}
