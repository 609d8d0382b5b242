package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// guard bounds the waits below, so that a stream that never ends fails
// the test instead of hanging it; it is no measure of speed.
const guard = 10 * time.Second

// openWatch opens GET /api/watch with token and returns its answer.
func openWatch(t *testing.T, e *hubtest.Env, token string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.Server.URL+"/api/watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// ends reports whether the stream r ends within guard, reading what it
// sends (its beats, the doors' changes) meanwhile.
func ends(t *testing.T, body io.Reader) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(io.Discard, body)
	}()
	select {
	case <-done:
		return true
	case <-time.After(guard):
		return false
	}
}

// A watch stream ends when its token is revoked, and when it expires; a
// stream of another token stays (issue 13: a revoked token's stream kept
// receiving events).
func TestWatchEndsWithItsToken(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	tok, info, err := e.Tokens.Issue("auditor", []auth.Role{auth.Viewer}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	other := openWatch(t, e, e.Token(t, "other", auth.Viewer))
	revoked := openWatch(t, e, tok)
	if revoked.StatusCode != http.StatusOK || other.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/watch = %s, %s", revoked.Status, other.Status)
	}
	br := bufio.NewReader(revoked.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, `"state"`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	if code, body := e.Do(t, e.Admin, "DELETE", "/api/tokens/"+info.ID, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE /api/tokens/%s = %d %s", info.ID, code, body)
	}
	if !ends(t, br) {
		t.Errorf("the watch stream of a revoked token still open %s after the revocation; want it ended", guard)
	}
	// the other stream is open: it takes the next change
	e.Status(t, wire.Status{Door: "open", Lock: "unlocked"})
	ob := bufio.NewReader(other.Body)
	for {
		line, err := ob.ReadString('\n')
		if err != nil {
			t.Fatalf("another token's stream ended: %v", err)
		}
		if strings.Contains(line, `"kind":"status"`) {
			break
		}
	}

	// a token that expires while its stream is open; 3 s ahead, so that
	// the stream surely opens before
	soon, _, err := e.Tokens.Issue("visitor", []auth.Role{auth.Viewer}, time.Now().Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	expiring := openWatch(t, e, soon)
	if expiring.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/watch = %s", expiring.Status)
	}
	if !ends(t, expiring.Body) {
		t.Errorf("the watch stream of an expired token still open; want it ended at the expiry")
	}
	if m := metricsText(t, e); !strings.Contains(m, "kunci_hub_api_watch_ended_total 2\n") {
		t.Errorf("metrics: want 2 streams ended by their token:\n%s", m)
	}
}

func metricsText(t *testing.T, e *hubtest.Env) string {
	t.Helper()
	return string(e.Hub.Metrics().Text())
}

// At most MaxWatchers streams are open: one more is answered 503 with a
// message and Retry-After, counted; once one ends, a new one opens.
func TestWatchersCapped(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{MaxWatchers: 2})
	first := openWatch(t, e, e.Admin)
	openWatch(t, e, e.Admin)
	third := openWatch(t, e, e.Admin)
	if third.StatusCode != http.StatusServiceUnavailable { // a stream: not read to its end
		t.Errorf("a third watch = %s; want 503", third.Status)
	} else if body, _ := io.ReadAll(third.Body); !strings.Contains(string(body), "too many watch streams are open (2, the hub's max_watchers)") ||
		third.Header.Get("Retry-After") == "" {
		t.Errorf("a third watch = %s %s, Retry-After %q; want the cap named, and when to try again", third.Status, body, third.Header.Get("Retry-After"))
	}
	if m := metricsText(t, e); !strings.Contains(m, "kunci_hub_watchers_refused_total 1\n") || !strings.Contains(m, "kunci_hub_watchers 2\n") {
		t.Errorf("metrics: want one refused, two open:\n%s", m)
	}
	first.Body.Close()
	waitfor.Until(t, guard, "the closed stream's watcher gone", func() bool {
		return strings.Contains(metricsText(t, e), "kunci_hub_watchers 1\n")
	})
	if again := openWatch(t, e, e.Admin); again.StatusCode != http.StatusOK {
		t.Errorf("a watch once one closed = %s; want 200", again.Status)
	}
}

// A caller that opens a watch and never reads is dropped, counted, while
// the hub goes on publishing: the stream's writes have a deadline, and
// nothing it missed waits for it (issue 13: 1,000 such watchers held
// 260 MB during a flood).
func TestWatcherThatDoesNotReadIsDropped(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{WatchWrite: 50 * time.Millisecond})
	d := net.Dialer{Timeout: guard, Control: func(_, _ string, c syscall.RawConn) error {
		// a small window: the hub's writes block soon
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(e.Server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/watch HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n\r\n", e.Admin)
	conn.SetReadDeadline(time.Now().Add(guard))
	if line, err := bufio.NewReaderSize(conn, 64).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("GET /api/watch = %q, %v", line, err)
	}
	// and not a byte more is read: the hub publishes until it gives up
	racks := map[string]string{}
	for i := range 50 {
		racks[fmt.Sprintf("R%02d", i)] = "closed"
	}
	n := 0
	waitfor.Until(t, guard, "the watcher that does not read dropped", func() bool {
		for range 200 {
			n++
			e.Status(t, wire.Status{Door: "closed", Lock: "locked", Racks: racks, Seq: uint64(n)})
		}
		return strings.Contains(metricsText(t, e), "kunci_hub_api_watch_dropped_total 1\n")
	})
	waitfor.Until(t, guard, "its watcher gone from the hub", func() bool {
		return strings.Contains(metricsText(t, e), "kunci_hub_watchers 0\n")
	})
	t.Logf("dropped after %d updates", n)
}
