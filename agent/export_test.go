package agent

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// FailWrites makes the door's writes to s fail with err; nil: they work
// again.
func FailWrites(s *Store, err error) {
	if err == nil {
		s.writeFault.Store(nil)
		return
	}
	s.writeFault.Store(&err)
}

// SetFreeSpace makes s read its file system's free space from free.
func SetFreeSpace(s *Store, free func(dir string) (uint64, bool)) {
	s.space.mu.Lock()
	s.space.free, s.space.checked = free, time.Time{}
	s.space.mu.Unlock()
}

// PartialGrace is how long WatchRecords waits for a cut-short file to be
// completed before refusing it.
const PartialGrace = partialGrace

// RuleWords names m's state in the words of doc.go's rule table, with the
// door's configuration that the rules depend on.
func RuleWords(m *Machine) []string {
	w := m.words()
	if m.rules.ExitUnlocks {
		w = append(w, "exit-unlocks")
	} else {
		w = append(w, "exit-keeps-lock")
	}
	if m.exitReader {
		return append(w, "exit-reader")
	}
	return append(w, "no-exit-reader")
}

// RuleInput describes in in the words of the rule table's input column,
// as m would see it at tm.
func RuleInput(m *Machine, in Input, tm Time) string {
	switch in := in.(type) {
	case Tap:
		if in.Reader == ReaderExit {
			return "out: " + m.exitHolder(in)
		}
		return "in: " + m.entryHolder(in, tm)
	case DoorInput:
		return map[bool]string{true: "door opens", false: "door closes"}[in.Open]
	case RackInput:
		if was, ok := m.racks.open[in.Rack]; !ok || was == in.Open {
			return "rack, no change"
		}
		return map[bool]string{true: "rack opens", false: "rack closes"}[in.Open]
	case ExitButton:
		return "exit button"
	case Tick:
		return "tick: " + m.dueTimers(tm.Now)
	case Command:
		switch in.Name {
		case wire.CmdLockdown, wire.CmdRelease, wire.CmdUnlockOnce, wire.CmdResync:
			return "command " + string(in.Name)
		}
		return "command unknown"
	case Started:
		return "start"
	case RelayFault:
		return "relay fault"
	case Note:
		return "note " + string(in.Event.Type)
	case Notes:
		if len(in.Events) == 0 {
			return "notes"
		}
		return "notes " + string(in.Events[0].Type)
	}
	return "?"
}

func (m *Machine) entryHolder(t Tap, tm Time) string {
	if st := t.Info.Staff; st != nil {
		if !m.usable(st) {
			return "staff barred"
		}
		rights := map[[2]bool]string{{false, false}: "none", {true, false}: "escort", {false, true}: "solo",
			{true, true}: "escort+solo"}[[2]bool{st.Escort, st.Solo}]
		w := m.pairing.guest
		if w == nil || w.p.Escort != st.ID || rights == "none" {
			return "staff " + rights
		}
		if !st.Escort {
			return "staff solo, assigned"
		}
		p, ok := w.p, true
		if t.Waiting != nil {
			i := slices.IndexFunc(t.Waiting.Permits, func(q PermitInfo) bool { return q.ID == p.ID })
			if ok = i >= 0; ok {
				p = t.Waiting.Permits[i]
			}
		}
		if _, reason := m.choosePermit([]PermitInfo{p}, tm); !ok || reason != "" {
			return "staff escort, assigned, lapsed"
		}
		return "staff escort, assigned"
	}
	if len(t.Info.Permits) == 0 {
		return "unknown card"
	}
	p, reason := m.choosePermit(t.Info.Permits, tm)
	switch {
	case reason != "":
		return "guest, no permit admits"
	case slices.ContainsFunc(m.pairing.escorts, func(e escortTap) bool { return e.staff == p.Escort }):
		return "guest, escort waits"
	case m.pairing.guest != nil && m.pairing.guest.p.ID == p.ID:
		return "guest, waiting"
	}
	return "guest"
}

func (m *Machine) exitHolder(t Tap) string {
	if st := t.Info.Staff; st != nil {
		var w []string
		if slices.ContainsFunc(m.occupancy.inside, func(o wire.Occupant) bool { return o.Staff == st.ID }) {
			w = append(w, "inside")
		}
		if slices.ContainsFunc(m.occupancy.inside, func(o wire.Occupant) bool { return o.Permit != "" && o.Escort == st.ID }) {
			w = append(w, "escort of a guest inside")
		}
		return strings.Join(append([]string{"staff"}, w...), ", ")
	}
	if len(t.Info.Permits) == 0 {
		return "unknown card"
	}
	short := t.Card.Short()
	if slices.ContainsFunc(m.occupancy.inside, func(o wire.Occupant) bool { return o.Permit != "" && o.Card == short }) {
		return "guest, inside"
	}
	return "guest"
}

// dueTimers names the timers due at now.
func (m *Machine) dueTimers(now time.Time) string {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	var d []string
	if m.lock.unlocked() && due(m.lock.until) {
		d = append(d, "unlock over")
	}
	if w := m.pairing.guest; w != nil && due(w.at.Add(m.rules.EscortWindow)) {
		d = append(d, "guest wait over")
	}
	escorts := map[bool]bool{} // solo: due
	for _, e := range m.pairing.escorts {
		if due(e.at.Add(m.rules.EscortWindow)) {
			escorts[e.solo] = true
		}
	}
	if escorts[false] {
		d = append(d, "escort wait over")
	} else if escorts[true] {
		d = append(d, "escort+solo wait over")
	}
	if due(m.contact.deadline(m.rules.HeldOpen)) {
		d = append(d, "held open")
	}
	if due(m.occupancy.deadline(m.rules.EscortWindow)) {
		d = append(d, "grace over")
	}
	if due(m.securing.due) {
		d = append(d, "secure time over")
	}
	switch {
	case d == nil && due(m.lock.exit.until):
		return "exit window over" // named alone: it ends with the relock, and silently
	case d == nil:
		return "nothing due"
	}
	return strings.Join(d, " + ")
}

// RecordsPasses returns one pass of WatchRecords over dir each time it is
// called, each pass knowing what the ones before it saw.
func RecordsPasses(d *Door, dir string) func(ctx context.Context) error {
	rd := newRecordsDir(dir)
	return func(ctx context.Context) error { return d.loadDir(ctx, rd) }
}

// CutShort reports whether WatchRecords takes b for a file still being
// written.
var CutShort = cutShort

// AckBatch bounds the events one deletion transaction of Store.Ack deletes,
// and YieldEvery how many it deletes between two looks for a waiting write
// of the door's.
const AckBatch, YieldEvery = ackBatch, yieldEvery

// OnAckTransaction sets f to run inside each deletion transaction of
// s.Ack, before it deletes anything.
func (s *Store) OnAckTransaction(f func()) { s.ackYield = f }

// Commits is how many writes of the door's s committed.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// DoorWritesWaiting is how many writes of the door's wait for bbolt's
// writer or hold it.
func (s *Store) DoorWritesWaiting() int { return int(s.first.waiting.Load()) }

// CompactBounds sets when s compacts: at least freePages free and a
// 1/freeShare of the file, online at most onlineLive bytes of live data
// copied within pause.
func CompactBounds(s *Store, freePages, freeShare int, onlineLive int64, pause time.Duration) {
	s.compact.mu.Lock()
	defer s.compact.mu.Unlock()
	s.compact.bounds = compactBounds{freePages: freePages, freeShare: freeShare, onlineLive: onlineLive,
		pause: pause, txBytes: 64 << 10}
}

// CompactStep makes f run at each step of s's compactions; an error fails
// the step.
func CompactStep(s *Store, f func(step string) error) {
	s.compact.mu.Lock()
	defer s.compact.mu.Unlock()
	s.compact.step = f
}

// CompactIfDue compacts s as the deletions of acked events (online) or
// NewDoor (at start) do.
func CompactIfDue(s *Store, online bool) error { return s.compactIfDue(online) }

// FreePages returns the pages bbolt keeps free in s's file.
func FreePages(s *Store) int {
	u, err := s.use()
	if err != nil {
		panic(err)
	}
	return u.free
}

// DoorWritesWaiting returns how many of the door's writes wait for the
// store or hold it.
func DoorWritesWaiting(s *Store) int { return int(s.first.waiting.Load()) }

// CompactSteps are the steps of a compaction, in order.
var CompactSteps = []string{stepCreate, stepCopy, stepSync, stepRename, stepSyncDir, stepSwap, stepDone}

// CompactSuffix names the copy beside the store while a compaction makes it.
const CompactSuffix = compactSuffix
