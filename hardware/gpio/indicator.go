package gpio

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Light is a set of the indicator's lamps.
type Light uint8

// The lamps. Amber is shown on the amber LED, or, without one, by lighting
// green and red together (a bi-colour LED then shows amber).
const (
	Green Light = 1 << iota
	Red
	Amber
)

// Step is one stretch of a pattern: these lamps lit, the buzzer sounding
// or not, for a time.
type Step struct {
	Light Light
	Beep  bool
	For   time.Duration
}

// Pattern is what the indicator shows: Steps once, then Loop over and over
// until another pattern, Off or Halt replaces it. A pattern without Loop
// ends with everything off.
type Pattern struct {
	Name  string
	Steps []Step
	Loop  []Step
}

// Names of the built-in patterns. This package does not import the agent;
// the wiring maps the agent's events to them:
//
//	access.granted -> Granted
//	access.denied  -> Denied
//	escort.awaited -> Waiting (until the grant or the denial replaces it)
const (
	// Granted: green for 2 s, one short beep.
	Granted = "granted"
	// Denied: red for 2 s, three short beeps.
	Denied = "denied"
	// Waiting for the escort: amber blinking at 1 Hz until replaced, one
	// chirp at the start.
	Waiting = "waiting"
)

// Patterns returns the built-in patterns by name, in a new map.
func Patterns() map[string]Pattern {
	const ms = time.Millisecond
	return map[string]Pattern{
		Granted: {Name: Granted, Steps: []Step{
			{Light: Green, Beep: true, For: 150 * ms},
			{Light: Green, For: 1850 * ms},
		}},
		Denied: {Name: Denied, Steps: []Step{
			{Light: Red, Beep: true, For: 100 * ms}, {Light: Red, For: 100 * ms},
			{Light: Red, Beep: true, For: 100 * ms}, {Light: Red, For: 100 * ms},
			{Light: Red, Beep: true, For: 100 * ms}, {Light: Red, For: 1500 * ms},
		}},
		Waiting: {Name: Waiting, Steps: []Step{
			{Light: Amber, Beep: true, For: 50 * ms},
			{Light: Amber, For: 450 * ms},
			{For: 500 * ms},
		}, Loop: []Step{
			{Light: Amber, For: 500 * ms},
			{For: 500 * ms},
		}},
	}
}

// IndicatorConfig names the indicator's outputs; each is optional (nil).
type IndicatorConfig struct {
	Green, Red, Amber, Buzzer gpio.PinOut
	// ActiveLow says the outputs light (or sound) on Low. Default: High.
	ActiveLow bool
	// Patterns by name; nil means Patterns().
	Patterns map[string]Pattern
}

// Indicator plays patterns on the door's LEDs and buzzer, each in its own
// goroutine so that the caller never waits for one. A new pattern replaces
// the one playing. Write errors are logged, not returned: a dead LED must
// not stop the door.
type Indicator struct {
	green, red, amber, buzzer *output
	outs                      []*output
	patterns                  map[string]Pattern
	log                       *slog.Logger

	mu     sync.Mutex
	stop   chan struct{} // closed to end the pattern playing
	done   chan struct{} // closed when it has ended
	halted bool
}

type output struct {
	name      string
	pin       gpio.PinOut
	activeLow bool
	on, known bool // the level last written, owned by whoever plays
}

// NewIndicator returns the indicator after turning every output off. log
// may be nil.
func NewIndicator(cfg IndicatorConfig, log *slog.Logger) (*Indicator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pats := cfg.Patterns
	if pats == nil {
		pats = Patterns()
	}
	var errs []error
	for name, p := range pats {
		if err := p.check(); err != nil {
			errs = append(errs, fmt.Errorf("pattern %q: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gpio: indicator: %w", err)
	}
	ind := &Indicator{patterns: pats, log: log}
	for _, o := range []struct {
		dst  **output
		name string
		pin  gpio.PinOut
	}{{&ind.green, "green", cfg.Green}, {&ind.red, "red", cfg.Red}, {&ind.amber, "amber", cfg.Amber}, {&ind.buzzer, "buzzer", cfg.Buzzer}} {
		if o.pin != nil {
			*o.dst = &output{name: o.name, pin: o.pin, activeLow: cfg.ActiveLow}
			ind.outs = append(ind.outs, *o.dst)
		}
	}
	if err := ind.allOff(); err != nil {
		return nil, fmt.Errorf("gpio: indicator: %w", err)
	}
	return ind, nil
}

func (p Pattern) check() error {
	var loop time.Duration
	for _, s := range append(p.Steps[:len(p.Steps):len(p.Steps)], p.Loop...) {
		if s.For < 0 {
			return fmt.Errorf("step of negative duration %v", s.For)
		}
	}
	for _, s := range p.Loop {
		loop += s.For
	}
	if len(p.Loop) > 0 && loop <= 0 {
		return errors.New("loop of zero duration")
	}
	return nil
}

// Play starts the pattern called name, replacing the one playing, and
// returns without waiting for it.
func (ind *Indicator) Play(name string) error {
	p, ok := ind.patterns[name]
	if !ok {
		return fmt.Errorf("gpio: indicator: no pattern %q", name)
	}
	ind.mu.Lock()
	defer ind.mu.Unlock()
	if ind.halted {
		return fmt.Errorf("gpio: indicator: play %q: %w", name, ErrHalted)
	}
	ind.stopLocked()
	stop, done := make(chan struct{}), make(chan struct{})
	ind.stop, ind.done = stop, done
	go ind.play(p, stop, done)
	return nil
}

// Off ends the pattern playing and turns every output off.
func (ind *Indicator) Off() error {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	ind.stopLocked()
	return ind.allOff()
}

// Halt ends the pattern playing, turns every output off and refuses later
// patterns. It may be called any number of times.
func (ind *Indicator) Halt() error {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	ind.halted = true
	ind.stopLocked()
	return ind.allOff()
}

func (ind *Indicator) String() string {
	var names []string
	for _, o := range ind.outs {
		names = append(names, o.name+"="+o.pin.Name())
	}
	sort.Strings(names)
	return "indicator(" + strings.Join(names, ", ") + ")"
}

// stopLocked ends the pattern playing and waits for its goroutine, which
// then no longer touches the outputs.
func (ind *Indicator) stopLocked() {
	if ind.stop == nil {
		return
	}
	close(ind.stop)
	<-ind.done
	ind.stop, ind.done = nil, nil
}

func (ind *Indicator) play(p Pattern, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTimer(0)
	t.Stop() // since Go 1.23, a stopped timer delivers nothing stale after Reset
	defer t.Stop()
	failed := false
	run := func(steps []Step) bool {
		for _, s := range steps {
			if err := ind.show(s.Light, s.Beep); err != nil && !failed {
				failed = true
				ind.log.Warn("gpio: indicator", "pattern", p.Name, "err", err)
			}
			t.Reset(s.For)
			select {
			case <-stop:
				return false
			case <-t.C:
			}
		}
		return true
	}
	if !run(p.Steps) {
		return
	}
	if len(p.Loop) == 0 {
		_ = ind.show(0, false)
		return
	}
	for run(p.Loop) {
	}
}

// show lights exactly the lamps of l and sounds the buzzer if beep,
// writing only the outputs that change.
func (ind *Indicator) show(l Light, beep bool) error {
	green, red := l&Green != 0, l&Red != 0
	amber := l&Amber != 0
	if amber && ind.amber == nil {
		green, red = true, true
	}
	var errs []error
	for _, w := range []struct {
		o  *output
		on bool
	}{{ind.green, green}, {ind.red, red}, {ind.amber, amber}, {ind.buzzer, beep}} {
		if w.o != nil && (!w.o.known || w.o.on != w.on) {
			errs = append(errs, w.o.set(w.on))
		}
	}
	return errors.Join(errs...)
}

// allOff writes off to every output, whatever it was.
func (ind *Indicator) allOff() error {
	var errs []error
	for _, o := range ind.outs {
		errs = append(errs, o.set(false))
	}
	return errors.Join(errs...)
}

func (o *output) set(on bool) error {
	o.known = false
	if err := o.pin.Out(gpio.Level(on != o.activeLow)); err != nil {
		return fmt.Errorf("%s(%s): %w", o.name, o.pin.Name(), err)
	}
	o.on, o.known = on, true
	return nil
}
