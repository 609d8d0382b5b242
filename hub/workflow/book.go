package workflow

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// Book is the guest book maintained incrementally: the hub applies each
// event as it stores it (Apply, O(1) per event but for the alarms of a
// door, which go to each visit still open or awaiting the securing of its
// room), and queries the rows at any time (Rows, Query) without reading
// the events again. Each door (Site, Door of the event) is followed on its
// own; its events must be applied in the door's order. A Book is safe for
// concurrent use.
//
// The rows a Book returns share their Equipment and Alarms with the Book:
// they are read-only (their capacity is clipped, so appending to them
// copies).
type Book struct {
	mu    sync.RWMutex
	byID  map[string]*Digest // what the rows show of each permit known
	guest map[string]string  // the guests' names of the records given whole (AddPermit)
	nik   map[string]string  // and their NIKs, masked
	rows  []Row
	// rowOrg is each row's organisation, as its index in orgNames (0:
	// none), for an organisation's search (matcher): each name is
	// searched once, not each row
	rowOrg   []uint32
	orgNames []string
	orgIDs   map[string]uint32
	sorted   bool // rows are in order of Entered
	doors    map[doorKey]*doorBook
	byPermit map[string][]int32 // permit -> its rows
	// times are the visit times of each permit known or seen in an
	// event, for the service times (ServiceTimes), kept as the rows are;
	// permits are the known ones in id order, with their times.
	times   map[string]*visitTimes
	loaded  []visitTimes // the visit times a BookLoader read, in id order; times has the others
	vtFree  []visitTimes // the rest of the block times come from (visitTimes)
	permits []bookPermit
	guests  bookGuests // of the permits known by their digest (AddDigests)

	// the service-time summaries kept per period (Summaries): slaMu
	// guards sla, slaSize and slaTick, taken with mu read-held; slaGen and
	// slaDays change with mu held for writing
	slaMu   sync.Mutex
	sla     map[slaKey]*slaPart
	slaSize int    // durations the kept periods hold
	slaTick uint64 // Summaries calls
	slaGen  uint64 // changes told to the kept periods
	slaDays map[int64]uint64
}

// bookPermit is a permit the book knows, with its visit's times.
type bookPermit struct {
	rec   *Digest
	times *visitTimes
	req   int64 // rec.Requested (nanos), read without the record
}

type doorKey struct{ site, door string }

// doorBook is the state of one door.
type doorBook struct {
	inside   map[string]int // permit -> row of its open visit
	awaiting []int          // rows that exited, until the room is secured
	rows     []int32        // the door's rows, in order of entry
	sorted   bool           // rows are in order of Entered
	timer    timer          // the door's service times
}

// NewBook returns an empty guest book knowing permits (see AddPermit).
func NewBook(permits []Record) *Book {
	b := &Book{
		byID:     make(map[string]*Digest, len(permits)),
		guest:    make(map[string]string, len(permits)),
		nik:      make(map[string]string, len(permits)),
		doors:    map[doorKey]*doorBook{},
		byPermit: map[string][]int32{},
		times:    map[string]*visitTimes{},
		sorted:   true,
	}
	for i := range permits {
		b.addPermit(&permits[i])
	}
	return b
}

// AddPermit makes r known to the book (or replaces it): its visits, those
// already in the book and those to come, show its guest, organisation and
// the rest (a purged record's rows lose the guest's name and NIK).
func (b *Book) AddPermit(r Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addPermit(&r)
	b.guests.forget(r.ID)
}

// AddPermits is AddPermit of every record, under one lock: a book loaded
// from its store (BookLoader) gets the permits' records so.
func (b *Book) AddPermits(recs []Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizeFor(len(recs))
	for i := range recs {
		b.addPermit(&recs[i])
	}
}

// sizeFor makes the maps of the permits at their size n, once, for a
// book that knows none yet. mu held.
func (b *Book) sizeFor(n int) {
	if len(b.byID) == 0 {
		b.byID = make(map[string]*Digest, n)
		b.guest = make(map[string]string, n)
		b.nik = make(map[string]string, n)
		b.permits = slices.Grow(b.permits, n)
	}
}

func (b *Book) addPermit(r *Record) {
	d := DigestOf(r)
	d.Equipment = slices.Clone(r.Equipment) // the book's own
	b.guest[r.ID], b.nik[r.ID] = r.Guest, MaskNIK(r.NIK)
	b.addDigest(&d, b.visitTimes(r.ID), true)
}

// addDigest makes d, the permit's digest, and vt, its visit times, known
// to the book, or replaces what it knew of the permit; the permit's rows
// show them, if join (else the caller joins them). mu held.
func (b *Book) addDigest(d *Digest, vt *visitTimes, join bool) {
	var i int
	var found bool
	if n := len(b.permits); n == 0 || b.permits[n-1].rec.ID < d.ID {
		i = n // ids come in order: the usual case, without a search
	} else {
		i, found = slices.BinarySearchFunc(b.permits, d.ID, func(p bookPermit, id string) int { return strings.Compare(p.rec.ID, id) })
	}
	p := bookPermit{rec: d, times: vt, req: nanos(d.Requested)}
	switch {
	case found:
		b.bumpSLA(b.permits[i].rec.Requested)
		b.permits[i].rec, b.permits[i].req = d, p.req
	case i == len(b.permits):
		b.permits = append(b.permits, p) // ids come in order: nearly always
	default:
		b.permits = slices.Insert(b.permits, i, p)
	}
	b.bumpSLA(d.Requested)
	b.byID[d.ID] = d
	if join {
		for _, i := range b.byPermit[d.ID] {
			b.joinRow(int(i), d)
		}
	}
}

// Apply updates the rows with the next event of its door.
func (b *Book) Apply(e wire.Event) {
	if !slices.Contains(BookTypes, e.Type) {
		return // not a guest-book event: no lock taken
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apply(e, nil)
}

// apply is Apply with b.mu held; c, unless nil, keeps what the event
// changes (Stage).
func (b *Book) apply(e wire.Event, c *Change) {
	if !slices.Contains(BookTypes, e.Type) {
		return
	}
	k := doorKey{e.Site, e.Door}
	d := b.doors[k]
	c.door(k, d)
	if d == nil {
		d = &doorBook{inside: map[string]int{}, sorted: true}
		b.doors[k] = d
	}
	var vt *visitTimes
	if e.Permit != "" {
		vt = b.visitTimes(e.Permit)
		c.times(vt)
	}
	d.timer.apply(e, vt, b.retime)
	alarm := func(i int) {
		c.row(i)
		b.rows[i].Alarms = append(b.rows[i].Alarms, Alarm{Type: e.Type, At: e.At, Rack: e.Rack, Detail: e.Detail})
	}
	switch e.Type {
	case wire.EvVisitEntered:
		if e.Permit == "" {
			return // staff entering alone
		}
		row := Row{Site: e.Site, Door: e.Door, Permit: e.Permit, Escort: e.Escort, Entered: e.At}
		if r := b.byID[e.Permit]; r != nil {
			b.join(&row, r)
		}
		b.add(d, row)
		d.inside[e.Permit] = len(b.rows) - 1
	case wire.EvVisitExited:
		i, ok := d.inside[e.Permit]
		if !ok {
			return
		}
		delete(d.inside, e.Permit)
		c.row(i)
		b.rows[i].Exited = e.At
		d.awaiting = append(d.awaiting, i)
	case wire.EvUnescorted:
		if i, ok := d.inside[e.Permit]; ok {
			alarm(i)
		}
	case wire.EvForced, wire.EvHeldOpen, wire.EvRackTampered:
		for _, i := range d.inside {
			alarm(i)
		}
		for _, i := range d.awaiting {
			alarm(i)
		}
	case wire.EvSecured:
		for _, i := range d.awaiting {
			c.row(i)
			b.rows[i].Secured = e.At
		}
		d.awaiting = d.awaiting[:0]
	case wire.EvNotSecured:
		// the room stays awaited: a later room.secured says when it was
		for _, i := range d.awaiting {
			if !b.rows[i].NotSecured {
				c.row(i)
				b.rows[i].NotSecured = true
				alarm(i)
			}
		}
	}
}

// join gives row what its permit's digest r says, and its guest's name
// and masked NIK if the book has them (a record given whole: else
// withGuest reads them when the row is returned); the escort only if the
// event named none. mu held.
func (b *Book) join(row *Row, r *Digest) {
	row.Guest, row.NIK, row.Organisation, row.Purpose = b.guest[r.ID], b.nik[r.ID], r.Organisation, r.Purpose
	row.Category, row.Approver, row.Equipment = r.Category, r.Approver, slices.Clip(r.Equipment)
	if row.Escort == "" {
		row.Escort = r.Escort
	}
}

// joinRow is join of row i, its organisation noted. mu held.
func (b *Book) joinRow(i int, r *Digest) {
	b.join(&b.rows[i], r)
	b.rowOrg[i] = b.orgID(r.Organisation)
}

// orgID is the index of organisation name in orgNames, added if new.
// mu held.
func (b *Book) orgID(name string) uint32 {
	if name == "" {
		return 0
	}
	if id, ok := b.orgIDs[name]; ok {
		return id
	}
	if b.orgIDs == nil {
		b.orgIDs = map[string]uint32{}
	}
	if len(b.orgNames) == 0 {
		b.orgNames = append(b.orgNames, "") // 0: none
	}
	id := uint32(len(b.orgNames))
	b.orgNames = append(b.orgNames, name)
	b.orgIDs[name] = id
	return id
}

// add appends row, a visit of door d, to the book. mu held.
func (b *Book) add(d *doorBook, row Row) {
	b.rows = append(b.rows, row)
	b.rowOrg = append(b.rowOrg, b.orgID(row.Organisation))
	b.index(d, len(b.rows)-1)
}

// index makes row i, the last one, a visit of door d. mu held.
func (b *Book) index(d *doorBook, i int) {
	row := &b.rows[i]
	if i > 0 && row.Entered.Before(b.rows[i-1].Entered) {
		b.sorted = false
	}
	if n := len(d.rows); n > 0 && row.Entered.Before(b.rows[d.rows[n-1]].Entered) {
		d.sorted = false
	}
	d.rows = append(d.rows, int32(i))
	b.byPermit[row.Permit] = append(b.byPermit[row.Permit], int32(i))
}

// Change is what Stage applied to a Book: the state it changed, as the
// keys and values to write with the events (Puts), and what it was
// before, to go back to if they are not stored after all (Undo).
type Change struct {
	b      *Book
	nrows  int  // the rows before: those from nrows on are new
	sorted bool // b.sorted before
	puts   []KV // the changed state, encoded
	rows   map[int]Row
	doors  map[doorKey]*doorBook // before; nil: the door is new
	vts    map[*visitTimes]visitTimes
}

// Stage applies evs, each door's in its order, as Apply does, and returns
// what they changed: the store that keeps the book writes Change.Puts in
// the transaction of the events, and calls Change.Undo if that
// transaction fails. One Stage at a time, until its Undo or never: the
// store's commits are serialised.
func (b *Book) Stage(evs []wire.Event) *Change {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &Change{b: b, nrows: len(b.rows), sorted: b.sorted, rows: map[int]Row{}, doors: map[doorKey]*doorBook{},
		vts: map[*visitTimes]visitTimes{}}
	for _, e := range evs {
		b.apply(e, c)
	}
	for i := range c.rows {
		c.puts = append(c.puts, b.rowKV(i))
	}
	for i := c.nrows; i < len(b.rows); i++ {
		c.puts = append(c.puts, b.rowKV(i))
	}
	for k := range c.doors {
		c.puts = append(c.puts, b.doorKV(k))
	}
	for vt := range c.vts {
		if seen(vt) {
			c.puts = append(c.puts, timesKV(vt))
		}
	}
	sortKV(c.puts)
	return c
}

// Puts are the keys and values of the state the change made, to store,
// in the order of the keys: each replaces what the key held.
func (c *Change) Puts() []KV { return c.puts }

// door keeps door k (d, nil if new) as it was, and the visit times its
// timer may change, before the change first touches it. A nil c keeps
// nothing.
func (c *Change) door(k doorKey, d *doorBook) {
	if c == nil {
		return
	}
	if _, ok := c.doors[k]; ok {
		return
	}
	if d == nil {
		c.doors[k] = nil
		return
	}
	before := *d
	before.inside = maps.Clone(d.inside)
	before.awaiting = slices.Clone(d.awaiting)
	before.timer.lastExit = slices.Clone(d.timer.lastExit)
	before.timer.awaiting = slices.Clone(d.timer.awaiting)
	for _, vt := range d.timer.awaiting {
		c.times(vt)
	}
	c.doors[k] = &before
}

// times keeps vt's event times before the change first touches them.
func (c *Change) times(vt *visitTimes) {
	if c == nil {
		return
	}
	if _, ok := c.vts[vt]; !ok {
		c.vts[vt] = *vt
	}
}

// row keeps row i before the change first touches it (a new row needs
// nothing kept).
func (c *Change) row(i int) {
	if c == nil || i >= c.nrows {
		return
	}
	if _, ok := c.rows[i]; !ok {
		c.rows[i] = c.b.rows[i]
	}
}

// Undo puts the book back as it was before the change, but for what
// AddPermit and Notified did since (the records, the notification times):
// its events were not stored.
func (c *Change) Undo() {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, r := range c.rows {
		row := &b.rows[i]
		row.Exited, row.Secured, row.NotSecured, row.Alarms = r.Exited, r.Secured, r.NotSecured, r.Alarms
	}
	for _, r := range b.rows[c.nrows:] {
		p := b.byPermit[r.Permit]
		for len(p) > 0 && int(p[len(p)-1]) >= c.nrows {
			p = p[:len(p)-1]
		}
		if len(p) == 0 {
			delete(b.byPermit, r.Permit)
		} else {
			b.byPermit[r.Permit] = p
		}
	}
	b.rows = slices.Delete(b.rows, c.nrows, len(b.rows))
	b.rowOrg = b.rowOrg[:c.nrows]
	b.sorted = c.sorted
	for k, before := range c.doors {
		if before == nil {
			delete(b.doors, k)
			continue
		}
		*b.doors[k] = *before // its rows then were all older than nrows
	}
	for vt, before := range c.vts {
		vt.tap, vt.entered, vt.exitReq, vt.exited, vt.done = before.tap, before.entered, before.exitReq, before.exited, before.done
		vt.card, vt.notSecured = before.card, before.notSecured
		b.retime(vt)
	}
}

// Len is the number of rows (visits) in the book.
func (b *Book) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.rows)
}

// Rows returns every row, in order of entry (the order the visits were
// applied in).
func (b *Book) Rows() []Row { return b.Query(Filter{}) }

// Filter selects rows of the guest book; a zero field selects all.
type Filter struct {
	Site, Door string    // the door (Door alone matches it at any site)
	From, To   time.Time // entered in [From, To)
	Permit     string
	// Organisation selects the rows whose organisation contains it, in
	// any case ("telkom" finds "PT Telkom Indonesia").
	Organisation string
}

func (f *Filter) match(r *Row) bool {
	return (f.Site == "" || r.Site == f.Site) && (f.Door == "" || r.Door == f.Door) &&
		(f.Permit == "" || r.Permit == f.Permit) &&
		(f.From.IsZero() || !r.Entered.Before(f.From)) && (f.To.IsZero() || r.Entered.Before(f.To)) &&
		(f.Organisation == "" || containsFold(r.Organisation, f.Organisation))
}

// matcher is f.match of row i for the rows of one call: an
// organisation's search is run once for each organisation's name the book
// knows, not for each row. b.mu held.
func (b *Book) matcher(f Filter) func(i int, r *Row) bool {
	if f.Organisation == "" {
		return func(_ int, r *Row) bool { return f.match(r) }
	}
	rest := f
	rest.Organisation = ""
	hit := make([]bool, max(len(b.orgNames), 1)) // 0, none, even before any name
	for id, name := range b.orgNames {
		hit[id] = id > 0 && containsFold(name, f.Organisation)
	}
	return func(i int, r *Row) bool { return hit[b.rowOrg[i]] && rest.match(r) }
}

func containsFold(s, sub string) bool {
	if ascii(s) && ascii(sub) {
		// the same, without a lower-case copy of every row's
		for i := 0; i+len(sub) <= len(s); i++ {
			if strings.EqualFold(s[i:i+len(sub)], sub) {
				return true
			}
		}
		return false
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Query returns the rows f selects, in order of entry. It reads only the
// rows of the permit when f names one, only those of the door when f names
// a site and door, and only those entered in [From, To) when the door's
// entries are in time order (the usual case).
func (b *Book) Query(f Filter) []Row {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []Row
	b.each(f, 0, func(_ int, r *Row) bool {
		out = append(out, b.withGuest(r))
		return true
	})
	return out
}

// After returns the rows f selects, in order of entry, that follow row
// after (-1: from the first), at most limit of them, and the row to ask
// the next page after (-1 at the end): a page of the API's guest book.
// The rows of a book are never removed, only appended, so a page's row
// stays the same while new ones arrive.
func (b *Book) After(f Filter, after, limit int) (rows []Row, next int) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	next, last := -1, -1
	b.each(f, after+1, func(i int, r *Row) bool {
		if len(rows) == limit {
			next = last
			return false
		}
		rows = append(rows, b.withGuest(r))
		last = i
		return true
	})
	return rows, next
}

// Page returns the rows f selects, newest first, from offset on, at most
// limit of them, and how many rows f selects in all: a page of the
// console's guest book, without copying the rows of the other pages.
func (b *Book) Page(f Filter, offset, limit int) (rows []Row, total int) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if idx, lo, hi, ok := b.exact(f); ok {
		// a range of rows, counted without reading them: the page read
		// from its end
		for i := hi - 1 - offset; i >= lo && len(rows) < limit; i-- {
			if idx == nil {
				rows = append(rows, b.withGuest(&b.rows[i]))
			} else {
				rows = append(rows, b.withGuest(&b.rows[idx[i]]))
			}
		}
		return rows, hi - lo
	}
	return b.page(f, offset, limit)
}

// exact returns the rows f selects when they are a range without a row
// to match one by one: rows [lo, hi) of the book (idx nil) or
// idx[lo:hi], in order of entry. ok is false when f is not so (an
// organisation, a permit, a door at any site, rows out of time order).
// b.mu held.
func (b *Book) exact(f Filter) (idx []int32, lo, hi int, ok bool) {
	if f.Organisation != "" || f.Permit != "" {
		return nil, 0, 0, false
	}
	// without a time, every row of the range: in order of entry or not
	untimed := f.From.IsZero() && f.To.IsZero()
	switch {
	case f.Site == "" && f.Door == "" && (b.sorted || untimed):
		lo, hi = b.span(f, func(i int) time.Time { return b.rows[i].Entered }, len(b.rows))
		return nil, lo, hi, true
	case f.Site != "" && f.Door != "":
		d := b.doors[doorKey{f.Site, f.Door}]
		if d == nil {
			return nil, 0, 0, true // none
		}
		if !d.sorted && !untimed {
			return nil, 0, 0, false
		}
		lo, hi = b.span(f, func(i int) time.Time { return b.rows[d.rows[i]].Entered }, len(d.rows))
		return d.rows, lo, hi, true
	}
	return nil, 0, 0, false
}

// page is Page reading every row f selects. b.mu held.
func (b *Book) page(f Filter, offset, limit int) (rows []Row, total int) {
	var idx []*Row
	b.each(f, 0, func(_ int, r *Row) bool {
		idx = append(idx, r)
		return true
	})
	total = len(idx)
	for i := total - 1 - offset; i >= 0 && len(rows) < limit; i-- {
		rows = append(rows, b.withGuest(idx[i]))
	}
	return rows, total
}

// each calls fn with the rows f selects from row from on, in order of
// entry, until fn returns false; b.mu is held by the caller.
func (b *Book) each(f Filter, from int, fn func(i int, r *Row) bool) {
	match := b.matcher(f)
	var idx []int32
	sorted := b.sorted
	switch {
	case f.Permit != "":
		idx = b.byPermit[f.Permit]
		sorted = false // few rows: scanned
	case f.Site != "" && f.Door != "":
		d := b.doors[doorKey{f.Site, f.Door}]
		if d == nil {
			return
		}
		idx, sorted = d.rows, d.sorted
	default:
		lo, hi := 0, len(b.rows)
		if sorted && f.Site == "" && f.Door == "" {
			lo, hi = b.span(f, func(i int) time.Time { return b.rows[i].Entered }, len(b.rows))
		}
		lo = max(lo, from)
		// a site's doors, or a door name at any site: every row looked at
		for i := lo; i < hi; i++ {
			if r := &b.rows[i]; match(i, r) && !fn(i, r) {
				return
			}
		}
		return
	}
	lo, hi := 0, len(idx)
	if sorted {
		lo, hi = b.span(f, func(i int) time.Time { return b.rows[idx[i]].Entered }, len(idx))
	}
	// idx is in row order: the rows before from are a prefix
	lo = max(lo, sort.Search(len(idx), func(i int) bool { return int(idx[i]) >= from }))
	hi = max(lo, hi)
	for _, i := range idx[lo:hi] {
		if r := &b.rows[i]; match(int(i), r) && !fn(int(i), r) {
			return
		}
	}
}

// span is the range [lo, hi) of n sorted entries entered in [f.From, f.To).
func (b *Book) span(f Filter, entered func(int) time.Time, n int) (lo, hi int) {
	hi = n
	if !f.From.IsZero() {
		lo = sort.Search(n, func(i int) bool { return !entered(i).Before(f.From) })
	}
	if !f.To.IsZero() {
		hi = sort.Search(n, func(i int) bool { return !entered(i).Before(f.To) })
	}
	return lo, max(lo, hi)
}

// clip returns r with its lists clipped, so that appending to them copies.
func clip(r Row) Row {
	r.Equipment, r.Alarms = slices.Clip(r.Equipment), slices.Clip(r.Alarms)
	return r
}

// Notified records that the notification of SOP step (one of Notified)
// of permit id was first handed to a channel at at, for the step's
// "notified -> acted"; the earliest time told counts. A permit the book
// does not know yet keeps it for when it does; another step is ignored.
func (b *Book) Notified(id string, step int, at time.Time) {
	if !slices.Contains(Notified, step) || at.IsZero() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	vt := b.visitTimes(id)
	if cur, t := vt.notified[step-notifiedFirst], instantOf(at); cur == 0 || t < cur {
		vt.notified[step-notifiedFirst] = t
		b.retime(vt)
	}
}

// visitTimes returns the visit times of permit id, made on first use,
// from a block of many (vtBlock): the times of a permit never move.
// mu held.
func (b *Book) visitTimes(id string) *visitTimes {
	vt := b.times[id]
	if vt == nil && len(b.loaded) > 0 {
		if i, ok := slices.BinarySearchFunc(b.loaded, id, byVisitID); ok {
			return &b.loaded[i]
		}
	}
	if vt == nil {
		if len(b.vtFree) == 0 {
			b.vtFree = make([]visitTimes, vtBlock)
		}
		vt = &b.vtFree[0]
		b.vtFree = b.vtFree[1:]
		vt.id = id
		b.times[id] = vt
	}
	return vt
}

func byVisitID(vt visitTimes, id string) int { return strings.Compare(vt.id, id) }

// vtBlock is how many visit times a Book allocates at once.
const vtBlock = 1024

// ServiceTimes returns the service times of the permits f selects by door
// and permit, requested in [f.From, f.To) (f.Organisation aside), in id
// order: the batch ServiceTimes of the same permits over their doors'
// events, from the records and visit times the book keeps.
func (b *Book) ServiceTimes(f Filter) []ServiceTime {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var sel []int32
	for i := range b.permits {
		p := &b.permits[i]
		if req := p.rec.Requested; (!f.From.IsZero() && req.Before(f.From)) || (!f.To.IsZero() && !req.Before(f.To)) {
			continue
		}
		if r := p.rec; (f.Site != "" && r.Site != f.Site) || (f.Door != "" && r.Door != f.Door) || (f.Permit != "" && r.ID != f.Permit) {
			continue
		}
		sel = append(sel, int32(i))
	}
	out := make([]ServiceTime, len(sel))
	for k, i := range sel {
		out[k] = serviceTime(b.permits[i].rec, b.permits[i].times)
	}
	return out
}
