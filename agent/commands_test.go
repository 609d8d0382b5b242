package agent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// command returns a command of the test door issued at t0 and valid for
// life.
func command(id string, name wire.CommandName, life time.Duration) permit.Command {
	return permit.Command{ID: id, Site: testSite, Door: testDoor, Name: name, Issued: t0, Expires: t0.Add(life), By: "head-ict"}
}

func TestDoorCommand(t *testing.T) {
	r := startedRig(t)
	ctx := context.Background()
	const src = "kunci/v1/demo/server-room/cmd"

	type step struct {
		name    string
		cmd     permit.Command
		err     error          // Door.Command's answer
		event   wire.EventType // the one event stored
		reason  wire.Reason
		mode    wire.Mode
		lock    string
		relay   []string // relay calls after the step
		refused bool     // counted in commands_rejected
	}
	other := command("C-OTHER", wire.CmdUnlockOnce, time.Minute)
	other.Door = "lab"
	invalid := command("C-INVALID", "self-destruct", time.Minute)
	expired := command("C-OLD", wire.CmdUnlockOnce, time.Minute)
	expired.Issued, expired.Expires = t0.Add(-2*time.Minute), t0
	steps := []step{
		{name: "lockdown", cmd: command("C-1", wire.CmdLockdown, time.Minute), event: wire.EvCmdExecuted,
			mode: wire.ModeLockdown, lock: "locked", relay: []string{"lock"}},
		{name: "unlock-once in lockdown", cmd: command("C-2", wire.CmdUnlockOnce, time.Minute), event: wire.EvCmdRejected,
			reason: wire.ReasonLockdown, mode: wire.ModeLockdown, lock: "locked", relay: []string{"lock"}},
		{name: "lockdown replayed", cmd: command("C-1", wire.CmdLockdown, time.Minute), err: agent.ErrReplayed,
			event: wire.EvCmdRejected, reason: wire.ReasonReplayed, mode: wire.ModeLockdown, lock: "locked",
			relay: []string{"lock"}, refused: true},
		{name: "release", cmd: command("C-3", wire.CmdRelease, time.Minute), event: wire.EvCmdExecuted,
			mode: wire.ModeNormal, lock: "locked", relay: []string{"lock"}},
		{name: "unlock-once rejected in lockdown, sent again after release", cmd: command("C-2", wire.CmdUnlockOnce, time.Minute),
			err: agent.ErrReplayed, event: wire.EvCmdRejected, reason: wire.ReasonReplayed, mode: wire.ModeNormal,
			lock: "locked", relay: []string{"lock"}, refused: true},
		{name: "another door", cmd: other, err: agent.ErrWrongDoor, event: wire.EvCmdRejected, reason: wire.ReasonWrongDoor,
			mode: wire.ModeNormal, lock: "locked", relay: []string{"lock"}, refused: true},
		{name: "invalid", cmd: invalid, err: permit.ErrInvalid, event: wire.EvCmdRejected, reason: wire.ReasonInvalid,
			mode: wire.ModeNormal, lock: "locked", relay: []string{"lock"}, refused: true},
		{name: "expired", cmd: expired, err: agent.ErrCommandExpired,
			event: wire.EvCmdRejected, reason: wire.ReasonExpired, mode: wire.ModeNormal, lock: "locked",
			relay: []string{"lock"}, refused: true},
		{name: "unlock-once", cmd: command("C-4", wire.CmdUnlockOnce, time.Minute), event: wire.EvCmdExecuted,
			mode: wire.ModeNormal, lock: "unlocked", relay: []string{"lock", "unlock"}},
		{name: "unlock-once replayed", cmd: command("C-4", wire.CmdUnlockOnce, time.Minute), err: agent.ErrReplayed,
			event: wire.EvCmdRejected, reason: wire.ReasonReplayed, mode: wire.ModeNormal, lock: "unlocked",
			relay: []string{"lock", "unlock"}, refused: true},
	}
	refused := uint64(0)
	for _, s := range steps {
		seq := r.lastSeq()
		err := r.d.Command(ctx, src, s.cmd)
		if s.err == nil && err != nil || s.err != nil && !errors.Is(err, s.err) {
			t.Errorf("%s: Command = %v; want %v", s.name, err, s.err)
		}
		evs := r.since(seq)
		var got []agent.Event
		for _, e := range evs {
			if e.Type == wire.EvCmdExecuted || e.Type == wire.EvCmdRejected {
				got = append(got, e)
			}
		}
		if len(got) != 1 || got[0].Type != s.event || got[0].Reason != s.reason {
			t.Errorf("%s: command events %v; want one %s reason %q", s.name, evList(got), s.event, s.reason)
		} else if !strings.Contains(got[0].Detail, s.cmd.ID) || s.refused && !strings.Contains(got[0].Detail, src) {
			t.Errorf("%s: detail %q; want the command id and, for a refusal, the source", s.name, got[0].Detail)
		}
		if st := r.d.Status(); st.Mode != s.mode || st.Lock != s.lock {
			t.Errorf("%s: status mode %s lock %s; want %s %s", s.name, st.Mode, st.Lock, s.mode, s.lock)
		}
		if calls := r.relay.Calls(); !slices.Equal(calls, s.relay) {
			t.Errorf("%s: relay calls %v; want %v", s.name, calls, s.relay)
		}
		if s.refused {
			refused++
		}
		if n := r.d.Metrics().CommandsRejected.Value(); n != refused {
			t.Errorf("%s: commands_rejected = %d; want %d", s.name, n, refused)
		}
	}

	// the nonces survive a restart: the replay is refused by the new door
	r.clk.Advance(10 * time.Second)
	r.restart()
	seq := r.lastSeq()
	calls := len(r.relay.Calls())
	if err := r.d.Command(ctx, src, command("C-4", wire.CmdUnlockOnce, time.Minute)); !errors.Is(err, agent.ErrReplayed) {
		t.Errorf("replay after restart: Command = %v; want ErrReplayed", err)
	}
	if evs := r.since(seq); len(evs) != 1 || evs[0].Type != wire.EvCmdRejected || evs[0].Reason != wire.ReasonReplayed {
		t.Errorf("replay after restart: events %v; want command.rejected replayed", evList(evs))
	}
	if got := r.relay.Calls()[calls:]; len(got) != 0 {
		t.Errorf("replay after restart moved the relay: %v", got)
	}
}

func TestDoorCommandUntrustedClock(t *testing.T) {
	clk := agenttest.NewClock(t0, false) // never synchronised, no last trusted time stored
	r := newRig(t, testConfig(), clk)
	r.start()
	seq := r.lastSeq()
	err := r.d.Command(context.Background(), "test", command("C-1", wire.CmdUnlockOnce, time.Minute))
	if !errors.Is(err, agent.ErrClockUntrusted) {
		t.Errorf("Command = %v; want ErrClockUntrusted", err)
	}
	if evs := r.since(seq); len(evs) != 1 || evs[0].Type != wire.EvCmdRejected || evs[0].Reason != wire.ReasonClockUntrusted {
		t.Errorf("events %v; want command.rejected clock_untrusted", evList(evs))
	}
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock"}) {
		t.Errorf("relay calls %v; want [lock]", got)
	}
	// the nonce was not taken: the same command is judged again once the
	// clock is trusted
	clk.SetSynced(true)
	if err := r.d.Command(context.Background(), "test", command("C-1", wire.CmdUnlockOnce, time.Minute)); err != nil {
		t.Errorf("Command with the clock synchronised = %v", err)
	}
}

func TestDoorLockdownWithoutTrustedClock(t *testing.T) {
	clk := agenttest.NewClock(t0, false) // never synchronised
	r := newRig(t, testConfig(), clk)
	r.start()
	ctx := context.Background()
	// a lockdown only makes the door safer: obeyed without a trusted clock
	if err := r.d.Command(ctx, "test", command("C-L", wire.CmdLockdown, time.Minute)); err != nil {
		t.Fatalf("lockdown = %v; want obeyed", err)
	}
	if st := r.d.Status(); st.Mode != wire.ModeLockdown {
		t.Fatalf("mode %s; want lockdown", st.Mode)
	}
	// its nonce is still checked
	if err := r.d.Command(ctx, "test", command("C-L", wire.CmdLockdown, time.Minute)); !errors.Is(err, agent.ErrReplayed) {
		t.Errorf("replayed lockdown = %v; want ErrReplayed", err)
	}
	// releasing needs a trusted clock
	if err := r.d.Command(ctx, "test", command("C-R", wire.CmdRelease, time.Minute)); !errors.Is(err, agent.ErrClockUntrusted) {
		t.Errorf("release = %v; want ErrClockUntrusted", err)
	}
}

// The rule for a door that has never had a trusted time: a lockdown is
// obeyed (it only makes the door safer) and holds until the clock is
// trusted and a release comes; its id is never forgotten meanwhile,
// however far the unsynchronised wall clock runs, so a captured lockdown
// cannot be replayed.
func TestDoorOldLockdownWithoutTrustedClock(t *testing.T) {
	clk := agenttest.NewClock(t0, false) // never synchronised
	r := newRig(t, testConfig(), clk)
	r.start()
	ctx := context.Background()
	if err := r.d.Command(ctx, "test", command("C-L1", wire.CmdLockdown, time.Minute)); err != nil {
		t.Fatalf("lockdown = %v; want obeyed", err)
	}
	// the wall clock, unsynchronised, runs a year ahead; another lockdown
	// comes (its claim is where stale ids were forgotten)
	clk.Advance(365 * 24 * time.Hour)
	later := command("C-L2", wire.CmdLockdown, time.Minute)
	later.Issued, later.Expires = clk.Now(), clk.Now().Add(time.Minute)
	if err := r.d.Command(ctx, "test", later); err != nil {
		t.Fatalf("the second lockdown = %v; want obeyed", err)
	}
	r.restart()
	seq := r.lastSeq()
	if err := r.d.Command(ctx, "test", command("C-L1", wire.CmdLockdown, time.Minute)); !errors.Is(err, agent.ErrReplayed) {
		t.Errorf("the first lockdown replayed a year on = %v; want ErrReplayed", err)
	}
	if evs := r.since(seq); len(evs) != 1 || evs[0].Type != wire.EvCmdRejected || evs[0].Reason != wire.ReasonReplayed {
		t.Errorf("events %v; want command.rejected replayed", evList(evs))
	}
	nonces, err := r.st.Nonces()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nonces["C-L1"]; !ok {
		t.Errorf("nonces %v: C-L1 forgotten without a trusted time", nonces)
	}
	// once the clock is trusted, a release is obeyed and old ids go
	clk.SetSynced(true)
	rel := command("C-R", wire.CmdRelease, time.Minute)
	rel.Issued, rel.Expires = clk.Now(), clk.Now().Add(time.Minute)
	if err := r.d.Command(ctx, "test", rel); err != nil {
		t.Fatalf("release with a trusted clock = %v", err)
	}
	if st := r.d.Status(); st.Mode != wire.ModeNormal {
		t.Errorf("mode %s after the release; want normal", st.Mode)
	}
	if nonces, _ := r.st.Nonces(); len(nonces) != 2 {
		t.Errorf("nonces %v; want C-L2 and C-R, C-L1 forgotten once time is trusted", nonces)
	}
}

func TestDoorCommandIssuedInTheFuture(t *testing.T) {
	r := startedRig(t)
	c := command("C-F", wire.CmdUnlockOnce, time.Minute)
	c.Issued, c.Expires = t0.Add(10*time.Minute), t0.Add(11*time.Minute)
	if err := r.d.Command(context.Background(), "test", c); !errors.Is(err, agent.ErrCommandNotYetValid) {
		t.Errorf("Command issued 10 min ahead = %v; want ErrCommandNotYetValid", err)
	}
	if st := r.d.Status(); st.Lock != "locked" {
		t.Error("a command from the future unlocked the door")
	}
}

func TestStoreClaimNonce(t *testing.T) {
	st, path := newStore(t)
	claim := func(id string, expires, now time.Time, want bool) {
		t.Helper()
		fresh, err := st.ClaimNonce(id, expires, agent.Time{Now: now, Trusted: true})
		if err != nil || fresh != want {
			t.Fatalf("ClaimNonce(%s, now %s) = %v, %v; want %v", id, now.Sub(t0), fresh, err, want)
		}
	}
	claim("C-1", t0.Add(time.Minute), t0, true)
	claim("C-1", t0.Add(time.Minute), t0, false)
	claim("C-2", t0.Add(15*time.Minute), t0, true)
	if _, err := st.ClaimNonce("", t0, agent.Time{Now: t0, Trusted: true}); !errors.Is(err, permit.ErrInvalid) {
		t.Errorf("ClaimNonce of an empty id = %v; want ErrInvalid", err)
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	// after a reopen, and past expiry within the grace period, still known
	claim("C-1", t0.Add(time.Minute), t0.Add(10*time.Minute), false)
	// past expiry and grace: C-1 is forgotten, C-2 (later expiry) kept
	claim("C-3", t0.Add(30*time.Minute), t0.Add(20*time.Minute), true)
	got, err := st.Nonces()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["C-2"].Equal(t0.Add(15*time.Minute)) || !got["C-3"].Equal(t0.Add(30*time.Minute)) {
		t.Errorf("Nonces() = %v; want C-2 and C-3 with their expiry", got)
	}
}

// The door records the operator's reason with the command it obeyed.
func TestCommandExecutedNamesTheReason(t *testing.T) {
	r := startedRig(t)
	c := command("C-R1", wire.CmdLockdown, time.Minute)
	c.Reason = "latihan kebakaran / fire drill"
	seq := r.lastSeq()
	if err := r.d.Command(context.Background(), "test", c); err != nil {
		t.Fatal(err)
	}
	evs := r.since(seq)
	if len(evs) == 0 || evs[0].Type != wire.EvCmdExecuted || evs[0].Detail != "lockdown C-R1: latihan kebakaran / fire drill" {
		t.Errorf("events %v; want command.executed naming the reason", evList(evs))
	}
}
