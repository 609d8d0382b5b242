package sim_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hardware"
	"github.com/kunci-project/kunci/hardware/sim"
)

// sink records what reaches the door, in order, and fails with err.
type sink struct {
	mu    sync.Mutex
	calls []string
	err   error
}

var _ hardware.Sink = (*sink)(nil)

func (s *sink) record(format string, a ...any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.calls = append(s.calls, fmt.Sprintf(format, a...))
	return nil
}

func (s *sink) Tap(ctx context.Context, reader string, uid []byte) error {
	return s.record("tap %s %x", reader, uid)
}
func (s *sink) SetDoor(ctx context.Context, open bool) error { return s.record("door %t", open) }
func (s *sink) SetRack(ctx context.Context, rack string, open bool) error {
	return s.record("rack %s %t", rack, open)
}
func (s *sink) ExitButton(ctx context.Context) error { return s.record("exit-button") }

func (s *sink) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

type rig struct {
	relay *sim.Relay
	sink  *sink
	sim   *sim.Sim
	h     http.Handler
}

func newRig(readers ...string) *rig {
	if readers == nil {
		readers = []string{"entry", "exit"}
	}
	r := &rig{relay: &sim.Relay{}, sink: &sink{}}
	r.sim = sim.New(r.relay, r.sink, nil, readers, []string{"R1", "R2"})
	r.h = r.sim.Handler()
	return r
}

// do sends one request and returns the status and the decoded answer.
func (r *rig) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := localRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	var ans map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, w.Body, err)
		}
	}
	if ct := w.Header().Get("Content-Type"); w.Body.Len() > 0 && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q; want application/json", method, path, ct)
	}
	return w.Code, ans
}

func (r *rig) state(t *testing.T) sim.State {
	t.Helper()
	req := localRequest("GET", "/sim/state", nil)
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /sim/state = %d %s", w.Code, w.Body)
	}
	var st sim.State
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, r.sim.State()) {
		t.Errorf("GET /sim/state = %+v; State() = %+v", st, r.sim.State())
	}
	return st
}

func TestValidRequestsReachTheSink(t *testing.T) {
	r := newRig()
	closed := sim.State{Relay: "locked", Door: "closed", Racks: map[string]string{"R1": "closed", "R2": "closed"}}
	if st := r.state(t); !reflect.DeepEqual(st, closed) {
		t.Fatalf("initial state = %+v; want %+v", st, closed)
	}
	steps := []struct {
		path, body string
		call       string
		state      sim.State
	}{
		{"/sim/tap", `{"reader":"entry","uid":"04A1B2C3D4E5F6"}`, "tap entry 04a1b2c3d4e5f6", closed},
		{"/sim/tap", `{"reader":"exit","uid":"0a0b0c0d"}`, "tap exit 0a0b0c0d", closed},
		{"/sim/door", `{"open":true}`, "door true",
			sim.State{Relay: "locked", Door: "open", Racks: map[string]string{"R1": "closed", "R2": "closed"}}},
		{"/sim/rack", `{"rack":"R2","open":true}`, "rack R2 true",
			sim.State{Relay: "locked", Door: "open", Racks: map[string]string{"R1": "closed", "R2": "open"}}},
		{"/sim/rack", ` { "open" : false , "rack" : "R2" } ` + "\n", "rack R2 false",
			sim.State{Relay: "locked", Door: "open", Racks: map[string]string{"R1": "closed", "R2": "closed"}}},
		{"/sim/door", `{"open":false}`, "door false", closed},
		{"/sim/exit-button", ``, "exit-button", closed},
	}
	for i, s := range steps {
		r.sink.reset()
		code, ans := r.do(t, "POST", s.path, s.body)
		if code != http.StatusOK {
			t.Fatalf("step %d: POST %s %s = %d %v; want 200", i, s.path, s.body, code, ans)
		}
		if got := r.sink.Calls(); !slices.Equal(got, []string{s.call}) {
			t.Errorf("step %d: POST %s %s reached the sink as %q; want %q", i, s.path, s.body, got, s.call)
		}
		if st := r.state(t); !reflect.DeepEqual(st, s.state) {
			t.Errorf("step %d: POST %s %s: state = %+v; want %+v", i, s.path, s.body, st, s.state)
		}
		// the answer is the state
		if ans["door"] != s.state.Door || ans["relay"] != s.state.Relay {
			t.Errorf("step %d: answer %v; want the state %+v", i, ans, s.state)
		}
	}
	if n := r.sim.BadRequests(); n != 0 {
		t.Errorf("sim_bad_requests = %d after valid requests; want 0", n)
	}
}

// Readers return 4-, 7- and 10-byte UIDs; people write them in any case,
// with or without separators.
func TestUIDsReachTheSinkUntruncated(t *testing.T) {
	for _, tc := range []struct{ uid, hex string }{
		{"0A0B0C0D", "0a0b0c0d"},
		{"0a:0b:0c:0d", "0a0b0c0d"},
		{"04A1B2C3D4E5F6", "04a1b2c3d4e5f6"},
		{"04:a1:B2:c3:D4:e5:F6", "04a1b2c3d4e5f6"},
		{"04-A1-B2-C3-D4-E5-F6", "04a1b2c3d4e5f6"},
		{"08112233445566778899", "08112233445566778899"},
		{"08:11:22:33:44:55:66:77:88:99", "08112233445566778899"},
		{"08:aa:BB:cc:DD:ee:FF:00:11:22", "08aabbccddeeff001122"},
	} {
		r := newRig()
		code, ans := r.do(t, "POST", "/sim/tap", `{"reader":"entry","uid":"`+tc.uid+`"}`)
		if code != http.StatusOK {
			t.Errorf("tap %q = %d %v; want 200", tc.uid, code, ans)
			continue
		}
		want := "tap entry " + tc.hex
		if got := r.sink.Calls(); !slices.Equal(got, []string{want}) {
			t.Errorf("tap %q reached the sink as %q; want %q", tc.uid, got, want)
		}
		b, _ := hex.DecodeString(tc.hex)
		if n := len(b); n != 4 && n != 7 && n != 10 {
			t.Fatalf("test case %q has %d bytes", tc.uid, n)
		}
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	const (
		tap  = "/sim/tap"
		door = "/sim/door"
		rack = "/sim/rack"
	)
	big := `{"reader":"entry","uid":"04A1B2C3","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, tc := range []struct {
		name, path, body string
		want             string // in the error message
		uid              string // digits that must not appear in the message
	}{
		{"malformed JSON", tap, `{"reader":"entry",`, "body", ""},
		{"not an object", tap, `["entry","04A1B2C3"]`, "body", ""},
		{"empty body", tap, ``, "body", ""},
		{"null body", tap, `null`, "want {", ""},
		{"unknown field", tap, `{"reader":"entry","uid":"04A1B2C3","card":"x"}`, `unknown field "card"`, ""},
		{"missing uid", tap, `{"reader":"entry"}`, "want {", ""},
		{"missing reader", tap, `{"uid":"04A1B2C3"}`, "want {", ""},
		{"null uid", tap, `{"reader":"entry","uid":null}`, "want {", ""},
		{"uid a number", tap, `{"reader":"entry","uid":4112}`, "cannot unmarshal number", ""},
		{"reader a bool", tap, `{"reader":true,"uid":"04A1B2C3"}`, "cannot unmarshal bool", ""},
		{"trailing object", tap, `{"reader":"entry","uid":"04A1B2C3"}{"reader":"entry","uid":"04A1B2C3"}`, "trailing data", ""},
		{"trailing garbage", tap, `{"reader":"entry","uid":"04A1B2C3"} x`, "trailing data", ""},
		{"body over MaxBody", tap, big, fmt.Sprintf("larger than %d bytes", sim.MaxBody), ""},
		{"key in upper case", tap, `{"READER":"entry","uid":"04A1B2C3"}`, `key "READER": no such field; keys are case-sensitive: "reader"`, ""},
		{"key twice", tap, `{"reader":"exit","reader":"entry","uid":"04A1B2C3"}`, `key "reader" appears twice`, ""},
		{"door key twice", door, `{"open":false,"open":true}`, `key "open" appears twice`, ""},
		{"unknown reader", tap, `{"reader":"side","uid":"04A1B2C3"}`, `reader "side"`, ""},
		{"reader in other case", tap, `{"reader":"Entry","uid":"04A1B2C3"}`, `reader "Entry"`, ""},
		{"non-hex uid", tap, `{"reader":"entry","uid":"04A1B2G3"}`, "not a hex digit", "04A1B2"},
		{"3-byte uid", tap, `{"reader":"entry","uid":"8877AA"}`, "3 bytes, want 4, 7 or 10", "8877"},
		{"5-byte uid", tap, `{"reader":"entry","uid":"8877AA5544"}`, "5 bytes, want 4, 7 or 10", "8877"},
		{"11-byte uid", tap, `{"reader":"entry","uid":"88:77:AA:55:44:33:22:11:99:66:BB"}`, "11 bytes, want 4, 7 or 10", "8877"},
		{"odd digits", tap, `{"reader":"entry","uid":"8877AA554"}`, "odd number of hex digits", "8877"},
		{"empty uid", tap, `{"reader":"entry","uid":""}`, "0 bytes", ""},
		{"long uid", tap, `{"reader":"entry","uid":"` + strings.Repeat("8877", 40) + `"}`, "at most 64", "8877"},
		{"door missing open", door, `{}`, `want {"open"`, ""},
		{"door open a string", door, `{"open":"yes"}`, "cannot unmarshal string", ""},
		{"door open a number", door, `{"open":1}`, "cannot unmarshal number", ""},
		{"door unknown field", door, `{"open":true,"door":"front"}`, `unknown field "door"`, ""},
		{"door trailing bracket", door, `{"open":true}]`, "trailing data", ""},
		{"door trailing brace", door, "{\"open\":true}\n}", "trailing data", ""},
		{"unknown rack", rack, `{"rack":"R9","open":true}`, `rack "R9": this door has [R1 R2]`, ""},
		{"rack missing name", rack, `{"open":true}`, `want {"rack"`, ""},
		{"rack missing open", rack, `{"rack":"R1"}`, `want {"rack"`, ""},
		{"rack a number", rack, `{"rack":1,"open":true}`, "cannot unmarshal number", ""},
		{"rack open a string", rack, `{"rack":"R1","open":"true"}`, "cannot unmarshal string", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig()
			// a state that is not the zero one, so a change would show
			for _, s := range []struct{ path, body string }{{door, `{"open":true}`}, {rack, `{"rack":"R1","open":true}`}} {
				if code, ans := r.do(t, "POST", s.path, s.body); code != http.StatusOK {
					t.Fatalf("setup %s = %d %v", s.path, code, ans)
				}
			}
			if err := r.relay.Unlock(); err != nil {
				t.Fatal(err)
			}
			r.sink.reset()
			before := r.state(t)

			code, ans := r.do(t, "POST", tc.path, tc.body)
			if code != http.StatusBadRequest {
				t.Errorf("POST %s = %d %v; want 400", tc.path, code, ans)
			}
			msg, _ := ans["error"].(string)
			if msg == "" {
				t.Errorf("answer %v has no error message", ans)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q; want it to contain %q", msg, tc.want)
			}
			if tc.uid != "" && (strings.Contains(strings.ToUpper(msg), tc.uid) || strings.Contains(msg, strings.ToLower(tc.uid))) {
				t.Errorf("error %q repeats the card's UID", msg)
			}
			if n := r.sim.BadRequests(); n != 1 {
				t.Errorf("sim_bad_requests = %d; want 1", n)
			}
			if calls := r.sink.Calls(); len(calls) != 0 {
				t.Errorf("a bad request reached the sink: %q", calls)
			}
			if after := r.state(t); !reflect.DeepEqual(after, before) {
				t.Errorf("state changed from %+v to %+v", before, after)
			}
			if len(msg) > 512 {
				t.Errorf("error is %d bytes; it must not echo the body", len(msg))
			}
		})
	}
}

// The body limit holds on the wire too: a client sending 1 MiB gets 400,
// not a server that reads it all.
func TestBodyOverMaxBodyOverHTTP(t *testing.T) {
	r := newRig()
	srv := httptest.NewServer(r.h)
	defer srv.Close()
	body := `{"reader":"entry","uid":"04A1B2C3","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	resp, err := http.Post(srv.URL+"/sim/tap", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST 1 MiB = %s; want 400", resp.Status)
	}
	if n := r.sim.BadRequests(); n != 1 {
		t.Errorf("sim_bad_requests = %d; want 1", n)
	}
	if calls := r.sink.Calls(); len(calls) != 0 {
		t.Errorf("reached the sink: %q", calls)
	}
}

// A door that cannot take the input (its store fails, it stopped) answers
// 503: the request was fine, and the state stays what the door knows.
func TestSinkErrorIs503(t *testing.T) {
	for _, tc := range []struct{ path, body string }{
		{"/sim/tap", `{"reader":"entry","uid":"04A1B2C3"}`},
		{"/sim/door", `{"open":true}`},
		{"/sim/rack", `{"rack":"R1","open":true}`},
		{"/sim/exit-button", ``},
	} {
		r := newRig()
		r.sink.err = errors.New("store: disk full")
		before := r.state(t)
		code, ans := r.do(t, "POST", tc.path, tc.body)
		if code != http.StatusServiceUnavailable {
			t.Errorf("POST %s with a failing sink = %d %v; want 503", tc.path, code, ans)
		}
		if msg, _ := ans["error"].(string); !strings.Contains(msg, "disk full") {
			t.Errorf("POST %s: error %q; want the sink's error", tc.path, msg)
		}
		if after := r.state(t); !reflect.DeepEqual(after, before) {
			t.Errorf("POST %s: state changed from %+v to %+v", tc.path, before, after)
		}
		if n := r.sim.BadRequests(); n != 0 {
			t.Errorf("POST %s: sim_bad_requests = %d; a sink error is not a bad request", tc.path, n)
		}
	}
}

func TestOnlyEntryReader(t *testing.T) {
	r := newRig("entry")
	code, ans := r.do(t, "POST", "/sim/tap", `{"reader":"exit","uid":"04A1B2C3"}`)
	if code != http.StatusBadRequest {
		t.Errorf("tap on a reader the door lacks = %d %v; want 400", code, ans)
	}
	if msg, _ := ans["error"].(string); !strings.Contains(msg, "this door has [entry]") {
		t.Errorf("error %q; want it to name the door's readers", msg)
	}
}

func TestMethods(t *testing.T) {
	r := newRig()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/sim/tap"}, {"GET", "/sim/door"}, {"POST", "/sim/state"}, {"DELETE", "/sim/rack"},
	} {
		req := localRequest(tc.method, tc.path, strings.NewReader(`{"open":true}`))
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d; want 405", tc.method, tc.path, w.Code)
		}
	}
	if calls := r.sink.Calls(); len(calls) != 0 {
		t.Errorf("reached the sink: %q", calls)
	}
}

func TestRelay(t *testing.T) {
	r := &sim.Relay{}
	if r.String() != "sim-relay" {
		t.Errorf("String() = %q", r.String())
	}
	check := func(step string, unlocked bool, moves int) {
		t.Helper()
		if r.Unlocked() != unlocked || r.Moves() != moves {
			t.Errorf("after %s: unlocked %t, moves %d; want %t, %d", step, r.Unlocked(), r.Moves(), unlocked, moves)
		}
	}
	check("start", false, 0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.Lock())
	check("Lock when locked", false, 0)
	must(r.Unlock())
	check("Unlock", true, 1)
	must(r.Unlock())
	check("Unlock again", true, 1)
	must(r.Lock())
	check("Lock", false, 2)
	must(r.Unlock())
	must(r.Halt())
	check("Halt when unlocked", false, 4)
	must(r.Halt())
	check("Halt when locked", false, 4)

	s := sim.New(r, &sink{}, nil, []string{"entry"}, nil)
	if st := s.State(); st.Relay != "locked" || len(st.Racks) != 0 {
		t.Errorf("State() = %+v; want locked, no racks", st)
	}
	must(r.Unlock())
	if st := s.State(); st.Relay != "unlocked" {
		t.Errorf("State() after Unlock = %+v; want unlocked", st)
	}
}

func TestRacksSorted(t *testing.T) {
	s := sim.New(&sim.Relay{}, &sink{}, nil, []string{"entry"}, []string{"R3", "R1", "R2"})
	if got := s.Racks(); !slices.Equal(got, []string{"R1", "R2", "R3"}) {
		t.Errorf("Racks() = %v; want sorted", got)
	}
}

// Requests from several clients at once: run with -race.
func TestConcurrentRequests(t *testing.T) {
	r := newRig()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				var path, body string
				switch (i + j) % 4 {
				case 0:
					path, body = "/sim/tap", `{"reader":"entry","uid":"04A1B2C3"}`
				case 1:
					path, body = "/sim/door", fmt.Sprintf(`{"open":%t}`, j%2 == 0)
				case 2:
					path, body = "/sim/rack", fmt.Sprintf(`{"rack":"R%d","open":%t}`, 1+j%2, j%3 == 0)
				default:
					path, body = "/sim/tap", `{"reader":"entry","uid":"04"}`
				}
				req := localRequest("POST", path, strings.NewReader(body))
				r.h.ServeHTTP(httptest.NewRecorder(), req)
				_ = r.sim.State()
				_ = r.relay.Unlock()
				_ = r.relay.Lock()
			}
		})
	}
	wg.Wait()
	if n := r.sim.BadRequests(); n != 40 {
		t.Errorf("sim_bad_requests = %d; want 40", n)
	}
	if n := len(r.sink.Calls()); n != 120 {
		t.Errorf("%d calls reached the sink; want 120", n)
	}
}

func TestReport(t *testing.T) {
	sk := &sink{}
	s := sim.New(&sim.Relay{}, sk, nil, []string{"entry"}, []string{"R2", "R1"})
	if err := s.Report(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := sk.Calls(), []string{"door false", "rack R1 false", "rack R2 false"}; !slices.Equal(got, want) {
		t.Errorf("Report told the sink %v; want %v", got, want)
	}
	sk.err = errors.New("store closed")
	if err := s.Report(context.Background()); err == nil {
		t.Error("Report with a failing sink = nil error")
	}
}

// localRequest is a request as curl sends it on the door's own host: from
// and to loopback, a JSON body.
func localRequest(method, path string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, "http://127.0.0.1:8081"+path, body)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/json")
	return req
}

// What a web page in the operator's browser, or anyone off loopback, can
// send to the simulator is refused and counted, and reaches no input:
// a form's text/plain or urlencoded body, no Content-Type, another host
// name (DNS rebinding), another address.
func TestSimulatorGuard(t *testing.T) {
	r := newRig()
	for _, tc := range []struct {
		name   string
		mod    func(*http.Request)
		status int
	}{
		{"form post", func(q *http.Request) { q.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, 415},
		{"text/plain", func(q *http.Request) { q.Header.Set("Content-Type", "text/plain") }, 415},
		{"no content type", func(q *http.Request) { q.Header.Del("Content-Type") }, 415},
		{"json lookalike", func(q *http.Request) { q.Header.Set("Content-Type", "application/jsonp") }, 415},
		{"rebound host", func(q *http.Request) { q.Host = "evil.example:8081" }, 403},
		{"off loopback", func(q *http.Request) { q.RemoteAddr = "192.168.1.20:51000" }, 403},
		{"v4-mapped off loopback", func(q *http.Request) { q.RemoteAddr = "[::ffff:192.168.1.20]:51000" }, 403},
	} {
		for _, path := range []string{"/sim/tap", "/sim/door", "/sim/exit-button"} {
			body := map[string]string{"/sim/tap": `{"reader":"entry","uid":"04A1B2C3D4E5F6"}`, "/sim/door": `{"open":true}`}[path]
			req := localRequest("POST", path, strings.NewReader(body))
			tc.mod(req)
			w := httptest.NewRecorder()
			r.h.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Errorf("%s %s = %d %s; want %d", tc.name, path, w.Code, w.Body, tc.status)
			}
		}
	}
	if got := r.sim.Refused(); got != 21 {
		t.Errorf("refused = %d; want 21", got)
	}
	if calls := r.sink.Calls(); len(calls) != 0 {
		t.Errorf("refused requests reached the door: %v", calls)
	}
	// what curl sends on the door's host passes, by name or address, with
	// a charset
	for _, host := range []string{"localhost:8081", "127.0.0.1:8081", "[::1]:8081", "LOCALHOST"} {
		req := localRequest("POST", "/sim/door", strings.NewReader(`{"open":false}`))
		req.Host = host
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Errorf("host %s = %d %s; want 200", host, w.Code, w.Body)
		}
	}
}

// A card held on the reader, read again and again as a PN532 polls it,
// is one tap through the reader loop's de-duplication, however long it is
// held (here past nfc.DefaultAbsent); the request answers once the card is
// taken away. A hold that is no duration, or too long, is refused.
func TestHeldCardIsOneTap(t *testing.T) {
	r := newRig()
	start := time.Now()
	code, body := r.do(t, "POST", "/sim/tap", `{"reader":"entry","uid":"04A1B2C3D4E5F6","hold":"1500ms"}`)
	if code != http.StatusOK {
		t.Fatalf("held tap = %d %s", code, body)
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("the held tap answered after %v; want once the card was taken away, after 1.5 s", took)
	}
	if calls := r.sink.Calls(); !slices.Equal(calls, []string{"tap entry 04a1b2c3d4e5f6"}) {
		t.Errorf("sink calls %q; want one tap", calls)
	}
	// held again: a new presentation, a new tap
	if code, body := r.do(t, "POST", "/sim/tap", `{"reader":"entry","uid":"04A1B2C3D4E5F6","hold":"100ms"}`); code != http.StatusOK {
		t.Fatalf("held tap = %d %s", code, body)
	}
	if n := len(r.sink.Calls()); n != 2 {
		t.Errorf("%d sink calls after the second hold; want 2", n)
	}
	for _, hold := range []string{`"soon"`, `"0s"`, `"-1s"`, `"31s"`, `10`} {
		if code, _ := r.do(t, "POST", "/sim/tap", `{"reader":"entry","uid":"04A1B2C3D4E5F6","hold":`+hold+`}`); code != http.StatusBadRequest {
			t.Errorf("hold %s = %d; want 400", hold, code)
		}
	}
	if n := len(r.sink.Calls()); n != 2 {
		t.Errorf("refused holds reached the sink: %d calls", n)
	}
}
