package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hardware"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/internal/httpjson"
	"github.com/kunci-project/kunci/internal/loopback"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/sleep"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/strictjson"
)

// Relay is a simulated relay: it remembers whether it is unlocked and
// counts its movements.
type Relay struct {
	mu       sync.Mutex
	unlocked bool
	moves    int
	halted   bool
}

// Lock engages the lock.
func (r *Relay) Lock() error { r.set(false); return nil }

// Unlock releases the lock.
func (r *Relay) Unlock() error { r.set(true); return nil }

// Halt puts the relay in its safe state: locked.
func (r *Relay) Halt() error {
	r.set(false)
	r.mu.Lock()
	r.halted = true
	r.mu.Unlock()
	return nil
}

func (r *Relay) String() string { return "sim-relay" }

func (r *Relay) set(unlocked bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unlocked != unlocked {
		r.moves++
	}
	r.unlocked = unlocked
}

// Unlocked reports the relay's state.
func (r *Relay) Unlocked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unlocked
}

// Moves returns how often the relay changed state.
func (r *Relay) Moves() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.moves
}

// Sim is the simulated door's sensors and its HTTP control.
type Sim struct {
	relay   *Relay
	sink    hardware.Sink
	bad     *metrics.Counter // requests refused as malformed
	refused *metrics.Counter // requests refused for where they came from or their Content-Type
	readers []string

	// inputMu orders inputs: the door sees them, and the simulator's own
	// state changes, in the same order
	inputMu sync.Mutex
	mu      sync.Mutex
	door    bool
	racks   map[string]bool
}

// New returns a simulator for a door with the given readers and racks.
// Its metrics go on reg (the agent's); nil: a registry of its own.
func New(relay *Relay, sink hardware.Sink, reg *metrics.Registry, readers, racks []string) *Sim {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	s := &Sim{relay: relay, sink: sink, readers: readers, racks: map[string]bool{},
		bad: reg.Counter("kunci_agent_sim_bad_requests_total", "Requests of the simulator's HTTP API refused as malformed."),
		refused: reg.Counter("kunci_agent_sim_refused_total",
			"Requests of the simulator refused: from off loopback, for another host name, or a POST without Content-Type application/json.")}
	for _, r := range racks {
		s.racks[r] = false
	}
	return s
}

// MaxHold is the longest a card may be held on a simulated reader in one
// request, which answers once the card is taken away.
const MaxHold = 30 * time.Second

// holdPoll is how often a simulated reader finds a held card again, as a
// PN532 polling its field does.
const holdPoll = 50 * time.Millisecond

// holdCard holds the card uid on the reader for hold, read again and again
// through the real reader loop (hardware/nfc.Run) and its de-duplication:
// a card held for 10 s is one tap, as at a real door.
func (s *Sim) holdCard(ctx context.Context, reader string, uid []byte, hold time.Duration) error {
	held, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	t := &heldTapper{ctx: ctx, sink: s.sink}
	// the taps go to the door under the request's context: the end of the
	// hold must not cut short a tap being stored
	if err := nfc.Run(held, &heldCard{uid: uid}, reader, t, nil); err != nil {
		return err
	}
	return t.err
}

// heldCard is a reader with one card on it until its context ends.
type heldCard struct {
	uid   []byte
	reads int
}

func (h *heldCard) ReadUID(ctx context.Context) ([]byte, error) {
	if h.reads > 0 && !sleep.For(ctx, holdPoll) {
		return nil, ctx.Err()
	}
	h.reads++
	return bytes.Clone(h.uid), nil
}

func (h *heldCard) String() string { return "sim-reader (card held)" }
func (h *heldCard) Halt() error    { return nil }

// heldTapper passes the reader loop's taps to the door under ctx and keeps
// the first error.
type heldTapper struct {
	ctx  context.Context
	sink hardware.Sink
	err  error
}

func (t *heldTapper) Tap(_ context.Context, reader string, uid []byte) error {
	err := t.sink.Tap(t.ctx, reader, uid)
	if err != nil && t.err == nil {
		t.err = err
	}
	return err
}

// MaxBody bounds a simulator request.
const MaxBody = 4 << 10

// State is the answer of GET /sim/state.
type State struct {
	Relay string            `json:"relay"`
	Door  string            `json:"door"`
	Racks map[string]string `json:"racks"`
}

// State returns the simulated hardware's state.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{Relay: "locked", Door: openClosed(s.door), Racks: map[string]string{}}
	if s.relay.Unlocked() {
		st.Relay = "unlocked"
	}
	for r, open := range s.racks {
		st.Racks[r] = openClosed(open)
	}
	return st
}

func openClosed(open bool) string {
	if open {
		return "open"
	}
	return "closed"
}

type badRequest struct{ error }

// decode reads a small JSON body into v, refusing unknown fields, extra
// data and bodies over MaxBody.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return badRequest{fmt.Errorf("read body: %w", err)}
	}
	if len(body) > MaxBody {
		return badRequest{fmt.Errorf("body larger than %d bytes", MaxBody)}
	}
	if err := strictjson.Check(body, v); err != nil {
		return badRequest{fmt.Errorf("body: %w", err)}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest{fmt.Errorf("body: %w", err)}
	}
	// not dec.More, which misses a stray ']' or '}'
	if len(strings.TrimLeft(string(body[dec.InputOffset():]), " \t\r\n")) != 0 {
		return badRequest{errors.New("body: trailing data after the JSON object")}
	}
	return nil
}

// Handler serves /sim/....
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sim/tap", s.handle(func(ctx context.Context, r *http.Request) error {
		var req struct {
			Reader *string `json:"reader"`
			UID    *string `json:"uid"`
			Hold   *string `json:"hold"` // a card left on the reader, such as "10s"
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Reader == nil || req.UID == nil {
			return badRequest{errors.New(`body: want {"reader":"entry"|"exit","uid":"04A1B2C3D4E5F6"} and, for a card held on the reader, "hold":"10s"`)}
		}
		if !slices.Contains(s.readers, *req.Reader) {
			return badRequest{fmt.Errorf("reader %q: this door has %v", *req.Reader, s.readers)}
		}
		uid, err := permit.ParseUID(*req.UID)
		if err != nil {
			return badRequest{err}
		}
		if req.Hold == nil {
			return s.sink.Tap(ctx, *req.Reader, uid)
		}
		hold, err := time.ParseDuration(*req.Hold)
		if err != nil || hold <= 0 || hold > MaxHold {
			return badRequest{fmt.Errorf("hold %q: want a duration up to %v, such as \"10s\"", *req.Hold, MaxHold)}
		}
		return s.holdCard(ctx, *req.Reader, uid, hold)
	}))
	mux.HandleFunc("POST /sim/door", s.handle(func(ctx context.Context, r *http.Request) error {
		var req struct {
			Open *bool `json:"open"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Open == nil {
			return badRequest{errors.New(`body: want {"open":true|false}`)}
		}
		s.inputMu.Lock()
		defer s.inputMu.Unlock()
		if err := s.sink.SetDoor(ctx, *req.Open); err != nil {
			return err
		}
		s.mu.Lock()
		s.door = *req.Open
		s.mu.Unlock()
		return nil
	}))
	mux.HandleFunc("POST /sim/rack", s.handle(func(ctx context.Context, r *http.Request) error {
		var req struct {
			Rack *string `json:"rack"`
			Open *bool   `json:"open"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Rack == nil || req.Open == nil {
			return badRequest{errors.New(`body: want {"rack":"R1","open":true|false}`)}
		}
		s.mu.Lock()
		_, known := s.racks[*req.Rack]
		s.mu.Unlock()
		if !known {
			return badRequest{fmt.Errorf("rack %q: this door has %v", *req.Rack, s.Racks())}
		}
		s.inputMu.Lock()
		defer s.inputMu.Unlock()
		if err := s.sink.SetRack(ctx, *req.Rack, *req.Open); err != nil {
			return err
		}
		s.mu.Lock()
		s.racks[*req.Rack] = *req.Open
		s.mu.Unlock()
		return nil
	}))
	mux.HandleFunc("POST /sim/exit-button", s.handle(func(ctx context.Context, r *http.Request) error {
		return s.sink.ExitButton(ctx)
	}))
	mux.HandleFunc("GET /sim/state", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, s.State())
	})
	return s.guard(mux)
}

// guard refuses what must not reach the simulator, which anyone who
// reaches it can use to tap cards and move the door in the records: a
// request from off loopback; one whose Host is not a loopback name or
// address (a web page that rebinds its DNS name to 127.0.0.1 sends its own
// name); a POST that is not application/json (a web page's form can post
// text/plain or urlencoded bodies to loopback without asking, not JSON).
func (s *Sim) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		code := http.StatusForbidden
		switch {
		case !loopbackAddr(r.RemoteAddr):
			err = fmt.Errorf("from %s: the simulator answers only on loopback", r.RemoteAddr)
		case !loopbackHost(r.Host):
			err = fmt.Errorf("host %q: the simulator answers only to 127.0.0.1, [::1] or localhost", r.Host)
		case r.Method == http.MethodPost && !isJSON(r.Header.Get("Content-Type")):
			code = http.StatusUnsupportedMediaType
			err = fmt.Errorf("Content-Type %q: want application/json (curl -H 'Content-Type: application/json')", r.Header.Get("Content-Type"))
		}
		if err != nil {
			s.refused.Inc()
			httpjson.Error(w, code, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Refused returns how many requests guard refused.
func (s *Sim) Refused() uint64 { return s.refused.Value() }

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// loopbackAddr reports whether a request's remote address, host:port, is
// on loopback.
func loopbackAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && loopback.Host(host)
}

// loopbackHost reports whether a Host header names loopback: localhost,
// or a loopback IP, with or without a port.
func loopbackHost(h string) bool {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return loopback.Host(h)
}

// BadRequests returns how many requests were refused as malformed.
func (s *Sim) BadRequests() uint64 { return s.bad.Value() }

// handle answers 200 with the simulator's state, or 400 naming the
// problem; a refused request changes nothing and is counted.
func (s *Sim) handle(f func(context.Context, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := f(r.Context(), r)
		var bad badRequest
		switch {
		case err == nil:
			httpjson.Write(w, http.StatusOK, s.State())
		case errors.As(err, &bad):
			s.bad.Inc()
			httpjson.Error(w, http.StatusBadRequest, err)
		default:
			httpjson.Error(w, http.StatusServiceUnavailable, err)
		}
	}
}

// Racks returns the simulated racks' names, sorted.
func (s *Sim) Racks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := make([]string, 0, len(s.racks))
	for name := range s.racks {
		r = append(r, name)
	}
	sort.Strings(r)
	return r
}

// Report tells the sink what the simulated reed switches read, the door
// then every rack, as hardware/gpio's watchers do at start: the door
// records what changed while it was down (a simulated door starts shut).
func (s *Sim) Report(ctx context.Context) error {
	s.inputMu.Lock()
	defer s.inputMu.Unlock()
	s.mu.Lock()
	door := s.door
	s.mu.Unlock()
	if err := s.sink.SetDoor(ctx, door); err != nil {
		return err
	}
	for _, r := range s.Racks() {
		s.mu.Lock()
		open := s.racks[r]
		s.mu.Unlock()
		if err := s.sink.SetRack(ctx, r, open); err != nil {
			return err
		}
	}
	return nil
}
