package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/internal/devbroker"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/keyfile"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// Demo cards of kunci dev. They are made-up UIDs, printed for the user to
// tap on the simulator.
const (
	demoGuestUID  = "04A1B2C3D4E5F6"       // a 7-byte e-KTP UID, guest of permit P-0012
	demoEscortUID = "04E5F6A1B2C3D4"       // staff S-004, may escort
	demoSoloUID   = "0A0B0C0D"             // staff S-001, may enter alone
	demoOtherUID  = "08112233445566778899" // a 10-byte card nobody registered
)

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", stderr)
	data := fs.String("data", "kunci-dev", "`folder` for keys, signed records and the stores")
	addr := fs.String("listen", "127.0.0.1:8080", "`address` of the simulator and the local API")
	mqttAddr := fs.String("mqtt", devMQTTDefault, "loopback `address` of the embedded MQTT broker (off: the door alone, no broker, no hub)")
	brokerURL := fs.String("broker", "", "`URL` of a running broker to use instead of the embedded one (tcp://127.0.0.1:1883)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	demo := fs.Bool("demo", false, "play the whole SOP once (request to a secured room), print the guest book and the service times, and stop")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *demo && *mqttAddr == "off" && *brokerURL == "" {
		return errors.New("dev: --demo needs the hub, which needs MQTT (drop --mqtt off)")
	}
	log := newLogger(stderr, *logJSON)
	cfg, err := devSetup(*data, *addr)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	// one group: the door first (its relay halted first), then the local
	// API, the uplink and the hub's loops, the stores, the door's final
	// status, the links, and the embedded broker last
	g := lifecycle.New(ctx, lifecycle.Options{Timeout: devShutdown})
	if err := wireDev(g, cfg, log, stdout, stderr, devFlags{data: *data, mqtt: *mqttAddr, broker: *brokerURL,
		demo: *demo, mqttSet: flagSet(fs, "mqtt")}); err != nil {
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
// --mqtt off), the hub on it, and the simulated door of cfg.
func wireDev(g *lifecycle.Group, cfg *config.Agent, log *slog.Logger, stdout, stderr io.Writer, f devFlags) error {
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
	var admin string
	if broker != "" {
		cfg.MQTT.Broker = broker
		cfg.Defaults()
		h, tok, err := openDevHub(f.data, broker, cfg, log.With("part", "hub"))
		if err != nil {
			return err
		}
		h.Start(g)
		hubAPI, admin = h.Handler(), tok
	}
	return wireAgent(g, cfg, log, "--listen", func(a string) {
		if f.demo {
			g.Go(lifecycle.Input, "demo", func(ctx context.Context) error {
				if err := runDemo(ctx, "http://"+a, admin, stdout, stderr); err != nil {
					return err
				}
				g.Stop(nil)
				return nil
			})
			return
		}
		fmt.Fprintf(stdout, devHelp, cfg.Site, cfg.Door, a, f.data, a, demoGuestUID, a, demoEscortUID, a, a, a, a, a,
			a, demoSoloUID, a, demoOtherUID)
		switch {
		case b != nil:
			host, port := mqttlink.HostPort(broker)
			fmt.Fprintf(stdout, devMQTTHelp, "embedded MQTT broker on "+b.Addr()+" (loopback only, every client allowed)",
				host, port)
		case broker != "":
			host, port := mqttlink.HostPort(broker)
			fmt.Fprintf(stdout, devMQTTHelp, "MQTT broker "+broker+" (--broker)", host, port)
		default:
			fmt.Fprint(stdout, "\nNo MQTT (--mqtt off): the door alone keeps every event in its local log; no hub.\n")
		}
		if hubAPI != nil {
			fmt.Fprintf(stdout, devHubHelp, a, filepath.Join(f.data, "admin.token"), admin, a)
		}
	}, hubAPI)
}

const devHelp = `
Kunci dev: a simulated door (site %s, door %s, racks R1 and R2) on http://%s
Data (keys, signed records, store): %s. Stop with Ctrl-C.

The SOP at the door: guest P-0012 taps, escort S-004 taps within 30 s, the door opens.
  curl -s -XPOST %s/sim/tap -d '{"reader":"entry","uid":"%s"}'
  curl -s -XPOST %s/sim/tap -d '{"reader":"entry","uid":"%s"}'
  curl -s -XPOST %s/sim/door -d '{"open":true}'
  curl -s -XPOST %s/sim/door -d '{"open":false}'
  curl -s %s/status
  curl -s '%s/events?after=0'
Also: the exit button (curl -s -XPOST %s/sim/exit-button), a rack
(curl -s -XPOST %s/sim/rack -d '{"rack":"R1","open":true}'), staff S-001 alone
(uid %s on %s), an unknown card (uid %s).
`

const devMQTTHelp = `
MQTT: %s.
The door publishes its events; the hub stores them, acks them (the door
then deletes them) and keeps the guest book; the hub publishes the signed
permits and staff records the door holds. Watch:
  mosquitto_sub -h %s -p %s -v -t 'kunci/#'
`

const devHubHelp = `
The hub's API is on http://%s/api/ (SOP steps 1-4, the guest book, reports).
Admin token (also in %s):
  export KUNCI_TOKEN=%s KUNCI_HUB=http://%s
  kunci status                 the door: lock, door, racks, who is inside
  kunci permit list            permits and their state
  kunci guestbook              the Buku Tamu; --csv for a spreadsheet
  kunci sla                    service times against the SOP's standards
  kunci watch                  events as they happen (Ctrl-C to stop)
The whole SOP in one go: kunci dev --demo
`

// devSetup makes keys, a site key and the demo's signed records in data on
// first use, and returns the simulated door's config.
func devSetup(data, addr string) (*config.Agent, error) {
	keys := filepath.Join(data, "keys")
	recs := filepath.Join(data, "records")
	if err := os.MkdirAll(recs, 0o700); err != nil {
		return nil, err
	}
	privs, _ := filepath.Glob(filepath.Join(keys, "hub-*.key"))
	if len(privs) == 0 {
		id, err := keyfile.Generate(keys)
		if err != nil {
			return nil, err
		}
		privs = []string{filepath.Join(keys, "hub-"+string(id)+".key")}
	}
	pubs, _ := filepath.Glob(filepath.Join(keys, "hub-*.pub"))
	signer, err := permit.LoadSigner(privs[0])
	if err != nil {
		return nil, err
	}
	sk, err := permit.LoadSiteKey(filepath.Join(keys, "site.key"))
	if err != nil {
		return nil, err
	}
	if existing, _ := filepath.Glob(filepath.Join(recs, "*.json")); len(existing) == 0 {
		if err := writeDemoRecords(recs, signer, sk, time.Now()); err != nil {
			return nil, err
		}
	}
	yes := true
	cfg := &config.Agent{Site: "demo", Door: "server-room", Store: filepath.Join(data, "agent.db"), Listen: addr,
		SiteKeyFile: filepath.Join(keys, "site.key"), TrustedKeys: pubs, RecordsDir: recs,
		RecordsPoll: wire.Duration(2 * time.Second), Clock: "trusted", Hardware: "sim",
		Readers: []config.Reader{{Name: "entry", Type: "sim"}, {Name: "exit", Type: "sim"}},
		Racks:   []string{"R1", "R2"}, Rules: config.Rules{ExitUnlocks: &yes}}
	cfg.Defaults()
	return cfg, cfg.Validate()
}

func writeDemoRecords(dir string, s *permit.Signer, sk permit.SiteKey, now time.Time) error {
	fp := func(uid string) permit.Fingerprint { f, _ := sk.FingerprintText(uid); return f }
	now = now.Truncate(time.Second)
	recs := []struct {
		file string
		kind permit.Kind
		rec  interface{ Validate() error }
	}{
		{"staff-S-004.json", permit.KindStaff, &permit.Staff{ID: "S-004", Version: 1, Site: "demo",
			Cards: []permit.Fingerprint{fp(demoEscortUID)}, Escort: true}},
		{"staff-S-001.json", permit.KindStaff, &permit.Staff{ID: "S-001", Version: 1, Site: "demo",
			Cards: []permit.Fingerprint{fp(demoSoloUID)}, Escort: true, Solo: true}},
		{"permit-P-0012.json", permit.KindPermit, &permit.Permit{ID: "P-0012", Version: 1, Site: "demo",
			Door: "server-room", Card: fp(demoGuestUID), Escort: "S-004", Category: permit.Server,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), ApprovedBy: "kasi-infra",
			ApprovedAt: now}},
	}
	for _, r := range recs {
		doc, err := s.Sign(r.kind, r.rec)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, r.file), append(doc, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
