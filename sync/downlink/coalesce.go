package downlink

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/wire"
)

// Defaults of the refusal coalescing (Config.RefusalBurst, RefusalWindow,
// RefusalInterval).
const (
	DefaultRefusalBurst    = 5
	DefaultRefusalWindow   = 10 * time.Second
	DefaultRefusalInterval = time.Second
	// maxRefusalKeys bounds the topics tracked apart; the topics beyond
	// share one key per reason.
	maxRefusalKeys = 64
)

// refusalKey is what refusals are coalesced by: their event type, reason
// and topic.
type refusalKey struct {
	typ    wire.EventType
	reason wire.Reason
	topic  string // "" for the topics beyond maxRefusalKeys
}

type refusalWindow struct {
	end      time.Time
	recorded int         // events recorded individually in the window
	more     uint64      // refusals counted but not recorded
	timer    *time.Timer // records the window's summary at end
}

// coalescer lets through the first refusals of each key in a window as
// events of their own and counts the rest, recorded as one summary event
// when the window ends: a flood of refused messages costs the door a few
// events per topic and reason, not one per message, and the counters keep
// the exact count. It writes them to the door at most once an interval:
// each write is a durable transaction in the door's loop, which a tap
// coming meanwhile waits for, and a flood on many topics lets through a
// few events of each at once (64 topics tracked apart).
type coalescer struct {
	burst    int
	window   time.Duration
	interval time.Duration
	record   func(context.Context, ...agent.Event) error
	failed   func(error) // a held write failed

	mu   sync.Mutex
	keys map[refusalKey]*refusalWindow

	wmu       sync.Mutex
	held      []agent.Event // to be written at the interval's end
	flush     *time.Timer   // writes held; nil while nothing is
	lastWrite time.Time
}

// write hands e to the door: at once when nothing was written for an
// interval (the error is the door's), else with the others of the
// interval when it ends.
func (c *coalescer) write(ctx context.Context, e agent.Event) error {
	c.wmu.Lock()
	now := time.Now()
	if c.flush == nil && now.Sub(c.lastWrite) >= c.interval {
		c.lastWrite = now
		c.wmu.Unlock()
		return c.record(ctx, e)
	}
	c.held = append(c.held, e)
	if c.flush == nil {
		c.flush = time.AfterFunc(c.lastWrite.Add(c.interval).Sub(now), func() { c.writeHeld(ctx) })
	}
	c.wmu.Unlock()
	return nil
}

// writeHeld writes the events held in one transaction of the door's.
func (c *coalescer) writeHeld(ctx context.Context) {
	c.wmu.Lock()
	held := c.held
	c.held, c.flush, c.lastWrite = nil, nil, time.Now()
	c.wmu.Unlock()
	if err := c.record(ctx, held...); err != nil && ctx.Err() == nil {
		c.failed(err)
	}
}

// admit reports whether the refusal e, of key k, is to be recorded now;
// otherwise it is counted for the window's summary.
func (c *coalescer) admit(ctx context.Context, k refusalKey, e agent.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if _, ok := c.keys[k]; !ok && len(c.keys) >= maxRefusalKeys {
		c.prune(now)
		if len(c.keys) >= maxRefusalKeys {
			k.topic = ""
		}
	}
	w := c.keys[k]
	if w == nil || !now.Before(w.end) && w.timer == nil {
		w = &refusalWindow{end: now.Add(c.window)}
		c.keys[k] = w
	}
	if w.recorded < c.burst {
		w.recorded++
		return true
	}
	w.more++
	if w.timer == nil {
		summary := agent.Event{Type: e.Type, Reason: e.Reason, Command: e.Command}
		if k.topic != "" {
			summary.Permit = e.Permit
		}
		w.timer = time.AfterFunc(w.end.Sub(now), func() { c.summarise(ctx, k, summary) })
	}
	return false
}

// summarise records how many refusals of k the window held back, and
// opens the next window: a flood that goes on is summarised once a window.
func (c *coalescer) summarise(ctx context.Context, k refusalKey, e agent.Event) {
	c.mu.Lock()
	w := c.keys[k]
	more := w.more
	where := k.topic
	if where == "" {
		where = "other topics"
	}
	*w = refusalWindow{end: time.Now().Add(c.window), recorded: c.burst} // the summary is the window's event
	c.mu.Unlock()
	e.Count = more
	e.Detail = fmt.Sprintf("%s: %d more refused for %s in %s", clip(where, maxTopicEcho), more, e.Reason, c.window)
	// a failure leaves the counters with the count: the door is stopping,
	// or its store failing, which it counts and logs itself
	_ = c.write(ctx, e)
}

// prune forgets the windows that ended with nothing held back. mu held.
func (c *coalescer) prune(now time.Time) {
	for k, w := range c.keys {
		if !now.Before(w.end) && w.timer == nil {
			delete(c.keys, k)
		}
	}
}
