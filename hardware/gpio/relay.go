package gpio

import (
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
)

// LockType is what the lock does with power, which decides the level that
// locks it.
type LockType int

const (
	// FailSecure is an electric strike: energised = unlocked, power off =
	// locked. With free mechanical egress (the handle inside always opens)
	// it is the simplest compliant choice for a server room.
	FailSecure LockType = iota
	// FailSafe is a magnetic lock: energised = locked, power off =
	// released. The safe state this package drives at start and at Halt
	// is still "locked"; only a loss of power releases the door, which
	// fire codes require. A maglock also needs, wired in hardware and not
	// through the Pi: a "PUSH TO EXIT" button that cuts the lock's power
	// directly (and keeps it off for about 30 s), a PIR request-to-exit,
	// and release on fire alarm. Software cannot be the only way out.
	FailSafe
)

func (t LockType) String() string {
	switch t {
	case FailSecure:
		return "fail-secure"
	case FailSafe:
		return "fail-safe"
	}
	return fmt.Sprintf("LockType(%d)", int(t))
}

// RelayConfig describes the lock's relay. The zero value is the usual
// wiring: an active-high driver (High energises the relay) and a
// fail-secure strike, so Low is locked.
type RelayConfig struct {
	// Name names the relay in String and errors; default "relay".
	Name string
	// ActiveLow says the driver energises the relay on Low, as many
	// opto-isolated relay boards do. Default false: High energises.
	ActiveLow bool
	// Lock is the lock's type; default FailSecure.
	Lock LockType
}

// ErrHalted is returned by Unlock after Halt: a relay that was put in its
// safe state for shutdown stays there.
var ErrHalted = errors.New("halted")

// Relay drives the lock's relay on an output pin. It implements the
// agent's Relay interface. Its state is kept in software: the pin is never
// read back, because reading a gpioioctl output line turns it into an
// input with pull-up (notes/hardware.md), which would move the relay.
//
// Until NewRelay runs, the pin is an input at the board's boot pull, which
// the wiring must make safe: GPIO 9-27 are pulled down at boot, so an
// active-high driver on one of them keeps a fail-secure strike locked while
// the Pi boots (the recommended wiring). An active-low driver there would
// energise the relay during boot (use GPIO 0-8, pulled up, instead), and a
// maglock on an active-high driver there is released until NewRelay runs.
type Relay struct {
	pin    gpio.PinOut
	cfg    RelayConfig
	locked gpio.Level // the level that locks

	mu       sync.Mutex
	unlocked bool
	halted   bool
}

var _ interface {
	Lock() error
	Unlock() error
	Halt() error
	String() string
} = (*Relay)(nil)

// NewRelay returns the relay on pin after driving it to the locked level:
// the door is in its safe state before anything else can happen.
func NewRelay(pin gpio.PinOut, cfg RelayConfig) (*Relay, error) {
	if pin == nil {
		return nil, errors.New("gpio: relay: no pin")
	}
	if cfg.Lock != FailSecure && cfg.Lock != FailSafe {
		return nil, fmt.Errorf("gpio: relay on %s: unknown lock type %v", pin.Name(), cfg.Lock)
	}
	if cfg.Name == "" {
		cfg.Name = "relay"
	}
	r := &Relay{pin: pin, cfg: cfg, locked: LockedLevel(cfg.ActiveLow, cfg.Lock)}
	if err := pin.Out(r.locked); err != nil {
		return nil, fmt.Errorf("gpio: %s: drive locked (%s): %w", r, r.locked, err)
	}
	return r, nil
}

// LockedLevel is the pin level that locks: the level that energises the
// relay (High, or Low for an active-low driver) for a fail-safe maglock,
// the other one for a fail-secure strike.
//
//	driver       lock         locked  unlocked
//	active-high  fail-secure  Low     High
//	active-high  fail-safe    High    Low
//	active-low   fail-secure  High    Low
//	active-low   fail-safe    Low     High
func LockedLevel(activeLow bool, lock LockType) gpio.Level {
	energised := gpio.Level(!activeLow)
	if lock == FailSafe {
		return energised
	}
	return !energised
}

// Lock drives the locked level.
func (r *Relay) Lock() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drive(false)
}

// Unlock drives the unlocked level, unless the relay was halted.
func (r *Relay) Unlock() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return fmt.Errorf("gpio: %s: unlock: %w", r, ErrHalted)
	}
	return r.drive(true)
}

// Halt drives the locked level, the relay's safe state, and refuses any
// later Unlock. It may be called any number of times, from any exit path;
// each call drives the locked level again.
func (r *Relay) Halt() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.halted = true
	return r.drive(false)
}

// Unlocked reports the state last driven successfully; the pin is not read.
func (r *Relay) Unlocked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unlocked
}

func (r *Relay) String() string {
	drv := "active-high"
	if r.cfg.ActiveLow {
		drv = "active-low"
	}
	return fmt.Sprintf("%s(%s, %s, %s)", r.cfg.Name, r.pin.Name(), r.cfg.Lock, drv)
}

func (r *Relay) drive(unlocked bool) error {
	l, what := r.locked, "lock"
	if unlocked {
		l, what = !r.locked, "unlock"
	}
	if err := r.pin.Out(l); err != nil {
		return fmt.Errorf("gpio: %s: %s (%s): %w", r, what, l, err)
	}
	r.unlocked = unlocked
	return nil
}
