package agent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// The event types and denial reasons of design.md.
var (
	designEventTypes = []wire.EventType{"agent.started", "tap", "escort.awaited", "access.granted", "access.denied",
		"door.unlocked", "door.locked", "door.opened", "door.closed", "door.forced", "door.held_open",
		"exit.requested", "rack.opened", "rack.closed", "rack.tampered", "visit.entered",
		"visit.exited", "visit.unescorted", "room.secured", "room.not_secured", "permit.rejected",
		"command.executed", "command.rejected", "clock.unsynced", "reader.fault"}
	designReasons = []wire.Reason{"unknown_card", "no_permit", "not_yet_valid", "expired", "revoked",
		"entries_used", "escort_timeout", "wrong_escort", "escort_not_allowed", "lockdown", "clock_untrusted"}
)

// propWorld is the cast of the property tests: guests with permits of
// every kind, staff with every combination of rights, an unknown card.
type propWorld struct {
	permits []permit.Permit
	revoked map[string]bool
	staff   []*permit.Staff
	byCard  map[permit.Fingerprint]int // card -> index into uids
	uids    [][]byte
	usual   [][]byte // guests P-A, P-B, P-S and their escorts S-ESC, S-BOTH
}

func newPropWorld() *propWorld {
	w := &propWorld{revoked: map[string]bool{}, byCard: map[permit.Fingerprint]int{}}
	a := guestPermit("P-A", cardOf(1), "S-ESC")
	b := guestPermit("P-B", cardOf(2), "S-BOTH")
	b.Entries = 2
	c := guestPermit("P-C", cardOf(3), "S-SOLO") // escort without the escort right: never admits
	x := guestPermit("P-X", cardOf(4), "S-ESC")
	x.NotAfter = t0.Add(-time.Minute)
	y := guestPermit("P-Y", cardOf(5), "S-ESC")
	y.NotBefore = t0.Add(2 * time.Minute)
	r := guestPermit("P-R", cardOf(6), "S-ESC")
	w.revoked["P-R"] = true
	d := guestPermit("P-D", cardOf(7), "S-ESC")
	d.Door = "lab"
	e := guestPermit("P-E", cardOf(8), "S-OFF") // escort disabled
	s := guestPermit("P-S", cardOf(9), "S-ESC") // window ends soon
	s.NotAfter = t0.Add(3 * time.Minute)
	s.Entries = 1
	w.permits = []permit.Permit{a, b, c, x, y, r, d, e, s}
	w.staff = []*permit.Staff{escortStaff, escort2Staff, soloStaff, bothStaff, plainStaff, offStaff, elseStaff}
	for n := byte(1); n <= 16; n++ {
		w.uids = append(w.uids, uidOf(n))
	}
	w.uids = append(w.uids, uidOf(99))
	w.usual = [][]byte{uidOf(1), uidOf(2), uidOf(9), uidOf(10), uidOf(13)}
	for i, u := range w.uids {
		w.byCard[testKey.Fingerprint(u)] = i
	}
	return w
}

func (w *propWorld) permitByID(id string) (permit.Permit, bool) {
	for _, p := range w.permits {
		if p.ID == id {
			return p, true
		}
	}
	return permit.Permit{}, false
}

func (w *propWorld) staffByID(id string) *permit.Staff {
	for _, s := range w.staff {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// cardInfo is what the store would know of card, with used entries.
func (w *propWorld) cardInfo(card permit.Fingerprint, used map[string]int) agent.CardInfo {
	var ci agent.CardInfo
	for _, p := range w.permits {
		if p.Card == card {
			ci.Permits = append(ci.Permits, agent.PermitInfo{Permit: p, Revoked: w.revoked[p.ID], Used: used[p.ID]})
		}
	}
	for _, s := range w.staff {
		if slices.Contains(s.Cards, card) {
			ci.Staff = s
		}
	}
	return ci
}

// propInput is one drawn input: a machine input and how far time moves
// before it.
type propInput struct {
	advance time.Duration
	in      agent.Input
	untrust bool
}

func (p propInput) String() string {
	return fmt.Sprintf("+%v %T%+v untrusted=%v", p.advance, p.in, p.in, p.untrust)
}

func drawInput(t *rapid.T, w *propWorld, used map[string]int, i int) propInput {
	label := func(s string) string { return fmt.Sprintf("%s%d", s, i) }
	var p propInput
	switch rapid.IntRange(0, 1).Draw(t, label("bigstep")) {
	case 0:
		p.advance = time.Duration(rapid.IntRange(0, 3000).Draw(t, label("ms"))) * time.Millisecond
	default:
		p.advance = time.Duration(rapid.SampledFrom([]int{0, 1, 5, 10, 29, 30, 31, 60, 121, 200}).Draw(t, label("s"))) * time.Second
	}
	p.untrust = rapid.IntRange(0, 19).Draw(t, label("untrust")) == 0
	switch k := rapid.IntRange(0, 15).Draw(t, label("kind")); {
	case k <= 7:
		reader := agent.ReaderEntry
		if rapid.IntRange(0, 3).Draw(t, label("exitreader")) == 0 {
			reader = agent.ReaderExit
		}
		// mostly the cast of a normal visit, so that whole visits happen often
		uids := w.uids
		if rapid.Bool().Draw(t, label("usual")) {
			uids = w.usual
		}
		card := testKey.Fingerprint(rapid.SampledFrom(uids).Draw(t, label("card")))
		p.in = agent.Tap{Reader: reader, Card: card, Info: w.cardInfo(card, used)}
	case k <= 10:
		p.in = agent.DoorInput{Open: rapid.Bool().Draw(t, label("open"))}
	case k == 11:
		p.in = agent.RackInput{Rack: rapid.SampledFrom([]string{"R1", "R2"}).Draw(t, label("rack")), Open: rapid.Bool().Draw(t, label("rackopen"))}
	case k == 12:
		p.in = agent.ExitButton{}
	case k == 13:
		p.in = agent.Tick{}
	default:
		name := rapid.SampledFrom([]wire.CommandName{wire.CmdLockdown, wire.CmdRelease, wire.CmdRelease, wire.CmdUnlockOnce,
			wire.CmdResync}).Draw(t, label("cmd"))
		p.in = agent.Command{Name: name, ID: label("C")}
	}
	return p
}

type timedTap struct {
	card  permit.Fingerprint
	staff *permit.Staff
	at    time.Time
}

// TestMachineProperties drives the machine with random inputs and checks,
// after every step, the invariants of design.md that hold whatever the
// inputs.
func TestMachineProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newPropWorld()
		rules := agent.DefaultRules()
		rules.ExitUnlocks = rapid.Bool().Draw(rt, "exitUnlocks")
		readers := []string{agent.ReaderEntry, agent.ReaderExit}
		if rapid.Bool().Draw(rt, "noExitReader") {
			readers = readers[:1]
		}
		m := agent.NewMachine(testSite, testDoor, rules, readers, []string{"R1", "R2"}, agent.Snapshot{})
		now := t0
		relayUnlocked := false
		used := map[string]int{}
		var taps []timedTap // entry-reader taps
		n := rapid.IntRange(1, 80).Draw(rt, "steps")
		for i := range n {
			p := drawInput(rt, w, used, i)
			now = now.Add(p.advance)
			if tap, ok := p.in.(agent.Tap); ok && tap.Reader == agent.ReaderEntry {
				taps = append(taps, timedTap{card: tap.Card, staff: tap.Info.Staff, at: now})
			}
			modeBefore := m.Status().Mode
			waiting, wasWaiting := m.WaitingCard()
			tm := agent.Time{Now: now, Trusted: !p.untrust}
			out := m.Handle(p.in, tm)
			where := fmt.Sprintf("step %d (%v) at %v: events %v, relay %v", i, p, now.Sub(t0), evList(out.Events), out.Relay)

			// (e) one tap, one decision: after its tap event, at most one
			// access.granted, access.denied or escort.awaited for the card
			if tap, ok := p.in.(agent.Tap); ok {
				at := slices.IndexFunc(out.Events, func(e agent.Event) bool { return e.Type == wire.EvTap })
				decisions := 0
				for _, e := range out.Events[at+1:] {
					if e.Card == tap.Card.Short() && (e.Type == wire.EvGranted || e.Type == wire.EvDenied || e.Type == wire.EvEscortAwaited) {
						decisions++
					}
				}
				if at < 0 || decisions > 1 {
					rt.Fatalf("%s: %d decisions for one tap", where, decisions)
				}
			}

			// (f) a grant, or a remote unlock, while a guest waits leaves
			// no guest waiting, and the waiting guest's wait ends recorded:
			// they never walk in behind someone else's grant unrecorded
			released := slices.ContainsFunc(out.Events, func(e agent.Event) bool {
				return e.Type == wire.EvGranted || e.Type == wire.EvCmdExecuted && e.Command == wire.CmdUnlockOnce
			})
			if released {
				if _, still := m.WaitingCard(); still {
					rt.Fatalf("%s: a guest still waits after the door was released", where)
				}
				if wasWaiting && !slices.ContainsFunc(out.Events, func(e agent.Event) bool {
					return e.Card == waiting.Short() && (e.Type == wire.EvGranted || e.Type == wire.EvDenied)
				}) {
					rt.Fatalf("%s: the door was released while a guest waited, and the guest's wait did not end recorded", where)
				}
			}

			// (a) a relay movement comes with the event that justifies it,
			// and an event that claims a movement comes with it
			var last wire.EventType
			for _, e := range out.Events {
				if e.MovesRelay() {
					last = e.Type
				}
			}
			switch {
			case out.Relay == agent.RelayUnlock && last != wire.EvUnlocked,
				out.Relay == agent.RelayLock && last != wire.EvLocked,
				out.Relay == agent.RelayNone && last != "":
				rt.Fatalf("%s: relay action does not match its events", where)
			}

			// (c) the machine's relay state is the one its actions imply
			switch out.Relay {
			case agent.RelayUnlock:
				relayUnlocked = true
			case agent.RelayLock:
				relayUnlocked = false
			}
			if m.Unlocked() != relayUnlocked {
				rt.Fatalf("%s: Unlocked() = %v; the relay actions say %v", where, m.Unlocked(), relayUnlocked)
			}
			if got := m.Status().Lock; got != map[bool]string{true: "unlocked", false: "locked"}[relayUnlocked] {
				rt.Fatalf("%s: Status().Lock = %s; relay unlocked %v", where, got, relayUnlocked)
			}

			for _, e := range out.Events {
				if !slices.Contains(designEventTypes, e.Type) {
					rt.Fatalf("%s: event type %q is not in design.md", where, e.Type)
				}
				if (e.Type == wire.EvDenied) != (e.Reason != "") && e.Type != wire.EvCmdRejected && e.Type != wire.EvPermitRejected {
					rt.Fatalf("%s: %s with reason %q", where, e.Type, e.Reason)
				}
				if e.Reason != "" && !slices.Contains(designReasons, e.Reason) {
					rt.Fatalf("%s: reason %q is not in design.md", where, e.Reason)
				}
				if e.Type != wire.EvGranted {
					continue
				}
				// (d) no one is let in during a lockdown
				if modeBefore == wire.ModeLockdown {
					rt.Fatalf("%s: access granted in lockdown", where)
				}
				if e.Permit == "" {
					st := w.staffByID(e.Staff)
					if st == nil || !st.Solo || st.Disabled || !st.AllowsDoor(testDoor) {
						rt.Fatalf("%s: staff %q granted without the solo right", where, e.Staff)
					}
					continue
				}
				// (b) a guest gets in only with a permit that admits now and
				// the assigned escort's tap within the escort window
				pm, ok := w.permitByID(e.Permit)
				if !ok {
					rt.Fatalf("%s: granted unknown permit %q", where, e.Permit)
				}
				switch {
				case pm.Site != testSite || pm.Door != testDoor:
					rt.Fatalf("%s: granted a permit of another door", where)
				case !tm.Trusted:
					rt.Fatalf("%s: granted a permit on an untrusted clock", where)
				case w.revoked[pm.ID]:
					rt.Fatalf("%s: granted a revoked permit", where)
				case now.Before(pm.NotBefore) || !now.Before(pm.NotAfter):
					rt.Fatalf("%s: granted a permit outside its window", where)
				case pm.Entries > 0 && used[pm.ID] >= pm.Entries:
					rt.Fatalf("%s: granted a used-up permit", where)
				}
				within := func(tp timedTap) bool { return !tp.at.After(now) && now.Sub(tp.at) < rules.EscortWindow }
				escorted := slices.ContainsFunc(taps, func(tp timedTap) bool {
					return within(tp) && tp.staff != nil && tp.staff.ID == pm.Escort && tp.staff.Escort &&
						!tp.staff.Disabled && tp.staff.AllowsDoor(testDoor)
				})
				if !escorted {
					rt.Fatalf("%s: guest %s granted without escort %s tapping within %v", where, pm.ID, pm.Escort, rules.EscortWindow)
				}
				if !slices.ContainsFunc(taps, func(tp timedTap) bool { return within(tp) && tp.card == pm.Card }) {
					rt.Fatalf("%s: guest %s granted without tapping within %v", where, pm.ID, rules.EscortWindow)
				}
			}
			for _, id := range out.Used {
				used[id]++
				if pm, _ := w.permitByID(id); pm.Entries > 0 && used[id] > pm.Entries {
					rt.Fatalf("%s: permit %s used %d times, allows %d", where, id, used[id], pm.Entries)
				}
			}
			if slices.ContainsFunc(out.Events, func(e agent.Event) bool { return e.Type == wire.EvVisitEntered }) &&
				m.Status().Door != "open" {
				rt.Fatalf("%s: visit.entered with the door closed", where)
			}
			if slices.ContainsFunc(out.Events, func(e agent.Event) bool { return e.Type == wire.EvForced }) &&
				!slices.ContainsFunc(out.Events, func(e agent.Event) bool { return e.Type == wire.EvOpened }) {
				rt.Fatalf("%s: door.forced without door.opened", where)
			}
			alarmed := map[string]bool{}
			for _, e := range out.Events {
				if e.Type == wire.EvUnescorted {
					if alarmed[e.Permit] {
						rt.Fatalf("%s: two visit.unescorted for %s at once", where, e.Permit)
					}
					alarmed[e.Permit] = true
				}
			}
			if d := m.Deadline(); !d.IsZero() && !d.After(now) {
				rt.Fatalf("%s: Deadline() %v is not after now", where, d.Sub(t0))
			}
		}
	})
}

// propRelay is a relay that checks, at every movement, that the store
// already holds the event that justifies it: movements and stored relay
// events correspond one to one, in seq order (the door.locked that records
// the safe state at start moved nothing: NewDoor had locked already).
type propRelay struct {
	mu       sync.Mutex
	store    *agent.Store
	starting bool // NewDoor is driving the relay to its safe state
	unlocked bool
	unlocks  int
	moved    uint64 // seq of the relay event the last movement answered
	errs     []string
}

func (r *propRelay) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// nextRelayEvent returns the first stored relay event after the one the
// last movement answered, and takes it as answered.
func (r *propRelay) nextRelayEvent() agent.Event {
	evs, err := r.store.Events(r.moved, 1<<30)
	if err != nil {
		r.fail("read store: %v", err)
		return agent.Event{}
	}
	for _, e := range evs {
		if e.MovesRelay() && e.Detail != "safe state at start" {
			r.moved = e.Seq
			return e
		}
	}
	return agent.Event{}
}

func (r *propRelay) Unlock() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unlocks++
	if e := r.nextRelayEvent(); e.Type != wire.EvUnlocked {
		r.fail("Unlock() answering stored relay event %q (seq %d); want a door.unlocked not yet answered", e.Type, e.Seq)
	}
	r.unlocked = true
	return nil
}

func (r *propRelay) Lock() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.starting {
		if e := r.nextRelayEvent(); e.Type != wire.EvLocked {
			r.fail("Lock() answering stored relay event %q (seq %d); want a door.locked not yet answered", e.Type, e.Seq)
		}
	}
	r.unlocked = false
	return nil
}

func (r *propRelay) Halt() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unlocked = false
	return nil
}

func (r *propRelay) String() string { return "prop-relay" }

func (r *propRelay) state() (bool, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unlocked, slices.Clone(r.errs)
}

// runningDoor is a Door with its Run loop.
type runningDoor struct {
	d      *agent.Door
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's answer, once done is closed
}

func startDoor(d *agent.Door) *runningDoor {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningDoor{d: d, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = d.Run(ctx)
	}()
	return r
}

// stop ends Run and returns its answer; it may be called again.
func (r *runningDoor) stop() error {
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(time.Minute):
		return fmt.Errorf("Run did not return a minute after its context ended")
	}
}

// TestDoorProperties runs a Door with a real store through random inputs,
// closing and reopening the store on the way: the relay unlocks only after
// the door.unlocked event is stored, and seq stays gap-free in one epoch.
func TestDoorProperties(t *testing.T) {
	base := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		path := fmt.Sprintf("%s/door%d.db", base, run)
		w := newPropWorld()
		st, err := agent.OpenStore(path, testSite, testDoor)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() {
			if st != nil {
				st.Close()
			}
		}()
		for _, p := range w.permits {
			if p.Door != testDoor {
				continue
			}
			if _, err := st.Apply(permit.Record{Permit: &p}); err != nil {
				rt.Fatal(err)
			}
			if w.revoked[p.ID] {
				rv := permit.Revocation{Permit: p.ID, Version: p.Version + 1, Site: p.Site, Door: p.Door, At: t0, By: "head-ict"}
				if _, err := st.Apply(permit.Record{Revocation: &rv}); err != nil {
					rt.Fatal(err)
				}
			}
		}
		for _, s := range w.staff {
			if _, err := st.Apply(permit.Record{Staff: s}); err != nil {
				rt.Fatal(err)
			}
		}
		epoch := st.Epoch()

		readers := []string{agent.ReaderEntry, agent.ReaderExit}
		if rapid.Bool().Draw(rt, "noExitReader") {
			readers = readers[:1]
		}
		cfg := agent.Config{Site: testSite, Door: testDoor, Rules: agent.DefaultRules(), Readers: readers,
			Racks: []string{"R1", "R2"}, SiteKey: testKey, Boot: "b00t", Version: "test"}
		clk := agenttest.NewClock(t0, true)
		relay := &propRelay{}
		newDoor := func() *runningDoor {
			relay.mu.Lock()
			relay.store, relay.starting = st, true
			relay.mu.Unlock()
			d, err := agent.NewDoor(cfg, st, relay, clk, discardLog(), nil)
			relay.mu.Lock()
			relay.starting = false
			relay.mu.Unlock()
			if err != nil {
				rt.Fatal(err)
			}
			return startDoor(d)
		}
		rd := newDoor()
		defer func() { rd.stop() }()

		ctx := context.Background()
		physical := false // the real door, as its reed switch would read
		n := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := range n {
			label := func(s string) string { return fmt.Sprintf("%s%d", s, i) }
			clk.Advance(time.Duration(rapid.SampledFrom([]int{0, 100, 1000, 4000, 6000, 31000, 121000}).Draw(rt, label("ms"))) * time.Millisecond)
			clk.SetSynced(rapid.IntRange(0, 9).Draw(rt, label("unsync")) != 0)
			var err error
			var what string
			switch k := rapid.IntRange(0, 14).Draw(rt, label("kind")); {
			case k <= 5:
				reader := rapid.SampledFrom(readers).Draw(rt, label("reader"))
				uid := rapid.SampledFrom(w.uids).Draw(rt, label("uid"))
				what = fmt.Sprintf("tap %s %x", reader, uid)
				err = rd.d.Tap(ctx, reader, uid)
			case k <= 8:
				o := rapid.Bool().Draw(rt, label("open"))
				what = fmt.Sprintf("door open=%v", o)
				physical = o
				err = rd.d.SetDoor(ctx, o)
			case k == 9:
				r, o := rapid.SampledFrom([]string{"R1", "R2"}).Draw(rt, label("rack")), rapid.Bool().Draw(rt, label("rackopen"))
				what = fmt.Sprintf("rack %s open=%v", r, o)
				err = rd.d.SetRack(ctx, r, o)
			case k == 10:
				what = "exit button"
				err = rd.d.ExitButton(ctx)
			case k == 11:
				what = "tick"
				err = rd.d.Submit(ctx, agent.Tick{})
			case k == 12:
				name := rapid.SampledFrom([]wire.CommandName{wire.CmdLockdown, wire.CmdRelease, wire.CmdUnlockOnce}).Draw(rt, label("cmd"))
				what = "command " + string(name)
				err = rd.d.Submit(ctx, agent.Command{Name: name, ID: label("C")})
			default:
				what = "reopen"
				if err = rd.stop(); err == nil {
					if unl, _ := relay.state(); unl {
						rt.Fatalf("step %d: relay unlocked after Run returned", i)
					}
					if err = st.Close(); err == nil {
						st, err = agent.OpenStore(path, testSite, testDoor)
						if err != nil {
							st = nil
							rt.Fatalf("step %d: reopen: %v", i, err)
						}
						if st.Epoch() != epoch {
							rt.Fatalf("step %d: epoch %s after reopen; was %s", i, st.Epoch(), epoch)
						}
						// someone may open or shut the door while the agent is down
						if rapid.Bool().Draw(rt, label("moved")) {
							physical = !physical
						}
						rd = newDoor()
						// the reed switch's first reading, as hardware/gpio gives it
						err = rd.d.SetDoor(ctx, physical)
					}
				}
			}
			if err != nil {
				rt.Fatalf("step %d (%s): %v", i, what, err)
			}
			unl, errs := relay.state()
			if len(errs) > 0 {
				rt.Fatalf("step %d (%s): %s", i, what, strings.Join(errs, "; "))
			}
			if want := map[bool]string{true: "unlocked", false: "locked"}[unl]; rd.d.Status().Lock != want {
				rt.Fatalf("step %d (%s): status lock %s; relay unlocked %v", i, what, rd.d.Status().Lock, unl)
			}
			// the log's last word on the door contact is the real door, across
			// restarts too: never door.opened for a shut door, nor missing for
			// an open one
			want := map[bool]string{true: "open", false: "closed"}[physical]
			if got := lastContact(rt, st); got != want || rd.d.Status().Door != want {
				rt.Fatalf("step %d (%s): the log last says the door is %s, status %s; the door is %s", i, what, got,
					rd.d.Status().Door, want)
			}
		}
		if err := rd.stop(); err != nil {
			rt.Fatal(err)
		}
		if unl, _ := relay.state(); unl {
			rt.Fatal("relay unlocked after Run returned")
		}
		evs, err := st.Events(0, 1<<30)
		if err != nil {
			rt.Fatal(err)
		}
		last, err := st.LastSeq()
		if err != nil {
			rt.Fatal(err)
		}
		if uint64(len(evs)) != last {
			rt.Fatalf("%d events stored, last seq %d", len(evs), last)
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) || e.Epoch != epoch || e.ID != fmt.Sprintf("%s/%s/%s/%d", testSite, testDoor, epoch, e.Seq) {
				rt.Fatalf("event %d: seq %d epoch %s id %s; want seq %d in epoch %s", i, e.Seq, e.Epoch, e.ID, i+1, epoch)
			}
		}
		checkDB(rt, st)
	})
}

// lastContact returns what the log last says of the door contact: open,
// or closed (also when it says nothing).
func lastContact(t interface{ Fatal(...any) }, st *agent.Store) string {
	evs, err := st.Events(0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		switch evs[i].Type {
		case wire.EvOpened:
			return "open"
		case wire.EvClosed:
			return "closed"
		}
	}
	return "closed"
}
