package sdnotify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/sdnotify/sdnotifytest"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var quiet = slog.New(slog.DiscardHandler)

func TestNotifierEnv(t *testing.T) {
	const pid = 4242
	for _, tc := range []struct {
		name     string
		env      map[string]string
		socket   string
		interval time.Duration
	}{
		{"not under systemd", nil, "", 0},
		{"path", map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify"}, "/run/systemd/notify", 0},
		{"abstract", map[string]string{"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify"}, "@/org/freedesktop/systemd1/notify", 0},
		{"not a unix socket", map[string]string{"NOTIFY_SOCKET": "vsock:2:1234"}, "", 0},
		{"watchdog", map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "10000000"}, "/n", 5 * time.Second},
		{"watchdog for us", map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"}, "/n", 5 * time.Second},
		{"watchdog for another process", map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}, "/n", 0},
		{"bad watchdog", map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "ten"}, "/n", 0},
		{"zero watchdog", map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "0"}, "/n", 0},
		{"watchdog without socket", map[string]string{"WATCHDOG_USEC": "10000000"}, "", 0},
	} {
		n := New(env(tc.env), pid, quiet)
		if n.socket != tc.socket || n.interval != tc.interval {
			t.Errorf("%s: notifier = socket %q, interval %s; want %q, %s", tc.name, n.socket, n.interval, tc.socket, tc.interval)
		}
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	n := New(env(nil), 1, quiet)
	if err := n.Notify("READY=1"); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v; want nil (nothing to do)", err)
	}
	called := false
	n.Watchdog(t.Context(), func(context.Context) error { called = true; return nil })
	if called {
		t.Error("Watchdog without NOTIFY_SOCKET asked the door")
	}
}

func TestNotifySockets(t *testing.T) {
	var r [8]byte
	_, _ = rand.Read(r[:])
	for _, addr := range []string{
		filepath.Join(t.TempDir(), "notify"),
		"@kunci-test-" + hex.EncodeToString(r[:]), // abstract: no file
	} {
		sd := sdnotifytest.Listen(t, addr)
		n := New(env(map[string]string{"NOTIFY_SOCKET": addr}), 1, quiet)
		n.Ready("door demo/server-room ready")
		if got, want := sd.Next(t, 5*time.Second), "READY=1\nSTATUS=door demo/server-room ready"; got != want {
			t.Errorf("%s: got %q; want %q", addr, got, want)
		}
		n.Stopping()
		if got := sd.Next(t, 5*time.Second); !strings.HasPrefix(got, "STOPPING=1\n") {
			t.Errorf("%s: got %q; want STOPPING=1", addr, got)
		}
	}
	n := New(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone")}), 1, quiet)
	if err := n.Notify("READY=1"); err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Errorf("Notify to a missing socket = %v; want an sd_notify error", err)
	}
}

// The watchdog is pinged while the door answers, and not while it does
// not, so that systemd restarts a hung door.
func TestWatchdog(t *testing.T) {
	sd := sdnotifytest.Listen(t, filepath.Join(t.TempDir(), "notify"))
	n := New(env(map[string]string{"NOTIFY_SOCKET": sd.Addr, "WATCHDOG_USEC": "40000"}), 1, quiet)
	if n.interval != 20*time.Millisecond {
		t.Fatalf("interval = %s; want half of WATCHDOG_USEC", n.interval)
	}
	var hung atomic.Bool
	hungCall := make(chan struct{}) // a call of alive that sees the hang, as it happens
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watchdog(ctx, func(ctx context.Context) error {
			if hung.Load() {
				select {
				case hungCall <- struct{}{}:
				case <-ctx.Done():
				}
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
	}()
	awaitHungCall := func() {
		t.Helper()
		select {
		case <-hungCall:
		case <-time.After(5 * time.Second):
			t.Fatal("Watchdog asked the door nothing within 5s")
		}
	}
	for range 3 {
		if got := sd.Next(t, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q; want WATCHDOG=1", got)
		}
	}
	hung.Store(true)
	// the pings are sent one at a time: by the first call that sees the
	// hang, every ping of the calls before it is in the socket; take them,
	// then let the hang last several intervals
	awaitHungCall()
	for sd.Next(t, 100*time.Millisecond) != "" {
	}
	for range 5 {
		awaitHungCall()
	}
	if got := sd.Next(t, 100*time.Millisecond); got != "" {
		t.Errorf("got %q while the door hangs; want no ping", got)
	}
	hung.Store(false)
	if got := sd.Next(t, 5*time.Second); got != "WATCHDOG=1" {
		t.Errorf("got %q once the door answers again; want WATCHDOG=1", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watchdog did not return when its ctx ended")
	}
}
