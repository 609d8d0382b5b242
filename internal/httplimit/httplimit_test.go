package httplimit_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/metrics"
)

// guard bounds every read of the tests: a hang on today's code is a
// failure, not a stuck run. It is no measure of speed.
const guard = 10 * time.Second

// dialFrom connects to addr from the loopback address from (127.0.0.2 is
// a client of its own).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: guard}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused reports whether the server closed c without a byte.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(guard))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return n == 0 && err != nil
}

func sample(reg *metrics.Registry, line string) bool {
	return strings.Contains(string(reg.Text()), line+"\n")
}

// The listener holds at most MaxConnsPerClient from one address and
// MaxConns in all; the others are closed as they come, counted by reason,
// and a place given back takes the next one.
func TestListenerLimits(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	l := httplimit.NewListener(raw, httplimit.Limits{MaxConns: 3, MaxConnsPerClient: 2}, reg)
	defer l.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	take := func(what string) net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(guard):
			t.Fatalf("%s: not accepted", what)
			return nil
		}
	}
	dialFrom(t, "127.0.0.1", addr)
	take("first of 127.0.0.1")
	dialFrom(t, "127.0.0.1", addr)
	a2 := take("second of 127.0.0.1")
	third := dialFrom(t, "127.0.0.1", addr)
	if !refused(t, third) {
		t.Errorf("a third connection of 127.0.0.1 was not closed; want it refused (2 per client)")
	}
	dialFrom(t, "127.0.0.2", addr)
	take("127.0.0.2's")
	fourth := dialFrom(t, "127.0.0.3", addr)
	if !refused(t, fourth) {
		t.Errorf("a fourth connection was not closed; want it refused (3 in all)")
	}
	if all, one := l.Open(netipOf(t, "127.0.0.1")); all != 3 || one != 2 {
		t.Errorf("Open = %d, %d from 127.0.0.1; want 3, 2", all, one)
	}
	a2.Close()
	a2.Close() // a place is given back once
	dialFrom(t, "127.0.0.1", addr)
	take("127.0.0.1's once one closed")
	for _, want := range []string{`kunci_http_connections_refused_total{reason="client"} 1`,
		`kunci_http_connections_refused_total{reason="full"} 1`, "kunci_http_connections_open 3"} {
		if !sample(reg, want) {
			t.Errorf("metrics lack %q:\n%s", want, reg.Text())
		}
	}
}

// serve serves h with Deadline(d) on a real listener.
func serve(t *testing.T, h http.Handler, d time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httplimit.Deadline(h, d), ReadHeaderTimeout: guard}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// answer sends req on a new connection and reads the status line, or
// fails the test when none comes within guard.
func answer(t *testing.T, addr, req string) string {
	t.Helper()
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(guard))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%q: no answer: %v; want one once the body deadline passed", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	return strings.TrimSpace(line)
}

// A request that announces a body and sends none is answered once the
// deadline passed: by a handler that never reads it, and by one that
// does (it reads os.ErrDeadlineExceeded). A request without a body
// streams past the deadline.
func TestDeadline(t *testing.T) {
	const d = 50 * time.Millisecond
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /read", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	slow := make(chan struct{})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select { // past the deadline: until a slow body was refused
		case <-slow:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "still here\n")
	})
	addr := serve(t, mux, d)

	if got := answer(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"); got != "HTTP/1.1 200 OK" {
		t.Errorf("GET /healthz with a body that never comes = %q; want 200", got)
	}

	st := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(st, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	st.SetReadDeadline(time.Now().Add(guard))
	br := bufio.NewReader(st)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("GET /stream = %q, %v", line, err)
	}
	// began after the stream: once it is refused, the stream's deadline,
	// were there one, has passed too
	if got := answer(t, addr, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"); got != "HTTP/1.1 408 Request Timeout" {
		t.Errorf("POST with a body cut short = %q; want 408", got)
	}
	close(slow)
	var rest strings.Builder
	for !strings.Contains(rest.String(), "still here") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended after the body deadline (%v), having sent %q; want it open", err, rest.String())
		}
		rest.WriteString(line)
	}
	if got := answer(t, addr, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"); got != "HTTP/1.1 200 OK" {
		t.Errorf("POST with its whole body = %q; want 200", got)
	}
}

func netipOf(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
