package agent

import (
	"maps"
	"slices"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// The machine's state is the sub-states below, each with the timer it
// keeps (deadline; Machine.Deadline is the earliest of them). Their words
// (the phase names, see Machine.words) are the words of the rule table in
// doc.go, and the scenario tests compare the two.

// earliest returns the earliest of ts that is not zero, or zero.
func earliest(ts ...time.Time) time.Time {
	var d time.Time
	for _, t := range ts {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

type lockPhase int

const (
	lockedPhase lockPhase = iota
	unlockedPhase
)

func (p lockPhase) String() string { return [...]string{"locked", "unlocked"}[p] }

// exitWindow is an exit request's leave to open the door once without it
// being forced.
type exitWindow struct {
	until time.Time // zero: no request
	all   bool      // the exit button of a door without exit reader: opening lets everyone inside out
}

// lockState is the relay as the machine has asked for it.
type lockState struct {
	phase lockPhase
	until time.Time // unlocked: relock then (Rules.Unlock) unless the door opens and closes first
	exit  exitWindow
	fault bool // the relay failed to move, until it moves again
}

func (l *lockState) unlocked() bool { return l.phase == unlockedPhase }

func (l *lockState) deadline() time.Time {
	var relock time.Time
	if l.unlocked() {
		relock = l.until
	}
	return earliest(relock, l.exit.until)
}

func (l *lockState) words() []string {
	w := []string{l.phase.String()}
	switch {
	case l.exit.until.IsZero():
		w = append(w, "no-exit")
	case l.exit.all:
		w = append(w, "exit-all")
	default:
		w = append(w, "exit-window")
	}
	if l.fault {
		w = append(w, "relay-fault")
	}
	return w
}

type contactPhase int

const (
	closedPhase contactPhase = iota
	openPhase
	heldPhase // open longer than Rules.HeldOpen: door.held_open raised
)

func (p contactPhase) String() string { return [...]string{"closed", "open", "held-open"}[p] }

// contactState is the door's reed switch as last recorded.
type contactState struct {
	phase contactPhase
	// since the door opened; for a door restored open, the start (zero
	// until Started: no held-open timer runs before the door starts)
	since  time.Time
	forced bool // opened while locked and outside an exit window, until it closes
}

func (c *contactState) open() bool { return c.phase != closedPhase }

func (c *contactState) deadline(held time.Duration) time.Time {
	if c.phase != openPhase || c.since.IsZero() {
		return time.Time{}
	}
	return c.since.Add(held)
}

func (c *contactState) words() []string {
	w := []string{c.phase.String()}
	if c.forced {
		w = append(w, "forced")
	}
	return w
}

// racksState is the rack locks' reed switches as last recorded.
type racksState struct {
	names    []string        // configured, sorted
	open     map[string]bool // every configured rack: open
	tampered map[string]bool // opened while the room was empty, until the room is secured
}

func (r *racksState) clone() racksState {
	return racksState{names: r.names, open: maps.Clone(r.open), tampered: maps.Clone(r.tampered)}
}

// openNames returns the open racks, in the configured order.
func (r *racksState) openNames() []string {
	var open []string
	for _, n := range r.names {
		if r.open[n] {
			open = append(open, n)
		}
	}
	return open
}

func (r *racksState) words() []string {
	w := []string{[...]string{"racks-closed", "rack-open", "racks-open"}[min(len(r.openNames()), 2)]}
	if len(r.tampered) > 0 {
		w = append(w, "rack-tampered")
	}
	return w
}

type escortTap struct {
	staff string
	solo  bool
	at    time.Time
}

type waitingGuest struct {
	p  PermitInfo
	at time.Time
}

// pairing is the guest and the escorts who tapped and wait for each other,
// each for Rules.EscortWindow.
type pairing struct {
	guest   *waitingGuest // at most one guest waits at the door
	escorts []escortTap
}

func (p *pairing) clone() pairing {
	c := pairing{escorts: slices.Clone(p.escorts)}
	if p.guest != nil {
		g := *p.guest
		c.guest = &g
	}
	return c
}

func (p *pairing) deadline(window time.Duration) time.Time {
	var d time.Time
	if p.guest != nil {
		d = p.guest.at.Add(window)
	}
	for _, e := range p.escorts {
		d = earliest(d, e.at.Add(window))
	}
	return d
}

func (p *pairing) words() []string {
	w := []string{"no-guest", "no-escort"}
	if p.guest != nil {
		w[0] = "guest-waits"
	}
	if len(p.escorts) > 0 {
		w[1] = "escort-waits"
	}
	return w
}

type admitted struct {
	occ  wire.Occupant
	card permit.Fingerprint
}

type leftEscort struct {
	escort, permit string
	at             time.Time
}

// occupancy is who is inside, who was granted and has not opened the door
// yet, and the guests whose escort tapped out (Rules.EscortWindow of grace
// before visit.unescorted).
type occupancy struct {
	inside    []wire.Occupant
	admitted  []admitted
	leftAlone []leftEscort
}

func (o *occupancy) clone() occupancy {
	return occupancy{inside: slices.Clone(o.inside), admitted: slices.Clone(o.admitted), leftAlone: slices.Clone(o.leftAlone)}
}

func (o *occupancy) empty() bool { return len(o.inside) == 0 && len(o.admitted) == 0 }

func (o *occupancy) deadline(window time.Duration) time.Time {
	var d time.Time
	for _, l := range o.leftAlone {
		d = earliest(d, l.at.Add(window))
	}
	return d
}

func (o *occupancy) words() []string {
	var w []string
	if o.empty() {
		w = append(w, "empty")
	}
	if len(o.admitted) > 0 {
		w = append(w, "granted")
	}
	if len(o.inside) > 0 {
		w = append(w, "inside")
	}
	if len(o.inside) == 1 && len(o.admitted) == 0 {
		w = append(w, "last-one")
	}
	if len(o.leftAlone) > 0 {
		w = append(w, "escort-out")
	}
	return w
}

// securing is SOP step 8: the empty room shut within Rules.SecureWithin.
// A check may run while the alarm of an earlier one stands: a new last
// exit starts a new check.
type securing struct {
	due   time.Time // zero: no check runs (the room is occupied, or was found secured)
	alarm bool      // room.not_secured raised, until the room is secured
}

func (s *securing) deadline() time.Time { return s.due }

func (s *securing) words() []string {
	var w []string
	if !s.due.IsZero() {
		w = append(w, "check-due")
	}
	if s.alarm {
		w = append(w, "not-secured")
	}
	if w == nil {
		w = []string{"no-check"}
	}
	return w
}

// words names the machine's state in the words of doc.go's rule table.
func (m *Machine) words() []string {
	w := []string{string(m.mode)}
	w = append(w, m.lock.words()...)
	w = append(w, m.contact.words()...)
	w = append(w, m.racks.words()...)
	w = append(w, m.pairing.words()...)
	w = append(w, m.occupancy.words()...)
	return append(w, m.securing.words()...)
}
