package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/kunci-project/kunci/internal/mochigate"
)

// devMQTTDefault is the default of kunci dev's --mqtt. "off" runs the door
// alone, without a broker or the hub's ingest, as dev did before.
const devMQTTDefault = "127.0.0.1:1883"

// errAddrInUse marks a broker address another program holds.
var errAddrInUse = errors.New("address in use")

// devBrokerCloseTimeout bounds the embedded broker's Close, which ends
// every client itself (internal/mochigate): only a bug makes it wait.
const devBrokerCloseTimeout = 5 * time.Second

// devBroker is kunci dev's embedded mochi-mqtt broker: loopback only, every
// client allowed, nothing persisted. Good for dev mode, not for a site.
type devBroker struct {
	b    *mochigate.Broker
	addr string // host:port it listens on
}

// startDevBroker starts the embedded broker on addr, a loopback address.
// A taken port is reported with the flags that get round it.
func startDevBroker(addr string, log *slog.Logger) (*devBroker, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--mqtt %q: want host:port, such as 127.0.0.1:1883", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--mqtt %s: the embedded broker lets every client in, so it listens on a loopback address only (127.0.0.1:PORT); use --broker URL for a broker other machines reach", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %s is already in use by another program (a Mosquitto, say); choose another address with --mqtt, or use the broker running there with --broker tcp://%s", errAddrInUse, addr, addr)
		}
		return nil, fmt.Errorf("--mqtt: listen %s: %w", addr, err)
	}
	b, err := mochigate.Start(l, log)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &devBroker{b: b, addr: b.Addr().String()}, nil
}

// URL is the broker's address for paho.
func (b *devBroker) URL() string { return "tcp://" + b.addr }

// Close stops the broker, waiting at most devBrokerCloseTimeout, and warns
// about QoS 1 messages mochi dropped for a subscriber whose in-flight
// window was full (the door's outbox sends unacked events again).
func (b *devBroker) Close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), devBrokerCloseTimeout)
	defer cancel()
	if err := b.b.Close(ctx); err != nil {
		log.Warn("broker: Close did not finish; leaving it", "after", devBrokerCloseTimeout, "err", err)
	}
	if n := b.b.InflightDropped(); n != 0 {
		log.Warn("broker: dropped QoS 1 messages for subscribers that fell behind (Info.InflightDropped); the doors send what the hub did not ack again",
			"dropped", n)
	}
}

// quietClosed drops mochi's warnings about connections read after they
// were closed: at shutdown every client's read ends that way.
type quietClosed struct{ slog.Handler }

func (q quietClosed) Handle(ctx context.Context, r slog.Record) error {
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

func (q quietClosed) WithAttrs(as []slog.Attr) slog.Handler {
	return quietClosed{q.Handler.WithAttrs(as)}
}
func (q quietClosed) WithGroup(name string) slog.Handler {
	return quietClosed{q.Handler.WithGroup(name)}
}

// devHubClientID is the dev hub's fixed client id: not the real hub's
// (ingest.DefaultClientID), so that a dev pointed at a site's broker with
// --broker does not take over that hub's session.
const devHubClientID = "kunci-dev-hub-ingest"
