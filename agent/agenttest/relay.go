package agenttest

import (
	"slices"
	"sync"

	"github.com/kunci-project/kunci/agent"
)

// The calls a Relay records, in order.
const (
	CallLock   = "lock"
	CallUnlock = "unlock"
	CallHalt   = "halt"
)

// Relay is an agent.Relay that records every call and succeeds unless told
// to fail. The zero value is ready to use.
type Relay struct {
	mu         sync.Mutex
	calls      []string
	failLock   error
	failUnlock error
}

var _ agent.Relay = (*Relay)(nil)

func (r *Relay) record(call string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	switch call {
	case CallLock:
		return r.failLock
	case CallUnlock:
		return r.failUnlock
	}
	return nil
}

// Lock records CallLock and returns the error set by FailLock.
func (r *Relay) Lock() error { return r.record(CallLock) }

// Unlock records CallUnlock and returns the error set by FailUnlock.
func (r *Relay) Unlock() error { return r.record(CallUnlock) }

// Halt records CallHalt; it never fails.
func (r *Relay) Halt() error { return r.record(CallHalt) }

// String names the fake in the door's errors and logs.
func (r *Relay) String() string { return "rec-relay" }

// Calls returns the calls so far, oldest first.
func (r *Relay) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// FailLock makes every later Lock return err, as a cut relay wire would;
// nil lets it succeed again.
func (r *Relay) FailLock(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLock = err
}

// FailUnlock makes every later Unlock return err, as an open relay coil
// would; nil lets it succeed again.
func (r *Relay) FailUnlock(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failUnlock = err
}
