package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/permit"
)

// Buckets of the store file. Keys of events are big-endian seq numbers so
// that a cursor walks the log in order.
var (
	bMeta        = []byte("meta")
	bEvents      = []byte("events")
	bPermits     = []byte("permits")     // permit id -> Permit JSON
	bRevocations = []byte("revocations") // permit id -> Revocation JSON
	bStaff       = []byte("staff")       // staff id -> Staff JSON
	bCards       = []byte("cards")       // fingerprint (32 bytes) | 'p'|'s' | id -> nothing
	bVersions    = []byte("versions")    // "p/"+permit id, "r/"+revoked permit id, "s/"+staff id -> applied version
	bUsage       = []byte("usage")       // permit id -> entries used (uint32)

	kEpoch       = []byte("epoch")
	kSite        = []byte("site")
	kDoor        = []byte("door")
	kState       = []byte("state")
	kLastTrusted = []byte("last_trusted")
	kAcked       = []byte("acked_through")
)

// Store is the agent's bbolt file: permits, staff, the card index, the
// event log and the metadata. Every write is one fsync'd transaction, and
// the door's own writes go before the deletions of acked events (Ack).
type Store struct {
	// mu guards db: every transaction holds it read-locked, and only a
	// compaction's swap of the file and Close take it (compact.go)
	mu sync.RWMutex
	db *bolt.DB
	// writes is held read-locked by every write transaction and
	// write-locked by a compaction for its copy: the writes that come
	// meanwhile wait, and land in the new file
	writes sync.RWMutex

	path  string
	epoch string
	site  string
	door  string
	first doorFirst
	// commits counts the door's writes committed, for tests
	commits atomic.Uint64

	// ackYield, when set (tests), runs inside each deletion transaction of
	// Ack before it looks for a waiting door write
	ackYield func()

	space space

	// writeFault, when set (tests), fails the door's writes with its error
	writeFault atomic.Pointer[error]

	compact compaction
}

// doorFirst gives the door's writes bbolt's one writer before the
// deletions of acked events. bbolt hands its writer lock to whoever asks
// first and cannot be pre-empted: a tap that comes while a deletion holds
// it waits for the deletion's commit (two fdatasyncs) before its own. So a
// deletion starts only when no door write waits, and once one does, it
// stops deleting and commits what it has. The door counts its inputs in
// hand with one too (Door.Yield), for the sync to wait on.
type doorFirst struct {
	waiting atomic.Int32 // door writes waiting for the writer or holding it
	mu      sync.Mutex
	idle    chan struct{} // closed while waiting is 0; nil before the first write
}

// enter is called before a door write asks for the writer, leave after it
// committed or failed.
func (f *doorFirst) enter() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiting.Add(1) == 1 {
		f.idle = make(chan struct{})
	}
}

func (f *doorFirst) leave() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiting.Add(-1) == 0 {
		close(f.idle)
	}
}

// idleNow is the channel closed once nothing waits; nil before the first
// enter.
func (f *doorFirst) idleNow() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.idle
}

// wait returns once nothing waits.
func (f *doorFirst) wait() {
	if idle := f.idleNow(); idle != nil {
		<-idle
	}
}

// waitFor is wait, for max at most.
func (f *doorFirst) waitFor(max time.Duration) {
	idle := f.idleNow()
	if idle == nil {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
}

// update runs fn in a write transaction of the door's, ahead of any
// deletion of acked events.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.first.enter()
	defer s.first.leave()
	if err := s.writeFault.Load(); err != nil {
		return *err
	}
	if err := s.write(fn); err != nil {
		return err
	}
	s.commits.Add(1)
	return nil
}

// write runs fn in a write transaction, after a compaction's copy if one
// runs.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	s.writes.RLock()
	defer s.writes.RUnlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.Update(fn)
}

// view runs fn in a read transaction, on the file open now.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.View(fn)
}

// openBolt opens the bbolt file at path as the store does.
func openBolt(path string) (*bolt.DB, error) {
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
}

// OpenStore opens or creates the store at path for one door. A store made
// for another door is refused. What an interrupted compaction left beside
// it is removed.
func OpenStore(path, site, door string) (*Store, error) {
	if err := os.Remove(path + compactSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store %s: an interrupted compaction's file: %w", path, err)
	}
	db, err := openBolt(path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, site: site, door: door, space: space{path: path, free: freeSpace}}
	s.compact.init()
	s.SetQuota(Quota{})
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bMeta, bEvents, bPermits, bRevocations, bStaff, bCards, bVersions, bUsage} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if e := meta.Get(kEpoch); e != nil {
			if string(meta.Get(kSite)) != site || string(meta.Get(kDoor)) != door {
				return fmt.Errorf("%w: it is %s/%s, this agent is %s/%s", ErrStoreMismatch,
					meta.Get(kSite), meta.Get(kDoor), site, door)
			}
			s.epoch = string(e)
			var acked uint64
			if v := meta.Get(kAcked); len(v) == 8 {
				acked = binary.BigEndian.Uint64(v)
			}
			s.space.counted(tx.Bucket(bEvents).Sequence(), acked)
			return nil
		}
		var r [3]byte
		if _, err := rand.Read(r[:]); err != nil {
			return err
		}
		s.epoch = hex.EncodeToString(r[:])
		for k, v := range map[string]string{string(kEpoch): s.epoch, string(kSite): site, string(kDoor): door} {
			if err := meta.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file, after a compaction that runs.
func (s *Store) Close() error {
	s.writes.Lock()
	defer s.writes.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}

// DB returns the bbolt handle, for consistency checks and tools. A
// compaction replaces it (and closes this one): it is for a store that
// nothing compacts meanwhile.
func (s *Store) DB() *bolt.DB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db
}

// Epoch names this store's event sequence; it is new with every new store.
func (s *Store) Epoch() string { return s.epoch }

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// Batch is everything one input writes, in one transaction.
type Batch struct {
	Events      []Event
	Used        []string  // permits whose entry counter goes up by one
	State       *Snapshot // nil: unchanged
	LastTrusted time.Time // zero: unchanged
}

// Append stores b durably and fills in each event's seq, id and epoch.
// The events get consecutive seq numbers; none is visible without the
// others.
func (s *Store) Append(b *Batch) error {
	var last uint64
	err := s.update(func(tx *bolt.Tx) error {
		ev := tx.Bucket(bEvents)
		defer func() { last = ev.Sequence() }()
		ev.FillPercent = 1 // keys only grow: full pages, fewer splits
		for i := range b.Events {
			e := &b.Events[i]
			seq, err := ev.NextSequence()
			if err != nil {
				return err
			}
			e.Seq, e.Epoch, e.Site, e.Door = seq, s.epoch, s.site, s.door
			e.ID = fmt.Sprintf("%s/%s/%s/%d", s.site, s.door, s.epoch, seq)
			// a fresh slice each: bbolt keeps the value until the commit
			j, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := ev.Put(seqKey(seq), j); err != nil {
				return err
			}
		}
		usage := tx.Bucket(bUsage)
		for _, id := range b.Used {
			var n uint32
			if v := usage.Get([]byte(id)); len(v) == 4 {
				n = binary.BigEndian.Uint32(v)
			}
			if err := usage.Put([]byte(id), binary.BigEndian.AppendUint32(nil, n+1)); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		if b.State != nil {
			j, err := json.Marshal(b.State)
			if err != nil {
				return err
			}
			if err := meta.Put(kState, j); err != nil {
				return err
			}
		}
		if !b.LastTrusted.IsZero() {
			if err := meta.Put(kLastTrusted, []byte(b.LastTrusted.UTC().Format(time.RFC3339Nano))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: append: %w", err)
	}
	s.space.counted(last, 0)
	return nil
}

// LastSeq returns the seq of the newest event ever appended.
func (s *Store) LastSeq() (uint64, error) {
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bEvents).Sequence()
		return nil
	})
	return seq, err
}

// Events returns up to limit stored events with seq > after, in order.
func (s *Store) Events(after uint64, limit int) ([]Event, error) {
	var out []Event
	if after == math.MaxUint64 {
		return nil, nil // after+1 would wrap around to the first event
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// RawEvent is one stored event as the store holds it: the JSON of
// json.Marshal of its Event, as Append wrote it.
type RawEvent struct {
	Seq  uint64
	JSON []byte
}

// EventsJSON returns up to limit stored events with seq > after, in order,
// as their stored JSON, copied out of the read transaction: what a
// publisher sends without decoding and encoding each event again.
func (s *Store) EventsJSON(after uint64, limit int) ([]RawEvent, error) {
	if after == math.MaxUint64 || limit <= 0 {
		return nil, nil // after+1 would wrap around to the first event
	}
	var out []RawEvent
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bEvents).Cursor()
		var buf []byte // one allocation for many events
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("event key of %d bytes", len(k))
			}
			if cap(buf)-len(buf) < len(v) {
				buf = make([]byte, 0, max(len(v), 64<<10))
			}
			n := len(buf)
			buf = append(buf, v...)
			if out == nil {
				out = make([]RawEvent, 0, min(limit, 1024))
			}
			// capped: an append to one never writes over the next
			out = append(out, RawEvent{Seq: binary.BigEndian.Uint64(k), JSON: buf[n:len(buf):len(buf)]})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// ackBatch bounds the events one deletion transaction of Ack deletes, and
// yieldEvery how many it deletes between two looks for a door write
// waiting.
const (
	ackBatch   = 8192
	yieldEvery = 64
)

// Ack records that the hub stored every event up to through and deletes
// them from the log; it never deletes past the newest event. It deletes in
// transactions of at most ackBatch events, each started only when no
// write of the door's waits, and cut short, with what it deleted so far,
// when one starts waiting: the door waits for a deletion's commit at
// most, never for the whole deletion. Acked moves with each transaction.
// Once the deletions are done, the store compacts itself if what they
// freed is past the bound (compact.go).
func (s *Store) Ack(through uint64) error {
	for {
		s.first.wait()
		done, err := s.ackSome(through)
		if err != nil {
			return err
		}
		if done {
			s.compactIfDue(true) // logged and counted: the deletions are done
			return nil
		}
	}
}

// ackSome deletes, in one transaction, the next acked events up to
// through, and reports whether none is left.
func (s *Store) ackSome(through uint64) (done bool, err error) {
	var ackedTo uint64
	err = s.write(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if old := meta.Get(kAcked); len(old) == 8 && binary.BigEndian.Uint64(old) >= through {
			done = true
			return nil
		}
		ev := tx.Bucket(bEvents)
		if through > ev.Sequence() {
			through = ev.Sequence()
		}
		if s.ackYield != nil {
			s.ackYield()
		}
		c := ev.Cursor()
		upTo, n := through, 0
		k, _ := c.First()
		for ; k != nil && binary.BigEndian.Uint64(k) <= through; k, _ = c.Next() {
			if n == ackBatch || n%yieldEvery == 0 && n > 0 && s.first.waiting.Load() > 0 {
				upTo = binary.BigEndian.Uint64(k) - 1
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		done, ackedTo = upTo == through, upTo
		return meta.Put(kAcked, seqKey(upTo))
	})
	if err == nil && ackedTo > 0 {
		s.space.counted(0, ackedTo)
	}
	return done, err
}

// Acked returns the seq through which the hub has acked.
func (s *Store) Acked() (uint64, error) {
	var n uint64
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(kAcked); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n, err
}

// State returns the saved machine snapshot and the last trusted wall time.
func (s *Store) State() (Snapshot, time.Time, error) {
	var snap Snapshot
	var last time.Time
	err := s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if v := meta.Get(kState); v != nil {
			if err := json.Unmarshal(v, &snap); err != nil {
				return fmt.Errorf("state: %w", err)
			}
		}
		if v := meta.Get(kLastTrusted); v != nil {
			t, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil {
				return fmt.Errorf("last trusted time: %w", err)
			}
			last = t
		}
		return nil
	})
	return snap, last, err
}

func cardKey(fp permit.Fingerprint, kind byte, id string) ([]byte, error) {
	raw, err := hex.DecodeString(string(fp))
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("%w: card fingerprint", permit.ErrInvalid)
	}
	return append(append(raw, kind), id...), nil
}

// Card returns what the store knows of the card fp.
func (s *Store) Card(fp permit.Fingerprint) (CardInfo, error) {
	info, _, err := s.Cards(fp, "")
	return info, err
}

// Cards looks up two cards in one read: fp, and other unless it is empty
// (the card of a guest waiting for the escort).
func (s *Store) Cards(fp, other permit.Fingerprint) (info, otherInfo CardInfo, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var err error
		if info, err = s.card(tx, fp); err != nil || other == "" {
			return err
		}
		otherInfo, err = s.card(tx, other)
		return err
	})
	if err != nil {
		return CardInfo{}, CardInfo{}, fmt.Errorf("store: card: %w", err)
	}
	return info, otherInfo, nil
}

func (s *Store) card(tx *bolt.Tx, fp permit.Fingerprint) (CardInfo, error) {
	var info CardInfo
	prefix, err := cardKey(fp, 0, "")
	if err != nil {
		return info, err
	}
	prefix = prefix[:32]
	err = func() error {
		c := tx.Bucket(bCards).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := k[33:]
			switch k[32] {
			case 'p':
				var p PermitInfo
				if err := json.Unmarshal(tx.Bucket(bPermits).Get(id), &p.Permit); err != nil {
					return fmt.Errorf("permit %s: %w", id, err)
				}
				if r := tx.Bucket(bRevocations).Get(id); r != nil {
					var rv permit.Revocation
					if json.Unmarshal(r, &rv) == nil && rv.Version >= p.Version {
						p.Revoked = true
					}
				}
				if v := tx.Bucket(bUsage).Get(id); len(v) == 4 {
					p.Used = int(binary.BigEndian.Uint32(v))
				}
				info.Permits = append(info.Permits, p)
			case 's':
				st := new(permit.Staff)
				if err := json.Unmarshal(tx.Bucket(bStaff).Get(id), st); err != nil {
					return fmt.Errorf("staff %s: %w", id, err)
				}
				info.Staff = st
			}
		}
		return nil
	}()
	return info, err
}

func appliedVersion(tx *bolt.Tx, key string) uint64 {
	if v := tx.Bucket(bVersions).Get([]byte(key)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Apply stores a verified record. A version not newer than the applied one
// is refused with ErrRollback; the same version again is accepted as a
// no-op (a retained message delivered twice) and reported by changed.
func (s *Store) Apply(rec permit.Record) (changed bool, err error) {
	// a record applied before (a retained message again, an unchanged
	// file at start) or refused costs a read, not an fsync'd write
	var noop bool
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		_, _, noop, err = s.judge(tx, rec)
		return err
	}); err != nil || noop {
		return false, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		var e error
		changed, e = s.apply(tx, rec)
		return e
	})
	return changed, err
}

// ApplyAll stores many verified records in one transaction, for bulk loads.
// Records refused for their version or door are skipped and counted.
func (s *Store) ApplyAll(recs []permit.Record) (applied, refused int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		applied, refused = 0, 0
		for _, r := range recs {
			ch, e := s.apply(tx, r)
			switch {
			case e == nil && ch:
				applied++
			case e != nil && !isRefusal(e):
				return e
			case e != nil:
				refused++
			}
		}
		return nil
	})
	return applied, refused, err
}

func isRefusal(err error) bool {
	return errors.Is(err, ErrRollback) || errors.Is(err, ErrWrongDoor)
}

// judge decides, reading tx only, whether rec may be applied: it returns
// its version key and version, or noop for the version already applied,
// or why it is refused. A revocation overrides every permit version up to
// its own, so a permit needs a version above its revocation's and a
// revocation one at least the permit's.
func (s *Store) judge(tx *bolt.Tx, rec permit.Record) (key string, ver uint64, noop bool, err error) {
	var other string // the version key the record must also be above (or at)
	var atOther bool // whether the same version as other is allowed
	switch {
	case rec.Permit != nil:
		p := rec.Permit
		if p.Site != s.site || p.Door != s.door {
			return "", 0, false, fmt.Errorf("%w: permit %s is for %s/%s", ErrWrongDoor, p.ID, p.Site, p.Door)
		}
		key, ver, other = "p/"+p.ID, p.Version, "r/"+p.ID
	case rec.Revocation != nil:
		r := rec.Revocation
		if r.Site != s.site || r.Door != s.door {
			return "", 0, false, fmt.Errorf("%w: revocation of %s is for %s/%s", ErrWrongDoor, r.Permit, r.Site, r.Door)
		}
		key, ver, other, atOther = "r/"+r.Permit, r.Version, "p/"+r.Permit, true
	case rec.Staff != nil:
		st := rec.Staff
		if st.Site != s.site {
			return "", 0, false, fmt.Errorf("%w: staff %s is for site %s", ErrWrongDoor, st.ID, st.Site)
		}
		key, ver = "s/"+st.ID, st.Version
	default:
		return "", 0, false, fmt.Errorf("%w: empty record", permit.ErrInvalid)
	}
	if other != "" {
		if ov := appliedVersion(tx, other); ver < ov || ver == ov && !atOther {
			return "", 0, false, fmt.Errorf("%w: %s version %d, %s is at %d", ErrRollback, key, ver, other, ov)
		}
	}
	switch old := appliedVersion(tx, key); {
	case ver == old:
		return key, ver, true, nil
	case ver < old:
		return "", 0, false, fmt.Errorf("%w: %s version %d, applied %d", ErrRollback, key, ver, old)
	}
	return key, ver, false, nil
}

func (s *Store) apply(tx *bolt.Tx, rec permit.Record) (bool, error) {
	key, ver, noop, err := s.judge(tx, rec)
	if err != nil || noop {
		return false, err
	}
	// ids are issued in order (P-0001, P-0002, ...): fuller pages than
	// bbolt's half-full splits keep a million permits in half the file
	for _, b := range [][]byte{bPermits, bVersions, bUsage, bStaff} {
		tx.Bucket(b).FillPercent = 0.9
	}
	switch {
	case rec.Permit != nil:
		err = s.putPermit(tx, rec.Permit)
	case rec.Revocation != nil:
		var j []byte
		if j, err = json.Marshal(rec.Revocation); err == nil {
			err = tx.Bucket(bRevocations).Put([]byte(rec.Revocation.Permit), j)
		}
	case rec.Staff != nil:
		err = s.putStaff(tx, rec.Staff)
	}
	if err != nil {
		return false, err
	}
	return true, tx.Bucket(bVersions).Put([]byte(key), seqKey(ver))
}

func (s *Store) putPermit(tx *bolt.Tx, p *permit.Permit) error {
	pb, cb := tx.Bucket(bPermits), tx.Bucket(bCards)
	if old := pb.Get([]byte(p.ID)); old != nil {
		var op permit.Permit
		if err := json.Unmarshal(old, &op); err == nil {
			if k, err := cardKey(op.Card, 'p', op.ID); err == nil {
				if err := cb.Delete(k); err != nil {
					return err
				}
			}
		}
	}
	k, err := cardKey(p.Card, 'p', p.ID)
	if err != nil {
		return err
	}
	j, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := pb.Put([]byte(p.ID), j); err != nil {
		return err
	}
	return cb.Put(k, nil)
}

func (s *Store) putStaff(tx *bolt.Tx, st *permit.Staff) error {
	sb, cb := tx.Bucket(bStaff), tx.Bucket(bCards)
	if old := sb.Get([]byte(st.ID)); old != nil {
		var os permit.Staff
		if err := json.Unmarshal(old, &os); err == nil {
			for _, c := range os.Cards {
				if k, err := cardKey(c, 's', os.ID); err == nil {
					if err := cb.Delete(k); err != nil {
						return err
					}
				}
			}
		}
	}
	j, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := sb.Put([]byte(st.ID), j); err != nil {
		return err
	}
	for _, c := range st.Cards {
		k, err := cardKey(c, 's', st.ID)
		if err != nil {
			return err
		}
		if err := cb.Put(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// Counts returns how many permits and staff records are stored.
func (s *Store) Counts() (permits, staff int, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		permits = tx.Bucket(bPermits).Stats().KeyN
		staff = tx.Bucket(bStaff).Stats().KeyN
		return nil
	})
	return permits, staff, err
}
