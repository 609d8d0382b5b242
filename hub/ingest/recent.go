package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/kunci-project/kunci/wire"
	bolt "go.etcd.io/bbolt"
)

// The index of the ingest file, written in the commit that stores the
// events, so that a door's events of one type or one permit are read
// without reading the others:
//
//	index: "site/door" -> bucket: kind | name | 0 | order (8 bytes) | seq (8 bytes) -> empty
//
// kind is 't' (name: the event's type) or 'p' (name: its permit); order
// is its epoch's (see the doors bucket). A door's keys of one kind and
// name sort as its events read, epoch after epoch, so that the newest come
// last. meta's "indexed" says that every stored event is in the index: a
// file written before the index is indexed whole when opened.
var (
	bIndex    = []byte("index")
	bMeta     = []byte("meta")
	mIndexed  = []byte("indexed")
	indexType = byte('t')
	indexPmt  = byte('p')
)

// indexPrefix is the start of the keys of kind and name.
func indexPrefix(kind byte, name string) []byte {
	k := make([]byte, 0, len(name)+18)
	k = append(k, kind)
	k = append(k, name...)
	return append(k, 0)
}

// position is where an event is in its door's order.
type position struct{ order, seq uint64 }

func (p position) key(prefix []byte) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(slices.Clip(prefix), p.order), p.seq)
}

// index adds the index entries of events, stored at order in their door's
// index bucket ib.
func index(ib *bolt.Bucket, order uint64, e *Event) error {
	p := position{order, e.Seq}
	if err := ib.Put(p.key(indexPrefix(indexType, string(e.Type))), nil); err != nil {
		return err
	}
	if e.Permit != "" {
		return ib.Put(p.key(indexPrefix(indexPmt, e.Permit)), nil)
	}
	return nil
}

// indexed is what the index reads of an event's JSON.
type indexed struct {
	Seq    uint64         `json:"seq"`
	Type   wire.EventType `json:"type"`
	Permit string         `json:"permit"`
}

// reindex builds the index of every stored event of a file written before
// it, a door's epoch at a time, and marks the file indexed.
func (s *Store) reindex() error {
	var indexed bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		indexed = tx.Bucket(bMeta).Get(mIndexed) != nil
		return nil
	}); err != nil || indexed {
		return err
	}
	doors, err := s.Doors()
	if err != nil {
		return err
	}
	for _, d := range doors {
		eps, err := s.epochs(d.Site, d.Door)
		if err != nil {
			return err
		}
		for _, ep := range eps {
			if err := s.db.Update(func(tx *bolt.Tx) error { return indexEpoch(tx, d.Site, d.Door, ep) }); err != nil {
				return err
			}
		}
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(mIndexed, []byte{1}) })
}

func indexEpoch(tx *bolt.Tx, site, door string, ep orderedEpoch) error {
	ib, err := tx.Bucket(bIndex).CreateBucketIfNotExists(doorKey(site, door))
	if err != nil {
		return err
	}
	eb := tx.Bucket(bEvents).Bucket(streamKey(site, door, ep.Epoch.Epoch))
	if eb == nil {
		return nil
	}
	return eb.ForEach(func(k, v []byte) error {
		var e indexed
		if err := json.Unmarshal(v, &e); err != nil || len(k) != 8 {
			return fmt.Errorf("%w: event %s/%x: %v", ErrCorrupt, streamKey(site, door, ep.Epoch.Epoch), k, err)
		}
		ev := Event{Seq: binary.BigEndian.Uint64(k), Type: e.Type, Permit: e.Permit}
		return index(ib, ep.order, &ev)
	})
}

// orderedEpoch is an epoch with its order.
type orderedEpoch struct {
	order uint64
	Epoch
}

func (s *Store) epochs(site, door string) ([]orderedEpoch, error) {
	var eps []orderedEpoch
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDoors).Bucket(doorKey(site, door))
		if b == nil {
			return nil
		}
		var err error
		eps, err = readEpochs(b)
		return err
	})
	return eps, err
}

// readEpochs returns the epochs of door bucket b, by order.
func readEpochs(b *bolt.Bucket) ([]orderedEpoch, error) {
	var eps []orderedEpoch
	err := b.ForEach(func(k, v []byte) error {
		order, through, err := epochValue(v)
		if err != nil {
			return err
		}
		eps = append(eps, orderedEpoch{order, Epoch{Epoch: string(k), Through: through}})
		return nil
	})
	slices.SortFunc(eps, func(a, b orderedEpoch) int { return cmpUint(a.order, b.order) })
	return eps, err
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Query chooses a door's events for Recent; a zero Type or Permit
// chooses all.
type Query struct {
	Site, Door string
	Type       wire.EventType
	Permit     string
	// Before is where the page starts: "" for the newest, else the Next
	// of the page before.
	Before string
	// Limit is the most events the page holds (at least 1).
	Limit int
}

// MaxScan bounds the events one Recent reads besides those it returns: a
// query of both a type and a permit reads the permit's events, and gives
// a shorter page (with a Next) rather than read further.
const MaxScan = 10_000

// Page is a page of a door's events.
type Page struct {
	Events []Event // newest first
	// Next is the Before of the page of older events; "" when there are
	// none.
	Next string
}

// Recent returns the newest of a door's events that q chooses, from
// q.Before back, newest first. It reads what it returns and little else:
// events back from the end of the door's log, or through the index when
// q names a type or a permit, never the whole log.
func (s *Store) Recent(q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, fmt.Errorf("ingest store: recent: limit %d", q.Limit)
	}
	before := position{^uint64(0), ^uint64(0)}
	if q.Before != "" {
		var err error
		if before, err = parseCursor(q.Before); err != nil {
			return Page{}, err
		}
	}
	var pg Page
	err := s.db.View(func(tx *bolt.Tx) error {
		db := tx.Bucket(bDoors).Bucket(doorKey(q.Site, q.Door))
		if db == nil {
			return nil
		}
		eps, err := readEpochs(db)
		if err != nil {
			return err
		}
		byOrder := make(map[uint64]*bolt.Bucket, len(eps))
		for _, ep := range eps {
			byOrder[ep.order] = tx.Bucket(bEvents).Bucket(streamKey(q.Site, q.Door, ep.Epoch.Epoch))
		}
		r := recentReader{q: q, pg: &pg}
		if q.Type == "" && q.Permit == "" {
			return r.log(eps, byOrder, before)
		}
		ib := tx.Bucket(bIndex).Bucket(doorKey(q.Site, q.Door))
		if ib == nil {
			return nil
		}
		prefix := indexPrefix(indexType, string(q.Type))
		if q.Permit != "" {
			prefix = indexPrefix(indexPmt, q.Permit)
		}
		return r.index(ib, prefix, byOrder, before)
	})
	if err != nil {
		return Page{}, fmt.Errorf("ingest store: recent: %w", err)
	}
	return pg, nil
}

// recentReader fills a page of Recent.
type recentReader struct {
	q       Query
	pg      *Page
	scanned int
}

// take decodes the event at p and adds it if it matches; it reports
// whether the page wants more.
func (r *recentReader) take(p position, raw []byte) (bool, error) {
	if len(r.pg.Events) == r.q.Limit || r.scanned == r.q.Limit+MaxScan {
		r.pg.Next = encodeCursor(p.next())
		return false, nil
	}
	r.scanned++
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return false, fmt.Errorf("%w: event %s/%d/%d: %v", ErrCorrupt, doorKey(r.q.Site, r.q.Door), p.order, p.seq, err)
	}
	if (r.q.Type == "" || e.Type == r.q.Type) && (r.q.Permit == "" || e.Permit == r.q.Permit) {
		r.pg.Events = append(r.pg.Events, e)
	}
	return true, nil
}

// next is the cursor of the events before p, p included.
func (p position) next() position {
	if p.seq == ^uint64(0) {
		return position{p.order + 1, 0}
	}
	return position{p.order, p.seq + 1}
}

// log reads the door's log back from before, epoch after epoch.
func (r *recentReader) log(eps []orderedEpoch, byOrder map[uint64]*bolt.Bucket, before position) error {
	for i := len(eps) - 1; i >= 0; i-- {
		ep := eps[i]
		if ep.order > before.order {
			continue
		}
		b := byOrder[ep.order]
		if b == nil {
			continue
		}
		c := b.Cursor()
		var k, v []byte
		if ep.order == before.order {
			k, v = seekBefore(c, seqKey(before.seq))
		} else {
			k, v = c.Last()
		}
		for ; k != nil; k, v = c.Prev() {
			more, err := r.take(position{ep.order, binary.BigEndian.Uint64(k)}, v)
			if !more || err != nil {
				return err
			}
		}
	}
	return nil
}

// index reads the events of the index keys of prefix back from before.
func (r *recentReader) index(ib *bolt.Bucket, prefix []byte, byOrder map[uint64]*bolt.Bucket, before position) error {
	c := ib.Cursor()
	for k, _ := seekBefore(c, before.key(prefix)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		if len(k) != len(prefix)+16 {
			return fmt.Errorf("%w: index key %q", ErrCorrupt, k)
		}
		p := position{binary.BigEndian.Uint64(k[len(prefix):]), binary.BigEndian.Uint64(k[len(prefix)+8:])}
		var raw []byte
		if b := byOrder[p.order]; b != nil {
			raw = b.Get(seqKey(p.seq))
		}
		if raw == nil {
			return fmt.Errorf("%w: index key %q names no event", ErrCorrupt, k)
		}
		more, err := r.take(p, raw)
		if !more || err != nil {
			return err
		}
	}
	return nil
}

// seekBefore moves c to the last key before key.
func seekBefore(c *bolt.Cursor, key []byte) ([]byte, []byte) {
	if k, _ := c.Seek(key); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// encodeCursor is p as Page.Next: opaque to the API's clients.
func encodeCursor(p position) string {
	return base64.RawURLEncoding.EncodeToString(p.key(nil))
}

func parseCursor(s string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return position{}, fmt.Errorf("%w: %.40q", ErrCursor, s)
	}
	return position{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}, nil
}

// CursorAt is the Page.Next of a page that stops before the event at
// (order, seq), its epoch's order and its seq: the next page starts with
// that event. Other backends than Store make their cursors with it and
// read them with ParseCursor, so that a cursor means the same in each.
func CursorAt(order, seq uint64) string { return encodeCursor(position{order, seq}.next()) }

// ParseCursor reads a Query.Before: the page holds the events before
// (order, seq), in the order a door's events read.
func ParseCursor(s string) (order, seq uint64, err error) {
	p, err := parseCursor(s)
	return p.order, p.seq, err
}
