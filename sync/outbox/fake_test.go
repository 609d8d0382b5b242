package outbox_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// fakePub is a hand-written Publisher: tokens complete when the test says
// so, or at once with auto; a disconnect fails the open ones as paho does
// for a clean session.
type fakePub struct {
	mu       sync.Mutex
	up       bool
	auto     bool
	connCh   chan struct{}
	sent     []agent.Event // every publish, in order
	open     []*fakeToken  // not completed yet
	maxOpen  int
	failNext error // the next publish fails with it
	topics   map[string]int
}

type fakeToken struct {
	done chan struct{}
	err  error
}

func (t *fakeToken) Done() <-chan struct{} { return t.done }
func (t *fakeToken) Error() error          { return t.err }

func newFakePub() *fakePub {
	return &fakePub{connCh: make(chan struct{}), topics: map[string]int{}}
}

func (f *fakePub) Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeToken{done: make(chan struct{})}
	if !f.up {
		t.err = mqttlink.ErrNotConnected
		close(t.done)
		return t
	}
	if qos != 1 || retained {
		panic("outbox must publish QoS 1, not retained")
	}
	var e agent.Event
	if err := json.Unmarshal(payload, &e); err != nil {
		panic(err)
	}
	f.sent = append(f.sent, e)
	f.topics[topic]++
	if f.failNext != nil {
		t.err, f.failNext = f.failNext, nil
		close(t.done)
		return t
	}
	if f.auto {
		close(t.done)
		return t
	}
	f.open = append(f.open, t)
	f.maxOpen = max(f.maxOpen, len(f.open))
	return t
}

func (f *fakePub) Connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up
}

func (f *fakePub) NextConnection() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connCh
}

func (f *fakePub) connect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = true
	close(f.connCh)
	f.connCh = make(chan struct{})
}

// disconnect drops the link and fails every open publish.
func (f *fakePub) disconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = false
	for _, t := range f.open {
		t.err = errors.New("connection lost before Publish completed")
		close(t.done)
	}
	f.open = nil
}

// complete finishes the n oldest open publishes (all for n < 0).
func (f *fakePub) complete(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 || n > len(f.open) {
		n = len(f.open)
	}
	for _, t := range f.open[:n] {
		close(t.done)
	}
	f.open = f.open[n:]
}

func (f *fakePub) setAuto(auto bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auto = auto
}

func (f *fakePub) failNextPublish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = err
}

// published returns the seqs and replayed flags sent so far.
func (f *fakePub) published() (seqs []uint64, replayed []bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.sent {
		seqs = append(seqs, e.Seq)
		replayed = append(replayed, e.Replayed)
	}
	return seqs, replayed
}

func (f *fakePub) openCount() (open, maxOpen int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.open), f.maxOpen
}

// firstOrder returns the seqs in the order of their first publication.
func firstOrder(seqs []uint64) []uint64 {
	seen := map[uint64]bool{}
	var out []uint64
	for _, s := range seqs {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func checkFirstOrder(t *testing.T, seqs []uint64, from, to uint64) {
	t.Helper()
	first := firstOrder(seqs)
	if uint64(len(first)) != to-from+1 {
		t.Fatalf("first publications %d..%d: got %d distinct seqs: %v", from, to, len(first), first)
	}
	for i, s := range first {
		if s != from+uint64(i) {
			t.Fatalf("first publication #%d is seq %d; want %d (order %v)", i, s, from+uint64(i), first)
		}
	}
}
