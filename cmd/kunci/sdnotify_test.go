package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/sdnotify/sdnotifytest"
)

// kunci agent under systemd's Type=notify: READY=1 once the door takes
// input, WATCHDOG=1 while it runs, STOPPING=1 at shutdown.
func TestAgentNotifiesSystemd(t *testing.T) {
	sd := sdnotifytest.Listen(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", sd.Addr)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	k := makeKeys(t)
	cfg := writeAgentConfig(t, k, "127.0.0.1:0", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"agent", "--config", cfg}, &syncBuffer{}, stderr) }()

	got := sd.Next(t, 20*time.Second)
	if !strings.HasPrefix(got, "READY=1\nSTATUS=door demo/server-room ready, local API on 127.0.0.1:") {
		t.Fatalf("first message %q; want READY=1 with the status\nstderr:\n%s", got, stderr)
	}
	if !strings.Contains(stderr.String(), `msg="door ready"`) {
		t.Errorf("READY=1 came before the door was ready:\n%s", stderr)
	}
	for range 2 {
		if got := sd.Next(t, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q; want WATCHDOG=1", got)
		}
	}
	cancel()
	for {
		got := sd.Next(t, 10*time.Second)
		if got == "WATCHDOG=1" {
			continue
		}
		if !strings.HasPrefix(got, "STOPPING=1") {
			t.Errorf("got %q at shutdown; want STOPPING=1", got)
		}
		break
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
}
