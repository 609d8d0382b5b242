package downlink_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/downlink"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// rig is a real agent.Door on a real store, with a fake clock and relay,
// behind a downlink Handler.
type rig struct {
	t     *testing.T
	path  string
	clk   agent.Clock
	relay *agenttest.Relay
	reg   *metrics.Registry // the door's and the downlink's
	ctr   *downlink.Metrics

	st     *agent.Store
	door   *agent.Door
	h      *downlink.Handler
	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, clk agent.Clock) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "agent.db"), clk: clk, relay: &agenttest.Relay{}}
	t.Cleanup(func() {
		if r.door != nil {
			r.stop()
		}
	})
	return r
}

// start opens the store, starts the door and waits until its start events
// are stored.
func (r *rig) start() {
	r.t.Helper()
	st, err := agent.OpenStore(r.path, testSite, testDoor)
	if err != nil {
		r.t.Fatalf("OpenStore = %v", err)
	}
	cfg := agent.Config{Site: testSite, Door: testDoor, Rules: agent.DefaultRules(),
		Readers: []string{agent.ReaderEntry, agent.ReaderExit}, Racks: []string{"R1", "R2"},
		SiteKey: siteKey, Keys: keyring(r.t), Boot: "b00t", Version: "v-test"}
	r.reg = metrics.NewRegistry()
	d, err := agent.NewDoor(cfg, st, r.relay, r.clk, slog.New(slog.DiscardHandler), r.reg)
	if err != nil {
		r.t.Fatalf("NewDoor = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.st, r.door, r.cancel, r.done = st, d, cancel, make(chan error, 1)
	go func() { r.done <- d.Run(ctx) }()
	if err := d.Submit(context.Background(), agent.Tick{}); err != nil {
		r.t.Fatalf("first tick: %v", err)
	}
	// each refusal written at once: the tests look at each message's event
	r.h, err = downlink.New(downlink.Config{Topics: doorTopics(r.t), Keys: keyring(r.t), Door: d, Metrics: r.reg,
		RefusalInterval: -1})
	if err != nil {
		r.t.Fatalf("downlink.New = %v", err)
	}
	r.ctr = r.h.Metrics()
}

// stop ends the door, closes the store and checks the file.
func (r *rig) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run = %v", err)
		}
	case <-time.After(time.Minute):
		r.t.Fatal("Run did not return")
	}
	r.door = nil
	if err := r.st.Close(); err != nil {
		r.t.Errorf("close store: %v", err)
	}
	if err := boltcheck.CheckFile(r.path); err != nil {
		r.t.Fatalf("store %s is inconsistent: %v", r.path, err)
	}
}

func (r *rig) send(t string, payload []byte, retained bool) error {
	return r.h.Handle(context.Background(), mqttlink.Message{Topic: t, Payload: payload, QoS: 1, Retained: retained})
}

func (r *rig) lastSeq() uint64 {
	r.t.Helper()
	n, err := r.st.LastSeq()
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *rig) since(seq uint64) []agent.Event {
	r.t.Helper()
	evs, err := r.st.Events(seq, 1<<20)
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

// doorState is everything a refused message must leave as it was.
type doorState struct {
	status  wire.Status // seq zeroed: the refusal's own event moves it
	relay   []string
	permits int
	staff   int
	guest   agent.CardInfo
	escort  agent.CardInfo
	nonces  map[string]time.Time
}

func (r *rig) state() doorState {
	r.t.Helper()
	s := doorState{status: r.door.Status(), relay: r.relay.Calls()}
	s.status.Seq = 0
	var err error
	if s.permits, s.staff, err = r.st.Counts(); err != nil {
		r.t.Fatal(err)
	}
	if s.guest, err = r.st.Card(siteKey.Fingerprint(uidOf(1))); err != nil {
		r.t.Fatal(err)
	}
	if s.escort, err = r.st.Card(siteKey.Fingerprint(uidOf(10))); err != nil {
		r.t.Fatal(err)
	}
	if s.nonces, err = r.st.Nonces(); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// TestRealDoorRefusesBadMessages: every bad message is refused with one
// event naming the topic, and leaves the door's status, relay, records and
// nonces as they were.
func TestRealDoorRefusesBadMessages(t *testing.T) {
	clk := agenttest.NewClock(t0, true)
	r := newRig(t, clk)
	r.start()
	pr, ps, pc := base+"permits/", base+"staff/", base+"cmd"

	v2 := guestPermit("P-0001", 2, testDoor)
	for _, m := range []struct {
		topic   string
		payload []byte
	}{{pr + "P-0001", signed(t, hub, v2)}, {ps + "S-ESC", signed(t, hub, staffRecord("S-ESC", 1))}} {
		if err := r.send(m.topic, m.payload, true); err != nil {
			t.Fatalf("good record on %s: %v", m.topic, err)
		}
	}
	before := r.state()
	if before.permits != 1 || before.staff != 1 || len(before.guest.Permits) != 1 || before.guest.Permits[0].Version != 2 {
		t.Fatalf("after the good records: %+v; want permit P-0001 v2 and staff S-ESC", before)
	}

	// records that would change the door if they were taken
	v3 := guestPermit("P-0001", 3, testDoor)
	v3.Entries = 1
	otherCard := guestPermit("P-0001", 1, testDoor)
	otherCard.Card = siteKey.Fingerprint(uidOf(2))
	solo := staffRecord("S-ESC", 2)
	solo.Solo = true
	unlock := func(id string) *permit.Command { return command(id, wire.CmdUnlockOnce, t0) }
	expired := command("C-OLD", wire.CmdUnlockOnce, t0.Add(-10*time.Minute))
	lab := unlock("C-LAB")
	lab.Door = "lab"

	bad := []struct {
		name     string
		topic    string
		payload  []byte
		retained bool
		reason   wire.Reason
		event    wire.EventType
	}{
		{"newer permit under another id", pr + "P-0002", signed(t, hub, v3), true, wire.ReasonIDMismatch, wire.EvPermitRejected},
		{"revocation under another id", pr + "P-0002", signed(t, hub, revocation("P-0001", 3)), true, wire.ReasonIDMismatch, wire.EvPermitRejected},
		{"staff record on a permit topic", pr + "S-ESC", signed(t, hub, solo), true, wire.ReasonWrongKind, wire.EvPermitRejected},
		{"command on a permit topic", pr + "C-1", signed(t, hub, unlock("C-1")), false, wire.ReasonWrongKind, wire.EvPermitRejected},
		{"permit on a staff topic", ps + "P-0001", signed(t, hub, v3), true, wire.ReasonWrongKind, wire.EvPermitRejected},
		{"malformed JSON", pr + "P-0001", []byte(`{"kind":"permit","body":`), true, wire.ReasonMalformed, wire.EvPermitRejected},
		{"trailing data", pr + "P-0001", append(signed(t, hub, v3), ']'), true, wire.ReasonMalformed, wire.EvPermitRejected},
		{"forged permit", pr + "P-0001", tampered(t, signed(t, hub, v2), `"version":2`, `"version":9`), true,
			wire.ReasonBadSignature, wire.EvPermitRejected},
		{"forged staff record", ps + "S-ESC", tampered(t, signed(t, hub, staffRecord("S-ESC", 2)), `"escort":true`, `"solo":true,"escort":true`),
			true, wire.ReasonBadSignature, wire.EvPermitRejected},
		{"untrusted key", pr + "P-0001", signed(t, rogue, v3), true, wire.ReasonUntrustedKey, wire.EvPermitRejected},
		{"another door", pr + "P-LAB", signed(t, hub, guestPermit("P-LAB", 1, "lab")), true, wire.ReasonWrongDoor, wire.EvPermitRejected},
		{"older version", pr + "P-0001", signed(t, hub, guestPermit("P-0001", 1, testDoor)), true, wire.ReasonRollback, wire.EvPermitRejected},
		{"revocation older than the permit", pr + "P-0001", signed(t, hub, revocation("P-0001", 1)), true, wire.ReasonRollback, wire.EvPermitRejected},
		{"same permit id, other card, older", pr + "P-0001", signed(t, hub, otherCard),
			true, wire.ReasonRollback, wire.EvPermitRejected},
		{"1 MiB payload", pr + "P-0001", []byte(strings.Repeat("{", 1<<20)), true, wire.ReasonTooLarge, wire.EvPermitRejected},
		{"retained command", pc, signed(t, hub, unlock("C-RET")), true, wire.ReasonRetained, wire.EvCmdRejected},
		{"expired command", pc, signed(t, hub, expired), false, wire.ReasonExpired, wire.EvCmdRejected},
		{"command for another door", pc, signed(t, hub, lab), false, wire.ReasonWrongDoor, wire.EvCmdRejected},
		{"unsigned command", pc, bodyOf(t, signed(t, hub, unlock("C-UNS"))), false, wire.ReasonMalformed, wire.EvCmdRejected},
		{"forged command", pc, tampered(t, signed(t, hub, command("C-F", wire.CmdLockdown, t0)), `"lockdown"`, `"unlock-once"`),
			false, wire.ReasonBadSignature, wire.EvCmdRejected},
		{"command by an untrusted key", pc, signed(t, rogue, unlock("C-ROGUE")), false, wire.ReasonUntrustedKey, wire.EvCmdRejected},
		{"1 MiB command", pc, make([]byte, 1<<20), false, wire.ReasonTooLarge, wire.EvCmdRejected},
		{"another door's command topic", "kunci/v1/demo/lab/cmd", signed(t, hub, unlock("C-TOPIC")), false,
			wire.ReasonWrongTopic, wire.EvCmdRejected},
	}
	for _, b := range bad {
		seq := r.lastSeq()
		err := r.send(b.topic, b.payload, b.retained)
		var rej *downlink.Rejection
		if !errors.As(err, &rej) || rej.Reason != b.reason {
			t.Errorf("%s: Handle = %v; want a rejection for %s", b.name, err, b.reason)
		}
		evs := r.since(seq)
		if len(evs) != 1 || evs[0].Type != b.event || !strings.Contains(evs[0].Detail, b.topic) {
			t.Errorf("%s: events %s; want one %s naming %s", b.name, eventList(evs), b.event, b.topic)
		}
		if after := r.state(); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: door changed:\nbefore %+v\nafter  %+v", b.name, before, after)
		}
		if n := r.ctr.Rejected.With(b.reason).Value(); n == 0 {
			t.Errorf("%s: counter kunci_agent_downlink_rejected_total{reason=%q} = 0", b.name, b.reason)
		}
	}

	// a cleared topic: no event, nothing changes
	seq := r.lastSeq()
	for _, tp := range []string{pr + "P-0001", ps + "S-ESC", pc} {
		if err := r.send(tp, nil, true); err != nil {
			t.Errorf("cleared %s: Handle = %v", tp, err)
		}
	}
	if evs := r.since(seq); len(evs) != 0 {
		t.Errorf("cleared topics stored %s; want nothing", eventList(evs))
	}
	if after := r.state(); !reflect.DeepEqual(after, before) {
		t.Errorf("cleared topics changed the door:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := r.ctr.Cleared.Value(); n != 3 {
		t.Errorf("counter cleared = %d; want 3", n)
	}

	// the refused commands took no nonce: the retained one, sent as it
	// must be, is obeyed
	if err := r.send(pc, signed(t, hub, unlock("C-RET")), false); err != nil {
		t.Errorf("the retained command sent again, not retained: %v", err)
	}
	if got := r.relay.Calls(); !slices.Equal(got, append(slices.Clone(before.relay), "unlock")) {
		t.Errorf("relay calls %v; want an unlock after %v", got, before.relay)
	}
}

// TestRealDoorCommands: lockdown then release, and an unlock-once that
// works once and whose replay is refused, also by a door restarted on the
// same store.
func TestRealDoorCommands(t *testing.T) {
	clk := agenttest.NewClock(t0, true)
	r := newRig(t, clk)
	r.start()
	pc := base + "cmd"

	steps := []struct {
		name   string
		cmd    *permit.Command
		reason wire.Reason // "" when obeyed
		mode   wire.Mode
		lock   string
		relay  []string
	}{
		{"lockdown", command("C-1", wire.CmdLockdown, t0), "", wire.ModeLockdown, "locked", []string{"lock"}},
		{"unlock-once in lockdown", command("C-2", wire.CmdUnlockOnce, t0), "", wire.ModeLockdown, "locked", []string{"lock"}},
		{"release", command("C-3", wire.CmdRelease, t0), "", wire.ModeNormal, "locked", []string{"lock"}},
		{"lockdown replayed", command("C-1", wire.CmdLockdown, t0), wire.ReasonReplayed, wire.ModeNormal, "locked", []string{"lock"}},
		{"unlock-once", command("C-4", wire.CmdUnlockOnce, t0), "", wire.ModeNormal, "unlocked", []string{"lock", "unlock"}},
		{"unlock-once replayed", command("C-4", wire.CmdUnlockOnce, t0), wire.ReasonReplayed, wire.ModeNormal, "unlocked",
			[]string{"lock", "unlock"}},
	}
	for _, s := range steps {
		seq := r.lastSeq()
		err := r.send(pc, signed(t, hub, s.cmd), false)
		var rej *downlink.Rejection
		if s.reason == "" && err != nil || s.reason != "" && (!errors.As(err, &rej) || rej.Reason != s.reason) {
			t.Errorf("%s: Handle = %v; want reason %q", s.name, err, s.reason)
		}
		if st := r.door.Status(); st.Mode != s.mode || st.Lock != s.lock {
			t.Errorf("%s: mode %s lock %s; want %s %s", s.name, st.Mode, st.Lock, s.mode, s.lock)
		}
		if got := r.relay.Calls(); !slices.Equal(got, s.relay) {
			t.Errorf("%s: relay calls %v; want %v", s.name, got, s.relay)
		}
		var cmdEvents []agent.Event
		for _, e := range r.since(seq) {
			if e.Type == wire.EvCmdExecuted || e.Type == wire.EvCmdRejected {
				cmdEvents = append(cmdEvents, e)
			}
		}
		if len(cmdEvents) != 1 || !strings.Contains(cmdEvents[0].Detail, s.cmd.ID) ||
			s.reason != "" && (cmdEvents[0].Type != wire.EvCmdRejected || cmdEvents[0].Reason != s.reason) {
			t.Errorf("%s: command events %s; want one naming %s", s.name, eventList(cmdEvents), s.cmd.ID)
		}
	}

	// a restart on the same store, a minute later: the nonce is remembered
	r.stop()
	clk.Advance(time.Minute)
	r.start()
	calls := len(r.relay.Calls())
	seq := r.lastSeq()
	err := r.send(pc, signed(t, hub, command("C-4", wire.CmdUnlockOnce, t0)), false)
	var rej *downlink.Rejection
	if !errors.As(err, &rej) || rej.Reason != wire.ReasonReplayed {
		t.Errorf("replay after restart: Handle = %v; want replayed", err)
	}
	if evs := r.since(seq); len(evs) != 1 || evs[0].Type != wire.EvCmdRejected || evs[0].Reason != wire.ReasonReplayed {
		t.Errorf("replay after restart: events %s; want one command.rejected replayed", eventList(evs))
	}
	if got := r.relay.Calls()[calls:]; len(got) != 0 {
		t.Errorf("replay after restart moved the relay: %v", got)
	}
	if st := r.door.Status(); st.Lock != "locked" {
		t.Errorf("after the replay: lock %s; want locked", st.Lock)
	}
	// a new command still works
	if err := r.send(pc, signed(t, hub, command("C-5", wire.CmdUnlockOnce, t0.Add(time.Minute))), false); err != nil {
		t.Errorf("fresh unlock-once after restart: %v", err)
	}
	if got := r.relay.Calls()[calls:]; !slices.Equal(got, []string{"unlock"}) {
		t.Errorf("fresh unlock-once after restart: relay calls %v; want [unlock]", got)
	}
}

// TestReplayFloodCoalesced: a validly signed command or record, replayed
// 1,000 times (captured by whoever holds the broker), is refused by the
// door each time and counted each time, but costs the door a few events,
// not 1,000: the door's refusals are coalesced as the downlink's own.
func TestReplayFloodCoalesced(t *testing.T) {
	clk := agenttest.NewClock(t0, true)
	r := newRig(t, clk)
	r.start()
	// one window for the whole flood, however slow the machine (-race)
	var err error
	r.h, err = downlink.New(downlink.Config{Topics: doorTopics(t), Keys: keyring(t), Door: r.door,
		Metrics: metrics.NewRegistry(), RefusalInterval: -1, RefusalWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.ctr = r.h.Metrics()
	cmd := signed(t, hub, command("C-1", wire.CmdLockdown, t0))
	if err := r.send(base+"cmd", cmd, false); err != nil {
		t.Fatalf("the lockdown = %v", err)
	}
	p2, p1 := signed(t, hub, guestPermit("P-0001", 2, testDoor)), signed(t, hub, guestPermit("P-0001", 1, testDoor))
	if err := r.send(base+"permits/P-0001", p2, true); err != nil {
		t.Fatalf("the permit = %v", err)
	}
	seq := r.lastSeq()
	for range 1000 {
		r.send(base+"cmd", cmd, false)
		r.send(base+"permits/P-0001", p1, true)
	}
	if n := r.ctr.Rejected.With(wire.ReasonReplayed).Value(); n != 1000 {
		t.Errorf("replayed refusals counted %d; want 1000", n)
	}
	if n := r.ctr.Rejected.With(wire.ReasonRollback).Value(); n != 1000 {
		t.Errorf("rollback refusals counted %d; want 1000", n)
	}
	evs := r.since(seq)
	if len(evs) > 2*downlink.DefaultRefusalBurst {
		t.Errorf("%d events stored for 2,000 refusals; want at most %d (the burst of each reason), the rest counted",
			len(evs), 2*downlink.DefaultRefusalBurst)
	}
	for _, e := range evs {
		if e.Type == wire.EvCmdRejected && e.Command != wire.CmdLockdown {
			t.Errorf("command.rejected %+v; want the command named", e)
		}
		if e.Type == wire.EvPermitRejected && e.Permit != "P-0001" {
			t.Errorf("permit.rejected %+v; want the permit named", e)
		}
	}
}
