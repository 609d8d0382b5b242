package gpio

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// line is a contact on a gpiotest.Pin: the level is the contact's, so In
// sets the pull without moving it (gpiotest's In would), and edges fed into
// EdgesChan move it. Every WaitForEdge must get a positive timeout.
type line struct {
	*gpiotest.Pin
	t *testing.T
}

// newLine returns a line at level l, with edges unless noEdges.
func newLine(t *testing.T, name string, l gpio.Level, noEdges bool) *line {
	p := &gpiotest.Pin{N: name, L: l}
	if !noEdges {
		p.EdgesChan = make(chan gpio.Level, 16)
	}
	return &line{Pin: p, t: t}
}

func (l *line) In(pull gpio.Pull, edge gpio.Edge) error {
	lv := l.level()
	err := l.Pin.In(pull, edge)
	l.set(lv)
	return err
}

func (l *line) WaitForEdge(timeout time.Duration) bool {
	if timeout <= 0 {
		l.t.Errorf("%s: WaitForEdge(%v); every timeout must be positive", l, timeout)
	}
	return l.Pin.WaitForEdge(timeout)
}

func (l *line) level() gpio.Level {
	l.Pin.Lock()
	defer l.Pin.Unlock()
	return l.L
}

// set moves the level without an edge, as a polled pin sees it.
func (l *line) set(lv gpio.Level) {
	l.Pin.Lock()
	defer l.Pin.Unlock()
	l.L = lv
}

// flips feeds edges, one every gap.
func (l *line) flips(gap time.Duration, levels ...gpio.Level) {
	for i, lv := range levels {
		if i > 0 {
			time.Sleep(gap)
		}
		l.EdgesChan <- lv
	}
}

// deafLine takes In with edges but never reports one, as a bcm283x pin
// without gpioioctl does.
type deafLine struct{ *line }

func (d deafLine) In(pull gpio.Pull, _ gpio.Edge) error { return d.line.In(pull, gpio.NoEdge) }
func (d deafLine) WaitForEdge(timeout time.Duration) bool {
	if timeout <= 0 {
		d.t.Errorf("%s: WaitForEdge(%v); every timeout must be positive", d, timeout)
	}
	return false
}

// brokenLine cannot be configured.
type brokenLine struct{ *line }

func (b brokenLine) In(gpio.Pull, gpio.Edge) error { return errors.New("line busy") }

// sink records what the door would be told.
type sink struct {
	mu    sync.Mutex
	got   []string
	fails int // the next calls that fail
}

func (s *sink) record(call string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return errors.New("store down")
	}
	s.got = append(s.got, call)
	return nil
}

func (s *sink) Tap(ctx context.Context, reader string, uid []byte) error {
	return errors.New("no reader here")
}
func (s *sink) SetDoor(ctx context.Context, open bool) error { return s.record("door " + oc(open)) }
func (s *sink) SetRack(ctx context.Context, rack string, open bool) error {
	return s.record("rack " + rack + " " + oc(open))
}
func (s *sink) ExitButton(ctx context.Context) error { return s.record("exit") }

func (s *sink) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func (s *sink) want(t *testing.T, when string, want ...string) {
	t.Helper()
	if got := s.calls(); !slices.Equal(got, want) {
		t.Errorf("%s: sink got %q; want %q", when, got, want)
	}
}

// wantAfter lets d of the bubble's time pass, waits until every goroutine
// of the bubble is blocked, and checks what the sink got.
func (s *sink) wantAfter(t *testing.T, d time.Duration, when string, want ...string) {
	t.Helper()
	time.Sleep(d)
	synctest.Wait()
	s.want(t, when, want...)
}

func oc(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

// run starts f in a goroutine and returns a stop that cancels its context
// and returns f's error.
func run(t *testing.T, f func(ctx context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- f(ctx) }()
	return func() error {
		cancel()
		return <-errc
	}
}

func mustStop(t *testing.T, stop func() error) {
	t.Helper()
	if err := stop(); err != nil {
		t.Errorf("watch returned %v; want nil when its ctx ends", err)
	}
}

// cfg is a test input's configuration: short times.
func cfg(name string) InputConfig {
	return InputConfig{Name: name, Debounce: 10 * time.Millisecond, Poll: 2 * time.Millisecond, EdgeWait: 40 * time.Millisecond}
}

// watchDoor runs WatchDoor on a reed of pin with cfg("door"), telling s,
// and returns once the bubble is idle, the first reading told.
func watchDoor(t *testing.T, pin gpio.PinIn, s *sink) (stop func() error) {
	t.Helper()
	in := mustReed(t, pin, cfg("door"))
	stop = run(t, func(ctx context.Context) error { return WatchDoor(ctx, in, s) })
	synctest.Wait()
	return stop
}

func mustReed(t *testing.T, pin gpio.PinIn, c InputConfig) *Input {
	t.Helper()
	in, err := NewReed(pin, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in
}
