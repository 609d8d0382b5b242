package mqtttest

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/kunci-project/kunci/internal/mochigate"
)

// MochiCloseTimeout bounds the broker's Close at the end of a test: mochi
// waits for every client goroutine, and one stuck on a dead peer would
// hang the test binary.
const MochiCloseTimeout = 5 * time.Second

// StartMochi starts an embedded mochi-mqtt broker on a free loopback port,
// with every client allowed and no persistence, and returns its URL for
// paho (tcp://127.0.0.1:PORT).
//
// When the test ends the broker is closed, waiting at most
// MochiCloseTimeout, and the test fails if the broker dropped any QoS 1
// message: mochi acknowledges a publish and then silently drops it for a
// subscriber whose in-flight window is full, counting it only in
// Info.InflightDropped, so a test that passes with drops proves nothing.
func StartMochi(t testing.TB) string {
	t.Helper()
	logs := &lockedBuffer{}
	s := mochi.New(&mochi.Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatalf("mochi: allow hook: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mochi: listen: %v", err)
	}
	// one client's packets at a time, as in kunci dev (internal/mochigate)
	tcp := listeners.NewNet("test", mochigate.Listen(l))
	if err := s.AddListener(tcp); err != nil {
		t.Fatalf("mochi: listen: %v", err)
	}
	if err := s.Serve(); err != nil {
		t.Fatalf("mochi: serve: %v", err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.Close()
		}()
		select {
		case <-done:
		case <-time.After(MochiCloseTimeout):
			t.Errorf("mochi: Close did not return within %v (a client goroutine is stuck)", MochiCloseTimeout)
		}
		if n := atomic.LoadInt64(&s.Info.InflightDropped); n != 0 {
			t.Errorf("mochi dropped %d QoS 1 messages (Info.InflightDropped): the test's subscribers fell behind\n%s",
				n, logs.String())
		}
	})
	return fmt.Sprintf("tcp://%s", l.Addr())
}

// lockedBuffer collects the broker's log: its goroutines write after the
// test function returns, when t.Log would panic.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
