package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/pin"

	"github.com/kunci-project/kunci/config"
	kgpio "github.com/kunci-project/kunci/hardware/gpio"
	"github.com/kunci-project/kunci/hardware/hwcheck"
	"github.com/kunci-project/kunci/internal/cli"
)

// cmdHwcheck is the installer's check of a door on a Raspberry Pi
// (hardware/hwcheck). It opens the board as the agent does (openBoard: the
// relay is driven locked before anything else) and hands it to
// hwcheck.Run, which halts the relay on every way out.
func cmdHwcheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("hwcheck", stderr)
	cfgPath := fs.String("config", "/etc/kunci/agent.yaml", "agent config `file` (hardware: gpio)")
	forD := fs.Duration("for", 0, "end after this `duration`; by default hwcheck ends after --pulse-relay and --read-card, or at Ctrl-C when neither is given")
	pulse := fs.Duration("pulse-relay", 0, "unlock the relay once for this `duration` (at most 1m), then lock it")
	yes := fs.Bool("yes", false, "with --pulse-relay: do not ask before unlocking")
	readCard := fs.Bool("read-card", false, "wait for one card on each reader")
	only := fs.String("reader", "", "with --read-card: only the reader of this `name` (entry or exit)")
	showUID := fs.Bool("show-uid", false, "with --read-card: print the card's raw UID too, in the form kunci sign --card takes")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), hwcheckUsage)
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *forD < 0:
		return errors.New("hwcheck: --for must not be negative")
	case *pulse < 0 || *pulse > hwcheck.MaxPulse:
		return fmt.Errorf("hwcheck: --pulse-relay %s: want more than 0 and at most %s", *pulse, hwcheck.MaxPulse)
	case (*only != "" || *showUID) && !*readCard:
		return errors.New("hwcheck: --reader and --show-uid go with --read-card")
	}
	cfg, err := config.LoadAgent(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.Hardware != "gpio" {
		return fmt.Errorf("%s: hardware: %q: hwcheck checks the wiring of hardware: gpio on a Raspberry Pi", cfg.File(), cfg.Hardware)
	}
	if *only != "" && !slices.Contains(cfg.ReaderNames(), *only) {
		return fmt.Errorf("hwcheck: --reader %q: %s has the readers %v", *only, cfg.File(), cfg.ReaderNames())
	}
	if err := hwcheck.AgentAbsent(cfg.Listen, cfg.File()); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := openBoard(cfg, log)
	if err != nil {
		return err
	}
	return hwcheck.Run(ctx, hwcheckWiring(cfg), hwcheck.Board{
		Relay: b.relay, Sensors: b.sensors, Indicator: b.indicator, Readers: b.readers, Halt: b.Halt,
		// pinreg knows the header positions of what gpioreg knows: host.Init's rpi driver registers both
		Pin: func(name string) pin.Pin {
			if p := gpioreg.ByName(name); p != nil {
				return p
			}
			return nil
		},
	}, hwcheck.Options{For: *forD, Pulse: *pulse, Yes: *yes, ReadCard: *readCard, Reader: *only, ShowUID: *showUID,
		In: stdin, Out: stdout})
}

// hwcheckWiring is the door of cfg (hardware: gpio) as hwcheck prints it.
func hwcheckWiring(cfg *config.Agent) hwcheck.Wiring {
	g := cfg.GPIO
	w := hwcheck.Wiring{Site: cfg.Site, Door: cfg.Door, File: cfg.File(), SiteKeyFile: cfg.SiteKeyFile,
		Relay:   hwcheck.RelayWiring{Pin: g.Relay.Pin, ActiveLow: g.Relay.ActiveLow, Lock: kgpio.FailSecure},
		DoorPin: g.Door.Pin,
		LEDs: hwcheck.LEDWiring{Green: g.Indicator.Green, Red: g.Indicator.Red, Amber: g.Indicator.Amber,
			Buzzer: g.Indicator.Buzzer, ActiveLow: g.Indicator.ActiveLow},
	}
	if g.Relay.Lock == "fail-safe" {
		w.Relay.Lock = kgpio.FailSafe
	}
	for _, r := range cfg.Racks {
		w.Racks = append(w.Racks, hwcheck.RackWiring{Name: r, Pin: g.Racks[r].Pin})
	}
	if g.ExitButton != nil {
		w.ExitPin = g.ExitButton.Pin
	}
	for _, r := range cfg.Readers {
		w.Readers = append(w.Readers, hwcheck.ReaderWiring{Name: r.Name, Type: r.Type, Device: r.Device, SPI: r.SPI,
			IRQPin: r.IRQPin, ResetPin: r.ResetPin})
	}
	return w
}

const hwcheckUsage = `usage: kunci hwcheck --config FILE [--for D] [--pulse-relay D [--yes]] [--read-card [--reader NAME] [--show-uid]]

Checks a door's wiring on the Raspberry Pi, with the agent stopped
(sudo systemctl stop kunci-agent): prints every pin of the config with its
role, polarity, pull and debounce, what "locked" means at the relay, and
each reader; then prints every input as it changes ("door: closed (Low)")
until Ctrl-C or --for. --pulse-relay unlocks the relay once, after asking;
--read-card waits for one card on each reader and prints its UID length,
type and fingerprint. The relay is locked on every way out.

`
