package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Rules are the timings of design.md "Rules at the door".
type Rules struct {
	EscortWindow time.Duration // guest and escort must both tap within it, in either order
	Unlock       time.Duration // relay stays unlocked at most this long when the door is not opened
	HeldOpen     time.Duration // door open longer: door.held_open
	SecureWithin time.Duration // room empty: door shut, lock engaged, racks closed within it
	ExitUnlocks  bool          // exit button and exit reader release the lock (maglock, strike without lever)
}

// DefaultRules are the defaults of design.md and the SOP's 2 minutes.
func DefaultRules() Rules {
	return Rules{EscortWindow: 30 * time.Second, Unlock: 5 * time.Second, HeldOpen: 30 * time.Second,
		SecureWithin: 2 * time.Minute, ExitUnlocks: true}
}

// Reader names with a meaning to the door.
const (
	ReaderEntry = "entry"
	ReaderExit  = "exit"
)

// RelayAction is what the machine asks of the relay after its events are stored.
type RelayAction int

// Relay actions.
const (
	RelayNone RelayAction = iota
	RelayLock
	RelayUnlock
)

func (a RelayAction) String() string {
	return [...]string{"none", "lock", "unlock"}[a]
}

// Input is something that happened at the door.
type Input interface{ isInput() }

// Tap is a card on a reader, already fingerprinted, with what the store
// knows of the card.
type Tap struct {
	Reader string
	Card   permit.Fingerprint
	Info   CardInfo
	// Waiting is what the store knows now of the card of the guest who
	// waits for an escort (see Machine.WaitingCard), so a permit revoked
	// or changed during the wait is judged as it is now.
	Waiting *CardInfo
}

// DoorInput is the door's reed switch: a change, or its first reading
// after a start, which records only a difference from the state last
// recorded (Snapshot).
type DoorInput struct{ Open bool }

// RackInput is a rack lock's reed switch, as DoorInput is the door's.
type RackInput struct {
	Rack string
	Open bool
}

// ExitButton is a press of the request-to-exit button.
type ExitButton struct{}

// Tick lets timers expire; the loop sends one at each deadline.
type Tick struct{}

// Command is a verified command from the hub: lockdown, release,
// unlock-once or resync. Verification happens before it gets here.
type Command struct {
	Name   wire.CommandName
	ID     string
	Reason string // the operator's, signed with the command
}

// Started is the door's first input after a start: it records
// agent.started and door.locked (the safe state the relay was put in), and
// starts the check that the room is secured.
type Started struct{ Version string }

// RelayFault says the relay failed to move as asked.
type RelayFault struct{ Err string }

// Note is an event produced outside the machine (a rejected permit, a
// reader fault, an unsynchronised clock) that changes no door state.
type Note struct{ Event Event }

// Notes are several such events, stored in one transaction: the
// downlink's refusals of a flood, one write where each was one.
type Notes struct{ Events []Event }

func (Tap) isInput()        {}
func (DoorInput) isInput()  {}
func (RackInput) isInput()  {}
func (ExitButton) isInput() {}
func (Tick) isInput()       {}
func (Command) isInput()    {}
func (Note) isInput()       {}
func (Notes) isInput()      {}
func (Started) isInput()    {}
func (RelayFault) isInput() {}

// CardInfo is everything the store knows of one card fingerprint.
type CardInfo struct {
	Permits []PermitInfo
	Staff   *permit.Staff
}

// PermitInfo is a stored permit with its local state.
type PermitInfo struct {
	permit.Permit
	Revoked bool
	Used    int // entries recorded so far
}

// Time is the machine's notion of now. Now is judged against permit
// windows; Trusted is false while no synchronised wall clock was ever seen,
// and then no window can be judged.
type Time struct {
	Now     time.Time
	Trusted bool
}

// Outcome is what one input led to: the events to store, then the relay
// movement and the permits whose entry counters go up, applied in the same
// transaction as the events.
type Outcome struct {
	Events []Event
	Relay  RelayAction
	Used   []string
}

// Snapshot is the part of the machine's state that survives a restart:
// the mode, who is inside, and the reed switches as last recorded, so that
// the hardware's first reading after a start records what changed while
// the door was down (a door left open and shut meanwhile: door.closed).
type Snapshot struct {
	Mode      wire.Mode       `json:"mode"`
	Occupancy []wire.Occupant `json:"occupancy"`
	DoorOpen  bool            `json:"door_open,omitempty"`
	OpenRacks []string        `json:"open_racks,omitempty"`
}

func (s Snapshot) equal(o Snapshot) bool {
	return s.Mode == o.Mode && s.DoorOpen == o.DoorOpen && slices.Equal(s.Occupancy, o.Occupancy) &&
		slices.Equal(s.OpenRacks, o.OpenRacks)
}

// Machine is the door's state machine. It is deterministic: the same
// inputs at the same times give the same outcomes; it does no I/O. Its
// state is named sub-states (states.go), and doc.go's rule table says what
// each input does in each of them.
type Machine struct {
	site, door string
	rules      Rules
	exitReader bool

	mode      wire.Mode
	lock      lockState
	contact   contactState
	racks     racksState
	pairing   pairing
	occupancy occupancy
	securing  securing
}

// NewMachine returns a door with the relay locked and the state of snap
// restored: the mode, who is inside, and the door and racks as last
// recorded (every other input closed).
func NewMachine(site, door string, rules Rules, readers, racks []string, snap Snapshot) *Machine {
	m := &Machine{site: site, door: door, rules: rules, mode: wire.ModeNormal,
		racks: racksState{names: slices.Sorted(slices.Values(racks)), open: map[string]bool{}, tampered: map[string]bool{}}}
	m.exitReader = slices.Contains(readers, ReaderExit)
	for _, r := range racks {
		m.racks.open[r] = slices.Contains(snap.OpenRacks, r)
	}
	if snap.DoorOpen {
		m.contact.phase = openPhase
	}
	if snap.Mode == wire.ModeLockdown {
		m.mode = wire.ModeLockdown
	}
	m.occupancy.inside = slices.Clone(snap.Occupancy)
	return m
}

// Clone returns an independent copy, so the loop can throw away the new
// state when the store refuses the outcome.
func (m *Machine) Clone() *Machine {
	c := *m
	c.racks = m.racks.clone()
	c.pairing = m.pairing.clone()
	c.occupancy = m.occupancy.clone()
	return &c
}

// Snapshot returns the state that must survive a restart.
func (m *Machine) Snapshot() Snapshot {
	return Snapshot{Mode: m.mode, Occupancy: slices.Clone(m.occupancy.inside), DoorOpen: m.contact.open(),
		OpenRacks: m.racks.openNames()}
}

// WaitingCard returns the card of the guest waiting for an escort.
func (m *Machine) WaitingCard() (permit.Fingerprint, bool) {
	if m.pairing.guest == nil {
		return "", false
	}
	return m.pairing.guest.p.Card, true
}

// Unlocked reports the relay state the machine has asked for.
func (m *Machine) Unlocked() bool { return m.lock.unlocked() }

// HasRack reports whether name is a configured rack.
func (m *Machine) HasRack(name string) bool { _, ok := m.racks.open[name]; return ok }

// Status returns the current state; the door adds seq, clock and version.
func (m *Machine) Status() wire.Status {
	s := wire.Status{Door: openClosed(m.contact.open()), Lock: wire.Locked, Racks: map[string]string{}, Mode: m.mode,
		Occupancy: slices.Clone(m.occupancy.inside), Secured: m.occupancy.empty() && m.secure(), Alarms: []wire.Alarm{}}
	if m.lock.unlocked() {
		s.Lock = wire.Unlocked
	}
	if s.Occupancy == nil {
		s.Occupancy = []wire.Occupant{}
	}
	for _, r := range m.racks.names {
		s.Racks[r] = openClosed(m.racks.open[r])
	}
	if m.contact.forced {
		s.Alarms = append(s.Alarms, wire.AlarmDoorForced)
	}
	if m.contact.phase == heldPhase {
		s.Alarms = append(s.Alarms, wire.AlarmDoorHeldOpen)
	}
	if m.securing.alarm {
		s.Alarms = append(s.Alarms, wire.AlarmRoomNotSecured)
	}
	for _, r := range m.racks.names {
		if m.racks.tampered[r] {
			s.Alarms = append(s.Alarms, wire.RackTamperedAlarm(r))
		}
	}
	if m.mode == wire.ModeLockdown {
		s.Alarms = append(s.Alarms, wire.AlarmLockdown)
	}
	if m.lock.fault {
		s.Alarms = append(s.Alarms, wire.AlarmRelayFault)
	}
	return s
}

func openClosed(open bool) string {
	if open {
		return wire.Open
	}
	return wire.Closed
}

// Deadline returns the next time at which a Tick changes something, or the
// zero time: the earliest of the sub-states' deadlines.
func (m *Machine) Deadline() time.Time {
	return earliest(m.lock.deadline(), m.pairing.deadline(m.rules.EscortWindow), m.contact.deadline(m.rules.HeldOpen),
		m.occupancy.deadline(m.rules.EscortWindow), m.securing.deadline())
}

type step struct {
	m   *Machine
	now time.Time
	tm  Time
	out Outcome
}

func (s *step) emit(e Event) { s.out.Events = append(s.out.Events, e) }

// Handle applies one input at time t and returns what must be stored and
// done. Timers that are due at t expire first.
func (m *Machine) Handle(in Input, t Time) Outcome {
	s := &step{m: m, now: t.Now, tm: t}
	s.expire()
	switch in := in.(type) {
	case Tap:
		if in.Reader == ReaderExit {
			s.exitTap(in)
		} else {
			s.emitTap(in)
			m.entryStep()(s, in)
		}
	case DoorInput:
		s.doorInput(in.Open)
	case RackInput:
		s.rackInput(in)
	case ExitButton:
		s.emit(Event{Type: wire.EvExitRequested, Reader: "button"})
		s.requestExit(true)
	case Command:
		s.command(in)
	case Note:
		s.emit(in.Event)
	case Notes:
		for _, e := range in.Events {
			s.emit(e)
		}
	case Started:
		// the relay was driven to its safe state before anything else;
		// whatever the log said last (a power cut while unlocked), it is
		// locked now
		s.emit(Event{Type: wire.EvStarted, Detail: in.Version})
		s.emit(Event{Type: wire.EvLocked, Detail: "safe state at start"})
		if m.contact.open() && m.contact.since.IsZero() {
			m.contact.since = t.Now // restored open: held open counts from now
		}
		m.StartSecureCheck(t.Now)
	case RelayFault:
		s.emit(Event{Type: wire.EvRelayFault, Detail: in.Err})
		if m.lock.unlocked() {
			s.lock("relay fault")
		}
		m.lock.fault = true
	case Tick:
	}
	s.checkSecured()
	return s.out
}

// expire runs every timer that is due, sub-state by sub-state.
func (s *step) expire() {
	m, now := s.m, s.now
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	if m.lock.unlocked() && due(m.lock.until) {
		s.lock("unlock time over")
	}
	if due(m.lock.exit.until) {
		m.lock.exit = exitWindow{}
	}
	if w := m.pairing.guest; w != nil && due(w.at.Add(m.rules.EscortWindow)) {
		s.endWait(wire.ReasonEscortTimeout, "")
	}
	m.pairing.escorts = slices.DeleteFunc(m.pairing.escorts, func(e escortTap) bool {
		if !due(e.at.Add(m.rules.EscortWindow)) {
			return false
		}
		if !e.solo {
			s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Escort: e.staff, Staff: e.staff, Reason: wire.ReasonEscortTimeout,
				Detail: "no guest tapped"})
		}
		return true
	})
	if due(m.contact.deadline(m.rules.HeldOpen)) {
		m.contact.phase = heldPhase
		s.emit(Event{Type: wire.EvHeldOpen, Detail: fmt.Sprintf("open since %s", m.contact.since.UTC().Format(time.RFC3339))})
	}
	m.occupancy.leftAlone = slices.DeleteFunc(m.occupancy.leftAlone, func(l leftEscort) bool {
		if !due(l.at.Add(m.rules.EscortWindow)) {
			return false
		}
		if m.inside(l.permit) >= 0 {
			s.emit(Event{Type: wire.EvUnescorted, Permit: l.permit, Escort: l.escort})
		}
		return true
	})
	if due(m.securing.due) {
		m.securing.due = time.Time{}
		if !m.secure() {
			m.securing.alarm = true
			s.emit(Event{Type: wire.EvNotSecured, Racks: m.racks.openNames(), Detail: m.insecurity()})
		}
	}
}

func (s *step) unlock(why string) {
	l := &s.m.lock
	l.until = s.now.Add(s.m.rules.Unlock)
	if l.unlocked() {
		return
	}
	l.phase, l.fault = unlockedPhase, false
	s.emit(Event{Type: wire.EvUnlocked, Detail: why})
	s.out.Relay = RelayUnlock
}

func (s *step) lock(why string) {
	l := &s.m.lock
	l.until = time.Time{}
	s.m.occupancy.admitted = nil // granted but never opened the door: no entry
	if !l.unlocked() {
		return
	}
	l.phase, l.fault = lockedPhase, false
	s.emit(Event{Type: wire.EvLocked, Detail: why})
	s.out.Relay = RelayLock
}

func (s *step) deny(t Tap, reason wire.Reason, e Event) {
	e.Type, e.Reader, e.Reason, e.Card = wire.EvDenied, t.Reader, reason, t.Card.Short()
	s.emit(e)
}

func (s *step) emitTap(t Tap) {
	tap := Event{Type: wire.EvTap, Reader: t.Reader, Card: t.Card.Short()}
	if t.Info.Staff != nil {
		tap.Staff = t.Info.Staff.ID
	}
	s.emit(tap)
}

// entryFunc decides a tap on the entry reader. There is one per state of
// the door in which taps are decided differently, as raft has one stepFunc
// per role: lockdown, a guest waiting for their escort, and neither.
type entryFunc func(s *step, t Tap)

func (m *Machine) entryStep() entryFunc {
	switch {
	case m.mode == wire.ModeLockdown:
		return entryLockdown
	case m.pairing.guest != nil:
		return entryGuestWaits
	}
	return entryNormal
}

// entryLockdown denies every card.
func entryLockdown(s *step, t Tap) {
	var staff string
	if t.Info.Staff != nil {
		staff = t.Info.Staff.ID
	}
	s.deny(t, wire.ReasonLockdown, Event{Staff: staff})
}

// entryNormal: nobody waits, or only escorts do.
func entryNormal(s *step, t Tap) {
	st := t.Info.Staff
	switch {
	case st == nil:
		s.guestTap(t)
	case !s.m.usable(st) || !st.Escort && !st.Solo:
		s.deny(t, wire.ReasonNoPermit, Event{Staff: st.ID})
	default:
		if st.Solo {
			s.grantSolo(t, st, "", "")
		}
		if st.Escort {
			s.escortWaits(st)
		}
	}
}

// entryGuestWaits: a guest waits for their escort. A staff tap is one
// answer: the assigned escort lets the guest in; staff with the solo right
// go in alone and end the guest's wait, so that the guest cannot walk in
// behind them unrecorded; anyone else is denied and the guest waits on.
func entryGuestWaits(s *step, t Tap) {
	st := t.Info.Staff
	if st == nil {
		s.guestTap(t)
		return
	}
	w := s.m.pairing.guest
	assigned := w.p.Escort == st.ID
	switch {
	case !s.m.usable(st):
		s.deny(t, wire.ReasonNoPermit, Event{Staff: st.ID})
	case assigned && st.Escort:
		s.escortArrives(t)
	case st.Solo:
		reason, detail := wire.ReasonEscortTimeout, "door released for "+st.ID+" alone"
		if assigned {
			reason, detail = wire.ReasonEscortNotAllowed, "assigned escort "+st.ID+" may not escort; door released for them alone"
		}
		s.grantSolo(t, st, reason, detail)
		if st.Escort {
			s.escortWaits(st)
		}
	case st.Escort:
		s.deny(t, wire.ReasonWrongEscort, Event{Staff: st.ID, Escort: st.ID, Permit: w.p.ID,
			Detail: "assigned escort is " + w.p.Escort})
	default:
		// the guest's permit is the one this card may not escort
		s.deny(t, wire.ReasonEscortNotAllowed, Event{Staff: st.ID, Permit: w.p.ID})
	}
}

func (m *Machine) usable(st *permit.Staff) bool { return !st.Disabled && st.AllowsDoor(m.door) }

// guestTap decides a card with permits (or none) on the entry reader.
func (s *step) guestTap(t Tap) {
	m := s.m
	if len(t.Info.Permits) == 0 {
		s.deny(t, wire.ReasonUnknownCard, Event{})
		return
	}
	p, reason := m.choosePermit(t.Info.Permits, s.tm)
	if reason != "" {
		s.deny(t, reason, Event{Permit: p.ID, Escort: p.Escort})
		return
	}
	if i := slices.IndexFunc(m.pairing.escorts, func(e escortTap) bool { return e.staff == p.Escort }); i >= 0 {
		m.pairing.escorts = slices.Delete(m.pairing.escorts, i, i+1)
		s.grantGuest(t.Card, p)
		return
	}
	if w := m.pairing.guest; w != nil && w.p.ID != p.ID {
		s.endWait(wire.ReasonEscortTimeout, "another guest tapped")
	}
	m.pairing.guest = &waitingGuest{p: p, at: s.now}
	s.emit(Event{Type: wire.EvEscortAwaited, Reader: t.Reader, Permit: p.ID, Escort: p.Escort, Card: t.Card.Short()})
}

// endWait ends the waiting guest's wait, if any, with an access.denied for
// the guest's card.
func (s *step) endWait(reason wire.Reason, detail string) {
	w := s.m.pairing.guest
	if w == nil {
		return
	}
	s.m.pairing.guest = nil
	s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Permit: w.p.ID, Escort: w.p.Escort, Reason: reason,
		Card: w.p.Card.Short(), Detail: detail})
}

// escortArrives lets the waiting guest in, if their permit, as the store
// knows it now, still admits.
func (s *step) escortArrives(t Tap) {
	m := s.m
	p := m.pairing.guest.p
	m.pairing.guest = nil
	if t.Waiting != nil {
		i := slices.IndexFunc(t.Waiting.Permits, func(q PermitInfo) bool { return q.ID == p.ID })
		if i < 0 {
			s.deny(Tap{Reader: ReaderEntry, Card: p.Card}, wire.ReasonNoPermit, Event{Permit: p.ID, Escort: p.Escort,
				Detail: "permit withdrawn while waiting for the escort"})
			return
		}
		p = t.Waiting.Permits[i]
	}
	// the guest gets in now: the permit must still admit now
	if _, reason := m.choosePermit([]PermitInfo{p}, s.tm); reason != "" {
		s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Permit: p.ID, Escort: p.Escort, Reason: reason,
			Card: p.Card.Short(), Detail: "when the escort tapped"})
		return
	}
	s.grantGuest(p.Card, p)
}

// escortWaits remembers an escort's tap for their guest to tap within the
// escort window.
func (s *step) escortWaits(st *permit.Staff) {
	m := s.m
	m.pairing.escorts = slices.DeleteFunc(m.pairing.escorts, func(e escortTap) bool { return e.staff == st.ID })
	m.pairing.escorts = append(m.pairing.escorts, escortTap{staff: st.ID, solo: st.Solo, at: s.now})
}

// choosePermit returns a permit of this door that admits now, or the most
// telling reason why none does.
func (m *Machine) choosePermit(ps []PermitInfo, tm Time) (PermitInfo, wire.Reason) {
	best, reason, rank := PermitInfo{}, wire.ReasonNoPermit, 0
	// a later rank is a more specific reason to tell the guest
	ranks := map[wire.Reason]int{wire.ReasonNoPermit: 0, wire.ReasonRevoked: 1, wire.ReasonExpired: 2, wire.ReasonEntriesUsed: 3,
		wire.ReasonNotYetValid: 4, wire.ReasonClockUntrusted: 5}
	for _, p := range ps {
		if p.Site != m.site || p.Door != m.door {
			continue
		}
		var r wire.Reason
		switch {
		case p.Revoked:
			r = wire.ReasonRevoked
		case !tm.Trusted:
			r = wire.ReasonClockUntrusted
		case tm.Now.Before(p.NotBefore):
			r = wire.ReasonNotYetValid
		case !tm.Now.Before(p.NotAfter):
			r = wire.ReasonExpired
		case p.Entries > 0 && p.Used >= p.Entries:
			r = wire.ReasonEntriesUsed
		default:
			return p, ""
		}
		if best.ID == "" || ranks[r] > rank {
			best, reason, rank = p, r, ranks[r]
		}
	}
	return best, reason
}

// grantSolo lets staff with the solo right in alone. A guest waiting for
// someone else's tap has their wait ended, with reason and detail, before
// the lock is released.
func (s *step) grantSolo(t Tap, st *permit.Staff, reason wire.Reason, detail string) {
	m := s.m
	// an escort who went out and comes back is with the guest again
	m.occupancy.leftAlone = slices.DeleteFunc(m.occupancy.leftAlone, func(l leftEscort) bool { return l.escort == st.ID })
	s.emit(Event{Type: wire.EvGranted, Reader: t.Reader, Staff: st.ID, Card: t.Card.Short(), Detail: "solo"})
	s.endWait(reason, detail)
	m.admit(wire.Occupant{Staff: st.ID, Card: t.Card.Short()}, t.Card)
	s.unlock("solo " + st.ID)
	s.enterIfOpen()
}

// grantGuest lets a guest in. Another guest still waiting has their wait
// ended: one guest at a time goes in, and only the one the log names.
func (s *step) grantGuest(card permit.Fingerprint, p PermitInfo) {
	m := s.m
	s.emit(Event{Type: wire.EvGranted, Reader: ReaderEntry, Permit: p.ID, Escort: p.Escort, Card: card.Short()})
	if w := m.pairing.guest; w != nil && w.p.ID == p.ID {
		m.pairing.guest = nil
	}
	s.endWait(wire.ReasonEscortTimeout, "door released for "+p.ID)
	m.admit(wire.Occupant{Permit: p.ID, Escort: p.Escort, Card: card.Short()}, card)
	s.unlock("permit " + p.ID)
	s.enterIfOpen()
}

func (m *Machine) admit(o wire.Occupant, card permit.Fingerprint) {
	// granted again before the door opened: still one entry
	if slices.ContainsFunc(m.occupancy.admitted, func(a admitted) bool { return a.occ.Permit == o.Permit && a.occ.Staff == o.Staff }) {
		return
	}
	m.occupancy.admitted = append(m.occupancy.admitted, admitted{occ: o, card: card})
}

// enterIfOpen records entry at once when the door is already open.
func (s *step) enterIfOpen() {
	if s.m.contact.open() {
		s.enter()
	}
}

func (s *step) enter() {
	m := s.m
	for _, a := range m.occupancy.admitted {
		o := a.occ
		o.Since = s.now
		if i := m.insideOcc(o); i >= 0 {
			m.occupancy.inside = slices.Delete(m.occupancy.inside, i, i+1)
		}
		m.occupancy.inside = append(m.occupancy.inside, o)
		s.emit(Event{Type: wire.EvVisitEntered, Permit: o.Permit, Escort: o.Escort, Staff: o.Staff, Card: o.Card})
		if o.Permit != "" {
			s.out.Used = append(s.out.Used, o.Permit)
		}
		// someone came in: the room is occupied again
		m.securing.due = time.Time{}
	}
	m.occupancy.admitted = nil
}

func (m *Machine) inside(permitID string) int {
	return slices.IndexFunc(m.occupancy.inside, func(o wire.Occupant) bool { return o.Permit == permitID })
}

func (m *Machine) insideOcc(o wire.Occupant) int {
	return slices.IndexFunc(m.occupancy.inside, func(x wire.Occupant) bool { return x.Permit == o.Permit && x.Staff == o.Staff })
}

func (s *step) exitTap(t Tap) {
	m := s.m
	s.emitTap(t)
	if t.Info.Staff == nil && len(t.Info.Permits) == 0 {
		s.deny(t, wire.ReasonUnknownCard, Event{})
		return
	}
	short := t.Card.Short()
	req := Event{Type: wire.EvExitRequested, Reader: t.Reader, Card: short}
	if st := t.Info.Staff; st != nil {
		req.Staff = st.ID
	}
	s.emit(req)
	s.requestExit(false)
	if st := t.Info.Staff; st != nil {
		if i := slices.IndexFunc(m.occupancy.inside, func(o wire.Occupant) bool { return o.Staff == st.ID }); i >= 0 {
			s.leave(i)
		}
		for _, o := range m.occupancy.inside {
			if o.Permit != "" && o.Escort == st.ID {
				// a second tap out restarts the grace time, it is not a second alarm
				m.occupancy.leftAlone = slices.DeleteFunc(m.occupancy.leftAlone, func(l leftEscort) bool { return l.permit == o.Permit })
				m.occupancy.leftAlone = append(m.occupancy.leftAlone, leftEscort{escort: st.ID, permit: o.Permit, at: s.now})
			}
		}
		return
	}
	for i := len(m.occupancy.inside) - 1; i >= 0; i-- {
		if o := m.occupancy.inside[i]; o.Permit != "" && o.Card == short {
			s.leave(i)
		}
	}
}

// leave records that occupant i went out.
func (s *step) leave(i int) {
	m := s.m
	o := m.occupancy.inside[i]
	m.occupancy.inside = slices.Delete(m.occupancy.inside, i, i+1)
	s.emit(Event{Type: wire.EvVisitExited, Permit: o.Permit, Escort: o.Escort, Staff: o.Staff, Card: o.Card,
		Detail: "inside since " + o.Since.UTC().Format(time.RFC3339)})
	if o.Permit != "" {
		m.occupancy.leftAlone = slices.DeleteFunc(m.occupancy.leftAlone, func(l leftEscort) bool { return l.permit == o.Permit })
	}
	if m.occupancy.empty() {
		m.securing.due = s.now.Add(m.rules.SecureWithin)
	}
}

func (s *step) requestExit(button bool) {
	m := s.m
	m.lock.exit = exitWindow{until: s.now.Add(m.rules.Unlock), all: button && !m.exitReader}
	if m.rules.ExitUnlocks {
		s.unlock("exit")
	}
}

func (s *step) doorInput(open bool) {
	m := s.m
	if open == m.contact.open() {
		return
	}
	if !open {
		m.contact = contactState{}
		// an exit request lets the door open once: opened again while
		// locked, it is forced
		m.lock.exit = exitWindow{}
		s.emit(Event{Type: wire.EvClosed})
		if m.lock.unlocked() {
			s.lock("door closed")
		}
		return
	}
	m.contact = contactState{phase: openPhase, since: s.now}
	s.emit(Event{Type: wire.EvOpened})
	if !m.lock.unlocked() && m.lock.exit.until.IsZero() {
		m.contact.forced = true
		s.emit(Event{Type: wire.EvForced})
	}
	if m.lock.exit.all {
		m.lock.exit.all = false
		for len(m.occupancy.inside) > 0 {
			s.leave(len(m.occupancy.inside) - 1)
		}
	}
	if m.lock.unlocked() {
		s.enter()
	}
}

func (s *step) rackInput(in RackInput) {
	r := &s.m.racks
	if was, ok := r.open[in.Rack]; !ok || was == in.Open {
		return
	}
	r.open[in.Rack] = in.Open
	if !in.Open {
		s.emit(Event{Type: wire.EvRackClosed, Rack: in.Rack})
		return
	}
	s.emit(Event{Type: wire.EvRackOpened, Rack: in.Rack})
	if s.m.occupancy.empty() {
		r.tampered[in.Rack] = true
		s.emit(Event{Type: wire.EvRackTampered, Rack: in.Rack, Detail: "opened while the room is empty"})
	}
}

func (s *step) command(c Command) {
	m := s.m
	what := string(c.Name) + " " + c.ID
	if c.Reason != "" {
		what += ": " + c.Reason // the operator's, for the record (the hub's command log has it too)
	}
	ok := func() { s.emit(Event{Type: wire.EvCmdExecuted, Command: c.Name, Detail: what}) }
	switch c.Name {
	case wire.CmdLockdown:
		m.mode = wire.ModeLockdown
		ok()
		// a guest waiting for the escort is turned away, and the record
		// says so: the visit never began
		s.endWait(wire.ReasonLockdown, "door locked down by command "+c.ID)
		m.pairing = pairing{}
		s.lock("lockdown")
	case wire.CmdRelease:
		m.mode = wire.ModeNormal
		ok()
	case wire.CmdUnlockOnce:
		if m.mode == wire.ModeLockdown {
			s.emit(Event{Type: wire.EvCmdRejected, Reason: wire.ReasonLockdown, Command: c.Name, Detail: string(c.Name) + " " + c.ID})
			return
		}
		ok()
		// released for whoever the command was for, not for a waiting guest
		s.endWait(wire.ReasonEscortTimeout, "door released by command "+c.ID)
		m.lock.exit = exitWindow{until: s.now.Add(m.rules.Unlock)} // a remote unlock is not a forced door
		s.unlock("command " + c.ID)
	case wire.CmdResync:
		ok()
	default:
		s.emit(Event{Type: wire.EvCmdRejected, Reason: wire.ReasonUnknown, Command: c.Name, Detail: "unknown command " + string(c.Name)})
	}
}

func (m *Machine) secure() bool {
	return !m.contact.open() && !m.lock.unlocked() && len(m.racks.openNames()) == 0
}

// insecurity names what keeps the room from being secured.
func (m *Machine) insecurity() string {
	var open []string
	if m.contact.open() {
		open = append(open, "door open")
	}
	if m.lock.unlocked() {
		open = append(open, "lock released")
	}
	for _, r := range m.racks.openNames() {
		open = append(open, "rack "+r+" open")
	}
	return strings.Join(open, ", ")
}

// checkSecured records room.secured once the empty room is shut, after the
// last exit or after a room.not_secured alarm.
func (s *step) checkSecured() {
	m := s.m
	if !m.occupancy.empty() {
		return
	}
	sec := &m.securing
	if !m.secure() {
		// an empty room that comes open (forced door, tampered rack) must be
		// shut again in time, like after the last exit
		if sec.due.IsZero() && !sec.alarm {
			sec.due = s.now.Add(m.rules.SecureWithin)
		}
		return
	}
	if sec.due.IsZero() && !sec.alarm {
		return
	}
	*sec = securing{}
	clear(m.racks.tampered) // every rack is closed now
	s.emit(Event{Type: wire.EvSecured})
}

// StartSecureCheck asks for the room to be found secured within the rule's
// time, as after the last exit; Started calls it.
func (m *Machine) StartSecureCheck(now time.Time) {
	if m.occupancy.empty() {
		m.securing.due = now.Add(m.rules.SecureWithin)
	}
}
