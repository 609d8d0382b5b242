package workflow

import (
	"slices"
	"sync"
)

// AddDigests makes the permits of ds known to the book, in id order (as
// Store.Digests gives them), as AddPermits does their records: what a
// hub's start gives a book loaded from its store, without decoding and
// unsealing every record. The book keeps ds. A digest holds no personal
// data: the rows of such a permit get its guest's name and masked NIK
// when a query returns them, read with the function SetRecords gave (and
// kept), until AddPermit gives the book the whole record.
func (b *Book) AddDigests(ds []Digest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.byID) == 0 {
		b.byID = make(map[string]*Digest, len(ds))
	}
	b.permits = slices.Grow(b.permits, len(ds))
	// many digests (a start's): their rows show them from a second
	// goroutine meanwhile, which reads only the rows' index and the
	// guests' names and writes only the rows and the organisations'
	// names (rowOrg, orgNames, orgIDs), none of what the loop below
	// touches
	apart := len(ds) >= joinApart && len(b.rows) > 0
	var joined sync.WaitGroup
	if apart {
		joined.Go(func() {
			for i := range ds {
				for _, r := range b.byPermit[ds[i].ID] {
					b.joinRow(int(r), &ds[i])
				}
			}
		})
	}
	next := 0 // b.loaded before it holds lower ids than the next digest's
	for i := range ds {
		d := &ds[i]
		for next < len(b.loaded) && b.loaded[next].id < d.ID {
			next++
		}
		if next < len(b.loaded) && b.loaded[next].id == d.ID {
			b.addDigest(d, &b.loaded[next], !apart)
		} else {
			b.addDigest(d, b.visitTimes(d.ID), !apart)
		}
	}
	joined.Wait()
}

// joinApart is how many digests AddDigests joins to their rows on a
// goroutine of its own.
const joinApart = 4096

// Stale returns the ids of the permits of ds whose digest is not the
// one the book shows (changed by another hub process sharing the store,
// or not known): the ones whose records the book must be given again
// (AddPermit).
func (b *Book) Stale(ds []Digest) []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var ids []string
	for i := range ds {
		if cur := b.byID[ds[i].ID]; cur == nil || !sameDigest(cur, &ds[i]) {
			ids = append(ids, ds[i].ID)
		}
	}
	return ids
}

// sameDigest reports whether a and b say the same.
func sameDigest(a, b *Digest) bool {
	return a.ID == b.ID && a.Site == b.Site && a.Door == b.Door && a.State == b.State && a.Organisation == b.Organisation &&
		a.Purpose == b.Purpose && a.Category == b.Category && a.Approver == b.Approver && a.Escort == b.Escort &&
		slices.Equal(a.Equipment, b.Equipment) && a.NotAfter.Equal(b.NotAfter) && a.FormOpened.Equal(b.FormOpened) &&
		a.Purged.Equal(b.Purged) && a.Requested.Equal(b.Requested) && a.Coordinated.Equal(b.Coordinated) &&
		a.Approved.Equal(b.Approved) && a.Escorted.Equal(b.Escorted)
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
