package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
		help, mqtt := devHelp, ""
		switch {
		case b != nil:
			mqtt = "embedded MQTT broker on " + b.Addr() + " (loopback only, every client allowed)"
		case broker != "":
			mqtt = "MQTT broker " + broker + " (--broker)"
		}
		if mqtt != "" {
			help += devMQTTHelp
		} else {
			help += "\nNo MQTT (--mqtt off): the door alone keeps every event in its local log; no hub.\n"
		}
		if hubAPI != nil {
			help += devHubHelp
		}
		host, port := mqttlink.HostPort(broker)
		fmt.Fprint(stdout, strings.NewReplacer("{site}", cfg.Site, "{door}", cfg.Door, "{addr}", a, "{data}", f.data,
			"{guest}", demo.GuestUID, "{escort}", demo.EscortUID, "{solo}", demo.SoloUID, "{other}", demo.OtherUID,
			"{mqtt}", mqtt, "{host}", host, "{port}", port, "{tokenfile}", site.TokenFile(), "{token}", admin, "{code}", code,
			"{usersfile}", site.UsersFile()).Replace(help))
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

// The help kunci dev prints once the door is ready: devHelp, devMQTTHelp
// (or a line saying there is no MQTT), devHubHelp when the hub runs; the
// {names} are filled in.
const devHelp = `
Kunci dev: a simulated door (site {site}, door {door}, racks R1 and R2) on http://{addr}
Data (keys, signed records, store): {data}. Stop with Ctrl-C.

The SOP at the door: guest P-0012 taps, escort S-004 taps within 30 s, the door opens.
  curl -s -XPOST {addr}/sim/tap -d '{"reader":"entry","uid":"{guest}"}'
  curl -s -XPOST {addr}/sim/tap -d '{"reader":"entry","uid":"{escort}"}'
  curl -s -XPOST {addr}/sim/door -d '{"open":true}'
  curl -s -XPOST {addr}/sim/door -d '{"open":false}'
  curl -s {addr}/status
  curl -s '{addr}/events?after=0'
Also: the exit button (curl -s -XPOST {addr}/sim/exit-button), a rack
(curl -s -XPOST {addr}/sim/rack -d '{"rack":"R1","open":true}'), staff S-001 alone
(uid {solo} on {addr}), an unknown card (uid {other}).
`

const devMQTTHelp = `
MQTT: {mqtt}.
The door publishes its events; the hub stores them, acks them (the door
then deletes them) and keeps the guest book; the hub publishes the signed
permits and staff records the door holds. Watch:
  mosquitto_sub -h {host} -p {port} -v -t 'kunci/#'
`

const devHubHelp = `
Konsol Kunci, the web console: http://{addr}/
  signed in as admin at once (a one-time link, for 15 minutes): http://{addr}/masuk/kode/{code}
  the office, one user per SOP role (passwords in {usersfile}):
  meja (the desk), jaringan (network administrator), kasi (Kasi Infrastruktur TIK), auditor, admin

The hub's API is on http://{addr}/api/ (SOP steps 1-4, the guest book, reports).
Admin token (also in {tokenfile}):
  export KUNCI_TOKEN={token} KUNCI_HUB=http://{addr}
  kunci status                 the door: lock, door, racks, who is inside
  kunci permit list            permits and their state
  kunci guestbook              the Buku Tamu; --csv for a spreadsheet
  kunci sla                    service times against the SOP's standards
  kunci watch                  events as they happen (Ctrl-C to stop)
The whole SOP in one go: kunci dev --demo
`

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
