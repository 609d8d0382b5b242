package gpio

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// outPin is an output that records what it is driven to and fails the
// test when read: on the Pi, reading an output line makes it an input.
type outPin struct {
	gpiotest.Pin
	t    *testing.T
	rec  *recorder
	fail error // Out returns it when set
}

func newOutPin(t *testing.T, name string, rec *recorder) *outPin {
	if rec == nil {
		rec = &recorder{}
	}
	return &outPin{Pin: gpiotest.Pin{N: name}, t: t, rec: rec}
}

func (p *outPin) Read() gpio.Level {
	p.t.Errorf("%s: Read of an output pin", p.N)
	return p.Pin.Read()
}

func (p *outPin) In(gpio.Pull, gpio.Edge) error {
	p.t.Errorf("%s: In on an output pin", p.N)
	return errors.New("output")
}

func (p *outPin) Out(l gpio.Level) error {
	if p.fail != nil {
		return p.fail
	}
	p.rec.add(p.N, l)
	return p.Pin.Out(l)
}

// outs is what was driven: "GPIO18=Low".
func (p *outPin) outs() []string { return p.rec.levels() }

func TestRelayLevels(t *testing.T) {
	for _, tc := range []struct {
		activeLow        bool
		lock             LockType
		locked, unlocked gpio.Level
	}{
		{false, FailSecure, gpio.Low, gpio.High},
		{false, FailSafe, gpio.High, gpio.Low},
		{true, FailSecure, gpio.High, gpio.Low},
		{true, FailSafe, gpio.Low, gpio.High},
	} {
		name := fmt.Sprintf("activeLow=%t,%s", tc.activeLow, tc.lock)
		t.Run(name, func(t *testing.T) {
			if got := LockedLevel(tc.activeLow, tc.lock); got != tc.locked {
				t.Errorf("LockedLevel = %s; want %s", got, tc.locked)
			}
			pin := newOutPin(t, "GPIO18", nil)
			r, err := NewRelay(pin, RelayConfig{ActiveLow: tc.activeLow, Lock: tc.lock})
			if err != nil {
				t.Fatal(err)
			}
			L, U := "GPIO18="+tc.locked.String(), "GPIO18="+tc.unlocked.String()
			if got := pin.outs(); !slices.Equal(got, []string{L}) {
				t.Fatalf("NewRelay drove %q; want the locked level first and only: %q", got, L)
			}
			if r.Unlocked() {
				t.Error("Unlocked after NewRelay")
			}
			steps := []struct {
				do       func() error
				unlocked bool
			}{{r.Unlock, true}, {r.Lock, false}, {r.Unlock, true}, {r.Halt, false}}
			for _, s := range steps {
				if err := s.do(); err != nil {
					t.Fatal(err)
				}
				if r.Unlocked() != s.unlocked {
					t.Errorf("Unlocked() = %t; want %t", r.Unlocked(), s.unlocked)
				}
			}
			if got, want := pin.outs(), []string{L, U, L, U, L}; !slices.Equal(got, want) {
				t.Errorf("drove %q; want %q", got, want)
			}
		})
	}
}

func TestRelayHalt(t *testing.T) {
	pin := newOutPin(t, "GPIO18", nil)
	r, err := NewRelay(pin, RelayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Unlock(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := r.Halt(); err != nil {
			t.Fatalf("Halt #%d: %v", i+1, err)
		}
	}
	if err := r.Unlock(); !errors.Is(err, ErrHalted) {
		t.Errorf("Unlock after Halt = %v; want ErrHalted", err)
	}
	if err := r.Lock(); err != nil {
		t.Errorf("Lock after Halt: %v", err)
	}
	want := []string{"GPIO18=Low", "GPIO18=High", "GPIO18=Low", "GPIO18=Low", "GPIO18=Low", "GPIO18=Low"}
	if got := pin.outs(); !slices.Equal(got, want) {
		t.Errorf("drove %q; want %q (never High after Halt)", got, want)
	}
	if r.Unlocked() {
		t.Error("Unlocked after Halt")
	}
}

func TestRelayErrors(t *testing.T) {
	pin := newOutPin(t, "GPIO18", nil)
	pin.fail = errors.New("line busy")
	if _, err := NewRelay(pin, RelayConfig{}); err == nil || !strings.Contains(err.Error(), "line busy") {
		t.Errorf("NewRelay on a failing pin = %v; want its error", err)
	}
	if _, err := NewRelay(nil, RelayConfig{}); err == nil {
		t.Error("NewRelay(nil) succeeded")
	}
	if _, err := NewRelay(newOutPin(t, "GPIO18", nil), RelayConfig{Lock: LockType(7)}); err == nil {
		t.Error("NewRelay with an unknown lock type succeeded")
	}
	pin.fail = nil
	r, err := NewRelay(pin, RelayConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pin.fail = errors.New("line gone")
	if err := r.Unlock(); err == nil || !strings.Contains(err.Error(), "line gone") {
		t.Errorf("Unlock on a failing pin = %v", err)
	}
	if r.Unlocked() {
		t.Error("Unlocked() after an Unlock that failed")
	}
}

func TestRelayString(t *testing.T) {
	r, err := NewRelay(newOutPin(t, "GPIO18", nil), RelayConfig{Name: "strike", ActiveLow: true, Lock: FailSafe})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "strike(GPIO18, fail-safe, active-low)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

// recorder keeps the outputs' writes in order, with the (fake) time.
type recorder struct {
	mu   sync.Mutex
	zero time.Time
	got  []write
}

type write struct {
	at    int64 // ms since the recorder's zero
	pin   string
	level gpio.Level
}

func (r *recorder) add(pin string, l gpio.Level) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, write{at: time.Since(r.zero).Milliseconds(), pin: pin, level: l})
}

func (r *recorder) levels() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, w := range r.got {
		s = append(s, w.pin+"="+w.level.String())
	}
	return s
}

func (r *recorder) writes() []write {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// reset forgets the writes so far and counts time from now.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got, r.zero = nil, time.Now()
}
