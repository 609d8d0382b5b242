package gpio

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

const deb = 10 * time.Millisecond // cfg's debounce

func TestDoorInitialState(t *testing.T) {
	for _, tc := range []struct {
		level gpio.Level
		want  string
	}{{gpio.Low, "door closed"}, {gpio.High, "door open"}} {
		t.Run(tc.want, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pin, s := newLine(t, "GPIO17", tc.level, false), &sink{}
				stop := watchDoor(t, pin, s)
				s.want(t, "at start, before any edge", tc.want)
				mustStop(t, stop)
			})
		})
	}
}

func TestBounceSettlesToOneChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO17", gpio.Low, false), &sink{}
		stop := watchDoor(t, pin, s)
		// the door opens; the contact chatters for 6 ms, within the debounce
		pin.flips(time.Millisecond, gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High)
		s.wantAfter(t, deb/2, "while bouncing", "door closed")
		s.wantAfter(t, deb, "after the bounce", "door closed", "door open")
		s.wantAfter(t, time.Second, "a second later", "door closed", "door open")
		mustStop(t, stop)
	})
}

func TestFlickerBackIsNoChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO17", gpio.Low, false), &sink{}
		stop := watchDoor(t, pin, s)
		// a knock on the door: the contact opens for 3 ms
		pin.flips(3*time.Millisecond, gpio.High, gpio.Low)
		s.wantAfter(t, time.Second, "after a flicker shorter than the debounce", "door closed")
		mustStop(t, stop)
	})
}

// TestDoorForcedAndHeld: the door opens while nobody asked (the agent calls
// it forced), stays open for long (held open), then closes.
func TestDoorForcedAndHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO17", gpio.Low, false), &sink{}
		stop := watchDoor(t, pin, s)
		pin.flips(0, gpio.High)
		s.wantAfter(t, deb+time.Millisecond, "one debounce after the door opened", "door closed", "door open")
		s.wantAfter(t, 45*time.Second, "held open for 45 s", "door closed", "door open")
		pin.flips(0, gpio.Low)
		s.wantAfter(t, deb+time.Millisecond, "after it closed", "door closed", "door open", "door closed")
		mustStop(t, stop)
	})
}

func TestRackTamper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r1, r2, s := newLine(t, "GPIO22", gpio.Low, false), newLine(t, "GPIO23", gpio.Low, false), &sink{}
		sens := Sensors{Racks: map[string]*Input{"R1": mustReed(t, r1, cfg("rack R1")), "R2": mustReed(t, r2, cfg("rack R2"))}}
		stop := run(t, func(ctx context.Context) error { return sens.Run(ctx, s) })
		synctest.Wait()
		if got := s.calls(); len(got) != 2 || !strings.Contains(strings.Join(got, ","), "rack R1 closed") || !strings.Contains(strings.Join(got, ","), "rack R2 closed") {
			t.Errorf("at start: sink got %q; want both racks closed", got)
		}
		// someone opens rack R1 in the empty room
		r1.flips(0, gpio.High)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := s.calls(); len(got) != 3 || got[2] != "rack R1 open" {
			t.Errorf("after R1 opened: sink got %q; want the two starting states then rack R1 open", got)
		}
		mustStop(t, stop)
	})
}

func TestExitButton(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO27", gpio.High, false), &sink{}
		btn, err := NewButton(pin, InputConfig{Name: "exit button", EdgeWait: 40 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := btn.Config().Debounce; got != DefaultButtonDebounce {
			t.Errorf("button debounce %v; want DefaultButtonDebounce %v", got, DefaultButtonDebounce)
		}
		stop := run(t, func(ctx context.Context) error { return WatchExitButton(ctx, btn, s) })
		synctest.Wait()
		s.want(t, "at start, released")
		// a press that bounces, held for 200 ms
		pin.flips(time.Millisecond, gpio.Low, gpio.High, gpio.Low)
		time.Sleep(200 * time.Millisecond)
		pin.flips(time.Millisecond, gpio.High, gpio.Low, gpio.High)
		s.wantAfter(t, 200*time.Millisecond, "after one press", "exit")
		pin.flips(0, gpio.Low)
		time.Sleep(100 * time.Millisecond)
		pin.flips(0, gpio.High)
		s.wantAfter(t, 100*time.Millisecond, "after a second press", "exit", "exit")
		mustStop(t, stop)
	})
}

func TestExitButtonHeldAtStartIsNoPress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO27", gpio.Low, false), &sink{}
		btn, err := NewButton(pin, cfg("exit button"), nil)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, func(ctx context.Context) error { return WatchExitButton(ctx, btn, s) })
		s.wantAfter(t, time.Second, "held since start")
		pin.flips(0, gpio.High)
		time.Sleep(100 * time.Millisecond)
		pin.flips(0, gpio.Low)
		s.wantAfter(t, 100*time.Millisecond, "released, then pressed", "exit")
		mustStop(t, stop)
	})
}

// TestPollingFallback: a pin whose driver has no edge detection (In with
// edges fails) is read every Poll.
func TestPollingFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO17", gpio.Low, true), &sink{}
		stop := watchDoor(t, pin, s)
		s.want(t, "at start", "door closed")
		pin.set(gpio.High)
		time.Sleep(time.Millisecond)
		pin.set(gpio.Low) // shorter than a poll: unseen or filtered
		s.wantAfter(t, 100*time.Millisecond, "after a 1 ms flicker", "door closed")
		pin.set(gpio.High)
		s.wantAfter(t, 100*time.Millisecond, "after the door opened", "door closed", "door open")
		mustStop(t, stop)
	})
}

// TestDeafPinFallsBackToPolling: a pin that takes BothEdges but whose
// WaitForEdge returns false at once is polled after a few tries.
func TestDeafPinFallsBackToPolling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO17", gpio.Low, true), &sink{}
		stop := watchDoor(t, deafLine{pin}, s)
		s.want(t, "at start", "door closed")
		pin.set(gpio.High)
		s.wantAfter(t, 100*time.Millisecond, "after the door opened", "door closed", "door open")
		pin.set(gpio.Low)
		s.wantAfter(t, 100*time.Millisecond, "after it closed", "door closed", "door open", "door closed")
		mustStop(t, stop)
	})
}

// TestCutWireReadsOpen: with nothing on the pin, the pull decides, and it
// must say open.
func TestCutWireReadsOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  InputConfig
	}{
		{"default: to ground, pull-up", InputConfig{}},
		{"active-high, default pull-down", InputConfig{ActiveHigh: true}},
		{"explicit pull-up", InputConfig{Pull: gpio.PullUp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// the pin starts at the closed level; gpiotest.Pin's In
				// sets the level from the pull, as a floating wire reads
				closed := gpio.Level(tc.cfg.ActiveHigh)
				pin := &gpiotest.Pin{N: "GPIO17", L: closed, EdgesChan: make(chan gpio.Level, 1)}
				c := tc.cfg
				c.Name, c.Debounce = "door", deb
				s := &sink{}
				stop := run(t, func(ctx context.Context) error { return WatchDoor(ctx, mustReed(t, pin, c), s) })
				synctest.Wait()
				s.want(t, "cut wire", "door open")
				mustStop(t, stop)
			})
		})
	}
}

func TestNewInputRefuses(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17"}
	for _, tc := range []struct {
		cfg  InputConfig
		want string
	}{
		{InputConfig{Pull: gpio.PullDown}, "cut wire would read closed"},
		{InputConfig{ActiveHigh: true, Pull: gpio.PullUp}, "cut wire would read closed"},
		{InputConfig{Pull: gpio.Pull(9)}, "pull"},
		{InputConfig{Debounce: -time.Millisecond}, "debounce -1ms is negative"},
		{InputConfig{Poll: -time.Millisecond, EdgeWait: -time.Second}, "edge wait -1s is negative"},
	} {
		_, err := NewReed(pin, tc.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewReed(%+v) = %v; want an error with %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := NewReed(nil, InputConfig{}, nil); err == nil {
		t.Error("NewReed(nil pin) succeeded")
	}
	in, err := NewReed(pin, InputConfig{ActiveHigh: true, Pull: gpio.Float}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := in.Config()
	if c.Name != "GPIO17" || c.Debounce != DefaultReedDebounce || c.Poll != DefaultPoll || c.EdgeWait != DefaultEdgeWait || c.Pull != gpio.Float {
		t.Errorf("defaults: %+v", c)
	}
	if !in.Active(gpio.High) || in.Active(gpio.Low) {
		t.Error("an active-high input is active on Low")
	}
}

// TestRefusedReportIsRetried: a state the sink did not store is offered
// again.
func TestRefusedReportIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin, s := newLine(t, "GPIO17", gpio.Low, false), &sink{fails: 2}
		stop := watchDoor(t, pin, s)
		s.wantAfter(t, time.Second, "after two refusals", "door closed")
		mustStop(t, stop)
	})
}

func TestSensorsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		door, r1, exit := newLine(t, "GPIO17", gpio.Low, false), newLine(t, "GPIO22", gpio.Low, false), newLine(t, "GPIO27", gpio.High, false)
		btn, err := NewButton(exit, cfg("exit button"), nil)
		if err != nil {
			t.Fatal(err)
		}
		sens := Sensors{Door: mustReed(t, door, cfg("door")), Racks: map[string]*Input{"R1": mustReed(t, r1, cfg("rack R1"))}, Exit: btn}
		s := &sink{}
		stop := run(t, func(ctx context.Context) error { return sens.Run(ctx, s) })
		synctest.Wait()
		if got := len(s.calls()); got != 2 {
			t.Errorf("at start: %q; want the door's and the rack's state", s.calls())
		}
		exit.flips(0, gpio.Low)
		time.Sleep(100 * time.Millisecond)
		exit.flips(0, gpio.High)
		time.Sleep(100 * time.Millisecond)
		door.flips(0, gpio.High)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := s.calls(); len(got) != 4 || got[2] != "exit" || got[3] != "door open" {
			t.Errorf("after exit button and door: %q", got)
		}
		if err := sens.Door.Halt(); err == nil {
			t.Error("Halt while watched succeeded")
		}
		mustStop(t, stop)
		if err := sens.Halt(); err != nil {
			t.Errorf("Halt after Run: %v", err)
		}
	})
}

// TestSensorsRunStopsOnBrokenPin: a reed that cannot be configured stops
// the watch of the others and is reported.
func TestSensorsRunStopsOnBrokenPin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		door, r1 := newLine(t, "GPIO17", gpio.Low, false), newLine(t, "GPIO22", gpio.Low, false)
		sens := Sensors{Door: mustReed(t, door, cfg("door")), Racks: map[string]*Input{"R1": mustReed(t, brokenLine{r1}, cfg("rack R1"))}}
		err := sens.Run(t.Context(), &sink{})
		if err == nil || !strings.Contains(err.Error(), "rack R1") || !strings.Contains(err.Error(), "line busy") {
			t.Errorf("Run = %v; want the broken rack's error", err)
		}
	})
}

func TestWatchTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pin := newLine(t, "GPIO17", gpio.Low, false)
		in := mustReed(t, pin, cfg("door"))
		stop := run(t, func(ctx context.Context) error { return WatchDoor(ctx, in, &sink{}) })
		synctest.Wait()
		if err := in.Watch(t.Context(), func(context.Context, bool) error { return nil }); err == nil {
			t.Error("a second Watch of the same input succeeded")
		}
		mustStop(t, stop)
	})
}
