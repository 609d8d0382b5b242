package outbox_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
)

// newFakePub returns a link, down, that takes only QoS 1 publishes not
// retained and completes them when the test says so (Complete), or at once
// after SetAuto(true).
func newFakePub(t testing.TB) *mqttlinktest.Link {
	l := mqttlinktest.New(t)
	l.SetAuto(false)
	l.Expect(1, false)
	return l
}

// errLost is what a disconnect fails the open publishes with, as paho does
// for a clean session.
var errLost = errors.New("connection lost before Publish completed")

// published returns the seqs and replayed flags of every event sent so
// far, in order.
func published(t testing.TB, l *mqttlinktest.Link) (seqs []uint64, replayed []bool) {
	t.Helper()
	for _, p := range l.Published() {
		var e agent.Event
		if err := json.Unmarshal(p.Payload, &e); err != nil {
			t.Fatalf("publish to %s is no event: %v", p.Topic, err)
		}
		seqs = append(seqs, e.Seq)
		replayed = append(replayed, e.Replayed)
	}
	return seqs, replayed
}

// topics counts the publishes to each topic.
func topics(l *mqttlinktest.Link) map[string]int {
	n := map[string]int{}
	for _, p := range l.Published() {
		n[p.Topic]++
	}
	return n
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
