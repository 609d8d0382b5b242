package agent

import (
	"fmt"
	"slices"
	"sort"
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

// DoorInput is the door's reed switch changing.
type DoorInput struct{ Open bool }

// RackInput is a rack lock's reed switch changing.
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
	Name wire.CommandName
	ID   string
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

func (Tap) isInput()        {}
func (DoorInput) isInput()  {}
func (RackInput) isInput()  {}
func (ExitButton) isInput() {}
func (Tick) isInput()       {}
func (Command) isInput()    {}
func (Note) isInput()       {}
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

// Snapshot is the part of the machine's state that survives a restart.
type Snapshot struct {
	Mode      wire.Mode       `json:"mode"`
	Occupancy []wire.Occupant `json:"occupancy"`
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

type admitted struct {
	occ  wire.Occupant
	card permit.Fingerprint
}

type leftEscort struct {
	escort, permit string
	at             time.Time
}

// Machine is the door's state machine. It is deterministic: the same
// inputs at the same times give the same outcomes; it does no I/O.
type Machine struct {
	site, door string
	rules      Rules
	exitReader bool
	rackNames  []string

	doorOpen   bool
	racks      map[string]bool // open
	unlocked   bool
	relockAt   time.Time
	openedAt   time.Time
	heldAlarm  bool
	forced     bool
	exitUntil  time.Time
	exitByBtn  bool
	mode       wire.Mode
	waiting    *waitingGuest
	escorts    []escortTap
	admitted   []admitted
	occupancy  []wire.Occupant
	cards      map[string]permit.Fingerprint // occupant key -> card
	leftAlone  []leftEscort
	secureBy   time.Time // zero: no check running
	notSecured bool      // alarm raised, until the room is secured
	tampered   map[string]bool
	relayFault bool // the relay failed to move, until it moves again
}

// NewMachine returns a door with the relay locked, every input closed, and
// the state of snap restored.
func NewMachine(site, door string, rules Rules, readers, racks []string, snap Snapshot) *Machine {
	m := &Machine{site: site, door: door, rules: rules, mode: wire.ModeNormal,
		racks: map[string]bool{}, cards: map[string]permit.Fingerprint{}, tampered: map[string]bool{},
		rackNames: slices.Clone(racks)}
	m.exitReader = slices.Contains(readers, ReaderExit)
	sort.Strings(m.rackNames)
	for _, r := range racks {
		m.racks[r] = false
	}
	if snap.Mode == wire.ModeLockdown {
		m.mode = wire.ModeLockdown
	}
	m.occupancy = slices.Clone(snap.Occupancy)
	return m
}

// Clone returns an independent copy, so the loop can throw away the new
// state when the store refuses the outcome.
func (m *Machine) Clone() *Machine {
	c := *m
	c.racks = cloneMap(m.racks)
	c.tampered = cloneMap(m.tampered)
	c.cards = cloneMap(m.cards)
	c.escorts = slices.Clone(m.escorts)
	c.admitted = slices.Clone(m.admitted)
	c.occupancy = slices.Clone(m.occupancy)
	c.leftAlone = slices.Clone(m.leftAlone)
	if m.waiting != nil {
		w := *m.waiting
		c.waiting = &w
	}
	return &c
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Snapshot returns the state that must survive a restart.
func (m *Machine) Snapshot() Snapshot {
	return Snapshot{Mode: m.mode, Occupancy: slices.Clone(m.occupancy)}
}

// WaitingCard returns the card of the guest waiting for an escort.
func (m *Machine) WaitingCard() (permit.Fingerprint, bool) {
	if m.waiting == nil {
		return "", false
	}
	return m.waiting.p.Card, true
}

// Unlocked reports the relay state the machine has asked for.
func (m *Machine) Unlocked() bool { return m.unlocked }

// HasRack reports whether name is a configured rack.
func (m *Machine) HasRack(name string) bool { _, ok := m.racks[name]; return ok }

// Status returns the current state; the door adds seq, clock and version.
func (m *Machine) Status() wire.Status {
	s := wire.Status{Door: openClosed(m.doorOpen), Lock: wire.Locked, Racks: map[string]string{}, Mode: m.mode,
		Occupancy: slices.Clone(m.occupancy), Secured: m.roomEmpty() && m.secure(), Alarms: []wire.Alarm{}}
	if m.unlocked {
		s.Lock = wire.Unlocked
	}
	if s.Occupancy == nil {
		s.Occupancy = []wire.Occupant{}
	}
	for _, r := range m.rackNames {
		s.Racks[r] = openClosed(m.racks[r])
	}
	if m.forced {
		s.Alarms = append(s.Alarms, wire.AlarmDoorForced)
	}
	if m.heldAlarm {
		s.Alarms = append(s.Alarms, wire.AlarmDoorHeldOpen)
	}
	if m.notSecured {
		s.Alarms = append(s.Alarms, wire.AlarmRoomNotSecured)
	}
	for _, r := range m.rackNames {
		if m.tampered[r] {
			s.Alarms = append(s.Alarms, wire.RackTamperedAlarm(r))
		}
	}
	if m.mode == wire.ModeLockdown {
		s.Alarms = append(s.Alarms, wire.AlarmLockdown)
	}
	if m.relayFault {
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
// zero time.
func (m *Machine) Deadline() time.Time {
	var d time.Time
	min := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if m.unlocked {
		min(m.relockAt)
	}
	if m.waiting != nil {
		min(m.waiting.at.Add(m.rules.EscortWindow))
	}
	for _, e := range m.escorts {
		min(e.at.Add(m.rules.EscortWindow))
	}
	if m.doorOpen && !m.heldAlarm {
		min(m.openedAt.Add(m.rules.HeldOpen))
	}
	for _, l := range m.leftAlone {
		min(l.at.Add(m.rules.EscortWindow))
	}
	min(m.secureBy)
	if !m.exitUntil.IsZero() {
		min(m.exitUntil)
	}
	return d
}

type step struct {
	m   *Machine
	now time.Time
	out Outcome
}

func (s *step) emit(e Event) { s.out.Events = append(s.out.Events, e) }

// Handle applies one input at time t and returns what must be stored and
// done. Timers that are due at t expire first.
func (m *Machine) Handle(in Input, t Time) Outcome {
	s := &step{m: m, now: t.Now}
	s.expire()
	switch in := in.(type) {
	case Tap:
		if in.Reader == ReaderExit {
			s.exitTap(in)
		} else {
			s.entryTap(in, t)
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
	case Started:
		// the relay was driven to its safe state before anything else;
		// whatever the log said last (a power cut while unlocked), it is
		// locked now
		s.emit(Event{Type: wire.EvStarted, Detail: in.Version})
		s.emit(Event{Type: wire.EvLocked, Detail: "safe state at start"})
		m.StartSecureCheck(t.Now)
	case RelayFault:
		s.emit(Event{Type: wire.EvRelayFault, Detail: in.Err})
		if m.unlocked {
			s.lock("relay fault")
		}
		m.relayFault = true
	case Tick:
	}
	s.checkSecured()
	return s.out
}

// expire runs every timer that is due.
func (s *step) expire() {
	m, now := s.m, s.now
	if m.unlocked && !m.relockAt.IsZero() && !now.Before(m.relockAt) {
		s.lock("unlock time over")
	}
	if !m.exitUntil.IsZero() && !now.Before(m.exitUntil) {
		m.exitUntil, m.exitByBtn = time.Time{}, false
	}
	if w := m.waiting; w != nil && !now.Before(w.at.Add(m.rules.EscortWindow)) {
		s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Permit: w.p.ID, Escort: w.p.Escort, Reason: wire.ReasonEscortTimeout,
			Card: w.p.Card.Short()})
		m.waiting = nil
	}
	kept := m.escorts[:0]
	for _, e := range m.escorts {
		if now.Before(e.at.Add(m.rules.EscortWindow)) {
			kept = append(kept, e)
		} else if !e.solo {
			s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Escort: e.staff, Staff: e.staff, Reason: wire.ReasonEscortTimeout,
				Detail: "no guest tapped"})
		}
	}
	m.escorts = kept
	if m.doorOpen && !m.heldAlarm && !now.Before(m.openedAt.Add(m.rules.HeldOpen)) {
		m.heldAlarm = true
		s.emit(Event{Type: wire.EvHeldOpen, Detail: fmt.Sprintf("open since %s", m.openedAt.UTC().Format(time.RFC3339))})
	}
	left := m.leftAlone[:0]
	for _, l := range m.leftAlone {
		if now.Before(l.at.Add(m.rules.EscortWindow)) {
			left = append(left, l)
			continue
		}
		if m.inside(l.permit) >= 0 {
			s.emit(Event{Type: wire.EvUnescorted, Permit: l.permit, Escort: l.escort})
		}
	}
	m.leftAlone = left
	if !m.secureBy.IsZero() && !now.Before(m.secureBy) {
		m.secureBy = time.Time{}
		if !m.secure() {
			m.notSecured = true
			s.emit(Event{Type: wire.EvNotSecured, Racks: m.openRacks(), Detail: m.insecurity()})
		}
	}
}

func (s *step) unlock(why string) {
	m := s.m
	m.relockAt = s.now.Add(m.rules.Unlock)
	if m.unlocked {
		return
	}
	m.unlocked, m.relayFault = true, false
	s.emit(Event{Type: wire.EvUnlocked, Detail: why})
	s.out.Relay = RelayUnlock
}

func (s *step) lock(why string) {
	m := s.m
	m.relockAt = time.Time{}
	m.admitted = nil // granted but never opened the door: no entry
	if !m.unlocked {
		return
	}
	m.unlocked, m.relayFault = false, false
	s.emit(Event{Type: wire.EvLocked, Detail: why})
	s.out.Relay = RelayLock
}

func (s *step) deny(t Tap, reason wire.Reason, e Event) {
	e.Type, e.Reader, e.Reason, e.Card = wire.EvDenied, t.Reader, reason, t.Card.Short()
	s.emit(e)
}

func (s *step) entryTap(t Tap, tm Time) {
	m := s.m
	st := t.Info.Staff
	tap := Event{Type: wire.EvTap, Reader: t.Reader, Card: t.Card.Short()}
	if st != nil {
		tap.Staff = st.ID
	}
	s.emit(tap)
	if m.mode == wire.ModeLockdown {
		s.deny(t, wire.ReasonLockdown, Event{Staff: tap.Staff})
		return
	}
	if st != nil {
		s.staffTap(t, st, tm)
		return
	}
	if len(t.Info.Permits) == 0 {
		s.deny(t, wire.ReasonUnknownCard, Event{})
		return
	}
	p, reason := m.choosePermit(t.Info.Permits, tm)
	if reason != "" {
		s.deny(t, reason, Event{Permit: p.ID, Escort: p.Escort})
		return
	}
	for i, e := range m.escorts {
		if e.staff == p.Escort {
			m.escorts = slices.Delete(m.escorts, i, i+1)
			s.grantGuest(t.Card, p)
			return
		}
	}
	if w := m.waiting; w != nil && w.p.ID != p.ID {
		s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Permit: w.p.ID, Escort: w.p.Escort, Reason: wire.ReasonEscortTimeout,
			Card: w.p.Card.Short(), Detail: "another guest tapped"})
	}
	m.waiting = &waitingGuest{p: p, at: s.now}
	s.emit(Event{Type: wire.EvEscortAwaited, Reader: t.Reader, Permit: p.ID, Escort: p.Escort, Card: t.Card.Short()})
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

func (s *step) staffTap(t Tap, st *permit.Staff, tm Time) {
	m := s.m
	w := m.waiting
	usable := !st.Disabled && st.AllowsDoor(m.door)
	if !usable || !st.Escort && !st.Solo {
		if w != nil && usable {
			// the guest's permit is the one this card may not escort
			s.deny(t, wire.ReasonEscortNotAllowed, Event{Staff: st.ID, Permit: w.p.ID})
			return
		}
		s.deny(t, wire.ReasonNoPermit, Event{Staff: st.ID})
		return
	}
	if w != nil && w.p.Escort != st.ID && st.Escort {
		s.deny(t, wire.ReasonWrongEscort, Event{Staff: st.ID, Escort: st.ID, Permit: w.p.ID,
			Detail: "assigned escort is " + w.p.Escort})
		if !st.Solo {
			return
		}
	}
	if w != nil && w.p.Escort == st.ID {
		if !st.Escort {
			s.deny(t, wire.ReasonEscortNotAllowed, Event{Staff: st.ID, Permit: w.p.ID})
			if !st.Solo {
				return
			}
		} else {
			m.waiting = nil
			p := w.p
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
			if _, reason := m.choosePermit([]PermitInfo{p}, tm); reason != "" {
				s.emit(Event{Type: wire.EvDenied, Reader: ReaderEntry, Permit: p.ID, Escort: p.Escort, Reason: reason,
					Card: p.Card.Short(), Detail: "when the escort tapped"})
				return
			}
			s.grantGuest(p.Card, p)
			return
		}
	}
	if st.Solo {
		// an escort who went out and comes back is with the guest again
		m.leftAlone = slices.DeleteFunc(m.leftAlone, func(l leftEscort) bool { return l.escort == st.ID })
		s.emit(Event{Type: wire.EvGranted, Reader: t.Reader, Staff: st.ID, Card: t.Card.Short(), Detail: "solo"})
		m.admit(wire.Occupant{Staff: st.ID, Card: t.Card.Short()}, t.Card)
		s.unlock("solo " + st.ID)
		s.enterIfOpen()
	}
	if st.Escort {
		m.escorts = slices.DeleteFunc(m.escorts, func(e escortTap) bool { return e.staff == st.ID })
		m.escorts = append(m.escorts, escortTap{staff: st.ID, solo: st.Solo, at: s.now})
	}
}

func (s *step) grantGuest(card permit.Fingerprint, p PermitInfo) {
	m := s.m
	s.emit(Event{Type: wire.EvGranted, Reader: ReaderEntry, Permit: p.ID, Escort: p.Escort, Card: card.Short()})
	m.admit(wire.Occupant{Permit: p.ID, Escort: p.Escort, Card: card.Short()}, card)
	s.unlock("permit " + p.ID)
	s.enterIfOpen()
}

func (m *Machine) admit(o wire.Occupant, card permit.Fingerprint) {
	// granted again before the door opened: still one entry
	if slices.ContainsFunc(m.admitted, func(a admitted) bool { return a.occ.Permit == o.Permit && a.occ.Staff == o.Staff }) {
		return
	}
	m.admitted = append(m.admitted, admitted{occ: o, card: card})
}

// enterIfOpen records entry at once when the door is already open.
func (s *step) enterIfOpen() {
	if s.m.doorOpen {
		s.enter()
	}
}

func (s *step) enter() {
	m := s.m
	for _, a := range m.admitted {
		o := a.occ
		o.Since = s.now
		if i := m.insideOcc(o); i >= 0 {
			m.occupancy = slices.Delete(m.occupancy, i, i+1)
		}
		m.occupancy = append(m.occupancy, o)
		s.emit(Event{Type: wire.EvVisitEntered, Permit: o.Permit, Escort: o.Escort, Staff: o.Staff, Card: o.Card})
		if o.Permit != "" {
			s.out.Used = append(s.out.Used, o.Permit)
		}
		// someone came in: the room is occupied again
		m.secureBy = time.Time{}
	}
	m.admitted = nil
}

func (m *Machine) inside(permitID string) int {
	return slices.IndexFunc(m.occupancy, func(o wire.Occupant) bool { return o.Permit == permitID })
}

func (m *Machine) insideOcc(o wire.Occupant) int {
	return slices.IndexFunc(m.occupancy, func(x wire.Occupant) bool { return x.Permit == o.Permit && x.Staff == o.Staff })
}

func (s *step) exitTap(t Tap) {
	m := s.m
	short := t.Card.Short()
	tap := Event{Type: wire.EvTap, Reader: t.Reader, Card: short}
	if t.Info.Staff != nil {
		tap.Staff = t.Info.Staff.ID
	}
	s.emit(tap)
	if t.Info.Staff == nil && len(t.Info.Permits) == 0 {
		s.deny(t, wire.ReasonUnknownCard, Event{})
		return
	}
	s.emit(Event{Type: wire.EvExitRequested, Reader: t.Reader, Staff: tap.Staff, Card: short})
	s.requestExit(false)
	if st := t.Info.Staff; st != nil {
		if i := slices.IndexFunc(m.occupancy, func(o wire.Occupant) bool { return o.Staff == st.ID }); i >= 0 {
			s.leave(i)
		}
		for _, o := range m.occupancy {
			if o.Permit != "" && o.Escort == st.ID {
				// a second tap out restarts the grace time, it is not a second alarm
				m.leftAlone = slices.DeleteFunc(m.leftAlone, func(l leftEscort) bool { return l.permit == o.Permit })
				m.leftAlone = append(m.leftAlone, leftEscort{escort: st.ID, permit: o.Permit, at: s.now})
			}
		}
		return
	}
	for i := len(m.occupancy) - 1; i >= 0; i-- {
		if o := m.occupancy[i]; o.Permit != "" && o.Card == short {
			s.leave(i)
		}
	}
}

// leave records that occupant i went out.
func (s *step) leave(i int) {
	m := s.m
	o := m.occupancy[i]
	m.occupancy = slices.Delete(m.occupancy, i, i+1)
	s.emit(Event{Type: wire.EvVisitExited, Permit: o.Permit, Escort: o.Escort, Staff: o.Staff, Card: o.Card,
		Detail: "inside since " + o.Since.UTC().Format(time.RFC3339)})
	if o.Permit != "" {
		m.leftAlone = slices.DeleteFunc(m.leftAlone, func(l leftEscort) bool { return l.permit == o.Permit })
	}
	if m.roomEmpty() {
		m.secureBy = s.now.Add(m.rules.SecureWithin)
	}
}

func (s *step) requestExit(button bool) {
	m := s.m
	m.exitUntil = s.now.Add(m.rules.Unlock)
	m.exitByBtn = button && !m.exitReader
	if m.rules.ExitUnlocks {
		s.unlock("exit")
	}
}

func (s *step) doorInput(open bool) {
	m := s.m
	if open == m.doorOpen {
		return
	}
	m.doorOpen = open
	if !open {
		m.heldAlarm = false
		// an exit request lets the door open once: opened again while
		// locked, it is forced
		m.exitUntil, m.exitByBtn = time.Time{}, false
		s.emit(Event{Type: wire.EvClosed})
		if m.unlocked {
			s.lock("door closed")
		}
		m.forced = false
		return
	}
	m.openedAt = s.now
	s.emit(Event{Type: wire.EvOpened})
	exiting := !m.exitUntil.IsZero()
	if !m.unlocked && !exiting {
		m.forced = true
		s.emit(Event{Type: wire.EvForced})
	}
	if m.exitByBtn {
		m.exitByBtn = false
		for len(m.occupancy) > 0 {
			s.leave(len(m.occupancy) - 1)
		}
	}
	if m.unlocked {
		s.enter()
	}
}

func (s *step) rackInput(in RackInput) {
	m := s.m
	if was, ok := m.racks[in.Rack]; !ok || was == in.Open {
		return
	}
	m.racks[in.Rack] = in.Open
	if !in.Open {
		s.emit(Event{Type: wire.EvRackClosed, Rack: in.Rack})
		return
	}
	s.emit(Event{Type: wire.EvRackOpened, Rack: in.Rack})
	if m.roomEmpty() {
		m.tampered[in.Rack] = true
		s.emit(Event{Type: wire.EvRackTampered, Rack: in.Rack, Detail: "opened while the room is empty"})
	}
}

func (s *step) command(c Command) {
	m := s.m
	ok := func() { s.emit(Event{Type: wire.EvCmdExecuted, Command: c.Name, Detail: string(c.Name) + " " + c.ID}) }
	switch c.Name {
	case wire.CmdLockdown:
		m.mode = wire.ModeLockdown
		m.waiting, m.escorts = nil, nil
		ok()
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
		m.exitUntil = s.now.Add(m.rules.Unlock) // a remote unlock is not a forced door
		s.unlock("command " + c.ID)
	case wire.CmdResync:
		ok()
	default:
		s.emit(Event{Type: wire.EvCmdRejected, Reason: wire.ReasonUnknown, Command: c.Name, Detail: "unknown command " + string(c.Name)})
	}
}

func (m *Machine) roomEmpty() bool { return len(m.occupancy) == 0 && len(m.admitted) == 0 }

func (m *Machine) secure() bool {
	if m.doorOpen || m.unlocked {
		return false
	}
	for _, open := range m.racks {
		if open {
			return false
		}
	}
	return true
}

// openRacks names the racks that are open, in the configured order.
func (m *Machine) openRacks() []string {
	var open []string
	for _, r := range m.rackNames {
		if m.racks[r] {
			open = append(open, r)
		}
	}
	return open
}

// insecurity names what keeps the room from being secured.
func (m *Machine) insecurity() string {
	var open []string
	if m.doorOpen {
		open = append(open, "door open")
	}
	if m.unlocked {
		open = append(open, "lock released")
	}
	for _, r := range m.rackNames {
		if m.racks[r] {
			open = append(open, "rack "+r+" open")
		}
	}
	return strings.Join(open, ", ")
}

// checkSecured records room.secured once the empty room is shut, after the
// last exit or after a room.not_secured alarm.
func (s *step) checkSecured() {
	m := s.m
	if !m.roomEmpty() {
		return
	}
	if !m.secure() {
		// an empty room that comes open (forced door, tampered rack) must be
		// shut again in time, like after the last exit
		if m.secureBy.IsZero() && !m.notSecured {
			m.secureBy = s.now.Add(m.rules.SecureWithin)
		}
		return
	}
	if m.secureBy.IsZero() && !m.notSecured {
		return
	}
	m.secureBy, m.notSecured = time.Time{}, false
	for r := range m.tampered {
		if !m.racks[r] {
			delete(m.tampered, r)
		}
	}
	s.emit(Event{Type: wire.EvSecured})
}

// StartSecureCheck asks for the room to be found secured within the rule's
// time, as after the last exit; the loop calls it at start.
func (m *Machine) StartSecureCheck(now time.Time) {
	if m.roomEmpty() {
		m.secureBy = now.Add(m.rules.SecureWithin)
	}
}
