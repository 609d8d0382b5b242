package devbroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartClose(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	b, err := Start("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	if b.URL() != "tcp://"+b.Addr() || strings.HasSuffix(b.Addr(), ":0") {
		t.Errorf("URL %s, Addr %s; want tcp:// and the port the broker took", b.URL(), b.Addr())
	}
	c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
	if err != nil {
		t.Fatalf("the broker's address: %v", err)
	}
	c.Close()
	// the port is taken while the broker runs
	if _, err := Start(b.Addr(), log); !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), b.Addr()) {
		t.Errorf("Start on the running broker's address = %v; want ErrAddrInUse naming %s", err, b.Addr())
	}
	// Close warns only when it overran or mochi dropped messages
	var warned bytes.Buffer
	b.Close(slog.New(slog.NewTextHandler(&warned, nil)))
	if warned.Len() != 0 {
		t.Errorf("Close of a broker whose one client left warned:\n%s", &warned)
	}
}

// The broker lets every client in: it listens on a loopback address only.
func TestStartRefuses(t *testing.T) {
	for _, c := range []struct {
		addr string
		is   error
		want string
	}{
		{"0.0.0.0:0", ErrNotLoopback, "0.0.0.0:0"},
		{"192.0.2.1:1883", ErrNotLoopback, "192.0.2.1:1883"},
		{"broker.example:1883", ErrNotLoopback, "broker.example"},
		{"127.0.0.1", nil, `"127.0.0.1": want host:port`},
	} {
		b, err := Start(c.addr, slog.New(slog.DiscardHandler))
		if err == nil {
			b.Close(slog.New(slog.DiscardHandler))
		}
		if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start(%q) = %v; want %v naming %q", c.addr, err, c.is, c.want)
		}
	}
}

func TestQuiet(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(quiet{slog.NewTextHandler(&out, nil)}).With("part", "broker")
	ctx := context.Background()
	if log.Enabled(ctx, slog.LevelInfo) || !log.Enabled(ctx, slog.LevelWarn) {
		t.Error("quiet: want warnings and errors only")
	}
	log.Info("client connected")
	log.Warn("read after close", "error", fmt.Errorf("read: %w", net.ErrClosed))
	log.Warn("packet too large", "error", errors.New("too large"))
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "packet too large") ||
		!strings.Contains(got, "part=broker") {
		t.Errorf("quiet logged %q; want the one warning not about a closed connection, with its attrs", got)
	}
}
