package hub

import (
	"context"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/wire"
)

// A watcher that never reads holds at most watchDepth updates however
// many the hub publishes, and the hub's publishing never waits for it:
// what it missed is a count (its lagged update), not memory. (It held as
// much before issue 13; the test keeps the bound the streams' write
// deadline relies on.)
func TestWatcherHoldsABoundedBuffer(t *testing.T) {
	h := &Hub{live: newLive(), o: Options{MaxWatchers: 1}, watchesRefused: &metrics.Counter{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := h.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	const published = 20 * watchDepth
	for i := range published { // returns: no send waits for the watcher
		h.live.status("demo", "server-room", wire.Status{Seq: uint64(i)}, time.Now())
	}
	h.live.mu.Lock()
	defer h.live.mu.Unlock()
	if len(h.live.watchers) != 1 {
		t.Fatalf("%d watchers; want 1", len(h.live.watchers))
	}
	for w := range h.live.watchers {
		// the watcher's goroutine may hold one more, waiting to hand it on
		if held := len(w.ch); held > watchDepth || cap(w.ch) != watchDepth {
			t.Errorf("a watcher that does not read holds %d updates (room for %d); want at most %d", held, cap(w.ch), watchDepth)
		}
	}
}

// A door's last event is the furthest of its epoch's seqs, whatever the
// order the events come in: on a store hub replicas share, a replica's
// own commit comes at once and another's earlier one after it, read back
// (ingest's OnOthers). Before, the last to come was taken: a replica's
// doors showed door.locked after the room.secured that followed it (the
// end-to-end test through two replicas, cmd/kunci's
// TestEndToEndReplicas).
func TestLiveLastEventInSeqOrder(t *testing.T) {
	at := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	ev := func(epoch string, seq uint64, typ wire.EventType) wire.Event {
		return wire.Event{Site: "demo", Door: "server-room", Epoch: epoch, Seq: seq, Type: typ,
			At: at.Add(time.Duration(seq) * time.Second)}
	}
	for _, c := range []struct {
		name string
		in   [][]wire.Event // the batches, in the order they come
		want wire.Event
	}{
		{"in order", [][]wire.Event{{ev("e1", 10, wire.EvLocked)}, {ev("e1", 11, wire.EvSecured)}}, ev("e1", 11, wire.EvSecured)},
		{"own first, the other's earlier after", [][]wire.Event{{ev("e1", 11, wire.EvSecured)}, {ev("e1", 9, wire.EvClosed), ev("e1", 10, wire.EvLocked)}},
			ev("e1", 11, wire.EvSecured)},
		{"the same seq again", [][]wire.Event{{ev("e1", 11, wire.EvSecured)}, {ev("e1", 11, wire.EvSecured)}}, ev("e1", 11, wire.EvSecured)},
		{"a new epoch", [][]wire.Event{{ev("e1", 11, wire.EvSecured)}, {ev("e2", 1, wire.EvStarted)}}, ev("e2", 1, wire.EvStarted)},
	} {
		l := newLive()
		for _, b := range c.in {
			l.events(b, at)
		}
		d := l.list()
		if len(d) != 1 || d[0].LastEvent != c.want.Type || !d[0].LastEventAt.Equal(c.want.At) {
			t.Errorf("%s: doors %+v; want the last event %s at %v", c.name, d, c.want.Type, c.want.At)
		}
	}
}
