package workflow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// KV is one key and value of a Book's state as a store keeps it (Stage,
// State, BookLoader). Keys sort as bytes: a row's key holds its number
// big-endian, so that the rows read back in the order they were made.
//
//	'r' row (4 bytes, big-endian)  -> the row's event part (rowKV)
//	'd' site "/" door              -> the door's open visits, the rows
//	                                  awaiting the room's securing, its timer
//	't' permit                     -> the visit times of the permit
//
// A row keeps what the events say of a visit and its escort; the rest
// (the guest, the NIK masked, the organisation, ...) comes from the
// permit's record, joined again by AddPermit after a load.
type KV struct{ Key, Value []byte }

// Kinds of key, the first byte.
const (
	kvRow   = 'r'
	kvDoor  = 'd'
	kvTimes = 't'
)

// ErrBookState: a key or value of a kept Book does not decode.
var ErrBookState = errors.New("workflow: guest book state does not decode")

// State returns the whole of the book's state, as Stage's Puts would have
// written it event by event, in the order of the keys: what a store writes
// to keep a book it built from the events (an older store's, migrated).
func (b *Book) State() []KV {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]KV, 0, len(b.rows)+len(b.doors)+len(b.times)+len(b.loaded))
	for i := range b.rows {
		out = append(out, b.rowKV(i))
	}
	for k := range b.doors {
		out = append(out, b.doorKV(k))
	}
	for _, vt := range b.times {
		if seen(vt) {
			out = append(out, timesKV(vt))
		}
	}
	for i := range b.loaded {
		if vt := &b.loaded[i]; seen(vt) {
			out = append(out, timesKV(vt))
		}
	}
	sortKV(out)
	return out
}

// sortKV puts kvs in the order of their keys: a store writes them so in
// order (bbolt's pages, PostgreSQL's index), and two transactions writing
// some of the same keys take their locks in one order (PostgreSQL's
// rows).
func sortKV(kvs []KV) { slices.SortFunc(kvs, func(a, b KV) int { return bytes.Compare(a.Key, b.Key) }) }

// seen reports whether an event gave vt a time: the others are not kept
// (a permit's visit times are made on first use, its record's too), and
// an event never takes one away.
func seen(vt *visitTimes) bool {
	return vt.tap != 0 || vt.entered != 0 || vt.exitReq != 0 || vt.exited != 0 || vt.done != 0 || vt.card != "" || vt.notSecured
}

// enc appends the parts of a value.
type enc []byte

func (e *enc) uint(v uint64) { *e = binary.AppendUvarint(*e, v) }

// flag is a bool, as 0 or 1.
func (e *enc) flag(b bool) {
	if b {
		e.uint(1)
	} else {
		e.uint(0)
	}
}
func (e *enc) str(ss ...string) {
	for _, s := range ss {
		e.uint(uint64(len(s)))
		*e = append(*e, s...)
	}
}

// time is each t's instant in Unix nanoseconds and its zone's offset (0:
// UTC); the zero time is a single 0.
func (e *enc) time(ts ...time.Time) {
	for _, t := range ts {
		if t.IsZero() {
			e.uint(0)
			continue
		}
		_, off := t.Zone()
		e.uint(1 + uint64(min(max(off, -1<<20), 1<<20)+1<<20))
		*e = binary.AppendVarint(*e, t.UnixNano())
	}
}

// dec reads the parts of a value; the first failure sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = ErrBookState
	}
	d.b = nil
}

func (d *dec) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) time() time.Time {
	z := d.uint()
	if z == 0 {
		return time.Time{}
	}
	ns, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return time.Time{}
	}
	d.b = d.b[n:]
	t := time.Unix(0, ns).UTC()
	if off := int(z-1) - 1<<20; off != 0 {
		t = t.In(time.FixedZone("", off))
	}
	return t
}

// instant reads a time written with enc.time as an instant, its zone
// left out.
func (d *dec) instant() instant {
	if d.uint() == 0 {
		return 0
	}
	ns, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	if ns == 0 {
		return 1 // see instantOf
	}
	return instant(ns)
}

// count reads a number of items, each at least one byte.
func (d *dec) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

func rowKey(i int) []byte { return binary.BigEndian.AppendUint32([]byte{kvRow}, uint32(i)) }

// rowKV is row i's key and event part. mu held.
func (b *Book) rowKV(i int) KV {
	r := &b.rows[i]
	var e enc
	e.str(r.Site, r.Door, r.Permit, r.Escort)
	e.time(r.Entered, r.Exited, r.Secured)
	e.flag(r.NotSecured)
	e.uint(uint64(len(r.Alarms)))
	for _, a := range r.Alarms {
		e.str(string(a.Type))
		e.time(a.At)
		e.str(a.Rack)
		e.str(a.Detail)
	}
	return KV{rowKey(i), e}
}

// doorKV is door k's key and state. mu held.
func (b *Book) doorKV(k doorKey) KV {
	d := b.doors[k]
	var e enc
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range d.inside {
			if !yield(id) {
				return
			}
		}
	})
	e.uint(uint64(len(ids)))
	for _, id := range ids {
		e.str(id)
		e.uint(uint64(d.inside[id]))
	}
	e.uint(uint64(len(d.awaiting)))
	for _, i := range d.awaiting {
		e.uint(uint64(i))
	}
	e.uint(uint64(len(d.timer.lastExit)))
	for _, x := range d.timer.lastExit {
		e.time(x.At)
		e.str(x.Card)
	}
	e.uint(uint64(len(d.timer.awaiting)))
	for _, vt := range d.timer.awaiting {
		e.str(vt.id)
	}
	return KV{[]byte(string(kvDoor) + k.site + "/" + k.door), e}
}

// timesKV is the key and event times of vt.
func timesKV(vt *visitTimes) KV {
	var e enc
	e.time(vt.tap.time(), vt.entered.time(), vt.exitReq.time(), vt.exited.time(), vt.done.time())
	e.str(vt.card)
	e.flag(vt.notSecured)
	return KV{[]byte(string(kvTimes) + vt.id), e}
}

// BookLoader makes a Book again from its kept state: Add every key and
// value in the order of the keys, then Book.
type BookLoader struct {
	b     *Book
	rows  []Row
	doors map[doorKey][]byte
	names names // one copy of each site and door name
}

// NewBookLoader returns a loader of a Book knowing no permit (AddPermits
// gives it the records).
func NewBookLoader() *BookLoader {
	return &BookLoader{b: NewBook(nil), doors: map[doorKey][]byte{}, names: map[string]string{}}
}

// name reads a string of d that many rows share (a site, a door, an
// escort): one copy of each.
func (l *BookLoader) name(d *dec) string { return l.names.str(d) }

// names keeps one copy of each string read with str.
type names map[string]string

// str reads a string of d, the copy kept if there is one.
func (ns names) str(d *dec) string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if s, ok := ns[string(b)]; ok {
		return s
	}
	s := string(b)
	ns[s] = s
	return s
}

// RowsEnd sorts after the key of every row of a kept book and before
// every other key that follows them: the key before it, if it is a
// row's, is the last row's (GrowTo).
var RowsEnd = []byte{kvRow + 1}

// GrowTo makes room for the rows up to the one of key last, the key a
// store keeps before RowsEnd (nothing if it is not a row's): a store says
// so before the first Add, so that a book of many rows is read without
// growing as it goes.
func (l *BookLoader) GrowTo(last []byte) {
	if len(last) == 5 && last[0] == kvRow {
		l.grow(int(binary.BigEndian.Uint32(last[1:])) + 1)
	}
}

// grow makes room for n rows, and the visit times of as many permits.
func (l *BookLoader) grow(n int) {
	l.rows = slices.Grow(l.rows, n)
	if len(l.b.loaded) == 0 {
		// a permit's times without a row of it yet (an entry awaited)
		// are few: room for a few more than the rows
		l.b.loaded = make([]visitTimes, 0, n+n/64+1024)
	}
	// the memory of both backed by the kernel on another goroutine while
	// the store sends the first keys, not page by page as Add fills it
	go populate(l.rows[len(l.rows):])
	go populate(l.b.loaded[len(l.b.loaded):])
}

// Add takes one key and value; neither is kept (a store may reuse them).
func (l *BookLoader) Add(k, v []byte) error {
	if len(k) == 0 {
		return fmt.Errorf("%w: empty key", ErrBookState)
	}
	d := &dec{b: v}
	switch k[0] {
	case kvRow:
		if len(k) != 5 {
			return fmt.Errorf("%w: row key %x", ErrBookState, k)
		}
		i := int(binary.BigEndian.Uint32(k[1:]))
		r := Row{Site: l.name(d), Door: l.name(d), Permit: d.str(), Escort: l.name(d),
			Entered: d.time(), Exited: d.time(), Secured: d.time()}
		r.NotSecured = d.uint()&1 != 0
		if n := d.count(); n > 0 {
			r.Alarms = make([]Alarm, n)
			for j := range r.Alarms {
				r.Alarms[j] = Alarm{Type: wire.EventType(d.str()), At: d.time(), Rack: d.str(), Detail: d.str()}
			}
		}
		if d.err != nil {
			return fmt.Errorf("%w: row %d", d.err, i)
		}
		if i != len(l.rows) {
			return fmt.Errorf("%w: row %d after %d rows", ErrBookState, i, len(l.rows))
		}
		l.rows = append(l.rows, r)
	case kvDoor:
		site, door, ok := strings.Cut(string(k[1:]), "/")
		if !ok {
			return fmt.Errorf("%w: door key %q", ErrBookState, k)
		}
		l.doors[doorKey{site, door}] = slices.Clone(v)
	case kvTimes:
		var vt *visitTimes
		if n := len(l.b.loaded); (n == 0 || l.b.loaded[n-1].id < string(k[1:])) && len(l.b.times) == 0 {
			// in id order, as a store gives them: a slice, not a map
			l.b.loaded = append(l.b.loaded, visitTimes{id: string(k[1:])})
			vt = &l.b.loaded[n]
		} else {
			vt = l.b.visitTimes(string(k[1:]))
		}
		vt.tap, vt.entered, vt.exitReq, vt.exited, vt.done = d.instant(), d.instant(), d.instant(), d.instant(), d.instant()
		vt.card = d.str()
		vt.notSecured = d.uint()&1 != 0
		if d.err != nil {
			return fmt.Errorf("%w: visit times of %s", d.err, k[1:])
		}
	default:
		return fmt.Errorf("%w: key %q", ErrBookState, k)
	}
	return nil
}

// Book returns the book loaded; the loader is spent.
func (l *BookLoader) Book() (*Book, error) {
	b := l.b
	b.rows = l.rows
	b.rowOrg = make([]uint32, len(b.rows)) // no organisation yet: the digests' (AddDigests)
	// index's work, each permit's first row in a slice of one carved
	// from one array, its capacity clipped (a second row copies)
	b.byPermit = make(map[string][]int32, len(b.rows))
	first := make([]int32, len(b.rows))
	var d *doorBook
	for i := range b.rows {
		r := &b.rows[i]
		if d == nil || r.Site != b.rows[i-1].Site || r.Door != b.rows[i-1].Door {
			k := doorKey{r.Site, r.Door}
			if d = b.doors[k]; d == nil {
				d = &doorBook{inside: map[string]int{}, sorted: true}
				b.doors[k] = d
			}
		}
		if i > 0 && r.Entered.Before(b.rows[i-1].Entered) {
			b.sorted = false
		}
		if n := len(d.rows); n > 0 && r.Entered.Before(b.rows[d.rows[n-1]].Entered) {
			d.sorted = false
		}
		d.rows = append(d.rows, int32(i))
		if p, ok := b.byPermit[r.Permit]; ok {
			b.byPermit[r.Permit] = append(p, int32(i))
		} else {
			first[i] = int32(i)
			b.byPermit[r.Permit] = first[i : i+1 : i+1]
		}
	}
	for k, v := range l.doors {
		d := b.doors[k]
		if d == nil {
			d = &doorBook{inside: map[string]int{}, sorted: true}
			b.doors[k] = d
		}
		if err := l.door(d, v); err != nil {
			return nil, fmt.Errorf("%w: door %s/%s", err, k.site, k.door)
		}
	}
	l.b, l.rows, l.doors = nil, nil, nil
	return b, nil
}

// door decodes a door's state into d; its rows are in the book.
func (l *BookLoader) door(d *doorBook, v []byte) error {
	b := l.b
	r := &dec{b: v}
	row := func() int {
		i := r.uint()
		if i >= uint64(len(b.rows)) {
			r.fail()
			return 0
		}
		return int(i)
	}
	for range r.count() {
		id := r.str()
		d.inside[id] = row()
	}
	if n := r.count(); n > 0 {
		d.awaiting = make([]int, n)
		for j := range d.awaiting {
			d.awaiting[j] = row()
		}
	}
	for range r.count() {
		d.timer.lastExit = append(d.timer.lastExit, wire.Event{At: r.time(), Card: r.str()})
	}
	for range r.count() {
		d.timer.awaiting = append(d.timer.awaiting, b.visitTimes(r.str()))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}
