package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kunci-project/kunci/hardware"
	"github.com/kunci-project/kunci/internal/httpjson"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/strictjson"
	"github.com/kunci-project/kunci/permit"
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
	bad     *metrics.Counter // requests refused
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
		bad: reg.Counter("kunci_agent_sim_bad_requests_total", "Requests of the simulator's HTTP API refused as malformed.")}
	for _, r := range racks {
		s.racks[r] = false
	}
	return s
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
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Reader == nil || req.UID == nil {
			return badRequest{errors.New(`body: want {"reader":"entry"|"exit","uid":"04A1B2C3D4E5F6"}`)}
		}
		if !slices.Contains(s.readers, *req.Reader) {
			return badRequest{fmt.Errorf("reader %q: this door has %v", *req.Reader, s.readers)}
		}
		uid, err := permit.ParseUID(*req.UID)
		if err != nil {
			return badRequest{err}
		}
		return s.sink.Tap(ctx, *req.Reader, uid)
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
	return mux
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
