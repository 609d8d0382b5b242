package hwcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"

	kgpio "github.com/kunci-project/kunci/hardware/gpio"
	"github.com/kunci-project/kunci/hardware/nfc"
)

// MaxPulse bounds a pulse of the relay as the agent's rules.unlock is
// bounded.
const MaxPulse = time.Minute

// Relay is what the check needs of the lock's relay; hardware/gpio's Relay
// has it.
type Relay interface {
	Lock() error
	Unlock() error
	// Halt drives the locked level and refuses any later Unlock.
	Halt() error
}

var _ Relay = (*kgpio.Relay)(nil)

// Board is a door's hardware as the agent opens it: the relay driven
// locked before anything else, then the inputs, outputs and readers of its
// Wiring.
type Board struct {
	Relay     Relay
	Sensors   kgpio.Sensors
	Indicator *kgpio.Indicator      // nil when the door has no LEDs and no buzzer
	Readers   map[string]nfc.Reader // by the readers' names in the Wiring

	// Pin returns the board's pin of a name in the Wiring (gpioreg.ByName
	// on a Pi), whose place on a header pinreg tells; nil when the board has
	// no pin of that name. With a nil Pin no header positions are printed.
	Pin func(name string) pin.Pin

	// Halt puts every part in its safe state. Run calls it on its way out,
	// after it halted the relay and stopped watching the inputs.
	Halt func()
}

// Options are what the installer asked for.
type Options struct {
	// For ends the check after this long. Without it the check ends after
	// Pulse and ReadCard, or with its context when neither is asked for.
	For time.Duration
	// Pulse unlocks the relay once for this long, at most MaxPulse, once
	// the installer answered yes on In, or at once with Yes.
	Pulse time.Duration
	Yes   bool
	// ReadCard waits for one card on each reader, in the Wiring's order,
	// or on the reader named Reader alone.
	ReadCard bool
	Reader   string
	// ShowUID prints a card's raw UID besides its fingerprint.
	ShowUID bool

	In  io.Reader // the installer's answers; nil answers nothing
	Out io.Writer // the report
}

// Run checks the door wired as w on b as opts ask, printing to opts.Out,
// until it has done what was asked, opts.For has passed or ctx ends; an end
// of ctx is not an error. Run owns b: on every way out it halts the relay
// first, then stops watching the inputs and halts the rest of the board.
func Run(ctx context.Context, w Wiring, b Board, opts Options) (err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.In == nil {
		opts.In = strings.NewReader("")
	}
	out := &printer{w: opts.Out}
	h := &check{w: w, b: b, out: out}
	if opts.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.For)
		defer cancel()
	}
	wctx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchErrs := func() error { return nil }
	defer func() {
		// the relay first, whatever else is still running
		if b.Relay != nil {
			if herr := b.Relay.Halt(); herr != nil {
				err = errors.Join(err, fmt.Errorf("relay: halt: %w", herr))
			}
		}
		stopWatching()
		watchers.Wait()
		err = errors.Join(err, watchErrs())
		if b.Halt != nil {
			b.Halt()
		}
		out.line("relay: locked (%s %s); board halted", h.relayPin(), h.lockedLevel())
	}()
	if err := h.refuse(opts); err != nil {
		return err
	}

	out.line("kunci hwcheck: site %s, door %s, from %s", w.Site, w.Door, w.File)
	h.printWiring()
	out.line("")
	out.line("Inputs, as the agent sees them (debounced); open the door and each rack, press the exit button:")
	watchErrs = h.watchInputs(wctx, &watchers)

	if opts.Pulse > 0 {
		if err := h.pulse(ctx, opts.In, opts.Pulse, opts.Yes); err != nil {
			return err
		}
	}
	if opts.ReadCard {
		if err := h.readCards(ctx, opts.Reader, opts.ShowUID); err != nil {
			return err
		}
	}
	if opts.For > 0 || (opts.Pulse == 0 && !opts.ReadCard) {
		if opts.For == 0 {
			out.line("Watching until Ctrl-C.")
		}
		<-ctx.Done()
	}
	return nil
}

// refuse reports what Run must not go on with: a board without its relay or
// its door's reed switch, a pulse out of bounds, a reader the Wiring does
// not have.
func (h *check) refuse(opts Options) error {
	switch {
	case h.b.Relay == nil || h.w.Relay.Pin == "":
		return errors.New("hwcheck: the board has no relay")
	case h.b.Sensors.Door == nil:
		return errors.New("hwcheck: the board has no door reed switch")
	case opts.For < 0:
		return fmt.Errorf("hwcheck: check for %s: want no time limit (0) or more", opts.For)
	case opts.Pulse < 0 || opts.Pulse > MaxPulse:
		return fmt.Errorf("hwcheck: pulse the relay for %s: want more than 0 and at most %s", opts.Pulse, MaxPulse)
	case opts.ReadCard && opts.Reader != "" && !slices.Contains(h.w.readerNames(), opts.Reader):
		return fmt.Errorf("hwcheck: reader %q: %s has the readers %v", opts.Reader, h.w.File, h.w.readerNames())
	}
	return nil
}

// AgentAbsent refuses to check a door beside its agent, which listens on
// listen as the config file says: both would drive the relay's pin (on a
// Pi, periph writes output levels straight into the GPIO registers, so
// nothing stops two programs from doing so). Call it before the board is
// opened: opening it drives the relay.
func AgentAbsent(listen, file string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return nil
	}
	c, err := net.DialTimeout("tcp", listen, 500*time.Millisecond)
	if err != nil {
		return nil
	}
	c.Close()
	return fmt.Errorf("hwcheck: something answers on %s, the agent's listen address in %s: stop the agent first "+
		"(sudo systemctl stop kunci-agent); two programs driving the relay's pin would fight over the lock", listen, file)
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

// check is one run of the check.
type check struct {
	w   Wiring
	b   Board
	out *printer
}

// watchedInput is one of the board's inputs with what hwcheck calls it.
type watchedInput struct {
	label, pin string
	in         *kgpio.Input
	button     bool
}

func (h *check) inputs() []watchedInput {
	s := h.b.Sensors
	ws := []watchedInput{{label: "door", pin: h.w.DoorPin, in: s.Door}}
	for _, r := range h.w.Racks {
		if in := s.Racks[r.Name]; in != nil {
			ws = append(ws, watchedInput{label: "rack " + r.Name, pin: r.Pin, in: in})
		}
	}
	if s.Exit != nil {
		ws = append(ws, watchedInput{label: "exit button", pin: h.w.ExitPin, in: s.Exit, button: true})
	}
	return ws
}

// watchInputs prints every input's state at start and at each change until
// ctx ends. It waits (a little) for the states at start, so that they come
// before anything else; the function it returns gives the watchers'
// errors once wg is done.
func (h *check) watchInputs(ctx context.Context, wg *sync.WaitGroup) func() error {
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
func (h *check) pulse(ctx context.Context, stdin io.Reader, d time.Duration, yes bool) error {
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
	if err := h.b.Relay.Unlock(); err != nil {
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
	if err := h.b.Relay.Lock(); err != nil {
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
