package alarm_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/wire"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

type rig struct {
	t       *testing.T
	path    string
	pg      func() (kv.DB, error) // the database under TestOnPostgres
	db      *bolt.DB              // the bbolt file, nil on PostgreSQL
	kv      kv.DB
	b       *alarm.Book
	outbox  bool // Options.Outbox of the next open
	mu      sync.Mutex
	changes []string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "hub.db")}
	if kvtest.OnPostgres(t) {
		r.pg = kvtest.Postgres(t)
	}
	r.open()
	t.Cleanup(func() {
		r.kv.Close()
		if r.db == nil {
			return
		}
		if err := boltcheck.CheckFile(r.path); err != nil {
			t.Errorf("store: %v", err)
		}
	})
	return r
}

// TestOnPostgres runs the alarms' tests again on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	kvtest.RunOnPostgres(t, TestForcedDoorStaysUntilAcknowledged, TestStatusAndEventInEitherOrder,
		TestRacksAndOneShotAlarms, TestOfflineAndRestart, TestRequestWaiting, TestListPages, TestOutboxMarksOpenings)
}

func (r *rig) open() {
	r.t.Helper()
	var err error
	if r.pg != nil {
		r.kv, err = r.pg()
	} else if r.db, err = bolt.Open(r.path, 0o600, &bolt.Options{Timeout: time.Second}); err == nil {
		r.kv = kv.Bolt(r.db)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.b, err = alarm.New(r.kv, alarm.Options{Silent: 10 * time.Minute, Outbox: r.outbox, OnChange: func(a alarm.Alarm, c alarm.Change) {
		r.mu.Lock()
		r.changes = append(r.changes, fmt.Sprintf("%s %s %s", c, a.ID, a.Kind))
		r.mu.Unlock()
	}})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) reopen() {
	r.t.Helper()
	if err := r.kv.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

func (r *rig) must(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) all() []alarm.Alarm {
	r.t.Helper()
	as, _, err := r.b.List(alarm.Filter{}, "", 1000)
	r.must(err)
	return as
}

func (r *rig) told() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

func ev(typ wire.EventType, at time.Time) wire.Event {
	return wire.Event{Site: "demo", Door: "server-room", Type: typ, At: at, Detail: "forced open"}
}

func status(at time.Time, alarms ...wire.Alarm) wire.Status {
	return wire.Status{Door: wire.Closed, Lock: wire.Locked, Alarms: alarms}
}

// A forced door: the event opens the alarm, the status that follows has
// it, the status without it clears it; it stays open until a person
// acknowledges it, once.
func TestForcedDoorStaysUntilAcknowledged(t *testing.T) {
	r := newRig(t)
	r.must(r.b.Event(ev(wire.EvForced, t0)))
	r.must(r.b.Status("demo", "server-room", status(t0, wire.AlarmDoorForced), t0.Add(time.Second)))
	as := r.all()
	if len(as) != 1 || as[0].Kind != alarm.DoorForced || !as[0].Active() || !as[0].Open() || !as[0].Opened.Equal(t0) {
		t.Fatalf("alarms %+v; want one door.forced, lasting, open since t0", as)
	}
	r.must(r.b.Status("demo", "server-room", status(t0.Add(time.Minute)), t0.Add(time.Minute)))
	a, err := r.b.Get(as[0].ID)
	r.must(err)
	if a.Active() || !a.Cleared.Equal(t0.Add(time.Minute)) || !a.Open() {
		t.Errorf("after the door closed: %+v; want cleared at t0+1m and still open", a)
	}
	if n := r.b.Unacked(); n != 1 {
		t.Errorf("unacked %d; want 1", n)
	}
	a, err = r.b.Acknowledge(a.ID, "admin", "checked on camera: the technician's mistake", t0.Add(2*time.Minute))
	r.must(err)
	if a.Open() || a.Acked.By != "admin" || a.Acked.Note == "" {
		t.Errorf("acknowledged: %+v", a)
	}
	if _, err := r.b.Acknowledge(a.ID, "kasi", "", t0.Add(3*time.Minute)); !errors.Is(err, alarm.ErrAcked) {
		t.Errorf("a second acknowledgement = %v; want ErrAcked", err)
	}
	if n := r.b.Unacked(); n != 0 {
		t.Errorf("unacked %d after the acknowledgement; want 0", n)
	}
	want := []string{"opened A-000001 door.forced", "cleared A-000001 door.forced", "acked A-000001 door.forced"}
	if got := r.told(); !slices.Equal(got, want) {
		t.Errorf("told %v; want %v", got, want)
	}
	// refused acknowledgements change nothing
	for _, c := range []struct{ id, by, note string }{{"A-000009", "admin", ""}, {"nope", "admin", ""},
		{a.ID, "", "x"}, {a.ID, "admin\x1b[2J", ""}} {
		if _, err := r.b.Acknowledge(c.id, c.by, c.note, t0); err == nil {
			t.Errorf("Acknowledge(%q, %q) = nil error", c.id, c.by)
		}
	}
}

// The status can come before the event: one alarm, the event's detail
// and time; a backlog's event whose condition a later status no longer
// has is cleared as it opens.
func TestStatusAndEventInEitherOrder(t *testing.T) {
	r := newRig(t)
	r.must(r.b.Status("demo", "server-room", status(t0, wire.AlarmDoorForced), t0.Add(time.Second)))
	r.must(r.b.Event(ev(wire.EvForced, t0)))
	as := r.all()
	if len(as) != 1 || as[0].Detail != "forced open" || !as[0].Opened.Equal(t0) {
		t.Fatalf("alarms %+v; want one, with the event's detail and time", as)
	}
	r.must(r.b.Status("demo", "server-room", status(t0.Add(time.Hour)), t0.Add(time.Hour)))
	// an hour-old held-open event sent late, after the status without it
	r.must(r.b.Event(ev(wire.EvHeldOpen, t0.Add(time.Minute))))
	as = r.all()
	if len(as) != 2 || as[0].Kind != alarm.DoorHeldOpen || as[0].Active() || !as[0].Cleared.Equal(t0.Add(time.Hour)) {
		t.Errorf("alarms %+v; want the late held-open cleared by the status that came after it", as)
	}
}

// Racks are alarms of their own; events that are the whole occurrence
// are cleared as they open, and stay open for a person.
func TestRacksAndOneShotAlarms(t *testing.T) {
	r := newRig(t)
	r.must(r.b.Status("demo", "server-room", status(t0, wire.RackTamperedAlarm("R1"), wire.RackTamperedAlarm("R2")), t0))
	r.must(r.b.Status("demo", "server-room", status(t0, wire.RackTamperedAlarm("R2")), t0.Add(time.Minute)))
	e := ev(wire.EvUnescorted, t0)
	e.Permit = "P-0012"
	r.must(r.b.Event(e))
	as := r.all()
	if len(as) != 3 {
		t.Fatalf("alarms %+v; want three", as)
	}
	byRack := map[string]alarm.Alarm{}
	for _, a := range as {
		byRack[a.Rack+string(a.Kind)] = a
	}
	if a := byRack["R1"+string(alarm.RackTampered)]; a.Active() {
		t.Errorf("R1: %+v; want cleared", a)
	}
	if a := byRack["R2"+string(alarm.RackTampered)]; !a.Active() {
		t.Errorf("R2: %+v; want lasting", a)
	}
	if a := byRack[string(alarm.Unescorted)]; a.Active() || !a.Open() || a.Permit != "P-0012" {
		t.Errorf("unescorted: %+v; want cleared, open, naming the permit", a)
	}
	// other events open nothing
	r.must(r.b.Event(ev(wire.EvGranted, t0)))
	if n := len(r.all()); n != 3 {
		t.Errorf("%d alarms after an access.granted; want 3", n)
	}
}

// A door offline: its last will, or no status for Silent; it clears when
// the door speaks. The alarms the store holds as lasting survive a
// restart, and the first status after it clears them.
func TestOfflineAndRestart(t *testing.T) {
	r := newRig(t)
	r.must(r.b.Availability("demo", "server-room", false, t0))
	seen := map[[2]string]time.Time{{"demo", "lab"}: t0, {"demo", "server-room"}: t0}
	r.must(r.b.Silence(seen, t0.Add(5*time.Minute)))
	r.must(r.b.Silence(seen, t0.Add(11*time.Minute)))
	r.must(r.b.Silence(seen, t0.Add(12*time.Minute)))
	as := r.all()
	if len(as) != 2 {
		t.Fatalf("alarms %+v; want two door.offline, one per door, once each", as)
	}
	r.must(r.b.Event(ev(wire.EvForced, t0.Add(13*time.Minute))))
	r.reopen()
	if n := r.b.Unacked(); n != 3 {
		t.Errorf("unacked %d after a restart; want 3", n)
	}
	r.must(r.b.Status("demo", "server-room", status(t0.Add(20*time.Minute)), t0.Add(20*time.Minute)))
	for _, a := range r.all() {
		if a.Door == "server-room" && a.Active() {
			t.Errorf("%+v still lasting after the door's status without it", a)
		}
		if a.Door == "lab" && !a.Active() {
			t.Errorf("%+v cleared; the lab door has said nothing", a)
		}
	}
}

// A request waiting past its step: one alarm however often the hub looks,
// cleared when the step is done.
func TestRequestWaiting(t *testing.T) {
	r := newRig(t)
	for i := range 3 {
		r.must(r.b.Waiting("demo", "server-room", "P-0001", "classify", t0, t0.Add(time.Duration(6+i)*time.Minute)))
	}
	r.must(r.b.Done("demo", "server-room", "P-0001", t0.Add(9*time.Minute)))
	as := r.all()
	if len(as) != 1 || as[0].Kind != alarm.RequestWaiting || as[0].Active() || as[0].Permit != "P-0001" {
		t.Errorf("alarms %+v; want one request.waiting, cleared", as)
	}
}

// Pages newest first, filtered, each id once.
func TestListPages(t *testing.T) {
	r := newRig(t)
	for i := range 25 {
		e := ev(wire.EvReaderFault, t0.Add(time.Duration(i)*time.Minute))
		if i%5 == 0 {
			e.Type = wire.EvClockUnsynced
		}
		r.must(r.b.Event(e))
	}
	as := r.all()
	if _, err := r.b.Acknowledge(as[0].ID, "admin", "", t0); err != nil {
		t.Fatal(err)
	}
	for _, f := range []alarm.Filter{{}, {Open: true}, {Kind: alarm.ClockUnsynced}, {Door: "lab"}} {
		var got []string
		after := ""
		for range 10 {
			page, next, err := r.b.List(f, after, 4)
			r.must(err)
			for _, a := range page {
				got = append(got, a.ID)
			}
			if next == "" {
				break
			}
			after = next
		}
		var want []string
		for _, a := range as {
			if (!f.Open || a.ID != as[0].ID) && (f.Kind == "" || a.Kind == f.Kind) && (f.Door == "" || a.Door == f.Door) {
				want = append(want, a.ID)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("filter %+v: pages %v; want %v", f, got, want)
		}
	}
	if _, _, err := r.b.List(alarm.Filter{}, "B-1", 4); !errors.Is(err, alarm.ErrInvalid) {
		t.Errorf("List after B-1 = %v; want ErrInvalid", err)
	}
}

// Statuses and events that change no alarm cost no write: the hub takes
// a status on every change of every door.
func TestNoChangeNoWrite(t *testing.T) {
	r := newRig(t)
	r.must(r.b.Status("demo", "server-room", status(t0), t0))
	writes := func() int64 { st := r.db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Second)
		r.must(r.b.Status("demo", "server-room", status(at), at))
		r.must(r.b.Event(ev(wire.EvGranted, at)))
		r.must(r.b.Availability("demo", "server-room", true, at))
	}
	if n := writes() - before; n != 0 {
		t.Errorf("%d writes for 300 inputs that change no alarm; want 0", n)
	}
}

func ids(as []alarm.Alarm) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// The outbox: an alarm opened is marked in the same write, the mark
// survives a reopen until Notified drops it; a merged occurrence or a
// clear marks nothing; a book opened without the outbox drops the marks.
func TestOutboxMarksOpenings(t *testing.T) {
	r := newRig(t)
	r.outbox = true
	r.reopen()
	r.must(r.b.Event(ev(wire.EvForced, t0)))
	r.must(r.b.Status("demo", "server-room", status(t0, wire.AlarmDoorForced), t0.Add(time.Second))) // the same occurrence
	r.must(r.b.Event(ev(wire.EvUnescorted, t0.Add(time.Minute))))
	r.must(r.b.Status("demo", "server-room", status(t0.Add(2*time.Minute)), t0.Add(2*time.Minute))) // forced cleared
	r.reopen()
	marked, err := r.b.Unnotified()
	r.must(err)
	if got := ids(marked); !slices.Equal(got, []string{"A-000001", "A-000002"}) || marked[0].Kind != alarm.DoorForced {
		t.Fatalf("unnotified after a reopen %v (%+v); want A-000001 (door.forced) and A-000002", got, marked)
	}
	r.must(r.b.Notified("A-000001"))
	marked, err = r.b.Unnotified()
	r.must(err)
	if got := ids(marked); !slices.Equal(got, []string{"A-000002"}) {
		t.Fatalf("unnotified after Notified(A-000001) %v; want A-000002", got)
	}
	if err := r.b.Notified("nope"); !errors.Is(err, alarm.ErrNotFound) {
		t.Errorf("Notified(nope) = %v; want ErrNotFound", err)
	}
	r.must(r.b.Notified("A-000002", "A-000002", "A-000001")) // again: no-ops
	marked, err = r.b.Unnotified()
	r.must(err)
	if len(marked) != 0 {
		t.Fatalf("unnotified %v after all were notified; want none", ids(marked))
	}

	r.must(r.b.Event(ev(wire.EvRackTampered, t0.Add(3*time.Minute))))
	r.outbox = false
	r.reopen()
	if marked, err := r.b.Unnotified(); err != nil || len(marked) != 0 {
		t.Errorf("without the outbox: unnotified %v, %v; want none", ids(marked), err)
	}
	r.must(r.b.Event(ev(wire.EvUnescorted, t0.Add(4*time.Minute))))
	r.outbox = true
	r.reopen()
	if marked, err := r.b.Unnotified(); err != nil || len(marked) != 0 {
		t.Errorf("the outbox again: unnotified %v, %v; want none (the marks were dropped, none made while off)", ids(marked), err)
	}
}
