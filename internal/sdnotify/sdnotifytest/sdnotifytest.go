package sdnotifytest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Systemd is the receiving end of $NOTIFY_SOCKET.
type Systemd struct {
	conn *net.UnixConn
	// Addr is the socket's name, the value for NOTIFY_SOCKET.
	Addr string
}

// Listen opens the socket addr (a path, or a name starting with '@' for
// an abstract socket) until the test ends.
func Listen(t testing.TB, addr string) *Systemd {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Systemd{conn: c, Addr: addr}
}

// Next returns the next message, or "" when none comes within d.
func (s *Systemd) Next(t testing.TB, d time.Duration) string {
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
