package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Phase says when a part stops. The phases stop in this order.
type Phase int

const (
	// Input: the door's loop and what feeds it (readers, sensors, the
	// records watcher, a demo). The door's loop halts the relay as it
	// returns.
	Input Phase = iota
	// Safe: the relay halted again once Input is done, whatever became of
	// the loop; then a second signal may end the process.
	Safe
	// Serve: the listeners and the parts that read or write the stores
	// (the local API, the uplink, the hub's ingest and daily jobs).
	Serve
	// Store: the stores flushed and closed.
	Store
	// Final: the last words on the network: a door's final status and
	// "offline".
	Final
	// Link: the MQTT links closed.
	Link
	// Last: what the links used (kunci dev's embedded broker).
	Last
	numPhases
)

func (p Phase) String() string {
	if p < 0 || p >= numPhases {
		return fmt.Sprintf("Phase(%d)", int(p))
	}
	return [...]string{"input", "safe", "serve", "store", "final", "link", "last"}[p]
}

// DefaultTimeout bounds a shutdown when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a Group.
type Options struct {
	// Timeout bounds the whole shutdown, every phase included
	// (DefaultTimeout). Keep it under the service manager's stop timeout
	// (TimeoutStopSec), which ends in SIGKILL.
	Timeout time.Duration
}

// Group is one process's parts and their order of shutdown.
type Group struct {
	parent  context.Context
	timeout time.Duration
	eg      *errgroup.Group
	ended   context.Context // the errgroup's: a part failed, or Stop
	stop    context.CancelCauseFunc
	release func() // the Gate's hold, let go once Safe is done

	mu     sync.Mutex
	phases [numPhases]*phase
	errs   []error
}

type phase struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	running map[string]int // parts by name, for the report of a timeout
	stops   []namedStop
	stopped bool // no part starts after its phase began to stop
}

type namedStop struct {
	name string
	f    func(context.Context) error
}

// New returns a group whose shutdown begins when ctx ends. The parts'
// contexts carry ctx's values but not its end: each ends with its phase.
// New holds ctx's Gate until the Safe phase is done: call Wait.
func New(ctx context.Context, o Options) *Group {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	base := context.WithoutCancel(ctx)
	trigger, stop := context.WithCancelCause(base)
	eg, ended := errgroup.WithContext(trigger)
	g := &Group{parent: ctx, timeout: o.Timeout, eg: eg, ended: ended, stop: stop, release: gateOf(ctx).Hold()}
	for i := range g.phases {
		pctx, cancel := context.WithCancel(base)
		g.phases[i] = &phase{ctx: pctx, cancel: cancel, running: map[string]int{}}
	}
	return g
}

// Context returns the context of phase p: it ends when p begins to stop
// (for an HTTP server's BaseContext, or handlers whose calls must end with
// the door).
func (g *Group) Context(p Phase) context.Context { return g.phases[p].ctx }

// Go runs run in the group until phase p stops. An error (other than the
// cancellation of its own context) begins the shutdown and is reported by
// Wait. A part started after its phase began to stop does not run.
func (g *Group) Go(p Phase, name string, run func(ctx context.Context) error) {
	ph := g.phases[p]
	g.mu.Lock()
	if ph.stopped {
		g.mu.Unlock()
		return
	}
	ph.wg.Add(1)
	ph.running[name]++
	g.mu.Unlock()
	g.eg.Go(func() error {
		defer ph.wg.Done()
		defer func() {
			g.mu.Lock()
			if ph.running[name]--; ph.running[name] == 0 {
				delete(ph.running, name)
			}
			g.mu.Unlock()
		}()
		err := run(ph.ctx)
		if err == nil || errors.Is(err, context.Canceled) && ph.ctx.Err() != nil {
			return nil
		}
		g.add(err)
		return err
	})
}

// OnStop adds f to the stop of phase p: it runs once p's context has
// ended, before p's parts are waited for, with the shutdown's deadline in
// ctx (a server's Shutdown, a store's Close, a relay's Halt). A stop added
// after p began to stop runs at once.
func (g *Group) OnStop(p Phase, name string, f func(ctx context.Context) error) {
	ph := g.phases[p]
	g.mu.Lock()
	if !ph.stopped {
		ph.stops = append(ph.stops, namedStop{name, f})
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(g.parent), g.timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		g.add(err)
	}
}

// Serve serves srv on l in phase p (TLS when certFile is set): its
// requests' contexts end when p begins to stop, so that streams end, and
// srv.Shutdown then waits for the others within the deadline.
func (g *Group) Serve(p Phase, name string, srv *http.Server, l net.Listener, certFile, keyFile string) {
	if srv.BaseContext == nil {
		pctx := g.Context(p)
		srv.BaseContext = func(net.Listener) context.Context { return pctx }
	}
	g.Go(p, name, func(context.Context) error {
		var err error
		if certFile != "" {
			err = srv.ServeTLS(l, certFile, keyFile)
		} else {
			err = srv.Serve(l)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("%s: %w", name, err)
	})
	g.OnStop(p, name, func(ctx context.Context) error {
		if err := srv.Shutdown(ctx); err != nil {
			return fmt.Errorf("%s: shutdown: %w", name, err)
		}
		return nil
	})
}

// Stop begins the shutdown now; cause, when not nil, is reported first
// by Wait (a part that could not be set up after others had started). It
// does not wait: Wait does.
func (g *Group) Stop(cause error) {
	if cause != nil {
		g.add(cause)
	}
	g.stop(cause)
}

// Wait waits until the process's context ends, a part fails or Stop is
// called, then stops the phases in order and returns what failed. Call
// it once.
func (g *Group) Wait() error {
	select {
	case <-g.parent.Done():
	case <-g.ended.Done():
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(g.parent), g.timeout)
	defer cancel()
	defer g.release() // on every way out, Safe or not
	all := true
	for p := range numPhases {
		ph := g.phases[p]
		g.mu.Lock()
		ph.stopped = true
		stops := ph.stops
		g.mu.Unlock()
		ph.cancel()
		for _, s := range stops {
			if err := s.f(ctx); err != nil {
				g.add(err)
			}
		}
		if !g.waitPhase(ctx, ph) {
			all = false
			g.mu.Lock()
			names := slices.Sorted(maps.Keys(ph.running))
			g.mu.Unlock()
			g.add(fmt.Errorf("lifecycle: %s still running %v after the shutdown began: %s", p, g.timeout,
				strings.Join(names, ", ")))
		}
		if p == Safe {
			g.release()
		}
	}
	if all {
		_ = g.eg.Wait() // every part has returned; their errors are in g.errs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

// waitPhase waits for ph's parts until ctx ends and reports whether they
// all returned.
func (g *Group) waitPhase(ctx context.Context, ph *phase) bool {
	g.mu.Lock()
	idle := len(ph.running) == 0
	g.mu.Unlock()
	if idle {
		return true
	}
	done := make(chan struct{})
	go func() {
		ph.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	}
	select {
	case <-done: // both were ready
		return true
	default:
		return false
	}
}

func (g *Group) add(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = append(g.errs, err)
}
