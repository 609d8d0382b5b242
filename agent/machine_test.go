package agent_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(compactChildEnv); spec != "" {
		compactChild(spec) // TestCompactKilled's child; it never returns
	}
	goleak.VerifyTestMain(m)
}

const (
	testSite = "demo"
	testDoor = "server-room"
)

// testKey keys every card fingerprint of the tests.
var testKey = permit.SiteKey(bytes.Repeat([]byte{0x5a}, permit.SiteKeySize))

// t0 is the tests' "now": every permit window is laid around it.
var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// uidOf returns the 7-byte UID of test card n.
func uidOf(n byte) []byte { return []byte{0x04, n, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6} }

// cardOf returns the fingerprint of test card n.
func cardOf(n byte) permit.Fingerprint { return testKey.Fingerprint(uidOf(n)) }

// Test cards: guests 1-9, staff 10-19, 99 is known to nobody.
var (
	guestCard   = cardOf(1)
	guest2Card  = cardOf(2)
	unknownCard = cardOf(99)
)

// Staff of the tests, one of each kind of right.
var (
	escortStaff  = staffRec("S-ESC", 10, true, false)  // escort only
	escort2Staff = staffRec("S-ESC2", 11, true, false) // escort only, assigned to nobody
	soloStaff    = staffRec("S-SOLO", 12, false, true) // solo only
	bothStaff    = staffRec("S-BOTH", 13, true, true)  // escort and solo
	plainStaff   = staffRec("S-NONE", 14, false, false)
	offStaff     = func() *permit.Staff { s := staffRec("S-OFF", 15, true, true); s.Disabled = true; return s }()
	elseStaff    = func() *permit.Staff { s := staffRec("S-ELSE", 16, true, true); s.Doors = []string{"lab"}; return s }()
)

func staffRec(id string, card byte, escort, solo bool) *permit.Staff {
	return &permit.Staff{ID: id, Version: 1, Site: testSite, Cards: []permit.Fingerprint{cardOf(card)},
		Escort: escort, Solo: solo}
}

// guestPermit returns an approved permit of the test door for card, valid
// from an hour before t0 to eight hours after.
func guestPermit(id string, card permit.Fingerprint, escort string) permit.Permit {
	return permit.Permit{ID: id, Version: 1, Site: testSite, Door: testDoor, Card: card, Escort: escort,
		Category: permit.Server, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(8 * time.Hour),
		ApprovedBy: "head-ict", ApprovedAt: t0.Add(-2 * time.Hour)}
}

// p1 is the usual guest permit: guestCard, escorted by S-ESC.
var p1 = guestPermit("P-0001", guestCard, "S-ESC")

// p2 is a second guest's permit with the same escort.
var p2 = guestPermit("P-0002", guest2Card, "S-ESC")

func info(ps ...permit.Permit) agent.CardInfo {
	var ci agent.CardInfo
	for _, p := range ps {
		ci.Permits = append(ci.Permits, agent.PermitInfo{Permit: p})
	}
	return ci
}

func guestTap(reader string, card permit.Fingerprint, ps ...agent.PermitInfo) agent.Tap {
	return agent.Tap{Reader: reader, Card: card, Info: agent.CardInfo{Permits: ps}}
}

func permitTap(reader string, p permit.Permit) agent.Tap {
	return agent.Tap{Reader: reader, Card: p.Card, Info: info(p)}
}

func staffTap(reader string, st *permit.Staff) agent.Tap {
	return agent.Tap{Reader: reader, Card: st.Cards[0], Info: agent.CardInfo{Staff: st}}
}

var (
	open      = agent.DoorInput{Open: true}
	closeDoor = agent.DoorInput{Open: false}
	tick      = agent.Tick{}
	exitBtn   = agent.ExitButton{}
)

func rack(name string, isOpen bool) agent.RackInput { return agent.RackInput{Rack: name, Open: isOpen} }
func cmd(name wire.CommandName) agent.Command {
	return agent.Command{Name: name, ID: "C-" + string(name)}
}

// ev is the part of an event a test compares. Detail is compared only when
// the want sets it, as a substring.
type ev struct {
	Type                                wire.EventType
	Reason                              wire.Reason
	Permit, Escort, Staff, Rack, Detail string
	Racks                               string // the event's racks, joined by ","
}

func (e ev) String() string {
	var b strings.Builder
	b.WriteString(string(e.Type))
	for _, f := range []struct{ k, v string }{{"reason", string(e.Reason)}, {"permit", e.Permit}, {"escort", e.Escort},
		{"staff", e.Staff}, {"rack", e.Rack}, {"racks", e.Racks}, {"detail", e.Detail}} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	return b.String()
}

func evOf(e agent.Event) ev {
	return ev{Type: e.Type, Reason: e.Reason, Permit: e.Permit, Escort: e.Escort, Staff: e.Staff, Rack: e.Rack, Racks: strings.Join(e.Racks, ","), Detail: e.Detail}
}

func evsMatch(got []agent.Event, want []ev) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		g := evOf(got[i])
		if w.Detail == "" || strings.Contains(g.Detail, w.Detail) {
			g.Detail = w.Detail
		}
		if g != w {
			return false
		}
	}
	return true
}

func evList(es []agent.Event) []ev {
	out := make([]ev, len(es))
	for i, e := range es {
		out[i] = evOf(e)
	}
	return out
}

// Shorthands for the wanted events.
func e(typ wire.EventType) ev        { return ev{Type: typ} }
func tapEv() ev                      { return ev{Type: wire.EvTap} }
func staffTapEv(st *permit.Staff) ev { return ev{Type: wire.EvTap, Staff: st.ID} }
func awaited(p permit.Permit) ev {
	return ev{Type: wire.EvEscortAwaited, Permit: p.ID, Escort: p.Escort}
}
func granted(p permit.Permit) ev      { return ev{Type: wire.EvGranted, Permit: p.ID, Escort: p.Escort} }
func soloGranted(st *permit.Staff) ev { return ev{Type: wire.EvGranted, Staff: st.ID} }
func entered(p permit.Permit) ev {
	return ev{Type: wire.EvVisitEntered, Permit: p.ID, Escort: p.Escort}
}
func staffEntered(st *permit.Staff) ev { return ev{Type: wire.EvVisitEntered, Staff: st.ID} }
func exited(p permit.Permit) ev        { return ev{Type: wire.EvVisitExited, Permit: p.ID, Escort: p.Escort} }
func staffExited(st *permit.Staff) ev  { return ev{Type: wire.EvVisitExited, Staff: st.ID} }
func denied(reason wire.Reason) ev     { return ev{Type: wire.EvDenied, Reason: reason} }
func deniedP(reason wire.Reason, p permit.Permit) ev {
	return ev{Type: wire.EvDenied, Reason: reason, Permit: p.ID, Escort: p.Escort}
}
func deniedS(reason wire.Reason, st *permit.Staff) ev {
	return ev{Type: wire.EvDenied, Reason: reason, Staff: st.ID}
}

var (
	unlocked = e(wire.EvUnlocked)
	locked   = e(wire.EvLocked)
	opened   = e(wire.EvOpened)
	closed   = e(wire.EvClosed)
	forced   = e(wire.EvForced)
	secured  = e(wire.EvSecured)
	exitReq  = e(wire.EvExitRequested)
)

func exitReqS(st *permit.Staff) ev { return ev{Type: wire.EvExitRequested, Staff: st.ID} }

// step is one input at t0+at and what Handle must answer.
type step struct {
	at        time.Duration
	in        agent.Input
	want      []ev
	relay     agent.RelayAction
	used      []string
	untrusted bool
	check     func(t *testing.T, m *agent.Machine) // extra checks after the step
	rule      string                               // the row of doc.go's rule table the step exercises
}

type machineCase struct {
	name    string
	rules   func(*agent.Rules) // changes to DefaultRules
	readers []string           // default entry and exit
	snap    agent.Snapshot     // the state restored
	steps   []step
}

func newCaseMachine(c machineCase) *agent.Machine {
	rules := agent.DefaultRules()
	if c.rules != nil {
		c.rules(&rules)
	}
	return newTestMachine(rules, c.readers, c.snap)
}

func newTestMachine(rules agent.Rules, readers []string, snap agent.Snapshot) *agent.Machine {
	if readers == nil {
		readers = []string{agent.ReaderEntry, agent.ReaderExit}
	}
	return agent.NewMachine(testSite, testDoor, rules, readers, []string{"R2", "R1"}, snap)
}

func runSteps(t *testing.T, m *agent.Machine, steps []step) {
	t.Helper()
	for i, s := range steps {
		tm := agent.Time{Now: t0.Add(s.at), Trusted: !s.untrusted}
		before, desc := agent.RuleWords(m), agent.RuleInput(m, s.in, tm)
		out := m.Handle(s.in, tm)
		if s.rule != "" {
			checkRule(t, i, s, before, desc, out, agent.RuleWords(m))
		}
		if !evsMatch(out.Events, s.want) || out.Relay != s.relay || !slices.Equal(out.Used, s.used) {
			t.Fatalf("step %d: Handle(%T%+v) at +%v =\n  events %v, relay %v, used %v;\nwant\n  events %v, relay %v, used %v",
				i, s.in, s.in, s.at, evList(out.Events), out.Relay, out.Used, s.want, s.relay, s.used)
		}
		for _, ev := range out.Events {
			if ev.Type == wire.EvTap && ev.Card == "" {
				t.Errorf("step %d: tap event names no card", i)
			}
		}
		if s.check != nil {
			s.check(t, m)
		}
	}
}

func wantStatus(f func(s wire.Status) string) func(t *testing.T, m *agent.Machine) {
	return func(t *testing.T, m *agent.Machine) {
		t.Helper()
		if msg := f(m.Status()); msg != "" {
			t.Errorf("Status() = %+v: %s", m.Status(), msg)
		}
	}
}

func wantUnlocked(want bool) func(t *testing.T, m *agent.Machine) {
	return func(t *testing.T, m *agent.Machine) {
		t.Helper()
		if m.Unlocked() != want {
			t.Errorf("Unlocked() = %v; want %v", m.Unlocked(), want)
		}
	}
}

// wantWaiting checks whether a guest waits for an escort.
func wantWaiting(want bool) func(t *testing.T, m *agent.Machine) {
	return func(t *testing.T, m *agent.Machine) {
		t.Helper()
		if _, got := m.WaitingCard(); got != want {
			t.Errorf("a guest waits: %v; want %v", got, want)
		}
	}
}

func hasAlarm(a wire.Alarm) func(s wire.Status) string {
	return func(s wire.Status) string {
		if !slices.Contains(s.Alarms, a) {
			return "want alarm " + string(a)
		}
		return ""
	}
}

func occupants(want ...string) func(s wire.Status) string {
	return func(s wire.Status) string {
		var got []string
		for _, o := range s.Occupancy {
			got = append(got, o.Permit+o.Staff)
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("occupancy %v, want %v", got, want)
		}
		return ""
	}
}

const sec = time.Second

// guestIn is the common prefix: p1's guest and escort in, door shut and locked again.
func guestIn(p permit.Permit) []step {
	return []step{
		{at: 0, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}},
		{at: 1 * sec, in: permitTap(agent.ReaderEntry, p), want: []ev{tapEv(), granted(p), unlocked}, relay: agent.RelayUnlock},
		{at: 2 * sec, in: open, want: []ev{opened, entered(p)}, used: []string{p.ID}},
		{at: 4 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock,
			check: wantStatus(occupants(p.ID))},
	}
}

func TestMachineRules(t *testing.T) {
	for _, c := range machineCases() {
		t.Run(c.name, func(t *testing.T) {
			runSteps(t, newCaseMachine(c), c.steps)
		})
	}
}

// machineCases are the door's scenarios, each a list of steps; a step that
// names a rule exercises that row of doc.go's rule table.
func machineCases() []machineCase {
	notYet := guestPermit("P-LATER", guestCard, "S-ESC")
	notYet.NotBefore = t0.Add(time.Hour)
	expired := guestPermit("P-OLD", guestCard, "S-ESC")
	expired.NotAfter = t0.Add(-time.Second)
	endsNow := guestPermit("P-ENDS", guestCard, "S-ESC")
	endsNow.NotAfter = t0
	otherDoor := guestPermit("P-LAB", guestCard, "S-ESC")
	otherDoor.Door = "lab"
	otherSite := guestPermit("P-SITE", guestCard, "S-ESC")
	otherSite.Site = "elsewhere"
	once := guestPermit("P-ONCE", guestCard, "S-ESC")
	once.Entries = 1
	soloEscorted := guestPermit("P-SOLOESC", guestCard, "S-SOLO")
	short := guestPermit("P-SHORT", guestCard, "S-ESC")
	short.NotAfter = t0.Add(20 * sec)

	cases := []machineCase{
		{name: "guest then escort", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "G4", at: 29 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), granted(p1), unlocked}, relay: agent.RelayUnlock, check: wantUnlocked(true)},
			{rule: "D3", at: 31 * sec, in: open, want: []ev{opened, entered(p1)}, used: []string{p1.ID},
				check: wantStatus(occupants(p1.ID))},
			{rule: "D8", at: 33 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock, check: wantUnlocked(false)},
		}},
		{name: "escort then guest", steps: []step{
			{rule: "S3", at: 0, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}},
			{rule: "E5", at: 29 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), granted(p1), unlocked}, relay: agent.RelayUnlock},
			{at: 30 * sec, in: open, want: []ev{opened, entered(p1)}, used: []string{p1.ID}},
		}},
		{name: "escort then guest, escort also solo", steps: []step{
			{rule: "S5", at: 0, in: staffTap(agent.ReaderEntry, bothStaff),
				want: []ev{staffTapEv(bothStaff), soloGranted(bothStaff), unlocked}, relay: agent.RelayUnlock},
			{at: 1 * sec, in: open, want: []ev{opened, staffEntered(bothStaff)}},
			{rule: "E6", at: 2 * sec, in: permitTap(agent.ReaderEntry, guestPermit("P-B", guestCard, "S-BOTH")),
				want: []ev{tapEv(), granted(guestPermit("P-B", guestCard, "S-BOTH")), entered(guestPermit("P-B", guestCard, "S-BOTH"))},
				used: []string{"P-B"}, check: wantStatus(occupants("S-BOTH", "P-B"))},
		}},
		{name: "guest waits, escort window expires", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "T1", at: 30*sec - 1, in: tick},
			{rule: "T3", at: 30 * sec, in: tick, want: []ev{deniedP(wire.ReasonEscortTimeout, p1)}},
			{at: 31 * sec, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}},
			{rule: "T4", at: 61 * sec, in: tick, want: []ev{{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Escort: "S-ESC", Staff: "S-ESC"}}},
		}},
		{name: "escort waits, escort window expires", steps: []step{
			{rule: "S3", at: 0, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}},
			// the expired escort tap is reported before the guest's tap is judged
			{at: 30 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{
				{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Escort: "S-ESC", Staff: "S-ESC"},
				tapEv(), awaited(p1)}},
		}},
		{name: "a second guest replaces the waiting one", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "E9", at: 5 * sec, in: permitTap(agent.ReaderEntry, p2), want: []ev{tapEv(), deniedP(wire.ReasonEscortTimeout, p1), awaited(p2)}},
			{rule: "G4", at: 6 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), granted(p2), unlocked}, relay: agent.RelayUnlock},
		}},
		{name: "wrong escort", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "G2", at: 1 * sec, in: staffTap(agent.ReaderEntry, escort2Staff), want: []ev{staffTapEv(escort2Staff),
				{Type: wire.EvDenied, Reason: wire.ReasonWrongEscort, Permit: p1.ID, Escort: "S-ESC2", Staff: "S-ESC2", Detail: "S-ESC"}},
				check: wantUnlocked(false)},
			// the guest still waits for the assigned escort
			{rule: "G4", at: 2 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), granted(p1), unlocked}, relay: agent.RelayUnlock},
		}},
		// one tap, one decision: S-BOTH goes in alone and the guest's wait
		// ends, so that the guest cannot follow unrecorded (was: wrong_escort
		// and access.granted for the same tap, the guest still waiting)
		{name: "wrong escort with solo right enters alone, the guest's wait ends", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "G6", at: 1 * sec, in: staffTap(agent.ReaderEntry, bothStaff), want: []ev{staffTapEv(bothStaff), soloGranted(bothStaff),
				{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Permit: p1.ID, Escort: "S-ESC", Detail: "door released for S-BOTH alone"},
				unlocked}, relay: agent.RelayUnlock, check: wantWaiting(false)},
			{rule: "D3", at: 2 * sec, in: open, want: []ev{opened, staffEntered(bothStaff)}, check: wantStatus(occupants("S-BOTH"))},
			{rule: "T2", at: 30 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock},
			{rule: "D10", at: 31 * sec, in: closeDoor, want: []ev{closed}},
			// the guest taps again and their escort comes: in, and recorded
			{rule: "E7", at: 32 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "G4", at: 33 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), granted(p1), unlocked}, relay: agent.RelayUnlock},
			{rule: "D3", at: 34 * sec, in: open, want: []ev{opened, entered(p1)}, used: []string{p1.ID},
				check: wantStatus(occupants("S-BOTH", p1.ID))},
		}},
		{name: "solo staff while a guest waits: in alone, the guest's wait ends", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "G5", at: 1 * sec, in: staffTap(agent.ReaderEntry, soloStaff), want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff),
				{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Permit: p1.ID, Escort: "S-ESC", Detail: "door released for S-SOLO alone"},
				unlocked}, relay: agent.RelayUnlock, check: wantWaiting(false)},
			// the door says who went in: S-SOLO, not the guest
			{rule: "D3", at: 2 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}, check: wantStatus(occupants("S-SOLO"))},
			{rule: "S3", at: 3 * sec, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}},
			{rule: "E6", at: 4 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), granted(p1), entered(p1)}, used: []string{p1.ID},
				check: wantStatus(occupants("S-SOLO", p1.ID))},
		}},
		{name: "a guest let in ends another guest's wait", steps: []step{
			{rule: "S3", at: 0, in: staffTap(agent.ReaderEntry, escort2Staff), want: []ev{staffTapEv(escort2Staff)}},
			// P-0001 waits for S-ESC; S-ESC2's tap is not for them
			{rule: "E7", at: 1 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "E4", at: 2 * sec, in: permitTap(agent.ReaderEntry, guestPermit("P-0003", guest2Card, "S-ESC2")), want: []ev{tapEv(),
				granted(guestPermit("P-0003", guest2Card, "S-ESC2")),
				{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Permit: p1.ID, Escort: "S-ESC", Detail: "door released for P-0003"},
				unlocked}, relay: agent.RelayUnlock, check: wantWaiting(false)},
			{rule: "D3", at: 3 * sec, in: open, want: []ev{opened, entered(guestPermit("P-0003", guest2Card, "S-ESC2"))}, used: []string{"P-0003"},
				check: wantStatus(occupants("P-0003"))},
		}},
		{name: "a waiting guest who taps again waits on", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "E8", at: 20 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			// the wait runs from the last tap
			{rule: "T1", at: 49 * sec, in: tick},
			{rule: "G4", at: 49 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), granted(p1), unlocked}, relay: agent.RelayUnlock},
		}},
		{name: "escort not allowed: staff without rights while a guest waits", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "G1", at: 1 * sec, in: staffTap(agent.ReaderEntry, plainStaff),
				want: []ev{staffTapEv(plainStaff), {Type: wire.EvDenied, Reason: wire.ReasonEscortNotAllowed, Permit: p1.ID, Staff: plainStaff.ID}}},
		}},
		// one tap, one decision: S-SOLO goes in alone, and the guest's wait
		// ends saying why (was: escort_not_allowed and access.granted for the
		// same tap, the guest still waiting)
		{name: "escort not allowed: assigned escort has only the solo right", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, soloEscorted), want: []ev{tapEv(), awaited(soloEscorted)}},
			{rule: "G7", at: 1 * sec, in: staffTap(agent.ReaderEntry, soloStaff), want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff),
				{Type: wire.EvDenied, Reason: wire.ReasonEscortNotAllowed, Permit: soloEscorted.ID, Escort: "S-SOLO", Detail: "may not escort"},
				unlocked}, relay: agent.RelayUnlock, check: wantWaiting(false)},
			{rule: "D3", at: 2 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}, check: wantStatus(occupants("S-SOLO"))},
		}},
		{name: "staff without rights and no guest: no permit", steps: []step{
			{rule: "S2", at: 0, in: staffTap(agent.ReaderEntry, plainStaff), want: []ev{staffTapEv(plainStaff), deniedS(wire.ReasonNoPermit, plainStaff)}},
		}},
		{name: "unknown card", steps: []step{
			{rule: "E2", at: 0, in: guestTap(agent.ReaderEntry, unknownCard), want: []ev{tapEv(), denied(wire.ReasonUnknownCard)}},
		}},
		{name: "permit for another door", steps: []step{
			{rule: "E3", at: 0, in: permitTap(agent.ReaderEntry, otherDoor), want: []ev{tapEv(), denied(wire.ReasonNoPermit)}},
			{rule: "E3", at: 1 * sec, in: permitTap(agent.ReaderEntry, otherSite), want: []ev{tapEv(), denied(wire.ReasonNoPermit)}},
		}},
		{name: "not yet valid", steps: []step{
			{rule: "E3", at: 0, in: permitTap(agent.ReaderEntry, notYet), want: []ev{tapEv(), deniedP(wire.ReasonNotYetValid, notYet)}},
			{rule: "E7", at: time.Hour, in: permitTap(agent.ReaderEntry, notYet), want: []ev{tapEv(), awaited(notYet)}},
		}},
		{name: "expired", steps: []step{
			{rule: "E3", at: 0, in: permitTap(agent.ReaderEntry, expired), want: []ev{tapEv(), deniedP(wire.ReasonExpired, expired)}},
			{rule: "E3", at: 1 * sec, in: permitTap(agent.ReaderEntry, endsNow), want: []ev{tapEv(), deniedP(wire.ReasonExpired, endsNow)}},
		}},
		{name: "revoked", steps: []step{
			{rule: "E3", at: 0, in: guestTap(agent.ReaderEntry, guestCard, agent.PermitInfo{Permit: p1, Revoked: true}),
				want: []ev{tapEv(), deniedP(wire.ReasonRevoked, p1)}},
		}},
		{name: "entries used", steps: []step{
			{rule: "E3", at: 0, in: guestTap(agent.ReaderEntry, guestCard, agent.PermitInfo{Permit: once, Used: 1}),
				want: []ev{tapEv(), deniedP(wire.ReasonEntriesUsed, once)}},
			{rule: "E7", at: 1 * sec, in: guestTap(agent.ReaderEntry, guestCard, agent.PermitInfo{Permit: once, Used: 0}),
				want: []ev{tapEv(), awaited(once)}},
		}},
		{name: "the most telling reason among several permits", steps: []step{
			{rule: "E3", at: 0, in: guestTap(agent.ReaderEntry, guestCard, agent.PermitInfo{Permit: otherDoor},
				agent.PermitInfo{Permit: expired}, agent.PermitInfo{Permit: notYet}),
				want: []ev{tapEv(), deniedP(wire.ReasonNotYetValid, notYet)}},
			{rule: "E7", at: 1 * sec, in: guestTap(agent.ReaderEntry, guestCard, agent.PermitInfo{Permit: expired},
				agent.PermitInfo{Permit: p1}), want: []ev{tapEv(), awaited(p1)}},
		}},
		{name: "clock untrusted", steps: []step{
			{rule: "E3", at: 0, in: permitTap(agent.ReaderEntry, p1), untrusted: true, want: []ev{tapEv(), deniedP(wire.ReasonClockUntrusted, p1)}},
			// staff need no time window
			{rule: "S4", at: 1 * sec, in: staffTap(agent.ReaderEntry, soloStaff), untrusted: true,
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
		}},
		{name: "permit window ends while the guest waits for the escort", steps: []step{
			{rule: "E7", at: 10 * sec, in: permitTap(agent.ReaderEntry, short), want: []ev{tapEv(), awaited(short)}},
			{rule: "G3", at: 25 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), deniedP(wire.ReasonExpired, short)}, check: wantUnlocked(false)},
		}},
		{name: "granted twice before the door opens: one entry", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, once), want: []ev{tapEv(), awaited(once)}},
			{rule: "G4", at: 1 * sec, in: staffTap(agent.ReaderEntry, escortStaff),
				want: []ev{staffTapEv(escortStaff), granted(once), unlocked}, relay: agent.RelayUnlock},
			{rule: "E7", at: 2 * sec, in: permitTap(agent.ReaderEntry, once), want: []ev{tapEv(), awaited(once)}},
			{at: 3 * sec, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff), granted(once)}},
			{rule: "D3", at: 4 * sec, in: open, want: []ev{opened, entered(once)}, used: []string{once.ID}, check: wantStatus(occupants(once.ID))},
		}},
		{name: "solo staff enters alone", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "D3", at: 1 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}, check: wantStatus(occupants("S-SOLO"))},
			{rule: "D8", at: 3 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock},
		}},
		{name: "escort alone may not enter", steps: []step{
			{rule: "S3", at: 0, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}, check: wantUnlocked(false)},
			{rule: "D5", at: 1 * sec, in: open, want: []ev{opened, forced}},
		}},
		{name: "disabled staff", steps: []step{
			{rule: "S1", at: 0, in: staffTap(agent.ReaderEntry, offStaff), want: []ev{staffTapEv(offStaff), deniedS(wire.ReasonNoPermit, offStaff)}},
			{at: 1 * sec, in: permitTap(agent.ReaderEntry, guestPermit("P-OFF", guestCard, "S-OFF")),
				want: []ev{tapEv(), awaited(guestPermit("P-OFF", guestCard, "S-OFF"))}},
			// disabled escorts no one, not even the guest waiting for them
			{rule: "S1", at: 2 * sec, in: staffTap(agent.ReaderEntry, offStaff), want: []ev{staffTapEv(offStaff), deniedS(wire.ReasonNoPermit, offStaff)},
				check: wantUnlocked(false)},
		}},
		{name: "staff of another door", steps: []step{
			{rule: "S1", at: 0, in: staffTap(agent.ReaderEntry, elseStaff), want: []ev{staffTapEv(elseStaff), deniedS(wire.ReasonNoPermit, elseStaff)}},
		}},
		{name: "unlock, not opened, relock after Rules.Unlock", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "T1", at: 5*sec - 1, in: tick, check: wantUnlocked(true)},
			{rule: "T2", at: 5 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock, check: wantUnlocked(false)},
			// the grant is spent: the door opened now is forced and records no entry
			{rule: "D5", at: 6 * sec, in: open, want: []ev{opened, forced}, check: wantStatus(occupants())},
		}},
		{name: "relock as soon as the door closes", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "D3", at: 1 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}},
			{rule: "D8", at: 1*sec + 100*time.Millisecond, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock},
			{rule: "T1", at: 5 * sec, in: tick},
		}},
		{name: "door forced", steps: []step{
			{rule: "D2", at: 0, in: closeDoor},
			{rule: "D5", at: 0, in: open, want: []ev{opened, forced}, check: wantStatus(hasAlarm("door_forced"))},
			{rule: "D9", at: 1 * sec, in: closeDoor, want: []ev{closed, secured}, check: wantStatus(func(s wire.Status) string {
				if len(s.Alarms) != 0 || !s.Secured {
					return "want no alarm and secured"
				}
				return ""
			})},
		}},
		{name: "no forced after exit button", steps: []step{
			{rule: "B1", at: 0, in: exitBtn, want: []ev{exitReq, unlocked}, relay: agent.RelayUnlock},
			{rule: "D6", at: 1 * sec, in: open, want: []ev{opened}},
			{rule: "D7", at: 2 * sec, in: closeDoor, want: []ev{closed, locked, secured}, relay: agent.RelayLock},
		}},
		{name: "no forced after exit button that does not unlock", rules: func(r *agent.Rules) { r.ExitUnlocks = false }, steps: []step{
			{rule: "B3", at: 0, in: exitBtn, want: []ev{exitReq}},
			{rule: "D6", at: 1 * sec, in: open, want: []ev{opened}},
			{rule: "D9", at: 2 * sec, in: closeDoor, want: []ev{closed, secured}},
		}},
		{name: "no forced after exit reader tap", rules: func(r *agent.Rules) { r.ExitUnlocks = false }, steps: []step{
			{rule: "X10", at: 0, in: staffTap(agent.ReaderExit, escortStaff), want: []ev{staffTapEv(escortStaff), exitReqS(escortStaff)}},
			{rule: "D6", at: 1 * sec, in: open, want: []ev{opened}},
		}},
		{name: "unknown card on the exit reader requests no exit", rules: func(r *agent.Rules) { r.ExitUnlocks = false }, steps: []step{
			{rule: "X1", at: 0, in: guestTap(agent.ReaderExit, unknownCard), want: []ev{tapEv(), denied(wire.ReasonUnknownCard)}},
			{rule: "D5", at: 1 * sec, in: open, want: []ev{opened, forced}},
		}},
		{name: "an exit request lets the door open once", rules: func(r *agent.Rules) { r.ExitUnlocks = false }, steps: []step{
			{rule: "B3", at: 0, in: exitBtn, want: []ev{exitReq}},
			{rule: "D6", at: 1 * sec, in: open, want: []ev{opened}},
			{rule: "D9", at: 2 * sec, in: closeDoor, want: []ev{closed, secured}},
			{rule: "D5", at: 3 * sec, in: open, want: []ev{opened, forced}},
		}},
		{name: "exit request expires after Rules.Unlock", rules: func(r *agent.Rules) { r.ExitUnlocks = false }, steps: []step{
			{rule: "B3", at: 0, in: exitBtn, want: []ev{exitReq}},
			{at: 5 * sec, in: open, want: []ev{opened, forced}},
		}},
		{name: "held open", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "D3", at: 1 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}},
			{rule: "T2", at: 5 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock},
			{rule: "T1", at: 31*sec - 1, in: tick},
			{rule: "T6", at: 31 * sec, in: tick, want: []ev{{Type: wire.EvHeldOpen, Detail: "open since"}}, check: wantStatus(hasAlarm("door_held_open"))},
			{rule: "T1", at: 60 * sec, in: tick},
			{rule: "D10", at: 61 * sec, in: closeDoor, want: []ev{closed}, check: wantStatus(func(s wire.Status) string {
				if slices.Contains(s.Alarms, "door_held_open") {
					return "held-open alarm stays after the door closed"
				}
				return ""
			})},
		}},
		{name: "guest exits on the exit reader, room secured", steps: append(guestIn(p1),
			step{rule: "X2", at: 60 * sec, in: permitTap(agent.ReaderExit, p1), want: []ev{tapEv(), exitReq, unlocked, exited(p1)},
				relay: agent.RelayUnlock, check: wantStatus(occupants())},
			step{rule: "D6", at: 61 * sec, in: open, want: []ev{opened}},
			step{rule: "D7", at: 62 * sec, in: closeDoor, want: []ev{closed, locked, secured}, relay: agent.RelayLock,
				check: wantStatus(func(s wire.Status) string {
					if !s.Secured {
						return "want secured"
					}
					return ""
				})},
		)},
		{name: "another guest's card on the exit reader lets nobody out", steps: append(guestIn(p1),
			step{rule: "X5", at: 60 * sec, in: permitTap(agent.ReaderExit, p2), want: []ev{tapEv(), exitReq, unlocked},
				relay: agent.RelayUnlock, check: wantStatus(occupants(p1.ID))},
		)},
		{name: "no exit reader: exit button and door open let everyone out", readers: []string{agent.ReaderEntry}, steps: append(guestIn(p1),
			step{rule: "S4", at: 10 * sec, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			step{rule: "D3", at: 11 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}, check: wantStatus(occupants(p1.ID, "S-SOLO"))},
			step{rule: "D8", at: 12 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock},
			step{rule: "B2", at: 60 * sec, in: exitBtn, want: []ev{exitReq, unlocked}, relay: agent.RelayUnlock, check: wantStatus(occupants(p1.ID, "S-SOLO"))},
			step{rule: "D4", at: 61 * sec, in: open, want: []ev{opened, staffExited(soloStaff), exited(p1)}, check: wantStatus(occupants())},
			step{rule: "D7", at: 62 * sec, in: closeDoor, want: []ev{closed, locked, secured}, relay: agent.RelayLock},
		)},
		{name: "with an exit reader the exit button records no exit", steps: append(guestIn(p1),
			step{rule: "B1", at: 60 * sec, in: exitBtn, want: []ev{exitReq, unlocked}, relay: agent.RelayUnlock},
			step{rule: "D6", at: 61 * sec, in: open, want: []ev{opened}, check: wantStatus(occupants(p1.ID))},
		)},
		{name: "escort leaves the guest inside", steps: append(guestIn(p1),
			step{rule: "X4", at: 60 * sec, in: staffTap(agent.ReaderExit, escortStaff), want: []ev{staffTapEv(escortStaff), exitReqS(escortStaff), unlocked},
				relay: agent.RelayUnlock},
			step{rule: "T2", at: 65 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock},
			step{rule: "T1", at: 90*sec - 1, in: tick},
			step{rule: "T7", at: 90 * sec, in: tick, want: []ev{{Type: wire.EvUnescorted, Permit: p1.ID, Escort: "S-ESC"}}},
			step{rule: "T1", at: 200 * sec, in: tick},
		)},
		{name: "escort taps out twice: one unescorted alarm", steps: append(guestIn(p1),
			step{rule: "X4", at: 60 * sec, in: staffTap(agent.ReaderExit, escortStaff), want: []ev{staffTapEv(escortStaff), exitReqS(escortStaff), unlocked},
				relay: agent.RelayUnlock},
			step{rule: "X9", at: 62 * sec, in: staffTap(agent.ReaderExit, escortStaff), want: []ev{staffTapEv(escortStaff), exitReqS(escortStaff)}},
			step{at: 92 * sec, in: tick, want: []ev{locked, {Type: wire.EvUnescorted, Permit: p1.ID, Escort: "S-ESC"}},
				relay: agent.RelayLock},
		)},
		{name: "escort and guest leave together", steps: append(guestIn(p1),
			step{rule: "X4", at: 60 * sec, in: staffTap(agent.ReaderExit, escortStaff), want: []ev{staffTapEv(escortStaff), exitReqS(escortStaff), unlocked},
				relay: agent.RelayUnlock},
			step{rule: "X7", at: 61 * sec, in: permitTap(agent.ReaderExit, p1), want: []ev{tapEv(), exitReq, exited(p1)}},
			step{rule: "D6", at: 62 * sec, in: open, want: []ev{opened}},
			step{rule: "D7", at: 63 * sec, in: closeDoor, want: []ev{closed, locked, secured}, relay: agent.RelayLock},
			step{rule: "T1", at: 200 * sec, in: tick},
		)},
		{name: "room not secured after SecureWithin names what is open", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "D3", at: 1 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}},
			{rule: "D8", at: 2 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock},
			// occupied: a rack may open
			{rule: "K3", at: 10 * sec, in: rack("R1", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R1"}}},
			{rule: "X3", at: 20 * sec, in: staffTap(agent.ReaderExit, soloStaff),
				want: []ev{staffTapEv(soloStaff), exitReqS(soloStaff), unlocked, staffExited(soloStaff)}, relay: agent.RelayUnlock},
			{rule: "D6", at: 21 * sec, in: open, want: []ev{opened}},
			{rule: "D8", at: 22 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock},
			{rule: "T1", at: 140*sec - 1, in: tick},
			{rule: "T8", at: 140 * sec, in: tick, want: []ev{{Type: wire.EvNotSecured, Racks: "R1", Detail: "rack R1 open"}},
				check: wantStatus(hasAlarm("room_not_secured"))},
			{rule: "K4", at: 150 * sec, in: rack("R1", false), want: []ev{{Type: wire.EvRackClosed, Rack: "R1"}, secured},
				check: wantStatus(func(s wire.Status) string {
					if len(s.Alarms) != 0 || !s.Secured {
						return "want no alarm and secured"
					}
					return ""
				})},
		}},
		{name: "room not secured: door held open and unlocked", rules: func(r *agent.Rules) { r.Unlock = time.Hour }, steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "D3", at: 1 * sec, in: open, want: []ev{opened, staffEntered(soloStaff)}},
			{rule: "X8", at: 2 * sec, in: staffTap(agent.ReaderExit, soloStaff),
				want: []ev{staffTapEv(soloStaff), exitReqS(soloStaff), staffExited(soloStaff)}},
			{rule: "T6", at: 31 * sec, in: tick, want: []ev{{Type: wire.EvHeldOpen}}},
			{rule: "T8", at: 122 * sec, in: tick, want: []ev{{Type: wire.EvNotSecured, Detail: "door open, lock released"}}},
		}},
		{name: "rack opened while the room is empty is tampered", steps: []step{
			{rule: "K2", at: 0, in: rack("R2", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R2"}, {Type: wire.EvRackTampered, Rack: "R2"}},
				check: wantStatus(hasAlarm("rack_tampered:R2"))},
			{rule: "K1", at: 1 * sec, in: rack("R2", true)},
			{rule: "K1", at: 2 * sec, in: rack("R9", true)},
			{rule: "K4", at: 3 * sec, in: rack("R2", false), want: []ev{{Type: wire.EvRackClosed, Rack: "R2"}, secured},
				check: wantStatus(func(s wire.Status) string {
					if len(s.Alarms) != 0 {
						return "tamper alarm stays after the room is secured"
					}
					return ""
				})},
		}},
		{name: "rack tampered, never closed", steps: []step{
			{rule: "K2", at: 0, in: rack("R1", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R1"}, {Type: wire.EvRackTampered, Rack: "R1"}}},
			{rule: "T8", at: 120 * sec, in: tick, want: []ev{{Type: wire.EvNotSecured, Racks: "R1", Detail: "rack R1 open"}}},
		}},
		{name: "rack opened while occupied is not tampered", steps: append(guestIn(p1),
			step{rule: "K3", at: 10 * sec, in: rack("R1", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R1"}}},
			step{rule: "K5", at: 20 * sec, in: rack("R1", false), want: []ev{{Type: wire.EvRackClosed, Rack: "R1"}}},
		)},
		{name: "rack opened between grant and entry is not tampered", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "K3", at: 1 * sec, in: rack("R1", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R1"}}},
		}},
		{name: "lockdown relocks and denies, release restores", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "C1", at: 1 * sec, in: cmd(wire.CmdLockdown), want: []ev{{Type: wire.EvCmdExecuted, Detail: "lockdown"}, locked},
				relay: agent.RelayLock, check: wantStatus(func(s wire.Status) string {
					if s.Mode != wire.ModeLockdown || !slices.Contains(s.Alarms, "lockdown") {
						return "want mode and alarm lockdown"
					}
					return ""
				})},
			{rule: "E1", at: 2 * sec, in: staffTap(agent.ReaderEntry, soloStaff), want: []ev{staffTapEv(soloStaff), deniedS(wire.ReasonLockdown, soloStaff)}},
			{rule: "E1", at: 3 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), denied(wire.ReasonLockdown)}},
			{rule: "C4", at: 4 * sec, in: cmd(wire.CmdUnlockOnce), want: []ev{{Type: wire.EvCmdRejected, Reason: wire.ReasonLockdown}}},
			{rule: "C3", at: 5 * sec, in: cmd(wire.CmdRelease), want: []ev{{Type: wire.EvCmdExecuted, Detail: "release"}},
				check: wantStatus(func(s wire.Status) string {
					if s.Mode != wire.ModeNormal {
						return "want mode normal"
					}
					return ""
				})},
			{rule: "S4", at: 6 * sec, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
		}},
		{name: "lockdown drops a waiting guest and escort", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "C9", at: 1 * sec, in: cmd(wire.CmdLockdown), want: []ev{{Type: wire.EvCmdExecuted},
				{Type: wire.EvDenied, Reason: wire.ReasonLockdown, Permit: p1.ID, Escort: p1.Escort,
					Detail: "door locked down by command C-lockdown"}}},
			{rule: "C3", at: 2 * sec, in: cmd(wire.CmdRelease), want: []ev{{Type: wire.EvCmdExecuted}}},
			{rule: "S3", at: 3 * sec, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}, check: wantUnlocked(false)},
			{rule: "T4", at: 60 * sec, in: tick, want: []ev{{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Staff: "S-ESC", Escort: "S-ESC"}}},
		}},
		{name: "unlock once, not a forced door", steps: []step{
			{rule: "C5", at: 0, in: cmd(wire.CmdUnlockOnce), want: []ev{{Type: wire.EvCmdExecuted, Detail: "unlock-once C-unlock-once"}, unlocked},
				relay: agent.RelayUnlock},
			{rule: "D6", at: 1 * sec, in: open, want: []ev{opened}},
			{rule: "D7", at: 2 * sec, in: closeDoor, want: []ev{closed, locked, secured}, relay: agent.RelayLock},
		}},
		{name: "resync and unknown commands", steps: []step{
			{rule: "C7", at: 0, in: cmd(wire.CmdResync), want: []ev{{Type: wire.EvCmdExecuted, Detail: "resync"}}},
			{rule: "C8", at: 1 * sec, in: cmd("self-destruct"), want: []ev{{Type: wire.EvCmdRejected, Reason: wire.ReasonUnknown, Detail: "unknown command self-destruct"}}},
		}},
		{name: "a note is recorded as it is", steps: []step{
			{rule: "A6", at: 0, in: agent.Note{Event: agent.Event{Type: wire.EvReaderFault, Detail: "crc"}},
				want: []ev{{Type: wire.EvReaderFault, Detail: "crc"}}},
		}},
		{name: "notes are recorded as they are, in order", steps: []step{
			{rule: "A7", at: 0, in: agent.Notes{Events: []agent.Event{
				{Type: wire.EvPermitRejected, Reason: wire.ReasonMalformed, Detail: "permits/P-1"},
				{Type: wire.EvPermitRejected, Reason: wire.ReasonBadSignature, Detail: "permits/P-2"}}},
				want: []ev{{Type: wire.EvPermitRejected, Reason: wire.ReasonMalformed, Detail: "permits/P-1"},
					{Type: wire.EvPermitRejected, Reason: wire.ReasonBadSignature, Detail: "permits/P-2"}}},
		}},
		{name: "exit button in lockdown still lets people out", steps: []step{
			{rule: "C2", at: 0, in: cmd(wire.CmdLockdown), want: []ev{{Type: wire.EvCmdExecuted}}},
			{rule: "B1", at: 1 * sec, in: exitBtn, want: []ev{exitReq, unlocked}, relay: agent.RelayUnlock},
			{rule: "D6", at: 2 * sec, in: open, want: []ev{opened}},
		}},
		{name: "solo staff while the door stands open", steps: []step{
			{rule: "D5", at: 0, in: open, want: []ev{opened, forced}},
			{rule: "S6", at: 1 * sec, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked, staffEntered(soloStaff)}, relay: agent.RelayUnlock,
				check: wantStatus(occupants("S-SOLO"))},
			{rule: "D8", at: 2 * sec, in: closeDoor, want: []ev{closed, locked}, relay: agent.RelayLock},
			{rule: "D2", at: 3 * sec, in: closeDoor},
		}},
		{name: "an escort with the solo right waits silently", steps: []step{
			{rule: "S5", at: 0, in: staffTap(agent.ReaderEntry, bothStaff),
				want: []ev{staffTapEv(bothStaff), soloGranted(bothStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "T2", at: 5 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock},
			{rule: "T5", at: 30 * sec, in: tick},
		}},
		{name: "exit window ends unused", rules: func(r *agent.Rules) { r.ExitUnlocks = false }, steps: []step{
			{rule: "B3", at: 0, in: exitBtn, want: []ev{exitReq}},
			{rule: "T9", at: 5 * sec, in: tick},
			{rule: "D5", at: 6 * sec, in: open, want: []ev{opened, forced}},
		}},
		{name: "staff not inside taps out", steps: []step{
			{rule: "X6", at: 0, in: staffTap(agent.ReaderExit, soloStaff), want: []ev{staffTapEv(soloStaff), exitReqS(soloStaff), unlocked},
				relay: agent.RelayUnlock},
		}},
		{name: "unlock once while a guest waits ends the wait", steps: []step{
			{rule: "E7", at: 0, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), awaited(p1)}},
			{rule: "C6", at: 1 * sec, in: cmd(wire.CmdUnlockOnce), want: []ev{{Type: wire.EvCmdExecuted},
				{Type: wire.EvDenied, Reason: wire.ReasonEscortTimeout, Permit: p1.ID, Escort: "S-ESC", Detail: "door released by command C-unlock-once"},
				unlocked}, relay: agent.RelayUnlock, check: wantWaiting(false)},
		}},
		{name: "relay fault", steps: []step{
			{rule: "S4", at: 0, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock},
			{rule: "A4", at: 0, in: agent.RelayFault{Err: "unlock: coil open"}, want: []ev{{Type: wire.EvRelayFault, Detail: "coil open"}, locked},
				relay: agent.RelayLock, check: wantStatus(hasAlarm("relay_fault"))},
			{rule: "A5", at: 1 * sec, in: agent.RelayFault{Err: "lock: wire cut"}, want: []ev{{Type: wire.EvRelayFault}}},
			// the relay moving again clears the alarm
			{rule: "S4", at: 2 * sec, in: staffTap(agent.ReaderEntry, soloStaff),
				want: []ev{staffTapEv(soloStaff), soloGranted(soloStaff), unlocked}, relay: agent.RelayUnlock,
				check: wantStatus(func(s wire.Status) string {
					if slices.Contains(s.Alarms, wire.AlarmRelayFault) {
						return "relay_fault stays after the relay moved"
					}
					return ""
				})},
		}},
		{name: "start: an empty room found shut is secured at once", steps: []step{
			{rule: "A1", at: 0, in: agent.Started{Version: "v"}, want: []ev{{Type: wire.EvStarted, Detail: "v"},
				{Type: wire.EvLocked, Detail: "safe state at start"}, secured}},
			// the door was shut when the agent stopped: open now, it is forced
			{rule: "D5", at: 1 * sec, in: open, want: []ev{opened, forced}, check: wantStatus(hasAlarm(wire.AlarmDoorForced))},
		}},
		{name: "start: someone inside", snap: agent.Snapshot{Occupancy: []wire.Occupant{{Staff: "S-SOLO", Since: t0}}}, steps: []step{
			{rule: "A3", at: 0, in: agent.Started{}, want: []ev{{Type: wire.EvStarted}, locked}},
			{rule: "T1", at: 200 * sec, in: tick},
		}},
		// the door was open when the agent stopped and was shut meanwhile:
		// the first reading records door.closed, so the log does not end on
		// door.opened
		{name: "start: a door left open, shut while the agent was down", snap: agent.Snapshot{DoorOpen: true}, steps: []step{
			{rule: "A2", at: 0, in: agent.Started{}, want: []ev{{Type: wire.EvStarted}, locked},
				check: wantStatus(func(s wire.Status) string {
					if s.Door != wire.Open || s.Secured {
						return "want the door open as last recorded, not secured"
					}
					return ""
				})},
			{rule: "D9", at: 0, in: closeDoor, want: []ev{closed, secured}},
		}},
		{name: "start: a door left open, still open", snap: agent.Snapshot{DoorOpen: true}, steps: []step{
			{rule: "A2", at: 0, in: agent.Started{}, want: []ev{{Type: wire.EvStarted}, locked}},
			{rule: "D1", at: 0, in: open, check: wantStatus(func(s wire.Status) string {
				if len(s.Alarms) != 0 {
					return "a door found as it was left raises nothing"
				}
				return ""
			})},
			// held open counts from the start
			{rule: "T1", at: 30*sec - 1, in: tick},
			{rule: "T6", at: 30 * sec, in: tick, want: []ev{{Type: wire.EvHeldOpen, Detail: "open since " + t0.Format(time.RFC3339)}}},
			{rule: "T8", at: 120 * sec, in: tick, want: []ev{{Type: wire.EvNotSecured, Detail: "door open"}}},
			{rule: "D9", at: 121 * sec, in: closeDoor, want: []ev{closed, secured}},
		}},
		{name: "start: a rack left open", snap: agent.Snapshot{OpenRacks: []string{"R1"}}, steps: []step{
			{rule: "A2", at: 0, in: agent.Started{}, want: []ev{{Type: wire.EvStarted}, locked}},
			{rule: "K1", at: 0, in: rack("R1", true)},
			{rule: "K1", at: 0, in: rack("R2", false)},
			{rule: "K4", at: 1 * sec, in: rack("R1", false), want: []ev{{Type: wire.EvRackClosed, Rack: "R1"}, secured}},
		}},
	}
	return cases
}

func TestMachineUsedOnlyOnEntry(t *testing.T) {
	m := newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{})
	runSteps(t, m, []step{
		{at: 0, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff)}},
		{at: 1 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), granted(p1), unlocked}, relay: agent.RelayUnlock},
		// never opened: no entry, no use of the permit
		{at: 6 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock},
		{at: 10 * sec, in: open, want: []ev{opened, forced}},
		{at: 11 * sec, in: closeDoor, want: []ev{closed, secured}},
	})
}

func TestMachineDeadline(t *testing.T) {
	m := newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{})
	if d := m.Deadline(); !d.IsZero() {
		t.Fatalf("new machine: Deadline() = %v; want zero", d)
	}
	m.Handle(permitTap(agent.ReaderEntry, p1), agent.Time{Now: t0, Trusted: true})
	if d, want := m.Deadline(), t0.Add(30*sec); !d.Equal(want) {
		t.Errorf("guest waiting: Deadline() = %v; want %v", d, want)
	}
	m.Handle(staffTap(agent.ReaderEntry, escortStaff), agent.Time{Now: t0.Add(sec), Trusted: true})
	if d, want := m.Deadline(), t0.Add(6*sec); !d.Equal(want) {
		t.Errorf("unlocked: Deadline() = %v; want %v", d, want)
	}
}

func TestMachineStatus(t *testing.T) {
	m := newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{})
	s := m.Status()
	want := wire.Status{Door: "closed", Lock: "locked", Racks: map[string]string{"R1": "closed", "R2": "closed"},
		Mode: wire.ModeNormal, Occupancy: []wire.Occupant{}, Secured: true, Alarms: []wire.Alarm{}}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("Status() = %+v; want %+v", s, want)
	}
	if !m.HasRack("R1") || m.HasRack("R3") {
		t.Errorf("HasRack(R1), HasRack(R3) = %v, %v; want true, false", m.HasRack("R1"), m.HasRack("R3"))
	}
}

func TestMachineSnapshotRestore(t *testing.T) {
	rules := agent.DefaultRules()
	m := newTestMachine(rules, nil, agent.Snapshot{})
	runSteps(t, m, guestIn(p1))
	runSteps(t, m, []step{{at: 10 * sec, in: cmd(wire.CmdLockdown), want: []ev{{Type: wire.EvCmdExecuted}}}})
	snap := m.Snapshot()
	if snap.Mode != wire.ModeLockdown || len(snap.Occupancy) != 1 || snap.Occupancy[0].Permit != p1.ID ||
		snap.Occupancy[0].Escort != "S-ESC" || snap.Occupancy[0].Card != guestCard.Short() || !snap.Occupancy[0].Since.Equal(t0.Add(2*sec)) {
		t.Fatalf("Snapshot() = %+v; want lockdown and %s inside since +2s", snap, p1.ID)
	}

	r := newTestMachine(rules, nil, snap)
	if got, want := r.Status(), m.Status(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restored Status() = %+v; want %+v", got, want)
	}
	runSteps(t, r, []step{
		{at: 20 * sec, in: permitTap(agent.ReaderEntry, p1), want: []ev{tapEv(), denied(wire.ReasonLockdown)}},
		{at: 21 * sec, in: cmd(wire.CmdRelease), want: []ev{{Type: wire.EvCmdExecuted}}},
		// the restored guest can tap out, and then the room must be secured
		{at: 22 * sec, in: permitTap(agent.ReaderExit, p1), want: []ev{tapEv(), exitReq, unlocked, exited(p1)}, relay: agent.RelayUnlock},
		{at: 23 * sec, in: open, want: []ev{opened}},
		{at: 24 * sec, in: closeDoor, want: []ev{closed, locked, secured}, relay: agent.RelayLock},
	})

	// Snapshot returns a copy
	snap.Occupancy[0].Permit = "changed"
	if m.Snapshot().Occupancy[0].Permit != p1.ID {
		t.Error("changing a snapshot changed the machine")
	}

	unknown := newTestMachine(rules, nil, agent.Snapshot{Mode: "party"})
	if unknown.Status().Mode != wire.ModeNormal {
		t.Errorf("snapshot mode %q restored as %q; want normal", "party", unknown.Status().Mode)
	}
}

func TestMachineStartSecureCheck(t *testing.T) {
	m := newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{})
	runSteps(t, m, []step{{at: 0, in: rack("R1", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R1"}, {Type: wire.EvRackTampered, Rack: "R1"}}}})
	m = newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{})
	m.StartSecureCheck(t0)
	runSteps(t, m, []step{{at: 1 * sec, in: tick, want: []ev{secured}}})

	occupied := newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{Occupancy: []wire.Occupant{{Staff: "S-SOLO", Since: t0}}})
	occupied.StartSecureCheck(t0)
	runSteps(t, occupied, []step{{at: 200 * sec, in: tick}})
}

func TestMachineClone(t *testing.T) {
	m := newTestMachine(agent.DefaultRules(), nil, agent.Snapshot{})
	runSteps(t, m, guestIn(p1))
	runSteps(t, m, []step{
		{at: 10 * sec, in: rack("R1", true), want: []ev{{Type: wire.EvRackOpened, Rack: "R1"}}},
		{at: 11 * sec, in: permitTap(agent.ReaderEntry, p2), want: []ev{tapEv(), awaited(p2)}},
		{at: 12 * sec, in: staffTap(agent.ReaderEntry, escort2Staff), want: []ev{staffTapEv(escort2Staff),
			{Type: wire.EvDenied, Reason: wire.ReasonWrongEscort, Permit: p2.ID, Escort: "S-ESC2", Staff: "S-ESC2"}}},
	})
	before, beforeSnap, beforeDeadline := m.Status(), m.Snapshot(), m.Deadline()

	c := m.Clone()
	runSteps(t, c, []step{
		{at: 13 * sec, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff), granted(p2), unlocked}, relay: agent.RelayUnlock},
		{at: 14 * sec, in: open, want: []ev{opened, entered(p2)}, used: []string{p2.ID}},
		{at: 15 * sec, in: rack("R1", false), want: []ev{{Type: wire.EvRackClosed, Rack: "R1"}}},
		{at: 16 * sec, in: permitTap(agent.ReaderExit, p1), want: []ev{tapEv(), exitReq, exited(p1)}},
		{at: 17 * sec, in: cmd(wire.CmdLockdown), want: []ev{{Type: wire.EvCmdExecuted}, locked}, relay: agent.RelayLock},
	})

	if got := m.Status(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("after the clone handled inputs, Status() = %+v; want %+v", got, before)
	}
	if got := m.Snapshot(); fmt.Sprint(got) != fmt.Sprint(beforeSnap) {
		t.Errorf("after the clone handled inputs, Snapshot() = %+v; want %+v", got, beforeSnap)
	}
	if got := m.Deadline(); !got.Equal(beforeDeadline) {
		t.Errorf("after the clone handled inputs, Deadline() = %v; want %v", got, beforeDeadline)
	}
	// the original still has its waiting guest and its own timers
	runSteps(t, m, []step{
		{at: 13 * sec, in: staffTap(agent.ReaderEntry, escortStaff), want: []ev{staffTapEv(escortStaff), granted(p2), unlocked}, relay: agent.RelayUnlock},
		{at: 18 * sec, in: tick, want: []ev{locked}, relay: agent.RelayLock},
	})
}
