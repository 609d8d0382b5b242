package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func testConfig() agent.Config {
	return agent.Config{Site: testSite, Door: testDoor, Rules: agent.DefaultRules(),
		Readers: []string{agent.ReaderEntry, agent.ReaderExit}, Racks: []string{"R1", "R2"},
		SiteKey: testKey, Keys: permit.Keyring{}, Boot: "b00t", Version: "v-test"}
}

// doorRig is a door on a real store with a fake clock and relay.
type doorRig struct {
	t     *testing.T
	path  string
	st    *agent.Store
	clk   *agenttest.Clock
	relay *agenttest.Relay
	cfg   agent.Config
	d     *agent.Door
	run   *runningDoor
}

func newRig(t *testing.T, cfg agent.Config, clk *agenttest.Clock) *doorRig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.db")
	r := &doorRig{t: t, path: path, clk: clk, cfg: cfg, relay: &agenttest.Relay{}}
	r.st = openStore(t, path)
	return r
}

// testRig is a door of testConfig on a fake clock at t0, not yet started,
// its store holding recs.
func testRig(t *testing.T, recs ...permit.Record) *doorRig {
	t.Helper()
	r := newRig(t, testConfig(), agenttest.NewClock(t0, true))
	r.apply(recs...)
	return r
}

// startedRig is a testRig, started.
func startedRig(t *testing.T, recs ...permit.Record) *doorRig {
	t.Helper()
	r := testRig(t, recs...)
	r.start()
	return r
}

// start makes the door and runs it until the test ends or stop.
func (r *doorRig) start() {
	r.t.Helper()
	r.startWith(r.clk)
}

// startWith starts the door with clk, and passes one Tick so that the
// room.secured of the start's secure check is stored before the test's
// first input.
func (r *doorRig) startWith(clk agent.Clock) {
	r.t.Helper()
	d, err := agent.NewDoor(r.cfg, r.st, r.relay, clk, discardLog(), nil)
	if err != nil {
		r.t.Fatalf("NewDoor = %v", err)
	}
	r.d = d
	r.run = startDoor(d)
	r.t.Cleanup(func() { r.run.stop() })
	r.must(d.Submit(context.Background(), agent.Tick{}))
}

func (r *doorRig) stop() {
	r.t.Helper()
	if err := r.run.stop(); err != nil {
		r.t.Fatalf("Run = %v", err)
	}
}

// restart stops the door, reopens its store and starts a new door on it.
func (r *doorRig) restart() {
	r.t.Helper()
	r.stop()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.st = openStore(r.t, r.path)
	r.start()
}

func (r *doorRig) apply(recs ...permit.Record) {
	r.t.Helper()
	for _, rec := range recs {
		if _, err := r.st.Apply(rec); err != nil {
			r.t.Fatalf("Apply = %v", err)
		}
	}
}

func (r *doorRig) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

// since returns the events stored after seq.
func (r *doorRig) since(seq uint64) []agent.Event {
	r.t.Helper()
	evs, err := r.st.Events(seq, 1<<20)
	if err != nil {
		r.t.Fatal(err)
	}
	return evs
}

func (r *doorRig) lastSeq() uint64 {
	r.t.Helper()
	n, err := r.st.LastSeq()
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func types(evs []agent.Event) []wire.EventType {
	out := []wire.EventType{}
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func staffRecords(sts ...*permit.Staff) []permit.Record {
	var out []permit.Record
	for _, s := range sts {
		out = append(out, permit.Record{Staff: s})
	}
	return out
}

func TestDoorStartAndHalt(t *testing.T) {
	clk := agenttest.NewClock(t0, true)
	clk.Advance(7 * time.Second)
	r := newRig(t, testConfig(), clk)
	r.start()
	// the relay goes to its safe state before the door does anything
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock"}) {
		t.Fatalf("after NewDoor relay calls = %v; want [lock]", got)
	}
	evs := r.since(0)
	// the machine starts believing door and racks shut, and its start
	// check finds the empty room secured at the first input
	if got := types(evs); !slices.Equal(got, []wire.EventType{wire.EvStarted, wire.EvLocked, wire.EvSecured}) {
		t.Fatalf("events at start = %v; want agent.started, door.locked, room.secured", got)
	}
	e := evs[0]
	if e.Type != wire.EvStarted || e.Detail != "v-test" || !e.ClockSynced || e.Boot != "b00t" || !e.At.Equal(t0.Add(7*time.Second)) ||
		e.MonoNS != int64(7*time.Second) || e.Seq != 1 {
		t.Errorf("start event = %+v; want agent.started, synced, at the clock's time", e)
	}
	st := r.d.Status()
	if st.Seq != 3 || !st.ClockSynced || st.Version != "v-test" || st.Lock != "locked" {
		t.Errorf("Status() = %+v; want seq 3, synced, locked", st)
	}

	r.stop()
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock", "halt"}) {
		t.Errorf("after Run returned relay calls = %v; want [lock halt]", got)
	}
	if err := r.d.Submit(context.Background(), agent.Tick{}); !errors.Is(err, agent.ErrStopped) {
		t.Errorf("Submit after Run returned = %v; want ErrStopped", err)
	}
}

func TestDoorHaltsWhenUnlocked(t *testing.T) {
	r := startedRig(t, staffRecords(soloStaff)...)
	ctx := context.Background()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock", "unlock"}) {
		t.Fatalf("after a solo tap relay calls = %v; want [lock unlock]", got)
	}
	r.stop()
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock", "unlock", "halt"}) {
		t.Errorf("after Run returned relay calls = %v; want [lock unlock halt]", got)
	}
}

// slowRelay is an agenttest.Relay whose Unlock waits until release is
// closed, after saying so on moving.
type slowRelay struct {
	agenttest.Relay
	moving, release chan struct{}
}

func (r *slowRelay) Unlock() error {
	close(r.moving)
	<-r.release
	return r.Relay.Unlock()
}

// slowRelayDoor starts a door of a solo staff card on a slowRelay.
func slowRelayDoor(t *testing.T) (*doorRig, *slowRelay, *agent.Door, *runningDoor) {
	t.Helper()
	r := testRig(t, staffRecords(soloStaff)...)
	relay := &slowRelay{moving: make(chan struct{}), release: make(chan struct{})}
	d, err := agent.NewDoor(r.cfg, r.st, relay, r.clk, discardLog(), nil)
	r.must(err)
	return r, relay, d, startDoor(d)
}

// An input still waiting when the door's context ends is refused, not
// processed: the loop stops at once, and the relay's halt is the last
// thing it does to the relay.
func TestDoorStopsBeforeWaitingInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, relay, d, run := slowRelayDoor(t)
		ctx := context.Background()
		r.must(d.Submit(ctx, agent.Tick{}))
		first := make(chan error, 1)
		go func() { first <- d.Tap(ctx, agent.ReaderEntry, uidOf(12)) }()
		<-relay.moving // the solo grant is stored; the relay is moving
		seq := r.lastSeq()
		second := make(chan error, 1)
		go func() { second <- d.Tap(ctx, agent.ReaderEntry, uidOf(12)) }()
		synctest.Wait() // the second tap waits for the loop
		run.cancel()
		close(relay.release)
		r.must(<-first)
		if err := <-second; !errors.Is(err, agent.ErrStopped) {
			t.Errorf("the tap waiting when the door stopped = %v; want ErrStopped", err)
		}
		r.must(run.stop())
		if got := relay.Calls(); !slices.Equal(got, []string{"lock", "unlock", "halt"}) {
			t.Errorf("relay calls = %v; want [lock unlock halt]", got)
		}
		if evs := r.since(seq); len(evs) != 0 {
			t.Errorf("events stored after the stop began: %v; want none", types(evs))
		}
	})
}

func TestNewDoorLocksFirst(t *testing.T) {
	r := testRig(t)
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	// with the store unreadable NewDoor fails, but only after locking
	if _, err := agent.NewDoor(r.cfg, r.st, r.relay, r.clk, discardLog(), nil); err == nil {
		t.Fatal("NewDoor on a closed store = nil error")
	}
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock"}) {
		t.Errorf("relay calls = %v; want [lock]", got)
	}

	r2 := newRig(t, testConfig(), r.clk)
	r2.relay.FailLock(errors.New("relay wire cut"))
	if _, err := agent.NewDoor(r2.cfg, r2.st, r2.relay, r.clk, discardLog(), nil); err == nil || !strings.Contains(err.Error(), "rec-relay") {
		t.Errorf("NewDoor with a relay that cannot lock = %v; want an error naming the relay", err)
	}
}

func TestDoorStoreFailure(t *testing.T) {
	r := startedRig(t, staffRecords(soloStaff)...)
	ctx := context.Background()
	r.must(r.d.Submit(ctx, agent.Tick{}))
	calls := r.relay.Calls()

	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	// the card look-up fails: the tap is refused
	if err := r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)); err == nil {
		t.Error("Tap with the store closed = nil error")
	}
	// the append fails: the door follows its input all the same
	if err := r.d.SetDoor(ctx, true); err != nil {
		t.Errorf("SetDoor with the store closed = %v; want the input taken, its events held in memory", err)
	}
	// an unlock needs its event stored
	if err := r.d.Submit(ctx, agent.Command{Name: wire.CmdUnlockOnce, ID: "C-1"}); err == nil {
		t.Error("unlock-once with the store closed = nil error")
	}
	if got := r.relay.Calls(); !slices.Equal(got, calls) {
		t.Errorf("relay calls = %v; want %v: no unlock without a stored event", got, calls)
	}
	st := r.d.Status()
	if st.Door != wire.Open || st.Lock != wire.Locked || !slices.Contains(st.Alarms, wire.AlarmDoorForced) ||
		!slices.Contains(st.Alarms, wire.AlarmStoreFailed) {
		t.Errorf("Status() = %+v; want the door open and locked, door_forced and store_failed", st)
	}
	if n := r.d.Metrics().StoreErrors.Value(); n < 3 {
		t.Errorf("store_errors = %d; want at least 3", n)
	}
}

// With its store failing, the door's state follows its inputs (a forced
// door is an alarm in status), no unlock happens without its stored
// event, and the events wait in memory: once the store writes again they
// are stored first, in order and without a gap, with a store.failed note
// that says how many were held.
func TestDoorStoreFailureFollowsInputs(t *testing.T) {
	r := startedRig(t, staffRecords(soloStaff)...)
	ctx := context.Background()
	r.must(r.d.Submit(ctx, agent.Tick{}))
	seq, calls := r.lastSeq(), r.relay.Calls()

	agent.FailWrites(r.st, errors.New("no space left on device"))
	if err := r.d.SetDoor(ctx, true); err != nil {
		t.Fatalf("SetDoor with the store failing = %v", err)
	}
	if st := r.d.Status(); st.Door != wire.Open || !slices.Contains(st.Alarms, wire.AlarmDoorForced) ||
		!slices.Contains(st.Alarms, wire.AlarmStoreFailed) || st.Seq != seq {
		t.Errorf("Status() = %+v; want the door open, door_forced, store_failed, seq %d", st, seq)
	}
	r.must(r.d.SetDoor(ctx, false))
	// the solo staff card would unlock: refused while its grant cannot be stored
	if err := r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)); err == nil {
		t.Error("a grant with the store failing = nil error")
	}
	if got := r.relay.Calls(); !slices.Equal(got, calls) {
		t.Errorf("relay calls = %v; want %v", got, calls)
	}
	if got := r.lastSeq(); got != seq {
		t.Errorf("last seq %d while the store failed; want %d", got, seq)
	}
	if n := r.d.Metrics().EventsHeld.Value(); n < 3 {
		t.Errorf("events held = %v; want the opening, the forcing and the closing at least", n)
	}

	// events that can never be encoded are dropped, not held for ever
	r.clk.Set(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), true)
	r.must(r.d.SetRack(ctx, "R1", true))
	r.clk.Set(t0.Add(time.Minute), true)
	r.must(r.d.SetRack(ctx, "R1", false))

	agent.FailWrites(r.st, nil)
	r.must(r.d.Submit(ctx, agent.Tick{}))
	evs := r.since(seq)
	if len(evs) == 0 || evs[0].Seq != seq+1 {
		t.Fatalf("events after the store came back: %v; want them from seq %d", types(evs), seq+1)
	}
	got := types(evs)
	for _, want := range [][]wire.EventType{{wire.EvOpened, wire.EvForced}, {wire.EvClosed}, {wire.EvRackClosed}, {wire.EvStoreFailed}} {
		i := slices.Index(got, want[0])
		if i < 0 || len(want) > 1 && (i+1 >= len(got) || got[i+1] != want[1]) {
			t.Errorf("events %v; want %v among them, in order", got, want)
		}
	}
	if i, j := slices.Index(got, wire.EvClosed), slices.Index(got, wire.EvStoreFailed); i > j {
		t.Errorf("events %v: the held events come before the store.failed note", got)
	}
	note := evs[slices.Index(got, wire.EvStoreFailed)]
	// lost: the rack's opening and its tampering, at a time JSON cannot hold
	if note.Count == 0 || !strings.Contains(note.Detail, "2 lost") {
		t.Errorf("store.failed %+v; want the count held and the two events lost", note)
	}
	if st := r.d.Status(); slices.Contains(st.Alarms, wire.AlarmStoreFailed) || st.Seq != r.lastSeq() {
		t.Errorf("Status() = %+v; want store_failed cleared and seq %d", st, r.lastSeq())
	}
	if n := r.d.Metrics().EventsHeld.Value(); n != 0 {
		t.Errorf("events held = %v after the store came back; want 0", n)
	}
	// the door works again: the solo card opens it
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
	if st := r.d.Status(); st.Lock != wire.Unlocked {
		t.Errorf("lock %s after the solo tap; want unlocked", st.Lock)
	}
}
func TestDoorBadInput(t *testing.T) {
	r := startedRig(t)
	ctx := context.Background()
	r.must(r.d.Submit(ctx, agent.Tick{}))
	seq, before := r.lastSeq(), r.d.Status()

	if err := r.d.Tap(ctx, "side", uidOf(1)); !errors.Is(err, agent.ErrUnknownReader) {
		t.Errorf("Tap(unknown reader) = %v; want ErrUnknownReader", err)
	}
	for _, n := range []int{0, 1, 5, 8, 11, 32} {
		uid := make([]byte, n)
		if err := r.d.Tap(ctx, agent.ReaderEntry, uid); !errors.Is(err, permit.ErrUID) {
			t.Errorf("Tap(%d-byte uid) = %v; want ErrUID", n, err)
		}
	}
	if err := r.d.SetRack(ctx, "R9", true); !errors.Is(err, agent.ErrUnknownRack) {
		t.Errorf("SetRack(R9) = %v; want ErrUnknownRack", err)
	}
	ctr := r.d.Metrics()
	for _, c := range []struct {
		name string
		ctr  *metrics.Counter
		want uint64
	}{{"unknown_reader", ctr.UnknownReaders, 1}, {"bad_uid", ctr.BadUIDs, 6}, {"unknown_rack", ctr.UnknownRacks, 1}} {
		if got := c.ctr.Value(); got != c.want {
			t.Errorf("counter %s = %d; want %d", c.name, got, c.want)
		}
	}
	if got := r.lastSeq(); got != seq {
		t.Errorf("bad input stored events %v", types(r.since(seq)))
	}
	if got := r.d.Status(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("Status() = %+v; want unchanged %+v", got, before)
	}

	// good UIDs of every length are accepted, and no event names the UID
	for _, n := range []byte{4, 7, 10} {
		uid := make([]byte, n)
		for i := range uid {
			uid[i] = 0xa0 + byte(i)
		}
		r.must(r.d.Tap(ctx, agent.ReaderEntry, uid))
	}
	r.must(r.d.ReaderFault(ctx, agent.ReaderExit, errors.New("no answer from PN532")))
	evs := r.since(seq)
	j, _ := json.Marshal(evs)
	if strings.Contains(strings.ToLower(string(j)), "a0a1a2a3") {
		t.Errorf("events contain a raw UID: %s", j)
	}
	if got, want := types(evs), []wire.EventType{wire.EvTap, wire.EvDenied, wire.EvTap, wire.EvDenied, wire.EvTap, wire.EvDenied,
		wire.EvReaderFault}; !slices.Equal(got, want) {
		t.Errorf("events %v; want %v", got, want)
	}
	if f := evs[len(evs)-1]; f.Reader != agent.ReaderExit || !strings.Contains(f.Detail, "PN532") {
		t.Errorf("reader fault event = %+v", f)
	}
	if got := ctr.ReaderFaults.Value(); got != 1 {
		t.Errorf("reader_faults = %d; want 1", got)
	}
}

func TestDoorUnsyncedClockWithoutTrustedTime(t *testing.T) {
	clk := agenttest.NewClock(time.Unix(42, 0), false) // a Pi without RTC, before NTP
	r := newRig(t, testConfig(), clk)
	r.apply(permit.Record{Permit: &p1})
	r.apply(staffRecords(escortStaff)...)
	r.start()
	ctx := context.Background()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(10)))
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	evs := r.since(0)
	want := []ev{{Type: wire.EvClockUnsynced, Detail: "refused"}, {Type: wire.EvStarted},
		{Type: wire.EvLocked, Detail: "safe state at start"}, secured,
		staffTapEv(escortStaff), tapEv(), deniedP(wire.ReasonClockUntrusted, p1)}
	if !evsMatch(evs, want) {
		t.Fatalf("events %v; want %v", evList(evs), want)
	}
	for _, e := range evs {
		if e.ClockSynced {
			t.Errorf("event %d %s has clock_synced true with the clock unsynced", e.Seq, e.Type)
		}
	}
	if st := r.d.Status(); st.ClockSynced || st.Lock != "locked" {
		t.Errorf("Status() = %+v; want clock_synced false, locked", st)
	}
	if got := r.relay.Calls(); slices.Contains(got, "unlock") {
		t.Errorf("relay calls %v; want no unlock", got)
	}
}

func TestDoorUnsyncedClockJudgedFromLastTrusted(t *testing.T) {
	clk := agenttest.NewClock(t0, true)
	clk.Advance(time.Hour)
	clk.Set(t0, true) // mono 1h at wall t0
	r := newRig(t, testConfig(), clk)
	short := guestPermit("P-SHORT", guestCard, "S-ESC")
	short.NotBefore, short.NotAfter = t0.Add(-time.Minute), t0.Add(10*time.Minute)
	r.apply(permit.Record{Permit: &short})
	r.apply(staffRecords(escortStaff)...)
	r.start() // agent.started stored with the trusted time
	// reboot: the wall clock is back in 1970 and not synchronised, the
	// monotonic clock starts again
	r.stop()
	clk.Reboot(time.Unix(0, 0), 3*time.Second, false)
	seq := r.lastSeq()
	r.restart()

	ctx := context.Background()
	clk.Advance(2 * time.Minute)
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	clk.Advance(time.Second)
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(10)))
	evs := r.since(seq)
	want := []ev{{Type: wire.EvClockUnsynced, Detail: "last trusted time"}, {Type: wire.EvStarted},
		{Type: wire.EvLocked, Detail: "safe state at start"}, secured,
		tapEv(), awaited(short), staffTapEv(escortStaff), granted(short), unlocked}
	if !evsMatch(evs, want) {
		t.Fatalf("events %v; want %v", evList(evs), want)
	}
	for _, e := range evs {
		if e.ClockSynced {
			t.Errorf("event %d %s has clock_synced true with the clock unsynced", e.Seq, e.Type)
		}
		if !e.At.Before(time.Unix(1000, 0)) {
			t.Errorf("event %d at %v; want the raw (1970) wall time, flagged", e.Seq, e.At)
		}
	}
	if got := r.relay.Calls(); got[len(got)-1] != "unlock" {
		t.Errorf("relay calls %v; want the last to be unlock", got)
	}

	// the judged time runs on with the monotonic clock: once the permit's
	// window is over by it, the permit no longer admits
	clk.Advance(10 * time.Minute)
	seq = r.lastSeq()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	if evs := r.since(seq); !evsMatch(evs[len(evs)-2:], []ev{tapEv(), deniedP(wire.ReasonExpired, short)}) {
		t.Errorf("after the window by monotonic time: events %v; want the permit expired", evList(evs))
	}
}

func TestDoorClockLosesSync(t *testing.T) {
	r := testRig(t, permit.Record{Permit: &p1})
	r.apply(staffRecords(escortStaff)...)
	r.start()
	ctx := context.Background()
	r.must(r.d.Submit(ctx, agent.Tick{}))
	seq := r.lastSeq()

	r.clk.SetSynced(false)
	r.clk.Advance(time.Second)
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	r.clk.Advance(time.Second)
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(10)))
	r.clk.Advance(time.Second)
	r.clk.SetSynced(true)
	r.must(r.d.SetDoor(ctx, true))
	evs := r.since(seq)
	want := []ev{{Type: wire.EvClockUnsynced}, tapEv(), awaited(p1), staffTapEv(escortStaff), granted(p1), unlocked,
		opened, entered(p1)}
	if !evsMatch(evs, want) {
		t.Fatalf("events %v; want %v", evList(evs), want)
	}
	for _, e := range evs {
		if wantSynced := e.Type == wire.EvOpened || e.Type == wire.EvVisitEntered; e.ClockSynced != wantSynced {
			t.Errorf("event %d %s clock_synced %v; want %v", e.Seq, e.Type, e.ClockSynced, wantSynced)
		}
	}
}

func newSigner(t *testing.T) *permit.Signer {
	t.Helper()
	priv, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return permit.NewSigner(priv)
}

func sign(t *testing.T, s *permit.Signer, kind permit.Kind, v interface{ Validate() error }) []byte {
	t.Helper()
	b, err := s.Sign(kind, v)
	if err != nil {
		t.Fatalf("Sign = %v", err)
	}
	return b
}

func TestDoorApplySigned(t *testing.T) {
	hub, rogue := newSigner(t), newSigner(t)
	r := trustingRig(t, hub)
	ctx := context.Background()

	v2 := p1
	v2.Version = 2
	r.must(r.d.ApplySigned(ctx, "permits/P-0001", sign(t, hub, permit.KindPermit, &v2)))
	r.must(r.d.ApplySigned(ctx, "permits/P-0001", sign(t, hub, permit.KindPermit, &v2))) // retained twice
	r.must(r.d.ApplySigned(ctx, "staff/S-ESC", sign(t, hub, permit.KindStaff, escortStaff)))
	r.must(r.d.Submit(ctx, agent.Tick{}))
	seq := r.lastSeq()
	if got := types(r.since(0)); !slices.Equal(got, []wire.EventType{wire.EvStarted, wire.EvLocked, wire.EvSecured}) {
		t.Fatalf("applying good records stored events %v; want none", got)
	}

	tampered := func() []byte {
		var doc permit.Signed
		if err := json.Unmarshal(sign(t, hub, permit.KindPermit, &v2), &doc); err != nil {
			t.Fatal(err)
		}
		doc.Body = []byte(strings.Replace(string(doc.Body), `"entries":0`, `"entries":9`, 1))
		b, _ := json.Marshal(doc)
		return b
	}()
	lab := v2
	lab.ID, lab.Door, lab.Card = "P-LAB", "lab", cardOf(7)
	old := p1
	bad := []struct {
		name string
		data []byte
		err  error
	}{
		{"signed by an untrusted key", sign(t, rogue, permit.KindPermit, &v2), permit.ErrUnknownKey},
		{"body changed after signing", tampered, permit.ErrBadSignature},
		{"for another door", sign(t, hub, permit.KindPermit, &lab), agent.ErrWrongDoor},
		{"older version", sign(t, hub, permit.KindPermit, &old), agent.ErrRollback},
		{"not json", []byte("{\"kind\":"), permit.ErrMalformed},
	}
	for i, b := range bad {
		err := r.d.ApplySigned(ctx, "permits/"+b.name, b.data)
		if !errors.Is(err, b.err) {
			t.Errorf("%s: ApplySigned = %v; want %v", b.name, err, b.err)
		}
		evs := r.since(seq)
		if len(evs) != 1 || evs[0].Type != wire.EvPermitRejected || !strings.Contains(evs[0].Detail, b.name) {
			t.Errorf("%s: events %v; want one permit.rejected naming the source", b.name, evList(evs))
		}
		seq = r.lastSeq()
		if got := r.d.Metrics().RecordsRejected.Value(); got != uint64(i+1) {
			t.Errorf("%s: records_rejected = %d; want %d", b.name, got, i+1)
		}
	}
	if p, s, _ := r.st.Counts(); p != 1 || s != 1 {
		t.Errorf("Counts() = %d permits, %d staff; want 1, 1", p, s)
	}
	if got := cardSays(t, r.st, guestCard); got != "P-0001@2" {
		t.Errorf("Card(guest) = %q; want P-0001@2 unchanged", got)
	}
	if got := cardSays(t, r.st, cardOf(7)); got != "" {
		t.Errorf("Card(lab guest) = %q; want nothing", got)
	}

	// a good revocation applies and the guest is refused
	rv := permit.Revocation{Permit: p1.ID, Version: 3, Site: testSite, Door: testDoor, At: t0, By: "head-ict"}
	r.must(r.d.ApplySigned(ctx, "permits/P-0001", sign(t, hub, permit.KindRevocation, &rv)))
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	if evs := r.since(seq); !evsMatch(evs, []ev{tapEv(), deniedP(wire.ReasonRevoked, p1)}) {
		t.Errorf("after revocation: events %v; want the guest refused as revoked", evList(evs))
	}
}

func TestDoorWatch(t *testing.T) {
	r := startedRig(t)
	w := r.d.Watch()
	r.must(r.d.SetDoor(context.Background(), true))
	select {
	case <-w:
	case <-time.After(time.Minute):
		t.Fatal("no status notification after the door opened")
	}
	if st := r.d.Status(); st.Door != "open" || !slices.Contains(st.Alarms, "door_forced") {
		t.Errorf("Status() = %+v; want door open and forced", st)
	}
}

func TestDoorSubmitCancelled(t *testing.T) {
	r := testRig(t)
	d, err := agent.NewDoor(r.cfg, r.st, r.relay, r.clk, discardLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// not running: a submit waits until its context ends
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := d.Submit(ctx, agent.Tick{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Submit to a door not running = %v; want DeadlineExceeded", err)
	}
}

// TestDoorTimers runs the real loop in a synctest bubble, so that the
// door's own timers fire in fake time.
func TestDoorTimers(t *testing.T) {
	setup := func(t *testing.T) (*doorRig, func(d time.Duration)) {
		cfg := testConfig()
		r := &doorRig{t: t, path: filepath.Join(t.TempDir(), "agent.db"), cfg: cfg, relay: &agenttest.Relay{}}
		r.st = openStore(t, r.path)
		r.apply(staffRecords(soloStaff, escortStaff)...)
		r.apply(permit.Record{Permit: &p1})
		r.startWith(agenttest.NewRunningClock(t0)) // the bubble's fake time, from t0
		return r, func(d time.Duration) { time.Sleep(d); synctest.Wait() }
	}
	ctx := context.Background()

	t.Run("relock when the door is not opened", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, sleep := setup(t)
			r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
			seq := r.lastSeq()
			sleep(5*time.Second - time.Millisecond)
			if r.d.Status().Lock != "unlocked" {
				t.Fatal("relocked before Rules.Unlock")
			}
			sleep(time.Millisecond)
			if got := types(r.since(seq)); !slices.Equal(got, []wire.EventType{wire.EvLocked}) {
				t.Errorf("events after Rules.Unlock %v; want [door.locked]", got)
			}
			if got := r.relay.Calls(); !slices.Equal(got, []string{"lock", "unlock", "lock"}) {
				t.Errorf("relay calls %v; want [lock unlock lock]", got)
			}
		})
	})
	t.Run("held open and room not secured", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, sleep := setup(t)
			r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
			r.must(r.d.SetDoor(ctx, true))
			r.must(r.d.Tap(ctx, agent.ReaderExit, uidOf(12)))
			seq := r.lastSeq()
			sleep(30 * time.Second)
			if got := types(r.since(seq)); !slices.Equal(got, []wire.EventType{wire.EvLocked, wire.EvHeldOpen}) {
				t.Errorf("events after 30 s open %v; want [door.locked door.held_open]", got)
			}
			seq = r.lastSeq()
			sleep(90 * time.Second)
			evs := r.since(seq)
			if !evsMatch(evs, []ev{{Type: wire.EvNotSecured, Detail: "door open"}}) {
				t.Errorf("events 2 minutes after the last exit %v; want room.not_secured", evList(evs))
			}
			if !slices.Contains(r.d.Status().Alarms, "room_not_secured") {
				t.Errorf("alarms %v; want room_not_secured", r.d.Status().Alarms)
			}
		})
	})
	t.Run("escort timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, sleep := setup(t)
			r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
			seq := r.lastSeq()
			sleep(30 * time.Second)
			if evs := r.since(seq); !evsMatch(evs, []ev{deniedP(wire.ReasonEscortTimeout, p1)}) {
				t.Errorf("events 30 s after the guest's tap %v; want escort_timeout", evList(evs))
			}
		})
	})
	t.Run("tampered rack left open", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r, sleep := setup(t)
			sleep(time.Second)
			r.must(r.d.SetRack(ctx, "R1", true))
			seq := r.lastSeq()
			sleep(2*time.Minute - time.Millisecond)
			if got := r.since(seq); len(got) != 0 {
				t.Errorf("events before SecureWithin %v; want none", evList(got))
			}
			sleep(time.Millisecond)
			if evs := r.since(seq); !evsMatch(evs, []ev{{Type: wire.EvNotSecured, Racks: "R1", Detail: "rack R1 open"}}) {
				t.Errorf("events 2 minutes after the rack opened %v; want room.not_secured", evList(evs))
			}
		})
	})
}

func TestDoorRecordsSafeStateAtStart(t *testing.T) {
	r := startedRig(t, staffRecords(soloStaff)...)
	ctx := context.Background()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
	if r.d.Status().Lock != "unlocked" {
		t.Fatal("solo tap did not unlock")
	}
	// the process ends while unlocked: Halt locks without an event, so
	// every start records the safe state it put the relay in
	seq := r.lastSeq()
	r.restart()
	got := types(r.since(seq))
	want := []wire.EventType{wire.EvStarted, wire.EvLocked, wire.EvSecured}
	if !slices.Equal(got, want) {
		t.Fatalf("events after restart = %v; want %v", got, want)
	}
	if st := r.d.Status(); st.Lock != "locked" {
		t.Errorf("after restart Status().Lock = %s; want locked", st.Lock)
	}
}

func TestDoorRelayFault(t *testing.T) {
	r := testRig(t)
	r.relay.FailUnlock(errors.New("relay coil open"))
	r.apply(staffRecords(soloStaff)...)
	r.start()
	seq := r.lastSeq()
	r.must(r.d.Tap(context.Background(), agent.ReaderEntry, uidOf(12)))
	got := types(r.since(seq))
	want := []wire.EventType{wire.EvTap, wire.EvGranted, wire.EvUnlocked, wire.EvRelayFault, wire.EvLocked}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v; want %v", got, want)
	}
	st := r.d.Status()
	if st.Lock != "locked" || !slices.Contains(st.Alarms, "relay_fault") {
		t.Errorf("Status() = lock %s, alarms %v; want locked with relay_fault", st.Lock, st.Alarms)
	}
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock", "unlock", "lock"}) {
		t.Errorf("relay calls = %v; want [lock unlock lock]", got)
	}
	if n := r.d.Metrics().RelayErrors.Value(); n != 1 {
		t.Errorf("relay_errors = %d; want 1", n)
	}
}

// escortedRig is a started door of testConfig with guest permit p1 and
// its escort.
func escortedRig(t *testing.T) *doorRig {
	t.Helper()
	p := p1
	return startedRig(t, append(staffRecords(escortStaff), permit.Record{Permit: &p})...)
}

func TestDoorRevocationWhileWaitingForEscort(t *testing.T) {
	r := escortedRig(t)
	p := p1
	ctx := context.Background()
	seq := r.lastSeq()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	r.apply(permit.Record{Revocation: &permit.Revocation{Permit: p.ID, Version: 2, Site: testSite, Door: testDoor,
		At: t0, By: "head-ict"}})
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(10)))
	evs := r.since(seq)
	last := evs[len(evs)-1]
	if last.Type != wire.EvDenied || last.Reason != wire.ReasonRevoked || last.Permit != p.ID {
		t.Fatalf("last event = %s %s %s; want access.denied revoked for %s (events %v)", last.Type, last.Reason,
			last.Permit, p.ID, types(evs))
	}
	if r.d.Status().Lock != "locked" || slices.Contains(r.relay.Calls(), "unlock") {
		t.Error("the relay moved for a permit revoked while the guest waited")
	}
}

// TestDoorGrantIsOneWrite: the escort's tap that lets the guest in
// stores its tap, the grant and door.unlocked (and the entry counter and
// the state) in one transaction, and only then moves the relay: one
// fsync'd write between the tap and the relay, as the bare update the
// stall benchmark compares it with.
func TestDoorGrantIsOneWrite(t *testing.T) {
	r := escortedRig(t)
	ctx := context.Background()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	seq, commits := r.lastSeq(), r.st.Commits()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(10)))
	if n := r.st.Commits() - commits; n != 1 {
		t.Errorf("the grant took %d writes; want 1", n)
	}
	if got := types(r.since(seq)); !slices.Equal(got, []wire.EventType{wire.EvTap, wire.EvGranted, wire.EvUnlocked}) {
		t.Errorf("the grant stored %v; want tap, access.granted, door.unlocked", got)
	}
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock", "unlock"}) {
		t.Errorf("relay calls %v; want the start's lock, then unlock", got)
	}
}

// TestDoorRecordsNotesInOneWrite: Record with several events stores them
// in one transaction, in order.
func TestDoorRecordsNotesInOneWrite(t *testing.T) {
	r := startedRig(t)
	ctx := context.Background()
	seq, commits := r.lastSeq(), r.st.Commits()
	var notes []agent.Event
	for _, reason := range []wire.Reason{wire.ReasonMalformed, wire.ReasonBadSignature, wire.ReasonTooLarge} {
		notes = append(notes, agent.Event{Type: wire.EvPermitRejected, Reason: reason, Detail: "permits/P-1"})
	}
	r.must(r.d.Record(ctx, notes...))
	if n := r.st.Commits() - commits; n != 1 {
		t.Errorf("Record of %d events took %d writes; want 1", len(notes), n)
	}
	evs := r.since(seq)
	if len(evs) != 3 || evs[0].Reason != wire.ReasonMalformed || evs[1].Reason != wire.ReasonBadSignature ||
		evs[2].Reason != wire.ReasonTooLarge || evs[2].Seq != evs[0].Seq+2 {
		t.Errorf("stored %+v; want the three refusals in order", evs)
	}
	r.must(r.d.Record(ctx))
	if n := r.st.Commits() - commits; n != 1 {
		t.Errorf("Record of nothing wrote: %d writes in all; want 1", n)
	}
}

// trustingRig is a started door of testConfig that trusts hub's key.
func trustingRig(t *testing.T, hub *permit.Signer) *doorRig {
	t.Helper()
	cfg := testConfig()
	cfg.Keys = permit.Keyring{}
	if err := cfg.Keys.Add(hub.Public()); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, cfg, agenttest.NewClock(t0, true))
	r.start()
	return r
}

// recordsDir is a records folder and the WatchRecords run on it.
type recordsDir struct {
	t      *testing.T
	dir    string
	cancel context.CancelFunc
	done   chan error
}

func newRecordsDir(t *testing.T) *recordsDir {
	return &recordsDir{t: t, dir: t.TempDir()}
}

// write writes name in place, as cp does: a watcher may see it half-written.
func (w *recordsDir) write(name string, b []byte) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), b, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// watch runs d's WatchRecords on the folder, polling every 10 ms, and
// returns when its first pass is complete.
func (w *recordsDir) watch(d *agent.Door) {
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	w.cancel, w.done = cancel, make(chan error, 1)
	go func() { w.done <- d.WatchRecords(ctx, w.dir, 10*time.Millisecond, func() { close(loaded) }) }()
	<-loaded
}

// stop ends the watch; WatchRecords must return nil.
func (w *recordsDir) stop() {
	w.t.Helper()
	w.cancel()
	if err := <-w.done; err != nil {
		w.t.Errorf("WatchRecords = %v; want nil after cancel", err)
	}
}

func TestDoorWatchRecords(t *testing.T) {
	hub, rogue := newSigner(t), newSigner(t)
	r := trustingRig(t, hub)
	w := newRecordsDir(t)
	p := p1
	w.write("P-0001.json", sign(t, hub, permit.KindPermit, &p))
	w.write("S-ESC.json", sign(t, hub, permit.KindStaff, escortStaff))
	w.write("forged.json", sign(t, rogue, permit.KindPermit, &p))
	w.write("notes.txt", []byte("not a record"))
	w.write("huge.json", make([]byte, permit.MaxSigned+1))

	w.watch(r.d)
	// the first pass is complete when loaded is called
	if got := cardSays(t, r.st, guestCard); got != "P-0001@1" {
		t.Errorf("after the first pass Card(guest) = %q; want P-0001@1", got)
	}
	if rejected := rejectedFiles(r); !slices.Equal(rejected, []string{"forged.json", "huge.json"}) {
		t.Errorf("rejected %v; want forged.json and huge.json", rejected)
	}
	// a file that appears later is picked up; unchanged files are not read again
	rv := permit.Revocation{Permit: p.ID, Version: 2, Site: testSite, Door: testDoor, At: t0, By: "head-ict"}
	w.write("P-0001-revoked.json", sign(t, hub, permit.KindRevocation, &rv))
	waitfor.Until(t, 10*time.Second, "the revocation written after start applied", func() bool {
		return cardSays(t, r.st, guestCard) == "P-0001@1/revoked"
	})
	w.stop()
	if n := r.d.Metrics().RecordsRejected.Value(); n != 2 {
		t.Errorf("records_rejected = %d; want 2 (unchanged files are not read again)", n)
	}
}

// rejectedFiles names the files of the stored permit.rejected events, in order.
func rejectedFiles(r *doorRig) []string {
	var files []string
	for _, e := range r.since(0) {
		if e.Type == wire.EvPermitRejected {
			files = append(files, strings.SplitN(e.Detail, ":", 2)[0])
		}
	}
	return files
}

// oversized is a signed document of n bytes, too large to be read: its
// every beginning is JSON cut short, as a real record's is. (A file of
// junk copied in place may be refused as junk while it is copied.)
func oversized(n int) []byte {
	const head, tail = `{"kind":"permit","key":"k","body":"`, `"}`
	return []byte(head + strings.Repeat("A", n-len(head)-len(tail)) + tail)
}

// A technician's cp or scp writes a record in place: the watcher may see it
// empty or cut short. Such a file is neither applied nor refused until it is
// complete; one that stays cut short (an aborted copy) is refused once it
// has not changed for PartialGrace, and a file too large is refused once,
// however long it keeps growing or is copied over.
func TestDoorWatchRecordsHalfWritten(t *testing.T) {
	hub := newSigner(t)
	r := trustingRig(t, hub)
	w := newRecordsDir(t)
	p, q := p1, p2
	perm, staff, aborted := sign(t, hub, permit.KindPermit, &p), sign(t, hub, permit.KindStaff, escortStaff),
		sign(t, hub, permit.KindPermit, &q)
	w.write("P-0001.json", perm[:len(perm)/2])
	w.write("S-ESC.json", nil) // cp has truncated it and not yet written
	w.write("huge.json", oversized(permit.MaxSigned+1))
	// the watcher reads files in name order: this one comes last
	w.write("zz-aborted.json", aborted[:len(aborted)-1])

	w.watch(r.d)
	if got := cardSays(t, r.st, guestCard); got != "" {
		t.Errorf("with P-0001.json half-written Card(guest) = %q; want nothing", got)
	}
	if n := r.d.Metrics().RecordsRejected.Value(); n != 1 {
		t.Errorf("records_rejected = %d after the first pass; want 1, huge.json (half-written files are not refused)", n)
	}
	w.write("huge.json", oversized(permit.MaxSigned+100)) // the watch may see it cut short in between
	w.write("P-0001.json", perm)
	w.write("S-ESC.json", staff)
	waitfor.Until(t, 10*time.Second, "the completed permit and staff record applied", func() bool {
		return cardSays(t, r.st, guestCard) == "P-0001@1" && cardSays(t, r.st, escortStaff.Cards[0]) == "staff S-ESC@1"
	})
	// the pass that refuses the aborted copy has looked at huge.json again
	r.clk.Advance(agent.PartialGrace)
	var rejected []string
	waitfor.Until(t, 10*time.Second, "the aborted copy's refusal stored", func() bool {
		rejected = rejectedFiles(r)
		return slices.Contains(rejected, "zz-aborted.json")
	})
	w.stop()
	if !slices.Equal(rejected, []string{"huge.json", "zz-aborted.json"}) {
		t.Errorf("rejected %v; want huge.json once and the aborted copy zz-aborted.json", rejected)
	}
	if got := cardSays(t, r.st, guest2Card); got != "" {
		t.Errorf("Card(guest2) = %q; want nothing from the aborted copy", got)
	}
	if n := r.d.Metrics().RecordsRejected.Value(); n != 2 {
		t.Errorf("records_rejected = %d; want 2", n)
	}
}

// TestRecordsPassByPass takes WatchRecords one pass at a time through the
// states a file copied in place goes through, so that every one is seen.
func TestRecordsPassByPass(t *testing.T) {
	hub := newSigner(t)
	r := trustingRig(t, hub)
	w := newRecordsDir(t)
	pass := agent.RecordsPasses(r.d, w.dir)
	p := p1
	perm := sign(t, hub, permit.KindPermit, &p)
	big, bigger := oversized(permit.MaxSigned+1), oversized(permit.MaxSigned+100)
	for _, step := range []struct {
		what     string
		data     []byte
		rejected int    // refusals of P-0001.json so far
		card     string // what the store says of the guest's card
	}{
		{"too large", big, 1, ""},
		{"copied over: empty", nil, 1, ""},
		{"copied over: too large again", bigger, 1, ""},
		{"copied over by the permit: half-written", perm[:len(perm)/2], 1, ""},
		{"the permit, complete", perm, 1, "P-0001@1"},
		{"copied over: empty", nil, 1, "P-0001@1"},
		{"copied over: too large, after a complete file", big, 2, "P-0001@1"},
	} {
		w.write("P-0001.json", step.data)
		r.must(pass(context.Background()))
		if got := rejectedFiles(r); len(got) != step.rejected {
			t.Errorf("%s: rejected %v; want P-0001.json %d times", step.what, got, step.rejected)
		}
		if got := cardSays(t, r.st, guestCard); got != step.card {
			t.Errorf("%s: Card(guest) = %q; want %q", step.what, got, step.card)
		}
	}
	if n := r.d.Metrics().RecordsRejected.Value(); n != 2 {
		t.Errorf("records_rejected = %d; want 2", n)
	}
}

func TestDoorListen(t *testing.T) {
	r := testRig(t, staffRecords(soloStaff)...)
	r.d = nil
	d, err := agent.NewDoor(r.cfg, r.st, r.relay, r.clk, discardLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	heard := d.Listen(16)
	stuck := d.Listen(1) // never read: the door must not wait for it
	run := startDoor(d)
	t.Cleanup(func() { run.stop() })
	for range 3 {
		if err := d.Tap(context.Background(), agent.ReaderEntry, uidOf(12)); err != nil {
			t.Fatal(err)
		}
	}
	var got []wire.EventType
	unlockedWhenHeard := false
	for len(got) < 6 {
		e := <-heard
		got = append(got, e.Type)
		if e.Type == wire.EvUnlocked {
			// heard after the relay moved
			unlockedWhenHeard = slices.Contains(r.relay.Calls(), "unlock")
		}
	}
	want := []wire.EventType{wire.EvStarted, wire.EvLocked, wire.EvSecured, wire.EvTap, wire.EvGranted, wire.EvUnlocked}
	if !slices.Equal(got, want) {
		t.Errorf("heard %v; want %v", got, want)
	}
	if !unlockedWhenHeard {
		t.Error("door.unlocked was heard before the relay moved")
	}
	if len(stuck) != 1 || d.Metrics().ListenerDropped.Value() == 0 {
		t.Errorf("a listener that never reads holds %d events, listener_dropped %d; want 1 and the rest dropped",
			len(stuck), d.Metrics().ListenerDropped.Value())
	}
}

// TestDoorRelockAndGrantInOneStep: a relock that fell due meets a new
// grant in one input; the log says locked then unlocked, and the relay
// does both, in that order.
func TestDoorRelockAndGrantInOneStep(t *testing.T) {
	r := startedRig(t, staffRecords(soloStaff)...)
	ctx := context.Background()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
	seq := r.lastSeq()
	r.clk.Advance(agent.DefaultRules().Unlock + time.Second) // no Tick reaches the door meanwhile
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
	got := types(r.since(seq))
	want := []wire.EventType{wire.EvLocked, wire.EvTap, wire.EvGranted, wire.EvUnlocked}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v; want %v", got, want)
	}
	if calls := r.relay.Calls(); !slices.Equal(calls, []string{"lock", "unlock", "lock", "unlock"}) {
		t.Errorf("relay calls %v; want [lock unlock lock unlock]", calls)
	}
}

// TestDoorRecordsContactAtRestart: the door's reed switch is read again
// at every start (hardware/gpio reports it at once), and the log ends on
// the door's real state, whatever happened to it while the agent was down.
func TestDoorRecordsContactAtRestart(t *testing.T) {
	ctx := context.Background()
	t.Run("left open, shut while down", func(t *testing.T) {
		r := startedRig(t)
		r.must(r.d.SetDoor(ctx, true))
		seq := r.lastSeq()
		r.restart()
		if st := r.d.Status(); st.Door != "open" {
			t.Errorf("after restart, before the first reading, Status().Door = %s; want open, as last recorded", st.Door)
		}
		r.must(r.d.SetDoor(ctx, false)) // the first reading
		evs := r.since(seq)
		if !evsMatch(evs, []ev{{Type: wire.EvStarted}, locked, closed, secured}) {
			t.Fatalf("events after restart %v; want agent.started, door.locked, door.closed, room.secured", evList(evs))
		}
		if got := lastContact(t, r.st); got != "closed" {
			t.Errorf("the log last says the door is %s; want closed", got)
		}
	})
	t.Run("left open, still open", func(t *testing.T) {
		r := startedRig(t)
		r.must(r.d.SetDoor(ctx, true))
		seq := r.lastSeq()
		r.restart()
		r.must(r.d.SetDoor(ctx, true)) // the first reading
		if evs := r.since(seq); !evsMatch(evs, []ev{{Type: wire.EvStarted}, locked}) {
			t.Fatalf("events after restart %v; want agent.started, door.locked and no second door.opened", evList(evs))
		}
		r.clk.Advance(agent.DefaultRules().HeldOpen)
		r.must(r.d.Submit(ctx, agent.Tick{}))
		if evs := r.since(seq); !evsMatch(evs[len(evs)-1:], []ev{{Type: wire.EvHeldOpen, Detail: "open since " + t0.Format(time.RFC3339)}}) {
			t.Errorf("events %v; want door.held_open, counted from the start", evList(evs))
		}
	})
	t.Run("left shut, open at start", func(t *testing.T) {
		r := startedRig(t)
		seq := r.lastSeq()
		r.restart()
		r.must(r.d.SetDoor(ctx, true)) // the first reading
		evs := r.since(seq)
		if !evsMatch(evs, []ev{{Type: wire.EvStarted}, locked, secured, opened, forced}) {
			t.Fatalf("events after restart %v; want door.opened and door.forced", evList(evs))
		}
		if st := r.d.Status(); st.Door != "open" || !slices.Contains(st.Alarms, wire.AlarmDoorForced) {
			t.Errorf("Status() = %+v; want the door open and forced", st)
		}
	})
	t.Run("a rack left open, shut while down", func(t *testing.T) {
		r := startedRig(t, staffRecords(soloStaff)...)
		r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(12)))
		r.must(r.d.SetDoor(ctx, true))
		r.must(r.d.SetDoor(ctx, false))
		r.must(r.d.SetRack(ctx, "R1", true))
		seq := r.lastSeq()
		r.restart()
		r.must(r.d.SetDoor(ctx, false)) // the first readings
		r.must(r.d.SetRack(ctx, "R1", false))
		r.must(r.d.SetRack(ctx, "R2", false))
		if evs := r.since(seq); !evsMatch(evs, []ev{{Type: wire.EvStarted}, locked, {Type: wire.EvRackClosed, Rack: "R1"}}) {
			t.Fatalf("events after restart %v; want rack.closed for R1 only", evList(evs))
		}
		if st := r.d.Status(); st.Racks["R1"] != "closed" || len(st.Occupancy) != 1 {
			t.Errorf("Status() = %+v; want R1 closed, S-SOLO still inside", st)
		}
	})
}

// Yield waits while an input is in hand, for its max at most, and returns
// at once when none is: the sync's steps give way to a tap.
func TestDoorYield(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, relay, d, run := slowRelayDoor(t)
		ctx := context.Background()
		start := time.Now()
		d.Yield(time.Hour)
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("Yield with no input in hand waited %v", waited)
		}
		tap := make(chan error, 1)
		go func() { tap <- d.Tap(ctx, agent.ReaderEntry, uidOf(12)) }()
		<-relay.moving // the grant stored, the relay moving: the tap is in hand
		start = time.Now()
		d.Yield(20 * time.Millisecond)
		if waited := time.Since(start); waited != 20*time.Millisecond {
			t.Errorf("Yield(20ms) during the tap waited %v; want its max", waited)
		}
		yielded := make(chan time.Duration, 1)
		start = time.Now()
		go func() { d.Yield(time.Hour); yielded <- time.Since(start) }()
		time.Sleep(5 * time.Millisecond)
		synctest.Wait()
		select {
		case w := <-yielded:
			t.Fatalf("Yield returned after %v with the tap still in hand", w)
		default:
		}
		close(relay.release)
		r.must(<-tap)
		if w := <-yielded; w != 5*time.Millisecond {
			t.Errorf("Yield returned %v after it began; want when the tap was done, 5ms", w)
		}
		r.must(run.stop())
	})
}
