package devbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/kunci-project/kunci/internal/loopback"
	"github.com/kunci-project/kunci/internal/mochigate"
)

// Errors of Start.
var (
	// ErrAddrInUse marks an address another program holds.
	ErrAddrInUse = errors.New("address in use")
	// ErrNotLoopback refuses an address other machines may reach.
	ErrNotLoopback = errors.New("not a loopback address")
)

// CloseTimeout bounds Close; mochigate ends every client itself, so only
// a bug makes it wait.
const CloseTimeout = 5 * time.Second

// Broker is a running embedded broker.
type Broker struct {
	b    *mochigate.Broker
	addr string // host:port it listens on
}

// Start starts a broker on addr, host:port with a loopback host (a port
// of 0 takes a free one). log gets mochi's warnings and errors, less
// those about connections read after they were closed.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%q: want host:port, such as 127.0.0.1:1883", addr)
	}
	if !loopback.Host(host) {
		return nil, fmt.Errorf("%s: %w", addr, ErrNotLoopback)
	}
	l, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, addr)
	} else if err != nil {
		return nil, err
	}
	b, err := mochigate.Start(l, slog.New(quiet{log.Handler()}))
	if err != nil {
		return nil, err
	}
	return &Broker{b: b, addr: b.Addr().String()}, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address for paho.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker, waiting at most CloseTimeout, and warns on log
// about QoS 1 messages mochi dropped for a subscriber whose in-flight
// window was full (a door's outbox sends unacked events again).
func (b *Broker) Close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := b.b.Close(ctx); err != nil {
		log.Warn("broker: Close did not finish; leaving it", "after", CloseTimeout, "err", err)
	}
	if n := b.b.InflightDropped(); n != 0 {
		log.Warn("broker: dropped QoS 1 messages for subscribers that fell behind (Info.InflightDropped); the doors send what the hub did not ack again",
			"dropped", n)
	}
}

// quiet passes on mochi's warnings and errors (mochi says every client's
// coming and going at info) but those about connections read after they
// were closed: at shutdown every client's read ends that way.
type quiet struct{ slog.Handler }

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	closed := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, net.ErrClosed) {
			closed = true
			return false
		}
		return true
	})
	if closed {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quiet) WithAttrs(as []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(as)} }
func (q quiet) WithGroup(name string) slog.Handler    { return quiet{q.Handler.WithGroup(name)} }
