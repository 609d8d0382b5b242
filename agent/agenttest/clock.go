package agenttest

import (
	"sync"
	"time"

	"github.com/kunci-project/kunci/agent"
)

// Clock is an agent.Clock the test sets by hand: a wall clock, a monotonic
// clock and whether the wall clock is synchronised. The zero value reads
// the zero time, unsynchronised; NewClock starts it at a time.
type Clock struct {
	mu     sync.Mutex
	wall   time.Time
	mono   time.Duration
	synced bool
}

var _ agent.Clock = (*Clock)(nil)

// NewClock returns a clock reading wall, synchronised or not, with no
// monotonic time passed.
func NewClock(wall time.Time, synced bool) *Clock {
	return &Clock{wall: wall, synced: synced}
}

// Now returns the wall clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

// Mono returns the monotonic time passed since the clock was made.
func (c *Clock) Mono() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// Synced reports whether the wall clock counts as synchronised.
func (c *Clock) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced
}

// Set steps the wall clock, as NTP or an operator would, without moving
// monotonic time.
func (c *Clock) Set(wall time.Time, synced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall, c.synced = wall, synced
}

// SetSynced changes only whether the wall clock counts as synchronised.
func (c *Clock) SetSynced(synced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced = synced
}

// Reboot sets every reading at once, as a restart of the Pi does: the wall
// clock wherever it comes back (1970 without an RTC), the monotonic clock
// started again at mono.
func (c *Clock) Reboot(wall time.Time, mono time.Duration, synced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall, c.mono, c.synced = wall, mono, synced
}

// Advance lets d pass on both clocks.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
	c.mono += d
}

// RunningClock is a synchronised agent.Clock that runs with the process's
// time from its start, shifted so that it read At then: inside a
// testing/synctest bubble it moves with the bubble's fake time, so that the
// door's own timers and the wall clock agree; outside one, with real time.
type RunningClock struct {
	start time.Time
	at    time.Time
}

var _ agent.Clock = RunningClock{}

// NewRunningClock returns a RunningClock that reads at now.
func NewRunningClock(at time.Time) RunningClock { return RunningClock{start: time.Now(), at: at} }

// Now returns at plus the time passed since NewRunningClock.
func (c RunningClock) Now() time.Time { return c.at.Add(time.Since(c.start)) }

// Mono returns the time passed since NewRunningClock.
func (c RunningClock) Mono() time.Duration { return time.Since(c.start) }

// Synced is always true.
func (c RunningClock) Synced() bool { return true }
