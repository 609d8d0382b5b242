package lifecycle

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// journal records what happened, in order, from any goroutine.
type journal struct {
	mu  sync.Mutex
	log []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.log = append(j.log, s)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.log)
}

// Every phase is done, its stops run and its parts returned, before the
// next one begins to stop; a part's context ends only with its phase.
func TestPhasesStopInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := New(ctx, Options{})
	var j journal
	for p := range numPhases {
		g.Go(p, p.String(), func(ctx context.Context) error {
			<-ctx.Done()
			j.add(p.String() + " part")
			return ctx.Err()
		})
		g.OnStop(p, p.String(), func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Errorf("%s stop: no deadline in its context", p)
			}
			j.add(p.String() + " stop")
			return nil
		})
	}
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatalf("Wait = %v; want nil (cancellation is not an error)", err)
	}
	got := j.get()
	if len(got) != 2*int(numPhases) {
		t.Fatalf("journal %v; want a part and a stop per phase", got)
	}
	last := Input
	for i, e := range got {
		name, _, _ := strings.Cut(e, " ")
		var p Phase
		for p = range numPhases {
			if p.String() == name {
				break
			}
		}
		if p < last {
			t.Errorf("journal[%d] = %q after a record of %s; want phases in order: %v", i, e, last, got)
		}
		last = p
	}
}

// A failing part begins the shutdown; its error comes first, joined with
// what failed in the stop.
func TestFailureBeginsShutdown(t *testing.T) {
	boom, late := errors.New("boom"), errors.New("store: close")
	g := New(context.Background(), Options{})
	stopped := make(chan struct{})
	g.Go(Input, "door", func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	})
	g.Go(Serve, "uplink", func(context.Context) error { return boom })
	g.OnStop(Store, "store", func(context.Context) error { return late })
	err := g.Wait()
	<-stopped
	if !errors.Is(err, boom) || !errors.Is(err, late) {
		t.Fatalf("Wait = %v; want boom and the store's error", err)
	}
	if !strings.HasPrefix(err.Error(), "boom\n") {
		t.Errorf("Wait = %q; want the failure that began the shutdown first", err)
	}
}

// Stop begins the shutdown from a part, or reports a setup that failed.
func TestStop(t *testing.T) {
	g := New(context.Background(), Options{})
	g.Go(Input, "demo", func(context.Context) error {
		g.Stop(nil)
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Errorf("Wait after Stop(nil) = %v; want nil", err)
	}

	bad := errors.New("listen: address in use")
	g = New(context.Background(), Options{})
	halted := false
	g.OnStop(Safe, "relay", func(context.Context) error { halted = true; return nil })
	g.Stop(bad)
	if err := g.Wait(); !errors.Is(err, bad) {
		t.Errorf("Wait after Stop(bad) = %v; want bad", err)
	}
	if !halted {
		t.Error("the Safe stop did not run after Stop")
	}
}

// A part that ignores its context is reported at the deadline and not
// waited for; the later phases still stop.
func TestTimeoutReportsStuckPart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		g := New(ctx, Options{Timeout: 5 * time.Second})
		stuck := make(chan struct{})
		g.Go(Serve, "uplink", func(context.Context) error { <-stuck; return nil })
		closed := false
		g.OnStop(Link, "link", func(ctx context.Context) error {
			closed = true
			if ctx.Err() == nil {
				t.Error("the link's stop ran before the deadline passed")
			}
			return nil
		})
		start := time.Now()
		cancel()
		err := g.Wait()
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Wait returned after %v; want the 5s deadline", d)
		}
		if err == nil || !strings.Contains(err.Error(), "serve still running") || !strings.Contains(err.Error(), "uplink") {
			t.Errorf("Wait = %v; want the stuck part named with its phase", err)
		}
		if !closed {
			t.Error("the link was not stopped after the deadline")
		}
		close(stuck)
	})
}

// The gate lets a forced exit through only once Safe is done: after the
// door's loop returned and the relay's halt ran.
func TestGateHeldUntilSafe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		gate := &Gate{}
		ctx, cancel := context.WithCancel(WithGate(context.Background(), gate))
		g := New(ctx, Options{})
		var j journal
		halting := make(chan struct{})
		g.Go(Input, "door", func(ctx context.Context) error {
			<-ctx.Done()
			<-halting // the loop takes its time to halt the relay
			j.add("door returned")
			return nil
		})
		g.OnStop(Safe, "relay", func(context.Context) error { j.add("relay halted"); return nil })
		g.OnStop(Store, "store", func(context.Context) error { j.add("store closed"); return nil })
		go func() {
			gate.Wait()
			j.add("exit let through")
		}()
		done := make(chan error)
		go func() { done <- g.Wait() }()
		synctest.Wait()
		if got := j.get(); len(got) != 0 {
			t.Fatalf("before the shutdown: %v; want nothing, the gate held", got)
		}
		cancel()
		synctest.Wait()
		if got := j.get(); len(got) != 0 {
			t.Fatalf("while the door halts: %v; want nothing, the gate held", got)
		}
		close(halting)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got := j.get()
		if i := slices.Index(got, "exit let through"); i < 0 || i < slices.Index(got, "relay halted") ||
			slices.Index(got, "relay halted") < slices.Index(got, "door returned") {
			t.Errorf("journal %v; want the exit let through only after the door returned and the relay halted", got)
		}
	})
}

// Gates are optional: a context without one, or a nil Gate, holds nothing.
func TestNoGate(t *testing.T) {
	var g *Gate
	g.Hold()()
	g.Wait()
	gr := New(context.Background(), Options{})
	gr.Stop(nil)
	if err := gr.Wait(); err != nil {
		t.Fatal(err)
	}
}

// Serve ends the requests' contexts when its phase stops, so a stream
// ends and Shutdown returns.
func TestServeEndsStreams(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	streaming := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		close(streaming)
		<-r.Context().Done()
	})}
	ctx, cancel := context.WithCancel(context.Background())
	g := New(ctx, Options{})
	g.Serve(Serve, "api", srv, l, "", "")
	resp, err := http.Get("http://" + l.Addr().String() + "/watch")
	if err != nil {
		t.Fatal(err)
	}
	<-streaming
	cancel()
	if err := g.Wait(); err != nil {
		t.Errorf("Wait = %v; want nil", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
}

// Nothing starts in a phase that began to stop; a stop added then runs at
// once.
func TestLateParts(t *testing.T) {
	g := New(context.Background(), Options{})
	var late sync.WaitGroup
	late.Add(1)
	ran, stopped := false, false
	g.OnStop(Input, "ready", func(context.Context) error {
		defer late.Done()
		g.Go(Input, "demo", func(context.Context) error { ran = true; return nil })
		g.OnStop(Input, "late", func(context.Context) error { stopped = true; return nil })
		return nil
	})
	g.Stop(nil)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	late.Wait()
	if ran {
		t.Error("a part started in a stopping phase ran")
	}
	if !stopped {
		t.Error("a stop added to a stopping phase did not run")
	}
}
