package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// systemd is the receiving end of $NOTIFY_SOCKET: a real unixgram socket.
type systemd struct {
	conn *net.UnixConn
	addr string
}

func listenNotify(t *testing.T, addr string) *systemd {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &systemd{conn: c, addr: addr}
}

// next returns the next message, or "" when none comes within d.
func (s *systemd) next(t *testing.T, d time.Duration) string {
	t.Helper()
	if err := s.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	n, err := s.conn.Read(b)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return string(b[:n])
}

// kunci agent under systemd's Type=notify: READY=1 once the door takes
// input, WATCHDOG=1 while it runs, STOPPING=1 at shutdown.
func TestAgentNotifiesSystemd(t *testing.T) {
	sd := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	t.Setenv("NOTIFY_SOCKET", sd.addr)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	k := makeKeys(t)
	cfg := writeAgentConfig(t, k, "127.0.0.1:0", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"agent", "--config", cfg}, &syncBuffer{}, stderr) }()

	got := sd.next(t, 20*time.Second)
	if !strings.HasPrefix(got, "READY=1\nSTATUS=door demo/server-room ready, local API on 127.0.0.1:") {
		t.Fatalf("first message %q; want READY=1 with the status\nstderr:\n%s", got, stderr)
	}
	if !strings.Contains(stderr.String(), `msg="door ready"`) {
		t.Errorf("READY=1 came before the door was ready:\n%s", stderr)
	}
	for range 2 {
		if got := sd.next(t, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q; want WATCHDOG=1", got)
		}
	}
	cancel()
	for {
		got := sd.next(t, 10*time.Second)
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
