package gpio

import (
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestPositiveTimeout(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{-1, LongTimeout},
		{-time.Second, LongTimeout},
		{0, ShortTimeout},
		{1, 1},
		{5 * time.Second, 5 * time.Second},
	} {
		if got := PositiveTimeout(tc.in); got != tc.want {
			t.Errorf("PositiveTimeout(%v) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

// timeoutPin records the timeouts its WaitForEdge gets.
type timeoutPin struct {
	gpiotest.Pin
	got []time.Duration
}

func (p *timeoutPin) WaitForEdge(timeout time.Duration) bool {
	p.got = append(p.got, timeout)
	return false
}

func TestPositiveTimeouts(t *testing.T) {
	raw := &timeoutPin{Pin: gpiotest.Pin{N: "GPIO25"}}
	io := PositiveTimeouts(raw)
	in := PositiveTimeoutsIn(raw)
	for _, p := range []gpio.PinIn{io, in} {
		p.WaitForEdge(-1)
		p.WaitForEdge(0)
		p.WaitForEdge(3 * time.Millisecond)
	}
	want := []time.Duration{LongTimeout, ShortTimeout, 3 * time.Millisecond}
	want = append(want, want...)
	if len(raw.got) != len(want) {
		t.Fatalf("pin got timeouts %v; want %v", raw.got, want)
	}
	for i := range want {
		if raw.got[i] != want[i] {
			t.Errorf("pin got timeouts %v; want %v", raw.got, want)
			break
		}
	}
	if PositiveTimeouts(io) != io || PositiveTimeoutsIn(in) != in || PositiveTimeoutsIn(io) != io {
		t.Error("wrapping a wrapped pin again wraps it twice")
	}
	if r := io.(gpio.RealPin).Real(); r != raw {
		t.Errorf("Real() = %v; want the wrapped pin", r)
	}
}

func TestDebounceFinishesAChangeAcrossCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		raw := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 4)}
		if err := raw.In(gpio.PullUp, gpio.BothEdges); err != nil {
			t.Fatal(err)
		}
		p := Debounce(raw, 10*time.Millisecond)
		raw.EdgesChan <- gpio.Low
		if p.WaitForEdge(4 * time.Millisecond) {
			t.Error("WaitForEdge reported a change before the level held for the debounce")
		}
		if p.Read() != gpio.High {
			t.Error("Read gave the unsettled level")
		}
		if !p.WaitForEdge(time.Second) {
			t.Fatal("the change that was settling when the first wait ended was lost")
		}
		if p.Read() != gpio.Low {
			t.Errorf("Read = %s after the change to Low", p.Read())
		}
		if r := p.(gpio.RealPin).Real(); r != raw {
			t.Errorf("Real() = %v; want the raw pin", r)
		}
		if Debounce(raw, 0) != gpio.PinIn(raw) {
			t.Error("Debounce(p, 0) is not p")
		}
	})
}

// TestDebounceCatchesDroppedEdge: a level that moved without an edge is
// found when the wait times out.
func TestDebounceCatchesDroppedEdge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		raw := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 4)}
		if err := raw.In(gpio.PullUp, gpio.BothEdges); err != nil {
			t.Fatal(err)
		}
		p := Debounce(raw, 10*time.Millisecond)
		_ = raw.Out(gpio.Low) // the level moves, no edge queued
		if p.WaitForEdge(50 * time.Millisecond) {
			t.Error("a change reported before it held for the debounce")
		}
		if !p.WaitForEdge(50*time.Millisecond) || p.Read() != gpio.Low {
			t.Errorf("the dropped edge's change not reported; Read = %s", p.Read())
		}
	})
}

func TestPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		raw := &gpiotest.Pin{N: "GPIO17"}
		p := Poll(raw, 0)
		if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
			t.Fatalf("In on a pin without edges: %v", err)
		}
		if p.WaitForEdge(100 * time.Millisecond) {
			t.Error("an edge without a change")
		}
		_ = raw.Out(gpio.Low)
		start := time.Now()
		if !p.WaitForEdge(time.Second) {
			t.Fatal("the change was not seen")
		}
		if took := time.Since(start); took != DefaultPoll {
			t.Errorf("seen after %v of fake time; want one DefaultPoll, %v", took, DefaultPoll)
		}
		// Halt ends a pending wait
		res := make(chan bool)
		go func() { res <- p.WaitForEdge(time.Hour) }()
		synctest.Wait()
		if err := p.Halt(); err != nil {
			t.Fatal(err)
		}
		if <-res {
			t.Error("WaitForEdge ended by Halt returned true")
		}
		if r := p.(gpio.RealPin).Real(); r != raw {
			t.Errorf("Real() = %v; want the raw pin", r)
		}
	})
}
