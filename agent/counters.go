package agent

import (
	"maps"
	"sync"
)

// Counters count bad input and faults by name, for /metrics and tests.
// Every rejected input has a counter, so noise is visible without logs.
type Counters struct {
	mu sync.Mutex
	n  map[string]uint64
}

// Add increments counter name.
func (c *Counters) Add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[name]++
}

// Get returns counter name.
func (c *Counters) Get(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// Snapshot returns a copy of every counter.
func (c *Counters) Snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
