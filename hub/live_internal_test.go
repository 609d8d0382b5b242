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
