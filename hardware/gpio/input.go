package gpio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Defaults of InputConfig, from door practice (notes/hardware.md).
const (
	// DefaultReedDebounce is NewReed's debounce: a reed contact bounces
	// for a few milliseconds, a door that rattles in its frame for longer.
	DefaultReedDebounce = 50 * time.Millisecond
	// DefaultButtonDebounce is NewButton's debounce: short enough that a
	// quick press counts.
	DefaultButtonDebounce = 30 * time.Millisecond
	// DefaultPoll is how often a pin without edge detection is read.
	DefaultPoll = 20 * time.Millisecond
	// DefaultEdgeWait bounds each wait for an edge.
	DefaultEdgeWait = 250 * time.Millisecond
)

// quickFalses is how many early "no edge" answers in a row make Watch
// decide that the pin's edge detection does not work and poll instead.
const quickFalses = 3

// InputConfig describes a reed switch or a button. The zero value is the
// usual wiring: a contact from the pin to ground, the Pi's pull-up on the
// pin, closed (or pressed) reading Low; a cut wire then reads open.
type InputConfig struct {
	// Name names the input in String, logs and errors: "door", "rack R1",
	// "exit button".
	Name string
	// ActiveHigh says the contact pulls the pin High when closed (wired to
	// 3.3 V, with a pull-down). The default, false, is a contact to ground
	// that reads Low when closed.
	ActiveHigh bool
	// Pull is the Pi's internal resistor. The zero value (PullNoChange)
	// means PullUp for an active-low contact and PullDown for an
	// active-high one, so that a cut wire reads open. gpio.Float leaves the
	// pin to an external resistor. A pull towards the closed level is
	// refused: a cut wire would read closed, a forced door would go unseen.
	Pull gpio.Pull
	// Debounce is how long a new level must hold before it counts. Zero
	// means DefaultReedDebounce for NewReed, DefaultButtonDebounce for
	// NewButton.
	Debounce time.Duration
	// Poll is how often the pin is read when it has no edge detection.
	// Zero means DefaultPoll.
	Poll time.Duration
	// EdgeWait bounds each wait for an edge. It is also how soon Watch
	// returns after its ctx ends, how often the level is read again when
	// no edge comes (a dropped edge is caught that way), and how often a
	// report the sink refused is retried. Zero means DefaultEdgeWait.
	EdgeWait time.Duration
}

// Input is a reed switch or a push button on a GPIO input.
type Input struct {
	pin  gpio.PinIn
	cfg  InputConfig
	pull gpio.Pull
	log  *slog.Logger

	watching atomic.Bool
}

// NewReed returns the input of a reed switch (the door's, a rack's), with
// DefaultReedDebounce unless cfg says otherwise. The pin is configured only
// when Watch starts. log may be nil.
func NewReed(pin gpio.PinIn, cfg InputConfig, log *slog.Logger) (*Input, error) {
	return newInput(pin, cfg, DefaultReedDebounce, log)
}

// NewButton returns the input of a push button (the exit button), with
// DefaultButtonDebounce unless cfg says otherwise. log may be nil.
func NewButton(pin gpio.PinIn, cfg InputConfig, log *slog.Logger) (*Input, error) {
	return newInput(pin, cfg, DefaultButtonDebounce, log)
}

func newInput(pin gpio.PinIn, cfg InputConfig, debounce time.Duration, log *slog.Logger) (*Input, error) {
	if pin == nil {
		return nil, fmt.Errorf("gpio: %s: no pin", cfg.Name)
	}
	if cfg.Name == "" {
		cfg.Name = pin.Name()
	}
	var errs []error
	for _, d := range []struct {
		field string
		v     *time.Duration
		def   time.Duration
	}{{"debounce", &cfg.Debounce, debounce}, {"poll", &cfg.Poll, DefaultPoll}, {"edge wait", &cfg.EdgeWait, DefaultEdgeWait}} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s %v is negative", d.field, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	closed, open := gpio.Low, gpio.High
	if cfg.ActiveHigh {
		closed, open = gpio.High, gpio.Low
	}
	pull := cfg.Pull
	switch pull {
	case gpio.PullNoChange:
		pull = gpio.PullUp
		if cfg.ActiveHigh {
			pull = gpio.PullDown
		}
	case gpio.Float:
	case gpio.PullUp, gpio.PullDown:
		if (pull == gpio.PullUp) != (open == gpio.High) {
			errs = append(errs, fmt.Errorf("%s with a contact that reads %s when closed: a cut wire would read closed", pull, closed))
		}
	default:
		errs = append(errs, fmt.Errorf("pull %s is not one of PullUp, PullDown, Float", pull))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gpio: %s on %s: %w", cfg.Name, pin.Name(), err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Input{pin: pin, cfg: cfg, pull: pull, log: log.With("input", cfg.Name, "pin", pin.Name())}, nil
}

func (in *Input) String() string { return in.cfg.Name + "(" + in.pin.Name() + ")" }

// Config returns the input's configuration with the defaults filled in.
func (in *Input) Config() InputConfig {
	c := in.cfg
	c.Pull = in.pull
	return c
}

// Active reports whether level means closed (for a reed) or pressed (for a
// button).
func (in *Input) Active(level gpio.Level) bool { return level == gpio.Level(in.cfg.ActiveHigh) }

// Halt stops the pin's edge detection. An input has no unsafe state; Halt
// is for after Watch returned, and fails while Watch runs (end its ctx).
func (in *Input) Halt() error {
	if in.watching.Load() {
		return fmt.Errorf("gpio: %s: Halt while watched", in)
	}
	if err := in.pin.Halt(); err != nil {
		return fmt.Errorf("gpio: %s: halt: %w", in, err)
	}
	return nil
}

// Report receives an input's state: active is closed for a reed switch,
// pressed for a button. An error (other than ctx ending) means the state
// was not taken: Watch offers it again.
type Report func(ctx context.Context, active bool) error

// Watch configures the pin and reports the input's state until ctx ends:
// once at start (the state before any edge), then after every debounced
// change. It waits for edges with a positive timeout (EdgeWait) and, when
// the pin has no edge detection (In with gpio.BothEdges fails, or
// WaitForEdge keeps returning false early), reads it every Poll instead.
//
// A report that fails is retried, with the state of that moment, after the
// next edge or EdgeWait, until one is taken; the first failure and the
// recovery are logged. Reports are made one at a time, from Watch's
// goroutine, in order.
//
// Watch returns nil when ctx ends (within EdgeWait, or when the report in
// progress returns), and an error only when the pin cannot be configured
// as an input. One Watch at a time per Input.
func (in *Input) Watch(ctx context.Context, report Report) error {
	if !in.watching.CompareAndSwap(false, true) {
		return fmt.Errorf("gpio: %s: already watched", in)
	}
	defer in.watching.Store(false)
	p, edges, err := in.open()
	if err != nil {
		return err
	}
	var (
		known, reported bool // the state last taken by report
		failing         bool
		quick           int
	)
	for {
		active := in.Active(p.Read())
		if !known || active != reported {
			err := report(ctx, active)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				if !failing {
					in.log.Warn("gpio: input not reported; retrying", "active", active, "err", err)
				}
				failing = true
			default:
				if failing {
					in.log.Info("gpio: input reported again", "active", active)
				}
				failing, known, reported = false, true, active
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		start := time.Now()
		if p.WaitForEdge(in.cfg.EdgeWait) || !edges || time.Since(start) >= in.cfg.EdgeWait/2 {
			quick = 0
			continue
		}
		// WaitForEdge gave up early: the driver takes BothEdges but does
		// not deliver them (bcm283x without gpioioctl returns false at
		// once)
		if quick++; quick < quickFalses {
			continue
		}
		in.log.Warn("gpio: the pin reports no edges; polling", "every", in.cfg.Poll)
		stable := p.Read()
		if p, err = in.polling(&stable); err != nil {
			return err
		}
		edges = false
	}
}

// open configures the pin: with edge detection when the driver has it,
// polled when not.
func (in *Input) open() (p gpio.PinIn, edges bool, err error) {
	if err := in.pin.In(in.pull, gpio.BothEdges); err != nil {
		in.log.Info("gpio: no edge detection; polling", "every", in.cfg.Poll, "err", err)
		p, err := in.polling(nil)
		return p, false, err
	}
	return Debounce(in.pin, in.cfg.Debounce), true, nil
}

// polling configures the pin without edges and returns it polled and
// debounced. When switching over from edges, stable is the filtered level
// so far, which the new filter starts from, so that a bounce at that
// moment does not get through.
func (in *Input) polling(stable *gpio.Level) (gpio.PinIn, error) {
	if err := in.pin.In(in.pull, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("gpio: %s: configure as input: %w", in, err)
	}
	p := Debounce(Poll(in.pin, in.cfg.Poll), in.cfg.Debounce)
	if d, ok := p.(*debounced); ok && stable != nil {
		d.stable = *stable
	}
	return p, nil
}
