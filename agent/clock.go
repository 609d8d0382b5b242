package agent

import "time"

// Clock is the door's view of time. Now is the wall clock; Synced says
// whether the kernel reports it synchronised (adjtimex); Mono is a
// monotonic reading that wall-clock steps do not move.
type Clock interface {
	Now() time.Time
	Synced() bool
	Mono() time.Duration
}

// trust turns an untrusted wall clock into a usable lower bound: the last
// time the clock was synchronised plus the monotonic time since. Without
// any synchronised reading ever, time windows cannot be judged at all.
type trust struct {
	wall    time.Time     // last trusted wall time
	mono    time.Duration // monotonic reading at wall
	ok      bool
	synced  bool // the previous reading was synchronised
	started bool
}

// judge returns the time to judge permits by for a clock reading. It
// changes nothing, so the loop may ask it for its timers.
func (t *trust) judge(wall time.Time, mono time.Duration, synced bool) Time {
	switch {
	case synced:
		return Time{Now: wall, Trusted: true}
	case t.ok:
		return Time{Now: t.wall.Add(mono - t.mono), Trusted: true}
	}
	return Time{Now: wall, Trusted: false}
}

// observe takes in a clock reading and reports whether the clock has just
// become unsynchronised (or was so at the first reading).
func (t *trust) observe(wall time.Time, mono time.Duration, synced bool) (lost bool) {
	lost = !synced && (t.synced || !t.started)
	t.started, t.synced = true, synced
	if synced {
		t.wall, t.mono, t.ok = wall, mono, true
	}
	return lost
}

// SystemClock is the process's clock with the synchronisation state given
// by a function, for boards that report it (hardware/sysclock).
type SystemClock struct {
	start    time.Time
	IsSynced func() bool
}

// NewSystemClock returns a clock whose Synced calls synced.
func NewSystemClock(synced func() bool) *SystemClock {
	return &SystemClock{start: time.Now(), IsSynced: synced}
}

// Now returns the wall clock.
func (c *SystemClock) Now() time.Time { return time.Now() }

// Mono returns the monotonic time since the clock was made.
func (c *SystemClock) Mono() time.Duration { return time.Since(c.start) }

// Synced reports what IsSynced says, or true without it.
func (c *SystemClock) Synced() bool { return c.IsSynced == nil || c.IsSynced() }
