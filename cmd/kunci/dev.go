package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/demo"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/devbroker"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("dev", stderr)
	data := fs.String("data", "kunci-dev", "`folder` for keys, signed records and the stores")
	addr := fs.String("listen", "127.0.0.1:8080", "`address` of the simulator and the local API")
	mqttAddr := fs.String("mqtt", devMQTTDefault, "loopback `address` of the embedded MQTT broker (off: the door alone, no broker, no hub)")
	brokerURL := fs.String("broker", "", "`URL` of a running broker to use instead of the embedded one (tcp://127.0.0.1:1883)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	play := fs.Bool("demo", false, "play the whole SOP once (request to a secured room), print the guest book and the service times, and stop")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *play && *mqttAddr == "off" && *brokerURL == "" {
		return errors.New("dev: --demo needs the hub, which needs MQTT (drop --mqtt off)")
	}
	log := newLogger(stderr, *logJSON)
	site, err := demo.Open(*data)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	cfg, err := site.Door(*addr)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	// one group: the door first (its relay halted first), then the local
	// API, the uplink and the hub's loops, the stores, the door's final
	// status, the links, and the embedded broker last
	g := lifecycle.New(ctx, lifecycle.Options{Timeout: devShutdown})
	if err := wireDev(g, site, cfg, log, stdout, stderr, devFlags{data: *data, mqtt: *mqttAddr, broker: *brokerURL,
		demo: *play, mqttSet: flagSet(fs, "mqtt")}); err != nil {
		g.Stop(fmt.Errorf("dev: %w", err))
	}
	return g.Wait()
}

// devShutdown bounds kunci dev's shutdown.
const devShutdown = 10 * time.Second

// devFlags are the flags of kunci dev that wireDev reads.
type devFlags struct {
	data, mqtt, broker string
	demo               bool
	mqttSet            bool // --mqtt was given
}

// wireDev wires kunci dev into g: the embedded broker (unless --broker or
// --mqtt off), the hub of site on it, and the simulated door of cfg.
func wireDev(g *lifecycle.Group, site *demo.Site, cfg *config.Agent, log *slog.Logger, stdout, stderr io.Writer,
	f devFlags) error {
	broker := f.broker
	var b *devbroker.Broker
	if broker == "" && f.mqtt != "off" {
		blog := log.With("part", "broker")
		var err error
		b, err = startDevBroker(f.mqtt, blog)
		if errors.Is(err, devbroker.ErrAddrInUse) && !f.mqttSet {
			// the default port is taken (a Mosquitto on 1883, say): the
			// demo still runs, on a port of its own, and says so
			log.Warn("the default MQTT port is taken; the embedded broker listens on a free port instead (choose one with --mqtt, or use the running broker with --broker)",
				"taken", f.mqtt)
			b, err = startDevBroker("127.0.0.1:0", blog)
		}
		if err != nil {
			return err
		}
		g.OnStop(lifecycle.Last, "broker", func(context.Context) error {
			b.Close(log)
			return nil
		})
		broker = b.URL()
	}
	var hubAPI http.Handler
	var admin, code string
	if broker != "" {
		cfg.MQTT.Broker = broker
		cfg.Defaults()
		h, tok, err := site.OpenHub(broker, cfg, log.With("part", "hub"))
		if err != nil {
			return err
		}
		h.Start(g)
		hubAPI, admin = h.Handler(), tok
		if _, err := site.SeedUsers(h.Users()); err != nil {
			return err
		}
		if code, err = h.Users().SignInCode("admin"); err != nil {
			return err
		}
	}
	return wireAgent(g, cfg, log, "--listen", func(a string) {
		if f.demo {
			g.Go(lifecycle.Input, "demo", func(ctx context.Context) error {
				if err := playDemo(ctx, "http://"+a, admin, stdout, stderr); err != nil {
					return err
				}
				g.Stop(nil)
				return nil
			})
			return
		}
		mqtt := ""
		switch {
		case b != nil:
			mqtt = "embedded MQTT broker on " + b.Addr() + " (loopback only, every client allowed)"
		case broker != "":
			mqtt = "MQTT broker " + broker + " (--broker)"
		}
		host, port := mqttlink.HostPort(broker)
		fmt.Fprint(stdout, demo.Help(demo.HelpFields{Site: cfg.Site, Door: cfg.Door, Addr: a, Data: f.data, MQTT: mqtt,
			Host: host, Port: port, Hub: hubAPI != nil, TokenFile: site.TokenFile(), Token: admin, Code: code,
			UsersFile: site.UsersFile()}))
	}, hubAPI)
}

// playDemo plays the SOP on kunci dev at base (demo.Play), running the
// client verbs as kunci's command line does.
func playDemo(ctx context.Context, base, admin string, stdout, stderr io.Writer) error {
	c, err := client.New(base, admin)
	if err != nil {
		return err
	}
	return demo.Play(ctx, c, base, func(ctx context.Context, token string, args ...string) error {
		return run(ctx, append(args, "--token", token, "--hub", base), stdout, stderr)
	}, stdout)
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
