package agent_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/wire"
)

// noise records n refusals, as the downlink does for a flood.
func noise(t *testing.T, r *doorRig, n int) {
	t.Helper()
	for range n {
		r.must(r.d.Record(context.Background(), agent.Event{Type: wire.EvPermitRejected, Reason: wire.ReasonBadSignature,
			Permit: "P-1", Detail: "forged"}))
	}
}

func typeCount(evs []agent.Event, typ wire.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// The store's quota of events not yet acked: at 90 % a store.low_space
// event and the low_space alarm; within the reserve only safety events
// are stored, the rest counted; a forced door is still recorded; once
// the hub acks, the alarm clears.
func TestStoreQuota(t *testing.T) {
	r := testRig(t, staffRecords(soloStaff)...)
	r.st.SetQuota(agent.Quota{MaxEvents: 100, MinFree: 1})
	agent.SetFreeSpace(r.st, func(string) (uint64, bool) { return 0, false })
	r.start()
	seq := r.lastSeq()
	noise(t, r, 90-int(seq))
	if sp := r.st.Space(); sp.Level != agent.SpaceLow {
		t.Fatalf("space %v level %v; want low at 90 of 100", sp, sp.Level)
	}
	noise(t, r, 1) // the step is noticed on the next write
	if st := r.d.Status(); !slices.Contains(st.Alarms, wire.AlarmLowSpace) {
		t.Errorf("alarms %v at 90 of 100 events; want low_space", st.Alarms)
	}
	noise(t, r, 20)
	evs := r.since(0)
	if n := typeCount(evs, wire.EvStoreLowSpace); n != 2 {
		t.Errorf("%d store.low_space events; want 2 (low, then full)", n)
	}
	sp := r.st.Space()
	if sp.Level != agent.SpaceFull || sp.Pending > sp.MaxEvents-sp.Reserve+1 {
		t.Errorf("space %v level %v; want full, inside the quota less its reserve", sp, sp.Level)
	}
	if n := r.d.Metrics().EventsRefused.Value(); n == 0 {
		t.Error("no events refused while the store was full")
	}
	// a safety event is stored all the same
	last := r.lastSeq()
	r.must(r.d.SetDoor(context.Background(), true))
	if got := types(r.since(last)); !slices.Contains(got, wire.EvForced) {
		t.Errorf("events %v with the store full; want door.forced stored", got)
	}
	// the hub acks: room again, the alarm clears with the next write
	r.must(r.st.Ack(r.lastSeq()))
	r.must(r.d.SetDoor(context.Background(), false))
	if st := r.d.Status(); slices.Contains(st.Alarms, wire.AlarmLowSpace) {
		t.Errorf("alarms %v after the ack; want low_space cleared", st.Alarms)
	}
	last = r.lastSeq()
	noise(t, r, 1)
	if r.lastSeq() != last+1 {
		t.Error("a refusal was not stored once the store had room again")
	}
}

// The file system's free space: under MinFree the alarm, under half of
// it only safety events.
func TestStoreLowDisk(t *testing.T) {
	r := testRig(t)
	var free atomic.Uint64
	free.Store(1 << 30)
	r.st.SetQuota(agent.Quota{MinFree: 128 << 20})
	agent.SetFreeSpace(r.st, func(string) (uint64, bool) { return free.Load(), true })
	r.start()
	free.Store(100 << 20)
	agent.SetFreeSpace(r.st, func(string) (uint64, bool) { return free.Load(), true }) // read again now
	noise(t, r, 1)
	st := r.d.Status()
	if !slices.Contains(st.Alarms, wire.AlarmLowSpace) {
		t.Errorf("alarms %v with 100 MiB free; want low_space", st.Alarms)
	}
	evs := r.since(0)
	i := slices.IndexFunc(evs, func(e agent.Event) bool { return e.Type == wire.EvStoreLowSpace })
	if i < 0 || !strings.Contains(evs[i].Detail, "100 MiB free") {
		t.Errorf("events %v; want store.low_space saying 100 MiB free", types(evs))
	}
	free.Store(10 << 20)
	agent.SetFreeSpace(r.st, func(string) (uint64, bool) { return free.Load(), true })
	last := r.lastSeq()
	noise(t, r, 5)
	got := types(r.since(last))
	if !slices.Equal(got, []wire.EventType{wire.EvStoreLowSpace}) {
		t.Errorf("events %v with 10 MiB free; want the full step alone, the refusals counted", got)
	}
	if n := r.d.Metrics().EventsRefused.Value(); n != 5 {
		t.Errorf("events refused = %d; want 5", n)
	}
}

// A door whose store cannot write at all starts all the same, the relay
// locked, its status saying so, and follows its inputs.
func TestDoorStartsOnAFullDisk(t *testing.T) {
	r := testRig(t, staffRecords(soloStaff)...)
	agent.FailWrites(r.st, errNoSpace)
	d, err := agent.NewDoor(r.cfg, r.st, r.relay, r.clk, discardLog(), nil)
	if err != nil {
		t.Fatalf("NewDoor on a full disk = %v", err)
	}
	r.d = d
	r.run = startDoor(d)
	t.Cleanup(func() { r.run.stop() })
	r.must(d.SetDoor(context.Background(), true))
	st := d.Status()
	if st.Lock != wire.Locked || st.Door != wire.Open || !slices.Contains(st.Alarms, wire.AlarmStoreFailed) ||
		!slices.Contains(st.Alarms, wire.AlarmDoorForced) {
		t.Errorf("status %+v; want locked, open, store_failed and door_forced", st)
	}
	if err := d.Tap(context.Background(), agent.ReaderEntry, uidOf(12)); err == nil {
		t.Error("the solo card was let in with nothing stored")
	}
	if got := r.relay.Calls(); !slices.Equal(got, []string{"lock"}) {
		t.Errorf("relay calls %v; want [lock]", got)
	}
	if err := r.run.stop(); err != nil {
		t.Errorf("Run = %v; want it to have run on", err)
	}
}

var errNoSpace = syscall.ENOSPC

// A write that crosses into the reserve keeps what fits before it and,
// of the rest, only the safety events: a batch of refusals stored whole
// would take the reserve's room.
func TestStoreQuotaCrossingWrite(t *testing.T) {
	r := testRig(t, staffRecords(soloStaff)...)
	r.st.SetQuota(agent.Quota{MaxEvents: 100, MinFree: 1})
	agent.SetFreeSpace(r.st, func(string) (uint64, bool) { return 0, false })
	r.start()
	noise(t, r, 95-int(r.lastSeq())) // low already, a few places before the reserve (the 100th)
	sp := r.st.Space()
	room := sp.Room()
	if sp.Level != agent.SpaceLow || room == 0 || room > 5 {
		t.Fatalf("space %v level %v room %d; want low, room for a few events", sp, sp.Level, room)
	}
	batch := make([]agent.Event, 20)
	for i := range batch {
		batch[i] = agent.Event{Type: wire.EvPermitRejected, Reason: wire.ReasonBadSignature, Permit: "P-1", Detail: "forged"}
	}
	batch[len(batch)-1] = agent.Event{Type: wire.EvExitRequested} // a safety event at the end
	before, refused := r.lastSeq(), r.d.Metrics().EventsRefused.Value()
	r.must(r.d.Record(context.Background(), batch...))
	got := r.since(before)
	// the level was low already: no store.low_space takes a place
	if n := typeCount(got, wire.EvPermitRejected); uint64(n) != room {
		t.Errorf("%d refusals stored of the batch's 19 with room for %d; want %d", n, room, room)
	}
	if typeCount(got, wire.EvExitRequested) != 1 {
		t.Errorf("events %v; want the batch's safety event stored", types(got))
	}
	if n := r.d.Metrics().EventsRefused.Value() - refused; n != 19-room {
		t.Errorf("%d refused; want %d", n, 19-room)
	}
	if sp := r.st.Space(); sp.Pending > sp.MaxEvents-sp.Reserve+1 {
		t.Errorf("space %v after the batch; want inside the quota less its reserve, the safety event beyond", sp)
	}
}
