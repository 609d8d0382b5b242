package workflow

import (
	"slices"
	"sync"
)

// AddDigests makes the permits of ds known to the book, in id order (as
// Store.Digests gives them), as AddPermits does their records: what a
// hub's start gives a book loaded from its store, without decoding and
// unsealing every record. A digest holds no personal data: the rows of
// such a permit get its guest's name and masked NIK when a query returns
// them, read with the function SetRecords gave (and kept), until
// AddPermit gives the book the whole record.
func (b *Book) AddDigests(ds []Digest) {
	recs := make([]Record, len(ds))
	hist := make([]Transition, 0, 4*len(ds))
	for i := range ds {
		d, r := &ds[i], &recs[i]
		*r = Record{ID: d.ID, State: d.State, Site: d.Site, Door: d.Door, Organisation: d.Organisation, Purpose: d.Purpose,
			Category: d.Category, Approver: d.Approver, Escort: d.Escort, Equipment: d.Equipment, NotAfter: d.NotAfter,
			FormOpened: d.FormOpened, Purged: d.Purged}
		// the history as far as At reads it
		from := len(hist)
		for _, t := range [...]Transition{{State: Requested, At: d.Requested}, {State: Coordinated, At: d.Coordinated},
			{State: Approved, At: d.Approved}, {State: Escorted, At: d.Escorted}} {
			if !t.At.IsZero() {
				hist = append(hist, t)
			}
		}
		r.History = hist[from:len(hist):len(hist)]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.byID) == 0 {
		b.byID = make(map[string]*Record, len(recs))
	}
	b.permits = slices.Grow(b.permits, len(recs))
	next := 0 // b.loaded before it holds lower ids than the next digest's
	for i := range recs {
		b.addDigest(&recs[i], &next)
	}
}

// addDigest is addPermit of a digest's record r: its equipment the
// book's own, no NIK; its visit times found from b.loaded[*next] on,
// digests coming in id order as the loaded times do. mu held.
func (b *Book) addDigest(r *Record, next *int) {
	if n := len(b.permits); n > 0 && b.permits[n-1].rec.ID >= r.ID {
		b.addPermit(r) // known, or out of order: the general way
		return
	}
	for *next < len(b.loaded) && b.loaded[*next].id < r.ID {
		*next++
	}
	var vt *visitTimes
	if *next < len(b.loaded) && b.loaded[*next].id == r.ID {
		vt = &b.loaded[*next]
	} else {
		vt = b.visitTimes(r.ID)
	}
	req, _ := r.At(Requested)
	b.permits = append(b.permits, bookPermit{rec: r, requested: req, times: vt})
	b.byID[r.ID] = r
	for _, i := range b.byPermit[r.ID] {
		b.join(&b.rows[i], r)
	}
}

// SetRecords gives the book get, which reads a permit's whole record
// (Store.Get): the book asks it for the guest's name and NIK of the
// permits it knows by their digest only (AddDigests), for the rows it
// returns.
func (b *Book) SetRecords(get func(id string) (Record, error)) {
	b.guests.mu.Lock()
	defer b.guests.mu.Unlock()
	b.guests.get = get
}

// bookGuests are the guests' names and masked NIKs the book read for the
// permits it knows by their digest only.
type bookGuests struct {
	mu  sync.Mutex
	get func(id string) (Record, error)
	m   map[string][2]string // permit -> name, masked NIK
}

// withGuest is r, clipped (see clip), with its guest's name and masked
// NIK if its permit is known by its digest only. b.mu held, for reading
// at least.
func (b *Book) withGuest(r *Row) Row {
	out := clip(*r)
	if out.Guest != "" || b.byID[out.Permit] == nil {
		return out // joined with a whole record, or no record known
	}
	g := &b.guests
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.m[out.Permit]
	if !ok && g.get != nil {
		rec, err := g.get(out.Permit)
		if err != nil {
			return out
		}
		v = [2]string{rec.Guest, MaskNIK(rec.NIK)}
		if g.m == nil {
			g.m = map[string][2]string{}
		}
		g.m[out.Permit] = v
	}
	out.Guest, out.NIK = v[0], v[1]
	return out
}

// forget drops what the book read of permit id's guest: AddPermit gave
// it the whole record.
func (g *bookGuests) forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, id)
}
