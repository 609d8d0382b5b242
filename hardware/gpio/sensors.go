package gpio

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kunci-project/kunci/hardware"
)

// WatchDoor tells sink the door's state from its reed switch until ctx
// ends: SetDoor(open) at start and at every debounced change (closed reed =
// closed door; an open reed or a cut wire = open door).
func WatchDoor(ctx context.Context, reed *Input, sink hardware.Sink) error {
	return reed.Watch(ctx, func(ctx context.Context, closed bool) error {
		return sink.SetDoor(ctx, !closed)
	})
}

// WatchRack tells sink the state of rack's reed switch until ctx ends:
// SetRack(rack, open) at start and at every debounced change.
func WatchRack(ctx context.Context, rack string, reed *Input, sink hardware.Sink) error {
	return reed.Watch(ctx, func(ctx context.Context, closed bool) error {
		return sink.SetRack(ctx, rack, !closed)
	})
}

// WatchExitButton calls sink.ExitButton once per press (a debounced change
// to pressed) until ctx ends. A button already held at start is not a
// press: a stuck button must not release the door at every boot. A press
// the sink refuses is offered again while the button is still held.
func WatchExitButton(ctx context.Context, button *Input, sink hardware.Sink) error {
	first := true
	return button.Watch(ctx, func(ctx context.Context, pressed bool) error {
		if first {
			first = false
			return nil
		}
		if !pressed {
			return nil
		}
		return sink.ExitButton(ctx)
	})
}

// Sensors are the door's GPIO inputs. Each may be absent (nil, or no
// racks).
type Sensors struct {
	Door  *Input
	Racks map[string]*Input // rack name, as in the agent's config -> reed
	Exit  *Input
}

// Run watches every sensor, feeding sink (WatchDoor, WatchRack,
// WatchExitButton), until ctx ends, and returns nil then. If a pin cannot
// be configured, Run stops the other watchers too and returns every error:
// a door that cannot see its reeds must not look as if it could.
func (s Sensors) Run(ctx context.Context, sink hardware.Sink) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	run := func(f func() error) {
		wg.Go(func() {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	if s.Door != nil {
		run(func() error { return WatchDoor(ctx, s.Door, sink) })
	}
	for name, reed := range s.Racks {
		if reed != nil {
			run(func() error { return WatchRack(ctx, name, reed, sink) })
		}
	}
	if s.Exit != nil {
		run(func() error { return WatchExitButton(ctx, s.Exit, sink) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Halt halts every input (Input.Halt); call it after Run returned.
func (s Sensors) Halt() error {
	var errs []error
	for _, in := range s.inputs() {
		if err := in.Halt(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s Sensors) String() string {
	return fmt.Sprintf("gpio sensors: door %v, racks %v, exit %v", s.Door, s.Racks, s.Exit)
}

func (s Sensors) inputs() []*Input {
	var ins []*Input
	if s.Door != nil {
		ins = append(ins, s.Door)
	}
	for _, r := range s.Racks {
		if r != nil {
			ins = append(ins, r)
		}
	}
	if s.Exit != nil {
		ins = append(ins, s.Exit)
	}
	return ins
}
