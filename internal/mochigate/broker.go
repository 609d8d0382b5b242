package mochigate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
)

// Broker is an embedded mochi-mqtt broker serving one listener, every
// client allowed, nothing persisted.
type Broker struct {
	s *mochi.Server
	l *listener

	closeOnce sync.Once
	closeErr  error
}

// Start serves a broker on l, which it owns from then on, logging to log
// (nil: nowhere). Every client is let in, so l must be reachable from
// this machine only: a loopback address.
func Start(l net.Listener, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := mochi.New(&mochi.Options{
		Logger: log,
		// published once, at Serve, before any client: mochi's ticker
		// would republish them from its own goroutine, a retained
		// write no hook of a client's goroutine can gate
		SysTopicResendInterval: math.MaxInt32,
	})
	gl := newListener("kunci", l, log)
	for _, h := range []mochi.Hook{new(auth.AllowHook), new(retainedGate)} {
		if err := s.AddHook(h, nil); err != nil {
			_ = l.Close()
			return nil, fmt.Errorf("mochigate: %w", err)
		}
	}
	if err := s.AddListener(gl); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("mochigate: %w", err)
	}
	if err := s.Serve(); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("mochigate: %w", err)
	}
	return &Broker{s: s, l: gl}, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.l.Addr() }

// InflightDropped counts the QoS 1 messages mochi acknowledged to their
// publisher and then dropped, silently, for a subscriber whose in-flight
// window was full. A test that passes with drops proves nothing.
func (b *Broker) InflightDropped() int64 { return atomic.LoadInt64(&b.s.Info.InflightDropped) }

// ErrCloseTimeout is returned, wrapped, by a Close whose context ended
// while clients were still being served.
var ErrCloseTimeout = errors.New("mochigate: close: clients still running")

// Close stops the broker: no more connections, every client's connection
// closed, each client's goroutine ended, and then mochi's own Close, with
// nothing left for it to wait for (see the package doc for why mochi's
// Close alone can hang). It returns when that is done or when ctx ends,
// then with ErrCloseTimeout naming the connections left, which end on
// their own. A second Close returns the first's result.
func (b *Broker) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.close(ctx) })
	return b.closeErr
}

func (b *Broker) close(ctx context.Context) error {
	if err := b.l.drain(ctx); err != nil {
		// mochi's Close would wait for the same goroutines: it goes on
		// without us, stopping mochi's own loop as soon as it can
		go func() { _ = b.s.Close() }()
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.s.Close()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: mochi's Close did not return (%w)", ErrCloseTimeout, context.Cause(ctx))
	}
}
