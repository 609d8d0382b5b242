package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// guard bounds every wait of these tests, so that today's code fails
// instead of hanging; it is no measure of speed.
const guard = 10 * time.Second

// opened is a hub opened on a real broker, with a viewer's and a
// requester's token, and a loopback listener to serve it on.
type opened struct {
	h     *server.Server
	s     server.Setup
	token string // a viewer's
	desk  string // a requester's
	l     net.Listener
}

func openHub(t *testing.T, lim httplimit.Limits) opened { return openHubEvents(t, lim, "") }

// openHubEvents is openHub with the events in events (a PostgreSQL DSN);
// "": a bbolt file beside the workflow's.
func openHubEvents(t *testing.T, lim httplimit.Limits, events string) opened {
	t.Helper()
	broker := mqtttest.StartMochi(t)
	dir := t.TempDir()
	if events == "" {
		events = filepath.Join(dir, "hub-events.db")
	}
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	s := server.Setup{Store: filepath.Join(dir, "hub.db"), EventsStore: events,
		Signer: signer, SiteKeys: map[string]permit.SiteKey{"demo": bytes.Repeat([]byte{2}, permit.SiteKeySize)},
		Doors: []hub.DoorName{{Site: demo.Site, Door: demo.Door}}, HTTP: lim,
		Link: mqttlink.Options{Broker: broker, ClientID: "test-hub"}, OnlyDoors: true}
	h, err := server.Open(s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	o := opened{h: h, s: s}
	if o.token, _, err = h.Tokens().Issue("auditor", []auth.Role{auth.Viewer}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if o.desk, _, err = h.Tokens().Issue("desk", []auth.Role{auth.Requester}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if o.l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return o
}

// served is a hub served by Serve on a loopback listener, as kunci hub
// runs it, until the test ends.
type served struct {
	h     *server.Server
	addr  string
	token string // a viewer's
	desk  string // a requester's
}

func serveHub(t *testing.T, lim httplimit.Limits) *served {
	t.Helper()
	o := openHub(t, lim)
	ctx, cancel := context.WithCancel(context.Background())
	g := lifecycle.New(ctx, lifecycle.Options{})
	o.h.Start(g)
	o.h.Serve(g, o.l, "", "")
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
	})
	return &served{h: o.h, addr: o.l.Addr().String(), token: o.token, desk: o.desk}
}

// dial connects from the loopback address from: 127.0.0.2 is another
// client than 127.0.0.1.
func (s *served) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: guard}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(guard))
	return c
}

// send writes req on c and returns the reader of the answer and its
// status line ("" and the error when none came).
func send(t *testing.T, c net.Conn, req string) (*bufio.Reader, string, error) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	return br, strings.TrimSpace(line), err
}

// watch opens GET /api/watch on c and reads its head and first line.
func (s *served) watch(t *testing.T, c net.Conn) *bufio.Reader {
	t.Helper()
	br, status, err := send(t, c, "GET /api/watch HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer "+s.token+"\r\n\r\n")
	if err != nil || status != "HTTP/1.1 200 OK" {
		t.Fatalf("GET /api/watch = %q, %v", status, err)
	}
	for { // to the end of the head
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			return br
		}
	}
}

func (s *served) metrics(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	// from an address of its own: 127.0.0.1 may be at its limit
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: guard}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: guard}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A request that announces a body it never sends is answered once the
// body deadline passed, on every route and without a token; a watch
// stream opened before it is still open after it and takes the next
// change (issue 13: such requests were never answered, and 20,000 of
// them took every file descriptor).
func TestSlowBodyAnswered(t *testing.T) {
	s := serveHub(t, httplimit.Limits{BodyTimeout: 100 * time.Millisecond})
	stream := s.watch(t, s.dial(t, "127.0.0.1"))
	for _, c := range []struct{ req, want string }{
		{"GET /healthz HTTP/1.1\r\nHost: hub\r\nContent-Length: 100000\r\n\r\n", "HTTP/1.1 200 OK"},
		{"POST /api/permits HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", "HTTP/1.1 401 Unauthorized"},
		{"POST /api/permits HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer " + s.desk +
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", "HTTP/1.1 408 Request Timeout"},
		{"POST /masuk HTTP/1.1\r\nHost: hub\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n", ""},
	} {
		head := strings.SplitN(c.req, "\r\n", 2)[0]
		_, status, err := send(t, s.dial(t, "127.0.0.1"), c.req)
		switch {
		case err != nil && !isClosed(err):
			t.Errorf("%s with a body that never comes: %v; want an answer, or the connection closed, once the body deadline passed", head, err)
		case c.want != "" && status != c.want:
			t.Errorf("%s with a body that never comes = %q, %v; want %q", head, status, err, c.want)
		}
	}
	// the deadlines of the requests above have passed: the stream's, were
	// it given one, too
	s.h.Hub().Handle(mqttlink.Message{Topic: demo.Availability(), Payload: []byte("online")})
	for {
		line, err := stream.ReadString('\n')
		if err != nil {
			t.Fatalf("the watch stream ended after the body deadline: %v; want it open", err)
		}
		if strings.Contains(line, `"availability"`) {
			break
		}
	}
}

// isClosed reports whether err is the server closing the connection, not
// the test's guard running out.
func isClosed(err error) bool {
	var ne net.Error
	return err != nil && !(errorsAs(err, &ne) && ne.Timeout())
}

// One client holds at most max_connections_per_client connections: one
// more is closed as it comes, counted, while another client's /healthz is
// answered.
func TestConnectionsPerClient(t *testing.T) {
	const perClient = 3
	s := serveHub(t, httplimit.Limits{MaxConnsPerClient: perClient})
	for range perClient { // held open: each a watch stream
		s.watch(t, s.dial(t, "127.0.0.1"))
	}
	for i := range 2 {
		_, status, err := send(t, s.dial(t, "127.0.0.1"), "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
		if err == nil || !isClosed(err) {
			t.Errorf("connection %d beyond %d of 127.0.0.1: GET /healthz = %q, %v; want the connection closed", i+1, perClient, status, err)
		}
	}
	_, status, err := send(t, s.dial(t, "127.0.0.2"), "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
	if err != nil || status != "HTTP/1.1 200 OK" {
		t.Errorf("another client's GET /healthz = %q, %v; want 200", status, err)
	}
	if m := s.metrics(t); !strings.Contains(m, `kunci_http_connections_refused_total{reason="client"} 2`+"\n") {
		t.Errorf("metrics: want 2 connections refused for the client:\n%s", grepLines(m, "kunci_http_"))
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			fmt.Fprint(&b, line)
		}
	}
	return b.String()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
