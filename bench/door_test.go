package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/trace"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/wire"
)

var errNoUnlock = errors.New("relay did not unlock")

// fakeRelay notes when the door moves it. Unlock times go to a buffered
// channel that the benchmark reads; the door never blocks on it.
type fakeRelay struct {
	unlocked chan time.Time

	mu      sync.Mutex
	open    bool
	unlocks int
	locks   int
}

var _ agent.Relay = (*fakeRelay)(nil)

func newFakeRelay() *fakeRelay { return &fakeRelay{unlocked: make(chan time.Time, 16)} }

func (r *fakeRelay) Unlock() error {
	t := time.Now()
	r.mu.Lock()
	r.open, r.unlocks = true, r.unlocks+1
	r.mu.Unlock()
	select {
	case r.unlocked <- t:
	default:
	}
	return nil
}

func (r *fakeRelay) Lock() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open, r.locks = false, r.locks+1
	return nil
}

func (r *fakeRelay) Halt() error    { return r.Lock() }
func (r *fakeRelay) String() string { return "bench-relay" }

func (r *fakeRelay) drain() {
	for {
		select {
		case <-r.unlocked:
		default:
			return
		}
	}
}

func (r *fakeRelay) unlockCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unlocks
}

func (r *fakeRelay) isOpen() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.open
}

// newBenchClock is synchronised and starts at benchNow, so that the
// generated permits are valid whatever the date; it advances with real
// time, so the door's timers behave as in the field.
func newBenchClock() agenttest.RunningClock { return agenttest.NewRunningClock(benchNow) }

func doorConfig() agent.Config {
	return agent.Config{Site: site, Door: door, Rules: agent.DefaultRules(),
		Readers: []string{agent.ReaderEntry, agent.ReaderExit}, Racks: []string{"R1", "R2"},
		SiteKey: siteKey, Keys: keyring(), Boot: "bench001", Version: "bench"}
}

// discardLog formats every record like the agent's text log and throws it
// away, so the cost of logging stays in the measurement.
func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runningDoor is a door whose Run loop is going, on an open store.
type runningDoor struct {
	door  *agent.Door
	store *agent.Store
	relay *fakeRelay
	stop  func() error
	// lowSpaceOK: a visit may end with the low_space alarm up (the door
	// soak fills its store on purpose)
	lowSpaceOK bool
}

// startDoor opens the store at path, makes the door and starts its loop;
// it returns once the loop has stored agent.started.
func startDoor(ctx context.Context, path string) (*runningDoor, error) {
	st, err := agent.OpenStore(path, site, door)
	if err != nil {
		return nil, err
	}
	rd, err := startDoorOn(ctx, st, nil)
	if err != nil {
		st.Close()
	}
	return rd, err
}

// startDoorOn is startDoor on the open store st, with the door's counters
// in reg (nil: a registry of its own); stopping the door closes st.
func startDoorOn(ctx context.Context, st *agent.Store, reg *metrics.Registry) (*runningDoor, error) {
	relay := newFakeRelay()
	d, err := agent.NewDoor(doorConfig(), st, relay, newBenchClock(), discardLog(), reg)
	if err != nil {
		return nil, err
	}
	ready, seq0 := d.Watch(), d.Status().Seq
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop := func() error {
		cancel()
		err := <-done
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// the loop sets the status again with the seq of agent.started once the
	// event is stored; until then it shows the newest seq of the store
	for d.Status().Seq <= seq0 {
		select {
		case <-ready:
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("door stopped before it was ready: %v", err)
		case <-ctx.Done():
			cancel()
			<-done
			return nil, ctx.Err()
		}
	}
	return &runningDoor{door: d, store: st, relay: relay, stop: stop}, nil
}

// runDoor is startDoor for a test or a benchmark: it fails tb on an
// error, and stops the door and closes its store when tb ends.
func runDoor(tb testing.TB, path string) *runningDoor {
	tb.Helper()
	rd, err := startDoor(tb.Context(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := rd.stop(); err != nil {
			tb.Error(err)
		}
	})
	return rd
}

// visit takes guest i through one escorted visit: the guest taps, the
// escort taps (the grant), the door opens and closes, the guest taps out,
// and the door opens and closes again. It returns the time from calling
// Tap for the escort's card until the relay was told to unlock. The room is
// empty and locked again afterwards, so every visit starts alike.
func (r *runningDoor) visit(ctx context.Context, i int) (time.Duration, error) {
	d := r.door
	if err := d.Tap(ctx, agent.ReaderEntry, guestUID(i)); err != nil {
		return 0, err
	}
	r.relay.drain()
	escort := staffUID(escortOf(i))
	start := time.Now()
	var err error
	trace.WithRegion(ctx, "escort tap", func() { err = d.Tap(ctx, agent.ReaderEntry, escort) })
	if err != nil {
		return 0, err
	}
	var lat time.Duration
	select {
	case t := <-r.relay.unlocked:
		lat = t.Sub(start)
	default:
		// Tap returns after the relay moved: no time means no unlock
		return 0, fmt.Errorf("%w for permit %s", errNoUnlock, permitID(i))
	}
	for _, step := range []func() error{
		func() error { return d.SetDoor(ctx, true) },
		func() error { return d.SetDoor(ctx, false) },
		func() error { return d.Tap(ctx, agent.ReaderExit, guestUID(i)) },
		func() error { return d.SetDoor(ctx, true) },
		func() error { return d.SetDoor(ctx, false) },
	} {
		if err := step(); err != nil {
			return 0, err
		}
	}
	s := d.Status()
	alarms := s.Alarms
	if r.lowSpaceOK {
		alarms = slices.DeleteFunc(slices.Clone(alarms), func(a wire.Alarm) bool { return a == wire.AlarmLowSpace })
	}
	if s.Lock != "locked" || len(s.Occupancy) != 0 || len(alarms) != 0 {
		return 0, fmt.Errorf("after the visit of permit %s: lock %s, %d inside, alarms %v",
			permitID(i), s.Lock, len(s.Occupancy), s.Alarms)
	}
	if r.relay.isOpen() {
		return 0, fmt.Errorf("after the visit of permit %s: relay still unlocked", permitID(i))
	}
	return lat, nil
}
