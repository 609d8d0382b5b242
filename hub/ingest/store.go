package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
	bolt "go.etcd.io/bbolt"
)

// Buckets of the ingest file.
//
//	doors:  "site/door" -> bucket: epoch -> order (8 bytes) | through (8 bytes)
//	events: "site/door/epoch" -> bucket: seq (8 bytes, big-endian) -> event JSON
//	lost:   "site/door/epoch" -> bucket: from (8 bytes, big-endian) -> Lost JSON
//	index, meta: see recent.go
//	book:   the guest book's state (workflow.KV), written by each commit
//	        with its events; meta's "book" says it is whole
//
// order numbers a door's epochs as first seen, so that a door's events
// read back epoch after epoch; through is the highest seq stored, and
// every seq from 1 to through is stored or in a run accepted as lost.
var (
	bDoors  = []byte("doors")
	bEvents = []byte("events")
	bLost   = []byte("lost")
	bBook   = []byte("book")
	mBook   = []byte("book")
)

// bookBatch is how many keys of a guest book built at open go in one
// transaction.
const bookBatch = 100_000

// Lost is a run of one stream's seqs that an operator accepted as lost:
// the hub's store was lost or restored from an old backup, and the door
// had deleted those events when an earlier store acked them. The record
// stays in the store, for auditors: what was accepted, by whom, when and
// why.
type Lost struct {
	Site   string    `json:"site"`
	Door   string    `json:"door"`
	Epoch  string    `json:"epoch"`
	From   uint64    `json:"from"` // the first seq lost
	To     uint64    `json:"to"`   // the last seq lost
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
}

// Store is the hub's bbolt file of door events.
type Store struct {
	db     *bolt.DB
	book   *workflow.Book
	opened BookOpened
}

// OpenStore opens or creates the store at path; it waits at most 2 s for
// another process to let go of the file. A file written before the index
// (recent.go) is indexed whole first, and one written before the guest
// book was kept has its book built from the events and kept (OpenBook).
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("ingest store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bDoors, bEvents, bLost, bIndex, bMeta, bBook} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ingest store %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.reindex(); err != nil {
		db.Close()
		return nil, fmt.Errorf("ingest store %s: index: %w", path, err)
	}
	if s.book, s.opened, err = OpenBook(s, s.loadBook, s.keepBook); err != nil {
		db.Close()
		return nil, fmt.Errorf("ingest store %s: %w", path, err)
	}
	return s, nil
}

// Book returns the guest book kept with the events, and how it was opened.
func (s *Store) Book() (*workflow.Book, BookOpened) { return s.book, s.opened }

func (s *Store) loadBook(l *workflow.BookLoader) (kept bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if kept = tx.Bucket(bMeta).Get(mBook) != nil; !kept {
			return nil
		}
		b := tx.Bucket(bBook)
		c := b.Cursor()
		if k, _ := c.Seek(workflow.RowsEnd); k != nil {
			last, _ := c.Prev()
			l.GrowTo(last)
		} else {
			last, _ := c.Last()
			l.GrowTo(last)
		}
		return b.ForEach(l.Add)
	})
	return kept, err
}

// keepBook writes a whole book's state, in transactions of bookBatch keys,
// and marks it kept in the last: a crash before leaves it to be built
// again at the next open.
func (s *Store) keepBook(kvs []workflow.KV) error {
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bBook); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bBook)
		return err
	}); err != nil {
		return err
	}
	for {
		n := min(len(kvs), bookBatch)
		if err := s.db.Update(func(tx *bolt.Tx) error {
			if err := putBook(tx, kvs[:n]); err != nil {
				return err
			}
			if n == len(kvs) {
				return tx.Bucket(bMeta).Put(mBook, []byte{1})
			}
			return nil
		}); err != nil {
			return err
		}
		if kvs = kvs[n:]; len(kvs) == 0 {
			return nil
		}
	}
}

func putBook(tx *bolt.Tx, kvs []workflow.KV) error {
	b := tx.Bucket(bBook)
	for _, kv := range kvs {
		if err := b.Put(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the bbolt handle, for consistency checks and tools.
func (s *Store) DB() *bolt.DB { return s.db }

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func doorKey(site, door string) []byte { return []byte(site + "/" + door) }

func streamKey(site, door, epoch string) []byte { return []byte(site + "/" + door + "/" + epoch) }

// stream is one door's events of one epoch.
type stream struct{ site, door, epoch string }

// Put is what one commit adds to a stream (a door's epoch): events from
// its through+1 on, in order and without gaps.
type Put struct {
	Site, Door, Epoch string
	Events            []Event
	// Raw is the JSON stored for each event, as the ingest encoded it
	// (decodeEvent); nil or a nil entry: encoded by Commit.
	Raw [][]byte
}

func (p *Put) stream() stream { return stream{p.Site, p.Door, p.Epoch} }

func epochValue(v []byte) (order, through uint64, err error) {
	if len(v) != 16 {
		return 0, 0, fmt.Errorf("%w: epoch record of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), nil
}

// epochRecord returns the bucket of s's door in doors, made if need be,
// and s's epoch record: its order (the next one for an epoch never seen)
// and through.
func epochRecord(doors *bolt.Bucket, s stream) (db *bolt.Bucket, order, through uint64, err error) {
	if db, err = doors.CreateBucketIfNotExists(doorKey(s.site, s.door)); err != nil {
		return nil, 0, 0, err
	}
	if v := db.Get([]byte(s.epoch)); v != nil {
		order, through, err = epochValue(v)
	} else {
		order, err = db.NextSequence()
	}
	return db, order, through, err
}

// Commit stores puts in one transaction, with their index entries and
// what they change of the guest book (Book). It refuses a put that does
// not continue its stream's through, so that the file holds every stream
// gap-free whatever its caller believes.
func (s *Store) Commit(puts []Put) error {
	var ch *workflow.Change
	err := s.db.Update(func(tx *bolt.Tx) error {
		doors, events, idx := tx.Bucket(bDoors), tx.Bucket(bEvents), tx.Bucket(bIndex)
		for _, p := range puts {
			if len(p.Events) == 0 {
				continue
			}
			db, order, through, err := epochRecord(doors, p.stream())
			if err != nil {
				return err
			}
			eb, err := events.CreateBucketIfNotExists(streamKey(p.Site, p.Door, p.Epoch))
			if err != nil {
				return err
			}
			eb.FillPercent = 1 // keys only grow
			ib, err := idx.CreateBucketIfNotExists(doorKey(p.Site, p.Door))
			if err != nil {
				return err
			}
			for i, e := range p.Events {
				if e.Seq != through+1 {
					return fmt.Errorf("%w: %s/%s epoch %s: seq %d after %d", ErrOrder, p.Site, p.Door, p.Epoch, e.Seq, through)
				}
				var j []byte
				if i < len(p.Raw) {
					j = p.Raw[i]
				}
				if j == nil {
					if j, err = json.Marshal(e); err != nil {
						return err
					}
				}
				if err := eb.Put(seqKey(e.Seq), j); err != nil {
					return err
				}
				if err := index(ib, order, &e); err != nil {
					return err
				}
				through = e.Seq
			}
			v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, order), through)
			if err := db.Put([]byte(p.Epoch), v); err != nil {
				return err
			}
		}
		// bbolt runs one Update at a time: one Stage at a time
		ch = s.book.Stage(EventsOf(puts))
		return putBook(tx, ch.Puts())
	})
	if err != nil && ch != nil {
		ch.Undo()
	}
	return err
}

// AcceptLost records l and moves its stream's through to l.To, in one
// transaction. It refuses unless the stream's through is l.From-1: a run
// accepted as lost starts where the stored events end.
func (s *Store) AcceptLost(l Lost) error {
	if l.From == 0 || l.To < l.From {
		return fmt.Errorf("%w: lost run %d..%d", ErrOrder, l.From, l.To)
	}
	j, err := json.Marshal(&l)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		db, order, through, err := epochRecord(tx.Bucket(bDoors), stream{l.Site, l.Door, l.Epoch})
		if err != nil {
			return err
		}
		if through != l.From-1 {
			return fmt.Errorf("%w: %s/%s epoch %s: lost run from %d after %d", ErrOrder, l.Site, l.Door, l.Epoch, l.From, through)
		}
		lb, err := tx.Bucket(bLost).CreateBucketIfNotExists(streamKey(l.Site, l.Door, l.Epoch))
		if err != nil {
			return err
		}
		if err := lb.Put(seqKey(l.From), j); err != nil {
			return err
		}
		return db.Put([]byte(l.Epoch), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, order), l.To))
	})
}

// Lost returns the runs of a door's seqs accepted as lost, epoch by epoch
// in the order first seen, each epoch's in seq order.
func (s *Store) Lost(site, door string) ([]Lost, error) {
	var out []Lost
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDoors).Bucket(doorKey(site, door))
		if b == nil {
			return nil
		}
		d, err := readDoor(tx, site, door, b)
		if err != nil {
			return err
		}
		for _, ep := range d.Epochs {
			runs, err := readLost(tx.Bucket(bLost).Bucket(streamKey(site, door, ep.Epoch)))
			if err != nil {
				return err
			}
			out = append(out, runs...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest store: lost: %w", err)
	}
	return out, nil
}

// AllLost returns the runs accepted as lost of every door, by site, door
// and epoch name, each stream's in seq order.
func (s *Store) AllLost() ([]Lost, error) {
	var out []Lost
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bLost).ForEachBucket(func(k []byte) error {
			runs, err := readLost(tx.Bucket(bLost).Bucket(k))
			out = append(out, runs...)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ingest store: lost: %w", err)
	}
	return out, nil
}

// readLost decodes the runs of one stream's lost bucket (nil: none), in
// seq order.
func readLost(b *bolt.Bucket) ([]Lost, error) {
	if b == nil {
		return nil, nil
	}
	var out []Lost
	err := b.ForEach(func(k, v []byte) error {
		var l Lost
		if err := json.Unmarshal(v, &l); err != nil || len(k) != 8 || binary.BigEndian.Uint64(k) != l.From {
			return fmt.Errorf("%w: lost run %x", ErrCorrupt, k)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// Through returns the highest seq stored of a door's epoch: every event
// from 1 to it is stored, or in a run accepted as lost. It is 0 for an
// epoch never seen.
func (s *Store) Through(site, door, epoch string) (uint64, error) {
	var through uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		db := tx.Bucket(bDoors).Bucket(doorKey(site, door))
		if db == nil {
			return nil
		}
		v := db.Get([]byte(epoch))
		if v == nil {
			return nil
		}
		var err error
		_, through, err = epochValue(v)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ingest store: through: %w", err)
	}
	return through, nil
}

// Epoch is one event sequence of a door: an agent store's lifetime.
type Epoch struct {
	Epoch   string
	Through uint64 // events 1..Through are stored, but for Lost of them
	Lost    uint64 // seqs accepted as lost (Store.Lost)
}

// DoorEvents is what the store holds of one door.
type DoorEvents struct {
	Site, Door string
	Epochs     []Epoch // in the order first seen
}

// Count is the number of the door's stored events.
func (d DoorEvents) Count() uint64 {
	var n uint64
	for _, e := range d.Epochs {
		n += e.Through - e.Lost
	}
	return n
}

// Doors lists every door with stored events, by site/door.
func (s *Store) Doors() ([]DoorEvents, error) {
	var out []DoorEvents
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bDoors).ForEachBucket(func(k []byte) error {
			site, door, ok := strings.Cut(string(k), "/")
			if !ok || site == "" || door == "" {
				return fmt.Errorf("%w: door key %q", ErrCorrupt, k)
			}
			d, err := readDoor(tx, site, door, tx.Bucket(bDoors).Bucket(k))
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ingest store: doors: %w", err)
	}
	return out, nil
}

// Door returns what the store holds of one door; no epochs if none.
func (s *Store) Door(site, door string) (DoorEvents, error) {
	d := DoorEvents{Site: site, Door: door}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDoors).Bucket(doorKey(site, door))
		if b == nil {
			return nil
		}
		r, err := readDoor(tx, site, door, b)
		d.Epochs = r.Epochs
		return err
	})
	if err != nil {
		return DoorEvents{}, fmt.Errorf("ingest store: door: %w", err)
	}
	return d, nil
}

func readDoor(tx *bolt.Tx, site, door string, b *bolt.Bucket) (DoorEvents, error) {
	eps, err := readEpochs(b)
	if err != nil {
		return DoorEvents{}, err
	}
	d := DoorEvents{Site: site, Door: door}
	for _, e := range eps {
		runs, err := readLost(tx.Bucket(bLost).Bucket(streamKey(site, door, e.Epoch.Epoch)))
		if err != nil {
			return DoorEvents{}, err
		}
		for _, r := range runs {
			e.Lost += r.To - r.From + 1
		}
		d.Epochs = append(d.Epochs, e.Epoch)
	}
	return d, nil
}

// Events returns the stored events of a door's epoch with seq from
// after+1 to after+limit, in seq order: limit of them, fewer where seqs
// were accepted as lost.
func (s *Store) Events(site, door, epoch string, after uint64, limit int) ([]Event, error) {
	out, _, err := s.events(site, door, epoch, after, limit, nil)
	return out, err
}

// events reads the stored events from seq after+1 to after+limit,
// decoding only those keep accepts (all with keep nil); it returns the
// last seq read.
func (s *Store) events(site, door, epoch string, after uint64, limit int, keep func(raw []byte) bool) ([]Event, uint64, error) {
	var out []Event
	if after == ^uint64(0) {
		return nil, after, nil
	}
	last := after
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents).Bucket(streamKey(site, door, epoch))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if seq-after > uint64(limit) {
				break
			}
			last = seq
			if keep != nil && !keep(v) {
				continue
			}
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("%w: event %s/%d: %v", ErrCorrupt, streamKey(site, door, epoch), last, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, after, fmt.Errorf("ingest store: events: %w", err)
	}
	return out, last, nil
}

// walkPage is how many events Walk reads per read transaction: a long one
// would make the file grow while the ingest writes.
const walkPage = 1024

// Walk calls fn with every stored event of a door, epoch after epoch in
// the order first seen, each in seq order, until fn returns an error.
func (s *Store) Walk(site, door string, fn func(Event) error) error {
	return s.walk(site, door, nil, fn)
}

// WalkTypes is Walk for the events of the given types only; the others
// are skipped without being decoded. The store holds each event's JSON as
// encoding/json writes Event: the first "type":" in it starts the type
// (id, epoch, site and door before it are plain ids, without quotes).
func (s *Store) WalkTypes(site, door string, types []wire.EventType, fn func(Event) error) error {
	want := make(map[wire.EventType]bool, len(types))
	for _, t := range types {
		want[t] = true
	}
	key := []byte(`"type":"`)
	return s.walk(site, door, func(raw []byte) bool {
		i := bytes.Index(raw, key)
		if i < 0 {
			return true // not the encoding expected: decode and see
		}
		v := raw[i+len(key):]
		j := bytes.IndexByte(v, '"')
		return j < 0 || want[wire.EventType(v[:j])]
	}, func(e Event) error {
		if !want[e.Type] {
			return nil
		}
		return fn(e)
	})
}

func (s *Store) walk(site, door string, keep func([]byte) bool, fn func(Event) error) error {
	d, err := s.Door(site, door)
	if err != nil {
		return err
	}
	for _, ep := range d.Epochs {
		var lost []Lost
		if ep.Lost > 0 {
			if lost, err = s.streamLost(site, door, ep.Epoch); err != nil {
				return err
			}
		}
		for after := uint64(0); after < ep.Through; {
			for len(lost) > 0 && lost[0].From <= after+1 {
				after = max(after, lost[0].To)
				lost = lost[1:]
			}
			if after >= ep.Through {
				break
			}
			evs, last, err := s.events(site, door, ep.Epoch, after, walkPage, keep)
			if err != nil {
				return err
			}
			if last == after {
				return fmt.Errorf("%w: %s/%s epoch %s ends at %d, through is %d", ErrCorrupt, site, door, ep.Epoch, after, ep.Through)
			}
			for _, e := range evs {
				if err := fn(e); err != nil {
					return err
				}
			}
			after = last
		}
	}
	return nil
}

// streamLost returns the runs of one stream accepted as lost.
func (s *Store) streamLost(site, door, epoch string) ([]Lost, error) {
	var out []Lost
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = readLost(tx.Bucket(bLost).Bucket(streamKey(site, door, epoch)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ingest store: lost: %w", err)
	}
	return out, nil
}

// Total returns how many events the store holds, over every door.
func (s *Store) Total() (uint64, error) {
	ds, err := s.Doors()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, d := range ds {
		n += d.Count()
	}
	return n, nil
}

// importBatch is how many events Import commits at a time.
const importBatch = 10_000

// PutsOf groups evs, in their order, into the puts of a commit: a put per
// run of one stream's events.
func PutsOf(evs []Event) []Put {
	var puts []Put
	for _, e := range evs {
		if n := len(puts); n == 0 || puts[n-1].Site != e.Site || puts[n-1].Door != e.Door || puts[n-1].Epoch != e.Epoch {
			puts = append(puts, Put{Site: e.Site, Door: e.Door, Epoch: e.Epoch})
		}
		puts[len(puts)-1].Events = append(puts[len(puts)-1].Events, e)
	}
	return puts
}

// Import stores evs, in order, a commit per ten thousand: each event must
// continue its door's epoch (seq through+1), as the ingest would store it.
// It is for generated stores (the benchmarks) and restoring events kept
// elsewhere; the index is written as by the ingest.
func (s *Store) Import(evs []Event) error {
	for len(evs) > 0 {
		n := min(len(evs), importBatch)
		if err := s.Commit(PutsOf(evs[:n])); err != nil {
			return fmt.Errorf("ingest store: import: %w", err)
		}
		evs = evs[n:]
	}
	return nil
}
