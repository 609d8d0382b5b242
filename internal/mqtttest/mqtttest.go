// Package mqtttest starts real MQTT brokers for tests: a Mosquitto process
// on a free loopback port, stoppable and restartable on the same port with
// its persistence, and the embedded mochi-mqtt broker; and it reads what a
// broker retains (Retained).
//
// It must never touch a broker it did not start: no test assumes one is
// running. Without a mosquitto binary the test is skipped, except in CI
// (CI=true), where it fails.
package mqtttest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/waitfor"
)

// Mosquitto is a broker process owned by a test.
type Mosquitto struct {
	t    testing.TB
	Dir  string // config, persistence and log
	Port int
	conf string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Binary returns the path of mosquitto, skipping the test where it is
// absent outside CI.
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto is not installed; CI must install it (apt-get install -y mosquitto)")
	}
	t.Skip("mosquitto is not installed (apt-get install -y mosquitto); skipping the broker test")
	return ""
}

// StartMosquitto starts Mosquitto on a free loopback port with persistence
// in a temporary folder, unlimited queues for persistent sessions, and the
// extra configuration lines given (for ACLs and passwords, say). It is
// stopped when the test ends.
func StartMosquitto(t testing.TB, extra ...string) *Mosquitto {
	t.Helper()
	return StartMosquittoIn(t, t.TempDir(), extra...)
}

// StartMosquittoIn is StartMosquitto with its configuration, persistence
// and log in dir, an existing directory the test owns (on a file system
// of the test's choosing: a benchmark's broker on another disk than the
// door's store, say).
func StartMosquittoIn(t testing.TB, dir string, extra ...string) *Mosquitto {
	t.Helper()
	bin := Binary(t)
	m := &Mosquitto{t: t, Dir: dir, Port: FreePort(t)}
	anon := "allow_anonymous true"
	for _, e := range extra {
		if strings.HasPrefix(strings.TrimSpace(e), "allow_anonymous") {
			anon = ""
		}
	}
	m.conf = filepath.Join(m.Dir, "mosquitto.conf")
	user := ""
	if os.Geteuid() == 0 {
		// mosquitto started by root drops to the mosquitto user, which
		// cannot write to the test's temporary folder
		user = "user root"
	}
	conf := strings.Join(append([]string{
		user,
		fmt.Sprintf("listener %d 127.0.0.1", m.Port),
		anon,
		"persistence true",
		"persistence_location " + m.Dir + "/",
		"autosave_interval 1",
		"max_queued_messages 0",
		"max_inflight_messages 0",
		"log_dest file " + filepath.Join(m.Dir, "mosquitto.log"),
		"log_type error",
		"log_type warning",
		"log_type notice",
	}, extra...), "\n") + "\n"
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start(bin)
	t.Cleanup(m.Stop)
	return m
}

// URL is the broker's address for paho: tcp://127.0.0.1:PORT.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.Port) }

// Addr is host:port.
func (m *Mosquitto) Addr() string { return fmt.Sprintf("127.0.0.1:%d", m.Port) }

func (m *Mosquitto) start(bin string) {
	m.t.Helper()
	cmd := exec.Command(bin, "-c", m.conf)
	out, err := os.OpenFile(filepath.Join(m.Dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		m.t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("mosquitto: %v", err)
	}
	m.mu.Lock()
	m.cmd = cmd
	m.mu.Unlock()
	err = waitfor.Try(10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", m.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		m.t.Fatalf("mosquitto did not listen on %s: %v\n%s", m.Addr(), err, m.Log())
	}
}

// Pid is the broker process's id (0 when it is not running).
func (m *Mosquitto) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Stop ends the broker gracefully (SIGTERM), saving its persistence.
func (m *Mosquitto) Stop() { m.signal(syscall.SIGTERM) }

// Kill ends the broker at once (SIGKILL), as a power cut would.
func (m *Mosquitto) Kill() { m.signal(syscall.SIGKILL) }

func (m *Mosquitto) signal(sig syscall.Signal) {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the broker again on the same port with its persistence.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Stop()
	m.start(Binary(m.t))
}

// Start starts a stopped broker again.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.start(Binary(m.t))
}

// Log returns the broker's log so far.
func (m *Mosquitto) Log() string {
	f, err := os.Open(filepath.Join(m.Dir, "mosquitto.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}
