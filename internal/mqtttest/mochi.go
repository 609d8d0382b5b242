package mqtttest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/mochigate"
)

// MochiCloseTimeout bounds the broker's Close at the end of a test, which
// fails if Close takes longer: mochigate's Close ends every client itself,
// so only a bug makes it wait.
const MochiCloseTimeout = 5 * time.Second

// StartMochi starts the embedded mochi-mqtt broker of kunci dev
// (internal/mochigate) on a free loopback port, with every client allowed
// and no persistence, and returns its URL for paho (tcp://127.0.0.1:PORT).
//
// When the test ends the broker is closed, waiting at most
// MochiCloseTimeout, and the test fails if the broker dropped any QoS 1
// message: mochi acknowledges a publish and then silently drops it for a
// subscriber whose in-flight window is full, counting it only in
// Info.InflightDropped, so a test that passes with drops proves nothing.
func StartMochi(t testing.TB) string {
	t.Helper()
	logs := &lockedBuffer{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mochi: listen: %v", err)
	}
	b, err := mochigate.Start(l, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("mochi: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), MochiCloseTimeout)
		defer cancel()
		began := time.Now()
		if err := b.Close(ctx); err != nil {
			t.Errorf("mochi: Close did not return within %v: %v", MochiCloseTimeout, err)
		} else {
			t.Logf("mochi: closed in %v", time.Since(began))
		}
		if n := b.InflightDropped(); n != 0 {
			t.Errorf("mochi dropped %d QoS 1 messages (Info.InflightDropped): the test's subscribers fell behind\n%s",
				n, logs.String())
		}
	})
	return fmt.Sprintf("tcp://%s", b.Addr())
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
