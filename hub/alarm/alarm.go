package alarm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hub/kv"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Kind is what an alarm is about.
type Kind string

// Kinds of alarms. The door's are named as the events that open them.
const (
	DoorForced          = Kind(wire.EvForced)
	DoorHeldOpen        = Kind(wire.EvHeldOpen)
	RoomNotSecured      = Kind(wire.EvNotSecured)
	RackTampered        = Kind(wire.EvRackTampered)
	Unescorted          = Kind(wire.EvUnescorted)
	RelayFault          = Kind(wire.EvRelayFault)
	ReaderFault         = Kind(wire.EvReaderFault)
	ClockUnsynced       = Kind(wire.EvClockUnsynced)
	LowSpace            = Kind(wire.EvStoreLowSpace)
	StoreFailed         = Kind(wire.EvStoreFailed)
	DoorOffline    Kind = "door.offline"    // its last will, or silent too long
	RequestWaiting Kind = "request.waiting" // a request past its SOP step's standard time
)

// Kinds lists every kind, door conditions first.
var Kinds = []Kind{DoorForced, DoorHeldOpen, RoomNotSecured, RackTampered, Unescorted, RelayFault, ReaderFault,
	ClockUnsynced, LowSpace, StoreFailed, DoorOffline, RequestWaiting}

// Errors of the Book.
var (
	ErrNotFound = errors.New("alarm: no such alarm")
	ErrAcked    = errors.New("alarm: acknowledged already")
	ErrInvalid  = errors.New("alarm: invalid")
)

// Alarm is one occurrence of a condition.
type Alarm struct {
	ID      string    `json:"id"` // A-000001
	Kind    Kind      `json:"kind"`
	Site    string    `json:"site,omitempty"`
	Door    string    `json:"door,omitempty"`
	Rack    string    `json:"rack,omitempty"`
	Permit  string    `json:"permit,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Opened  time.Time `json:"opened"`
	Cleared time.Time `json:"cleared,omitzero"` // the condition ended; zero while it lasts
	Acked   *Ack      `json:"acked,omitempty"`
}

// Ack is a person's acknowledgement of an alarm.
type Ack struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// Open reports whether the alarm still wants a person: not acknowledged.
func (a Alarm) Open() bool { return a.Acked == nil }

// Active reports whether its condition lasts.
func (a Alarm) Active() bool { return a.Cleared.IsZero() }

// key names the condition an alarm is of: one uncleared alarm per key.
func (a Alarm) key() string {
	return string(a.Kind) + "\x00" + a.Site + "/" + a.Door + "\x00" + a.Rack + "\x00" + a.Permit
}

// Change says what happened to an alarm.
type Change string

// Changes given to Options.OnChange.
const (
	Opened  Change = "opened"
	Cleared Change = "cleared"
	Acked   Change = "acked"
)

// Options configure a Book. Zero values take the defaults noted.
type Options struct {
	// OnChange is told of every change after it is stored, outside the
	// Book's lock. It must not block for long.
	OnChange func(Alarm, Change)
	// Silent is how long a door may send no status before it counts as
	// offline (10 minutes; the door publishes its status on every change
	// and its availability is its last will).
	Silent time.Duration
	// Outbox keeps, in the transaction that opens an alarm, a mark that
	// its notification is still to be handed on: the hub notifies the
	// alarms Unnotified lists (at start, after a crash between the two
	// writes, and at each tick) and drops the marks with Notified. Off
	// (a hub that tells nobody): no marks, and New drops those left.
	Outbox bool
	Log    *slog.Logger
}

// Buckets of the hub's store the Book keeps.
var (
	bAlarms = []byte("alarms")        // id (8 bytes) -> Alarm JSON
	bActive = []byte("alarms_active") // key -> id of the uncleared alarm of that condition
	bOutbox = []byte("alarms_outbox") // id -> nothing: opened, its notification not yet handed on (Options.Outbox)
)

// Book is the hub's alarms, in its store.
//
// It keeps in memory what this process saw and wrote: each door's last
// status, the keys of the uncleared alarms (a clear of a key not in it
// costs no write) and the count of alarms not acknowledged. A second hub
// process sharing a PostgreSQL store (hub/kv/pgkv) writes alarms too:
// the hub reads the keys and the count again after each of its writes
// (Follow, from pgkv's notifications); each process takes every door's
// status itself.
type Book struct {
	db kv.DB
	o  Options

	mu      sync.Mutex
	status  map[doorKey]doorState // the last status of each door, as alarms
	active  map[string]bool       // the keys of bActive: a clear with none costs no write
	unacked int
}

type doorKey struct{ site, door string }

type doorState struct {
	alarms map[Kind]map[string]bool // kind -> racks ("" for a door alarm)
	at     time.Time                // when the status came
}

// New opens the Book in db (the hub's workflow store).
func New(db kv.DB, o Options) (*Book, error) {
	if db == nil {
		return nil, errors.New("alarm: a store is required")
	}
	if o.Silent <= 0 {
		o.Silent = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	b := &Book{db: db, o: o, status: map[doorKey]doorState{}, active: map[string]bool{}}
	err := db.Update(func(tx kv.Tx) error {
		if !o.Outbox {
			if err := tx.DeleteBucket(bOutbox); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bActive).ForEach(func(k, _ []byte) error {
			b.active[string(k)] = true
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bAlarms).ForEach(func(_, v []byte) error {
			var a Alarm
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("%w: a stored alarm: %v", ErrInvalid, err)
			}
			if a.Open() {
				b.unacked++
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("alarm: open: %w", err)
	}
	return b, nil
}

// Unacked returns how many alarms no one has acknowledged: the console's
// badge.
func (b *Book) Unacked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.unacked
}

// eventKinds are the events that open an alarm, with whether the door's
// status says when it ends (else it is cleared at once: the event is the
// whole occurrence).
var eventKinds = map[wire.EventType]struct {
	kind   Kind
	status wire.Alarm // the status alarm that lasts while it does; "" none
}{
	wire.EvForced:        {DoorForced, wire.AlarmDoorForced},
	wire.EvHeldOpen:      {DoorHeldOpen, wire.AlarmDoorHeldOpen},
	wire.EvNotSecured:    {RoomNotSecured, wire.AlarmRoomNotSecured},
	wire.EvRackTampered:  {RackTampered, wire.AlarmRackTampered},
	wire.EvUnescorted:    {Unescorted, ""},
	wire.EvRelayFault:    {RelayFault, wire.AlarmRelayFault},
	wire.EvReaderFault:   {ReaderFault, ""},
	wire.EvClockUnsynced: {ClockUnsynced, ""},
	wire.EvStoreLowSpace: {LowSpace, wire.AlarmLowSpace},
	wire.EvStoreFailed:   {StoreFailed, ""},
}

// statusKinds are the status alarms that open and clear an alarm.
var statusKinds = map[wire.Alarm]Kind{
	wire.AlarmDoorForced: DoorForced, wire.AlarmDoorHeldOpen: DoorHeldOpen, wire.AlarmRoomNotSecured: RoomNotSecured,
	wire.AlarmRackTampered: RackTampered, wire.AlarmRelayFault: RelayFault, wire.AlarmLowSpace: LowSpace,
	wire.AlarmStoreFailed: StoreFailed,
}

// Event takes one stored event: an alarm's event opens it. One whose
// condition the door's status follows is cleared when the status no
// longer has it, at once if the status that came after the event already
// does not (a backlog sent late); the others are the whole occurrence, and
// cleared as they open.
func (b *Book) Event(e wire.Event) error {
	ek, ok := eventKinds[e.Type]
	if !ok {
		return nil
	}
	a := Alarm{Kind: ek.kind, Site: e.Site, Door: e.Door, Rack: e.Rack, Detail: e.Detail, Opened: e.At}
	if ek.kind == Unescorted {
		a.Permit = e.Permit
	}
	if ek.status == "" {
		a.Cleared = e.At // the event is the occurrence
	} else {
		b.mu.Lock()
		st, known := b.status[doorKey{e.Site, e.Door}]
		b.mu.Unlock()
		if known && st.at.After(e.At) && !st.alarms[ek.kind][e.Rack] {
			a.Cleared = st.at
		}
	}
	return b.raise(a)
}

// Status takes a door's status as it came at at: an alarm of the status
// that is new opens (if its event has not), one that is gone clears.
func (b *Book) Status(site, door string, s wire.Status, at time.Time) error {
	now := map[Kind]map[string]bool{}
	for _, al := range s.Alarms {
		k, ok := statusKinds[al.Kind()]
		if !ok {
			continue
		}
		rack := ""
		if al.Kind() == wire.AlarmRackTampered {
			_, rack, _ = strings.Cut(string(al), ":")
		}
		if now[k] == nil {
			now[k] = map[string]bool{}
		}
		now[k][rack] = true
	}
	dk := doorKey{site, door}
	b.mu.Lock()
	before, known := b.status[dk]
	b.status[dk] = doorState{alarms: now, at: at}
	b.mu.Unlock()
	var errs []error
	if !known {
		// the first status since the hub started: what the store holds
		// as lasting is what the door said last
		var err error
		if before.alarms, err = b.lasting(site, door); err != nil {
			errs = append(errs, err)
		}
	}
	for k, racks := range now {
		for rack := range racks {
			if !before.alarms[k][rack] {
				errs = append(errs, b.raiseQuiet(Alarm{Kind: k, Site: site, Door: door, Rack: rack, Opened: at,
					Detail: "in the door's status"}))
			}
		}
	}
	for k, racks := range before.alarms {
		for rack := range racks {
			if !now[k][rack] {
				errs = append(errs, b.clear(Alarm{Kind: k, Site: site, Door: door, Rack: rack}.key(), at))
			}
		}
	}
	// an offline door that speaks is online
	errs = append(errs, b.clear(Alarm{Kind: DoorOffline, Site: site, Door: door}.key(), at))
	return errors.Join(errs...)
}

// lasting returns the door's stored alarms that its status follows and
// that have not cleared.
func (b *Book) lasting(site, door string) (map[Kind]map[string]bool, error) {
	out := map[Kind]map[string]bool{}
	err := b.db.View(func(tx kv.Tx) error {
		c := tx.Bucket(bActive).Cursor()
		for _, k := range statusKinds {
			prefix := []byte(string(k) + "\x00" + site + "/" + door + "\x00")
			for key, _ := c.Seek(prefix); key != nil && strings.HasPrefix(string(key), string(prefix)); key, _ = c.Next() {
				rack, _, _ := strings.Cut(string(key[len(prefix):]), "\x00")
				if out[k] == nil {
					out[k] = map[string]bool{}
				}
				out[k][rack] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alarm: lasting alarms of %s/%s: %w", site, door, err)
	}
	return out, nil
}

// Availability takes a door's availability (its last will says offline).
func (b *Book) Availability(site, door string, online bool, at time.Time) error {
	k := Alarm{Kind: DoorOffline, Site: site, Door: door}
	if online {
		return b.clear(k.key(), at)
	}
	k.Opened, k.Detail = at, "the door's link to the broker ended (its last will)"
	return b.raiseQuiet(k)
}

// Silence opens a door.offline alarm for each door whose last status is
// older than Options.Silent at now; lastSeen gives each door's last word.
func (b *Book) Silence(lastSeen map[[2]string]time.Time, now time.Time) error {
	var errs []error
	for d, at := range lastSeen {
		if at.IsZero() || now.Sub(at) < b.o.Silent {
			continue
		}
		errs = append(errs, b.raiseQuiet(Alarm{Kind: DoorOffline, Site: d[0], Door: d[1], Opened: now,
			Detail: "no status since " + at.UTC().Format(time.RFC3339)}))
	}
	return errors.Join(errs...)
}

// Waiting opens a request.waiting alarm for permit at step, or does
// nothing if one lasts; Done clears it.
func (b *Book) Waiting(site, door, permitID, step string, since, now time.Time) error {
	return b.raiseQuiet(Alarm{Kind: RequestWaiting, Site: site, Door: door, Permit: permitID, Opened: now,
		Detail: step + " waiting since " + since.UTC().Format(time.RFC3339)})
}

// Done clears a request's waiting alarm.
func (b *Book) Done(site, door, permitID string, at time.Time) error {
	return b.clear(Alarm{Kind: RequestWaiting, Site: site, Door: door, Permit: permitID}.key(), at)
}

// raise stores a as a new alarm; one of its condition that lasts (opened
// from the door's status, which may come before the event) takes its
// detail and its earlier opening time instead.
func (b *Book) raise(a Alarm) error {
	return b.store(a, func(cur *Alarm) bool {
		if a.Detail != "" && a.Detail != cur.Detail {
			cur.Detail = a.Detail
		}
		if a.Opened.Before(cur.Opened) {
			cur.Opened = a.Opened
		}
		return true
	})
}

// raiseQuiet opens a unless one of its condition lasts, which it leaves.
func (b *Book) raiseQuiet(a Alarm) error { return b.store(a, nil) }

// store opens a, or, when an alarm of its condition lasts, lets merge
// change that one (nil: leave it).
func (b *Book) store(a Alarm, merge func(cur *Alarm) bool) error {
	var out Alarm
	var change Change
	err := b.db.Update(func(tx kv.Tx) error {
		all, active := tx.Bucket(bAlarms), tx.Bucket(bActive)
		if id := active.Get([]byte(a.key())); id != nil {
			if merge == nil {
				return nil
			}
			id = slices.Clone(id)
			cur, err := get(all, id)
			if err != nil {
				return err
			}
			if !merge(&cur) {
				return nil
			}
			return put(all, id, cur) // the same occurrence: nobody is told again
		}
		seq, err := all.NextSequence()
		if err != nil {
			return err
		}
		a.ID = fmt.Sprintf("A-%06d", seq)
		id := binary.BigEndian.AppendUint64(nil, seq)
		if a.Active() {
			if err := active.Put([]byte(a.key()), id); err != nil {
				return err
			}
		}
		if b.o.Outbox {
			if err := tx.Bucket(bOutbox).Put(id, nil); err != nil {
				return err
			}
		}
		out, change = a, Opened
		return put(all, id, a)
	})
	if err != nil {
		return fmt.Errorf("alarm: %s at %s/%s: %w", a.Kind, a.Site, a.Door, err)
	}
	b.told(out, change)
	return nil
}

// clear ends the lasting alarm of key at at, if there is one.
func (b *Book) clear(key string, at time.Time) error {
	b.mu.Lock()
	lasting := b.active[key]
	b.mu.Unlock()
	if !lasting {
		return nil // nothing to clear: no write (every status would cost one)
	}
	var out Alarm
	err := b.db.Update(func(tx kv.Tx) error {
		all, active := tx.Bucket(bAlarms), tx.Bucket(bActive)
		id := active.Get([]byte(key))
		if id == nil {
			return nil
		}
		id = slices.Clone(id)
		a, err := get(all, id)
		if err != nil {
			return err
		}
		a.Cleared = at
		if err := active.Delete([]byte(key)); err != nil {
			return err
		}
		out = a
		return put(all, id, a)
	})
	if err != nil {
		return fmt.Errorf("alarm: clear: %w", err)
	}
	if out.ID != "" {
		b.told(out, Cleared)
	}
	return nil
}

// told counts and hands on a stored change.
func (b *Book) told(a Alarm, c Change) {
	if c == "" {
		return
	}
	b.mu.Lock()
	switch c {
	case Opened:
		b.unacked++
		if a.Active() {
			b.active[a.key()] = true
		}
	case Cleared:
		delete(b.active, a.key())
	case Acked:
		b.unacked--
	}
	b.mu.Unlock()
	b.o.Log.Info("alarm "+string(c), "id", a.ID, "kind", a.Kind, "door", a.Site+"/"+a.Door, "rack", a.Rack,
		"permit", a.Permit)
	if b.o.OnChange != nil {
		b.o.OnChange(a, c)
	}
}

// Changed names the alarms a write of bucket touched, for a hub process
// that follows another's writes (hub/kv/pgkv's Watch): the ids of keys in
// the alarms' bucket; ok says whether bucket is one of the Book's, whose
// change Follow must read.
func Changed(bucket []byte, keys [][]byte) (ids []string, ok bool) {
	switch string(bucket) {
	case string(bAlarms):
		for _, k := range keys {
			if len(k) == 8 {
				ids = append(ids, fmt.Sprintf("A-%06d", binary.BigEndian.Uint64(k)))
			}
		}
		return ids, true
	case string(bActive):
		return nil, true
	}
	return nil, false
}

// Follow reads again what another hub process sharing the store wrote:
// the keys of the uncleared alarms and the count of those not
// acknowledged, and returns the alarms of ids, each with the change it is
// at now (Acked, Cleared or Opened), for the live view. It tells
// OnChange nothing: the process that wrote them did, and notified.
func (b *Book) Follow(ids []string) ([]Alarm, []Change, error) {
	active := map[string]bool{}
	unacked := 0
	var out []Alarm
	var changes []Change
	err := b.db.View(func(tx kv.Tx) error {
		if err := tx.Bucket(bActive).ForEach(func(k, _ []byte) error {
			active[string(k)] = true
			return nil
		}); err != nil {
			return err
		}
		all := tx.Bucket(bAlarms)
		if err := all.ForEach(func(_, v []byte) error {
			var a struct {
				Acked json.RawMessage `json:"acked"`
			}
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("%w: a stored alarm: %v", ErrInvalid, err)
			}
			if len(a.Acked) == 0 || string(a.Acked) == "null" {
				unacked++
			}
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			k, err := idKey(id)
			if err != nil {
				return err
			}
			if all.Get(k) == nil {
				continue
			}
			a, err := get(all, k)
			if err != nil {
				return err
			}
			c := Opened
			switch {
			case !a.Open():
				c = Acked
			case !a.Active():
				c = Cleared
			}
			out, changes = append(out, a), append(changes, c)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("alarm: follow: %w", err)
	}
	b.mu.Lock()
	b.active, b.unacked = active, unacked
	b.mu.Unlock()
	return out, changes, nil
}

// Unnotified returns the alarms opened whose notification Notified has
// not marked handed on, oldest first (none without Options.Outbox).
func (b *Book) Unnotified() ([]Alarm, error) {
	if !b.o.Outbox {
		return nil, nil
	}
	var out []Alarm
	err := b.db.View(func(tx kv.Tx) error {
		all := tx.Bucket(bAlarms)
		return tx.Bucket(bOutbox).ForEach(func(id, _ []byte) error {
			a, err := get(all, id)
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("alarm: unnotified: %w", err)
	}
	return out, nil
}

// Notified drops the marks of the alarms ids, whose notifications the
// notifier has (or refused for good), in one write.
func (b *Book) Notified(ids ...string) error {
	if !b.o.Outbox || len(ids) == 0 {
		return nil
	}
	err := b.db.Update(func(tx kv.Tx) error {
		box := tx.Bucket(bOutbox)
		for _, id := range ids {
			k, err := idKey(id)
			if err != nil {
				return err
			}
			if err := box.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alarm: notified: %w", err)
	}
	return nil
}

// Acknowledge records that by saw alarm id and did what note says.
func (b *Book) Acknowledge(id, by, note string, at time.Time) (Alarm, error) {
	if err := permit.CheckText("by", by, permit.MaxActor); err != nil || by == "" {
		return Alarm{}, fmt.Errorf("%w: who acknowledges: %v", ErrInvalid, err)
	}
	if err := permit.CheckLines("note", note, permit.MaxNote); err != nil {
		return Alarm{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	k, err := idKey(id)
	if err != nil {
		return Alarm{}, err
	}
	var out Alarm
	err = b.db.Update(func(tx kv.Tx) error {
		all := tx.Bucket(bAlarms)
		if all.Get(k) == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		a, err := get(all, k)
		if err != nil {
			return err
		}
		if a.Acked != nil {
			return fmt.Errorf("%w: %s by %s at %s", ErrAcked, id, a.Acked.By, a.Acked.At.UTC().Format(time.RFC3339))
		}
		a.Acked = &Ack{By: by, At: at, Note: note}
		out = a
		return put(all, k, a)
	})
	if err != nil {
		return Alarm{}, err
	}
	b.told(out, Acked)
	return out, nil
}

// Filter selects alarms.
type Filter struct {
	Open       bool // not acknowledged only
	Site, Door string
	Kind       Kind
}

func (f Filter) match(a Alarm) bool {
	return (!f.Open || a.Open()) && (f.Site == "" || a.Site == f.Site) && (f.Door == "" || a.Door == f.Door) &&
		(f.Kind == "" || a.Kind == f.Kind)
}

// List returns at most limit alarms that f selects, newest first, from
// the one before the id after ("" from the newest), and the id to pass
// for the next page ("" when there is none). It reads at most limit+10,000
// records, so a page with a narrow filter may end short with a next id.
func (b *Book) List(f Filter, after string, limit int) (out []Alarm, next string, err error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	var from uint64
	if after != "" {
		if _, err := fmt.Sscanf(after, "A-%d", &from); err != nil || from == 0 {
			return nil, "", fmt.Errorf("%w: after %q", ErrInvalid, after)
		}
	}
	err = b.db.View(func(tx kv.Tx) error {
		c := tx.Bucket(bAlarms).Cursor()
		var k, v []byte
		if from == 0 {
			k, v = c.Last()
		} else {
			c.Seek(binary.BigEndian.AppendUint64(nil, from))
			k, v = c.Prev()
		}
		last := "" // the id of the last record read
		for read := 0; k != nil; k, v = c.Prev() {
			if read == limit+10_000 || len(out) == limit {
				next = last // more may come: go on before the last one read
				return nil
			}
			read++
			var a Alarm
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("%w: a stored alarm: %v", ErrInvalid, err)
			}
			last = a.ID
			if f.match(a) {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, next, err
}

// Get returns one alarm.
func (b *Book) Get(id string) (Alarm, error) {
	k, err := idKey(id)
	if err != nil {
		return Alarm{}, err
	}
	var a Alarm
	err = b.db.View(func(tx kv.Tx) error {
		if tx.Bucket(bAlarms).Get(k) == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		var err error
		a, err = get(tx.Bucket(bAlarms), k)
		return err
	})
	return a, err
}

// idKey is the store's key of alarm id (A-000001).
func idKey(id string) ([]byte, error) {
	var seq uint64
	if _, err := fmt.Sscanf(id, "A-%d", &seq); err != nil || seq == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return binary.BigEndian.AppendUint64(nil, seq), nil
}

func get(b kv.Bucket, id []byte) (Alarm, error) {
	var a Alarm
	if err := json.Unmarshal(b.Get(id), &a); err != nil {
		return a, fmt.Errorf("%w: a stored alarm: %v", ErrInvalid, err)
	}
	return a, nil
}

func put(b kv.Bucket, id []byte, a Alarm) error {
	j, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return b.Put(id, j)
}
