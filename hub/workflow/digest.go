package workflow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/permit"
)

// Digest is what the hub's start and the guest book read of a permit
// request: no personal data (the guest's name, NIK and phone stay sealed
// in the record), and the history only as the times of the steps the
// service times need. The store keeps one beside each record, written in
// the record's own transaction (bucket digests), so that a start reads
// these small values instead of decoding and unsealing every record
// (Digests); a store written before them has them made at its first
// open.
type Digest struct {
	ID, Site, Door string
	State          State
	Organisation   string
	Purpose        string
	Category       permit.Category
	Approver       string
	Escort         string
	Equipment      []string
	NotAfter       time.Time
	FormOpened     time.Time
	Purged         time.Time
	// Requested, Coordinated, Approved and Escorted are Record.At of
	// each state, zero if never.
	Requested, Coordinated, Approved, Escorted time.Time
}

var (
	bDigests = []byte("digests") // permit id -> its Digest (encodeDigest)
	// mDigests marks a store whose every record has its digest.
	mDigests = []byte("digests")
)

// digestFormat is the first byte of an encoded digest.
const digestFormat = 1

// DigestOf is the digest of r.
func DigestOf(r *Record) Digest {
	d := Digest{ID: r.ID, Site: r.Site, Door: r.Door, State: r.State, Organisation: r.Organisation, Purpose: r.Purpose,
		Category: r.Category, Approver: r.Approver, Escort: r.Escort, Equipment: r.Equipment, NotAfter: r.NotAfter,
		FormOpened: r.FormOpened, Purged: r.Purged}
	d.Requested, _ = r.At(Requested)
	d.Coordinated, _ = r.At(Coordinated)
	d.Approved, _ = r.At(Approved)
	d.Escorted, _ = r.At(Escorted)
	return d
}

// encodeDigest is d as the store keeps it (its id is the key).
func encodeDigest(d *Digest) []byte {
	e := enc{digestFormat}
	e.str(d.Site, d.Door, string(d.State), d.Organisation, d.Purpose, string(d.Category), d.Approver, d.Escort)
	e.uint(uint64(len(d.Equipment)))
	e.str(d.Equipment...)
	e.time(d.NotAfter, d.FormOpened, d.Purged, d.Requested, d.Coordinated, d.Approved, d.Escorted)
	return e
}

// digestDecoder decodes digests, keeping one copy of each string many
// share (sites, doors, states, organisations, purposes, ...).
type digestDecoder struct {
	names names
	last  [8]string // each field's last value, which the next digest often repeats
}

// name reads field f of a digest.
func (dd *digestDecoder) name(d *dec, f int) string {
	if n, k := binary.Uvarint(d.b); k > 0 && n <= uint64(len(d.b)-k) && string(d.b[k:k+int(n)]) == dd.last[f] {
		d.b = d.b[k+int(n):]
		return dd.last[f]
	}
	s := dd.names.str(d)
	dd.last[f] = s
	return s
}

// decode reads the digest of permit id from v into out.
func (dd *digestDecoder) decode(id, v []byte, out *Digest) error {
	if len(v) == 0 || v[0] != digestFormat {
		return fmt.Errorf("%w: digest of permit %q: format", ErrCorrupt, id)
	}
	d := &dec{b: v[1:]}
	*out = Digest{ID: string(id), Site: dd.name(d, 0), Door: dd.name(d, 1), State: State(dd.name(d, 2)), Organisation: dd.name(d, 3),
		Purpose: dd.name(d, 4), Category: permit.Category(dd.name(d, 5)), Approver: dd.name(d, 6), Escort: dd.name(d, 7)}
	if n := d.count(); n > 0 {
		out.Equipment = make([]string, n)
		for i := range out.Equipment {
			out.Equipment[i] = dd.names.str(d)
		}
	}
	out.NotAfter, out.FormOpened, out.Purged = d.time(), d.time(), d.time()
	out.Requested, out.Coordinated, out.Approved, out.Escorted = d.time(), d.time(), d.time(), d.time()
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return fmt.Errorf("%w: digest of permit %q", ErrCorrupt, id)
	}
	return nil
}

// putDigest writes r's digest in tx, beside the record.
func (s *Store) putDigest(tx kv.Tx, r *Record) error {
	s.digestWrites.Add(1)
	d := DigestOf(r)
	return tx.Bucket(bDigests).Put([]byte(r.ID), encodeDigest(&d))
}

// Digests returns the digest of every permit request, in id order: what
// the hub's start reads (Book.AddDigests; the few records a start needs
// whole, it gets with Get). After PrefetchDigests, the first call takes
// what the prefetch read, unless this Store wrote a digest since it began.
func (s *Store) Digests() ([]Digest, error) {
	s.prefetchMu.Lock()
	ch := s.prefetch
	s.prefetch = nil
	s.prefetchMu.Unlock()
	if ch != nil {
		if p := <-ch; p.err == nil && p.writes == s.digestWrites.Load() {
			return p.ds, nil
		}
	}
	return s.readDigests()
}

// prefetched is what PrefetchDigests read.
type prefetched struct {
	ds     []Digest
	err    error
	writes uint64 // digestWrites when the read began
}

// PrefetchDigests begins reading every digest in the background, for the
// next Digests call: a hub's start reads them while it opens its event
// store and loads the guest book kept there (on PostgreSQL, mostly the
// server's time), instead of after. Another call before that Digests
// does nothing. A record this Store writes after the call makes the
// prefetch stale (Digests reads again); one written while the call is
// made, by another goroutine, may be missed: call it before anything
// writes, as the start does. Records other processes write (replicas
// sharing a PostgreSQL store) the hub follows.
func (s *Store) PrefetchDigests() {
	s.prefetchMu.Lock()
	defer s.prefetchMu.Unlock()
	if s.prefetch != nil {
		return
	}
	ch := make(chan prefetched, 1)
	s.prefetch = ch
	writes := s.digestWrites.Load()
	go func() {
		ds, err := s.readDigests()
		ch <- prefetched{ds: ds, err: err, writes: writes}
	}()
}

// readDigests reads every digest.
func (s *Store) readDigests() ([]Digest, error) {
	var out []Digest
	dd := digestDecoder{names: names{}}
	err := s.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bDigests)
		out = make([]Digest, 0, b.Len())
		return b.ForEach(func(k, v []byte) error {
			out = append(out, Digest{})
			return dd.decode(k, v, &out[len(out)-1])
		})
	})
	if err != nil {
		return nil, fmt.Errorf("workflow: digests: %w", err)
	}
	return out, nil
}

// digestAll writes the digest of every record, unless the store is
// marked as having them, and marks it: once, for a store written before
// the digests were kept.
func (s *Store) digestAll() error {
	return s.db.Update(func(tx kv.Tx) error {
		if tx.Bucket(bMeta).Get(mDigests) != nil {
			return nil
		}
		var recs []Record
		// no writing to a bucket inside its ForEach (kv): collect first;
		// a digest holds nothing sealed, so nothing is unsealed
		if err := tx.Bucket(bPermits).ForEach(func(k, raw []byte) error {
			var sr storedRecord
			if err := json.Unmarshal(raw, &sr); err != nil {
				return fmt.Errorf("%w: permit %q: %v", ErrCorrupt, k, err)
			}
			recs = append(recs, sr.Record)
			return nil
		}); err != nil {
			return err
		}
		for i := range recs {
			if err := s.putDigest(tx, &recs[i]); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(mDigests, []byte{1})
	})
}
