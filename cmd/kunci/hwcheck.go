package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kunci-project/kunci/config"
	kgpio "github.com/kunci-project/kunci/hardware/gpio"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/permit"
)

// maxPulse bounds --pulse-relay as rules.unlock is bounded.
const maxPulse = time.Minute

// cardRetry is how long hwcheck waits after a reader fault before it tries
// the reader again.
const cardRetry = time.Second

// cmdHwcheck is the installer's check of a door on a Raspberry Pi. It opens
// the board as the agent does (openBoard: the relay is driven locked before
// anything else), prints the wiring the config describes, then shows every
// input live; on request it pulses the relay once and reads one card per
// reader. The relay is halted (locked) on every way out.
func cmdHwcheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs := newFlags("hwcheck", stderr)
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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *forD < 0:
		return errors.New("hwcheck: --for must not be negative")
	case *pulse < 0 || *pulse > maxPulse:
		return fmt.Errorf("hwcheck: --pulse-relay %s: want more than 0 and at most %s", *pulse, maxPulse)
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
	if err := agentAbsent(cfg); err != nil {
		return err
	}
	if *forD > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *forD)
		defer cancel()
	}
	out := &printer{w: stdout}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := openBoard(cfg, log)
	if err != nil {
		return err
	}
	h := &hwcheck{cfg: cfg, b: b, out: out}
	wctx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchErrs := func() error { return nil }
	defer func() {
		// the relay first, whatever else is still running
		if herr := b.relay.Halt(); herr != nil {
			err = errors.Join(err, fmt.Errorf("relay: halt: %w", herr))
		}
		stopWatching()
		watchers.Wait()
		err = errors.Join(err, watchErrs())
		b.Halt()
		out.line("relay: locked (%s %s); board halted", h.relayPin(), h.lockedLevel())
	}()

	out.line("kunci hwcheck: site %s, door %s, from %s", cfg.Site, cfg.Door, cfg.File())
	h.printWiring()
	out.line("")
	out.line("Inputs, as the agent sees them (debounced); open the door and each rack, press the exit button:")
	watchErrs = h.watchInputs(wctx, &watchers)

	if *pulse > 0 {
		if err := h.pulse(ctx, stdin, *pulse, *yes); err != nil {
			return err
		}
	}
	if *readCard {
		if err := h.readCards(ctx, *only, *showUID); err != nil {
			return err
		}
	}
	if *forD > 0 || (*pulse == 0 && !*readCard) {
		if *forD == 0 {
			out.line("Watching until Ctrl-C.")
		}
		<-ctx.Done()
	}
	return nil
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

// agentAbsent refuses to run beside the agent: both would drive the relay's
// pin (on a Pi, periph writes output levels straight into the GPIO
// registers, so nothing stops two programs from doing so).
func agentAbsent(cfg *config.Agent) error {
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil || port == "0" {
		return nil
	}
	c, err := net.DialTimeout("tcp", cfg.Listen, 500*time.Millisecond)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("hwcheck: something answers on %s, the agent's listen address in %s: stop the agent first "+
		"(sudo systemctl stop kunci-agent); two programs driving the relay's pin would fight over the lock", cfg.Listen, cfg.File())
}

// printer writes whole lines from several goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) line(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", a...)
}

// event is a line with the time, for what happens while hwcheck watches.
func (p *printer) event(format string, a ...any) {
	p.line(time.Now().Format("15:04:05.000")+"  "+format, a...)
}

type hwcheck struct {
	cfg *config.Agent
	b   *board
	out *printer
}

// headerPins maps the BCM GPIO names of a Raspberry Pi's 40-pin header to
// their physical pin numbers.
var headerPins = map[string]int{
	"GPIO2": 3, "GPIO3": 5, "GPIO4": 7, "GPIO14": 8, "GPIO15": 10, "GPIO17": 11, "GPIO18": 12,
	"GPIO27": 13, "GPIO22": 15, "GPIO23": 16, "GPIO24": 18, "GPIO10": 19, "GPIO9": 21, "GPIO25": 22,
	"GPIO11": 23, "GPIO8": 24, "GPIO7": 26, "GPIO0": 27, "GPIO1": 28, "GPIO5": 29, "GPIO6": 31,
	"GPIO12": 32, "GPIO13": 33, "GPIO19": 35, "GPIO16": 36, "GPIO26": 37, "GPIO20": 38, "GPIO21": 40,
}

// pinLabel names a pin with its header position where it is known.
func pinLabel(name string) string {
	if n, ok := headerPins[name]; ok {
		return fmt.Sprintf("%s (header pin %d)", name, n)
	}
	return name
}

// bootLevel is the level a BCM GPIO is pulled to while the Pi boots,
// before any program configures it: GPIO 0-8 up, 9-27 down.
func bootLevel(name string) (gpio.Level, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "GPIO"))
	if !strings.HasPrefix(name, "GPIO") || err != nil || n < 0 || n > 27 {
		return gpio.Low, false
	}
	return n <= 8, true
}

func (h *hwcheck) relayPin() string { return h.cfg.GPIO.Relay.Pin }

func (h *hwcheck) relayLock() kgpio.LockType {
	if h.cfg.GPIO.Relay.Lock == "fail-safe" {
		return kgpio.FailSafe
	}
	return kgpio.FailSecure
}

func (h *hwcheck) lockedLevel() gpio.Level {
	return kgpio.LockedLevel(h.cfg.GPIO.Relay.ActiveLow, h.relayLock())
}

const roleWidth = 13

func (h *hwcheck) row(role, pin, what string, more ...string) {
	h.out.line("  %-*s %-24s %s", roleWidth, role, pin, what)
	for _, m := range more {
		h.out.line("  %-*s %-24s %s", roleWidth, "", "", m)
	}
}

// printWiring prints what the config makes of each pin, with the defaults
// the drivers filled in.
func (h *hwcheck) printWiring() {
	g := h.cfg.GPIO
	h.out.line("")
	h.out.line("Wiring:")
	driver := "active-high driver (High energises the relay)"
	if g.Relay.ActiveLow {
		driver = "active-low driver (Low energises the relay)"
	}
	locked := h.lockedLevel()
	var lines []string
	if h.relayLock() == kgpio.FailSafe {
		lines = append(lines,
			"fail-safe lock (maglock): powered = locked, a power cut releases the door",
			fmt.Sprintf("locked = %s (relay energised, the maglock holds); unlocked = %s (relay off)", locked, !locked),
			"the push-to-exit button (held off 30 s), a PIR request-to-exit and the fire alarm must cut the lock's power in hardware")
	} else {
		lines = append(lines,
			"fail-secure lock (electric strike): unpowered = locked",
			fmt.Sprintf("locked = %s (relay off, strike unpowered); unlocked = %s (relay energised)", locked, !locked))
	}
	if boot, ok := bootLevel(g.Relay.Pin); ok {
		if boot == locked {
			lines = append(lines, fmt.Sprintf("while the Pi boots the pin is pulled %s: locked until the agent starts", boot))
		} else {
			pins := "GPIO 9-27"
			if locked == gpio.High {
				pins = "GPIO 0-8"
			}
			lines = append(lines, fmt.Sprintf("WARNING: while the Pi boots the pin is pulled %s, which UNLOCKS the door until the agent starts; "+
				"a pin pulled %s at boot (%s) keeps it locked", boot, locked, pins))
		}
	}
	h.row("relay", pinLabel(g.Relay.Pin), "output, "+driver, lines...)
	inputs := h.inputs()
	for _, w := range inputs {
		c := w.in.Config()
		closed, open := gpio.Low, gpio.High
		to := "GND"
		if c.ActiveHigh {
			closed, open, to = gpio.High, gpio.Low, "3.3 V"
		}
		kind, on, off := "reed switch", "closed", "open or a cut wire"
		if w.button {
			kind, on, off = "push button", "pressed", "released or a cut wire"
		}
		pull := map[gpio.Pull]string{gpio.PullUp: "pull-up", gpio.PullDown: "pull-down",
			gpio.Float: "no internal pull (an external resistor must pull it to " + strings.Fields(off)[0] + ")"}[c.Pull]
		h.row(w.label, pinLabel(w.pin), fmt.Sprintf("%s to %s: %s reads %s, %s reads %s", kind, to, on, closed, off, open),
			fmt.Sprintf("%s; debounce %s", pull, c.Debounce))
	}
	ind := g.Indicator
	on := "High"
	if ind.ActiveLow {
		on = "Low"
	}
	for _, o := range []struct{ role, pin string }{{"green LED", ind.Green}, {"red LED", ind.Red},
		{"amber LED", ind.Amber}, {"buzzer", ind.Buzzer}} {
		if o.pin != "" {
			h.row(o.role, pinLabel(o.pin), "output, on = "+on)
		}
	}
	for _, rc := range h.cfg.Readers {
		role := "reader " + rc.Name
		switch rc.Type {
		case config.ReaderPN532:
			h.row(role, "pn532", "on "+rc.Device+": UART (HSU) at 115200 baud; ISO 14443 A and B, 4-, 7- and 10-byte UIDs")
		case config.ReaderMFRC522:
			h.row(role, "mfrc522", "on "+rc.SPI+"; ISO 14443 A only, 4- and 7-byte UIDs",
				"IRQ "+pinLabel(rc.IRQPin)+", reset "+pinLabel(rc.ResetPin))
		case config.ReaderEvdev:
			h.row(role, "evdev", "on "+rc.Device+": keyboard-wedge, the weakest choice (UIDs may be truncated)")
		default:
			h.row(role, rc.Type, "on "+rc.Device)
		}
	}
	h.out.line("  inputs whose pin has no edge detection are read every %s", h.b.sensors.Door.Config().Poll)
}

// watchedInput is one of the board's inputs with what hwcheck calls it.
type watchedInput struct {
	label, pin string
	in         *kgpio.Input
	button     bool
}

func (h *hwcheck) inputs() []watchedInput {
	g, s := h.cfg.GPIO, h.b.sensors
	ws := []watchedInput{{label: "door", pin: g.Door.Pin, in: s.Door}}
	for _, r := range h.cfg.Racks {
		ws = append(ws, watchedInput{label: "rack " + r, pin: g.Racks[r].Pin, in: s.Racks[r]})
	}
	if s.Exit != nil {
		ws = append(ws, watchedInput{label: "exit button", pin: g.ExitButton.Pin, in: s.Exit, button: true})
	}
	return ws
}

// watchInputs prints every input's state at start and at each change until
// ctx ends. It waits (a little) for the states at start, so that they come
// before anything else; the function it returns gives the watchers'
// errors once wg is done.
func (h *hwcheck) watchInputs(ctx context.Context, wg *sync.WaitGroup) func() error {
	var (
		mu   sync.Mutex
		errs []error
	)
	ws := h.inputs()
	first := make(chan struct{}, len(ws))
	for _, w := range ws {
		wg.Go(func() {
			started := false
			defer func() {
				if !started {
					first <- struct{}{}
				}
			}()
			err := w.in.Watch(ctx, func(_ context.Context, active bool) error {
				state, level := "open", gpio.Level(active == w.in.Config().ActiveHigh)
				switch {
				case w.button && active:
					state = "pressed"
				case w.button:
					state = "released"
				case active:
					state = "closed"
				}
				note := ""
				if w.button && active && !started {
					note = ": held at start, which the agent does not count as a press (stuck, or active_high wrong?)"
				}
				h.out.event("%s: %s (%s)%s", w.label, state, level, note)
				if !started {
					started = true
					first <- struct{}{}
				}
				return nil
			})
			if err != nil {
				h.out.event("%s: %v", w.label, err)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
wait:
	for range ws {
		select {
		case <-first:
		case <-t.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(errs...)
	}
}

// pulse unlocks the relay for d, after asking unless yes, and locks it
// again when d has passed or ctx ends.
func (h *hwcheck) pulse(ctx context.Context, stdin io.Reader, d time.Duration, yes bool) error {
	pin, locked := h.relayPin(), h.lockedLevel()
	if !yes {
		h.out.line("")
		ok, err := confirm(ctx, stdin, h.out, fmt.Sprintf("Unlock the door for %s (%s goes %s)? Type yes to go on: ", d, pin, !locked))
		if err != nil || !ok {
			return errors.Join(errors.New("hwcheck: --pulse-relay not confirmed (answer yes, or pass --yes); the relay stayed locked"), err)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := h.b.relay.Unlock(); err != nil {
		return err
	}
	h.out.event("relay: unlocked (%s %s) for %s", pin, !locked, d)
	t := time.NewTimer(d)
	defer t.Stop()
	early := ""
	select {
	case <-t.C:
	case <-ctx.Done():
		early = ", early: interrupted"
	}
	if err := h.b.relay.Lock(); err != nil {
		return err
	}
	h.out.event("relay: locked (%s %s)%s", pin, locked, early)
	return nil
}

// confirm asks question on out and reports whether the answer read from
// in is yes. An end of ctx is a no.
func confirm(ctx context.Context, in io.Reader, out *printer, question string) (bool, error) {
	out.mu.Lock()
	fmt.Fprint(out.w, question)
	out.mu.Unlock()
	answer := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		s, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && s == "" {
			errc <- fmt.Errorf("no answer: %w", err)
			return
		}
		answer <- s
	}()
	select {
	case <-ctx.Done():
		out.line("")
		return false, nil
	case err := <-errc:
		out.line("")
		return false, err
	case s := <-answer:
		s = strings.ToLower(strings.TrimSpace(s))
		return s == "yes" || s == "y", nil
	}
}

// readCards waits for one card on each reader (or on the one named only),
// in the config's order, and prints what it learnt.
func (h *hwcheck) readCards(ctx context.Context, only string, showUID bool) error {
	key, keyErr := permit.LoadSiteKey(h.cfg.SiteKeyFile)
	played := false
	var errs []error
	for _, rc := range h.cfg.Readers {
		if only != "" && rc.Name != only {
			continue
		}
		h.out.line("")
		r := h.b.readers[rc.Name]
		h.out.line("Reader %s (%s): hold a card on it.", rc.Name, r)
		c, err := readOneCard(ctx, h.out, rc, r)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		h.printCard(rc.Name, c, key, keyErr, showUID)
		if werr, bad := nfc.CheckUID(c.uid); bad != nil {
			errs = append(errs, fmt.Errorf("reader %s: the agent would refuse this card: %w", rc.Name, bad))
		} else if werr != nil {
			h.out.line("  warning: %v", werr)
		}
		if c.warning != nil {
			h.out.line("  warning: %v", c.warning)
		}
		clear(c.uid)
		if h.b.indicator != nil && h.b.indicator.Play(kgpio.Granted) == nil {
			h.out.line("  the indicator plays %q: green, one beep", kgpio.Granted)
			played = true
		}
	}
	if played && ctx.Err() == nil {
		// let the pattern finish before the board is halted
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return errors.Join(errs...)
}

func (h *hwcheck) printCard(reader string, c card, key permit.SiteKey, keyErr error, showUID bool) {
	h.out.event("reader %s: %s", reader, c.kind)
	if keyErr != nil {
		h.out.line("  fingerprint: not computed: %v", keyErr)
	} else {
		h.out.line("  fingerprint: %s (HMAC-SHA256 with the site key: what the door stores)", key.Fingerprint(c.uid))
	}
	if showUID {
		h.out.line("  UID: %X (as kunci sign --card takes it; keep it out of tickets and chats)", c.uid)
	}
}

// card is what a reader told about a card.
type card struct {
	uid     []byte
	kind    string // type and UID length, never the UID
	warning error  // a suspect UID, from the reader
}

// readOneCard waits for a card on r until ctx ends, printing each new
// fault once and trying again after cardRetry.
func readOneCard(ctx context.Context, out *printer, rc config.Reader, r nfc.Reader) (card, error) {
	var last error
	fault := func(err error) {
		if last == nil || err.Error() != last.Error() {
			hint := ""
			if strings.Contains(strings.ToLower(err.Error()), "permission denied") {
				hint = " (is the user in the device's group: dialout, spi or input? see configs/udev/99-kunci.rules)"
			}
			out.event("reader %s: %v%s", rc.Name, err, hint)
		}
		last = err
	}
	pause := func() bool {
		t := time.NewTimer(cardRetry)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	announced := false
	for ctx.Err() == nil {
		if d, ok := r.(*pn532.Dev); ok && !announced {
			if err := d.Init(ctx); err != nil {
				if ctx.Err() == nil {
					fault(err)
					pause()
				}
				continue
			}
			announced = true
			out.event("reader %s: the chip answers: %s", rc.Name, d.Firmware())
		}
		c, err := readCard(ctx, rc, r)
		if ctx.Err() != nil {
			break
		}
		if c.uid == nil {
			if err == nil {
				err = errors.New("the reader returned neither a card nor an error")
			}
			fault(err)
			if !pause() {
				break
			}
			if rs, ok := r.(nfc.Resetter); ok {
				if _, isPN := r.(*pn532.Dev); !isPN {
					if err := rs.Reset(ctx); err != nil && ctx.Err() == nil {
						fault(fmt.Errorf("reset: %w", err))
					}
				}
			}
			continue
		}
		c.warning = err
		return c, nil
	}
	if last != nil {
		return card{}, fmt.Errorf("reader %s: no card read; last fault: %w", rc.Name, last)
	}
	return card{}, fmt.Errorf("reader %s: no card read", rc.Name)
}

// readCard reads one card, with its type where the reader tells it.
func readCard(ctx context.Context, rc config.Reader, r nfc.Reader) (card, error) {
	if d, ok := r.(*pn532.Dev); ok {
		t, err := d.ReadTarget(ctx)
		if err != nil {
			return card{}, err
		}
		return card{uid: t.UID, kind: t.String()}, nil
	}
	uid, err := r.ReadUID(ctx)
	if uid == nil {
		return card{}, err
	}
	kind := fmt.Sprintf("%d-byte UID, card type not known", len(uid))
	if rc.Type == config.ReaderMFRC522 {
		kind = fmt.Sprintf("%s card, %d-byte UID", pn532.TypeA, len(uid))
	}
	return card{uid: uid, kind: kind}, err
}
