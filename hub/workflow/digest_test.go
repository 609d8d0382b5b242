package workflow

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/wire"
)

// checkDigests: the store's digests are those of its records, one each,
// in id order.
func checkDigests(t *testing.T, s *Store) {
	t.Helper()
	ds, err := s.Digests()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(recs) {
		t.Fatalf("%d digests, %d records", len(ds), len(recs))
	}
	for i := range recs {
		if want := DigestOf(&recs[i]); !reflect.DeepEqual(ds[i], want) {
			t.Fatalf("digest %d:\ngot  %+v\nwant %+v", i, ds[i], want)
		}
	}
}

// TestDigests: every change of a record (request, each step, the
// signing, a revocation, a rejection, a purge) writes its digest in its
// transaction; a store without them (an older hub's) has them made at
// its open, once.
func TestDigests(t *testing.T) {
	f := newFixture(t)
	for i, steps := range [][]action{nil, {coordinate}, {coordinate, approve}, {coordinate, approve, escort, sign},
		{coordinate, approve, escort, sign, revoke}, {reject}} {
		req := sampleRequest()
		req.Organisation = fmt.Sprint("PT ", i)
		r, err := f.s.Request(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range steps {
			if err := a.do(f.s, r.ID); err != nil {
				t.Fatalf("%s: %v", a.name, err)
			}
		}
	}
	checkDigests(t, f.s)
	f.clock = t0.Add(40 * 24 * time.Hour)
	if res, err := f.s.Purge(MinRetention); err != nil || len(res.Purged) == 0 {
		t.Fatalf("purge: %+v, %v", res, err)
	}
	checkDigests(t, f.s)
	if ds, _ := f.s.Digests(); ds[0].Purged.IsZero() {
		t.Fatal("the digest of a purged record does not say so")
	}

	// an older hub's store: no digests, no mark
	if err := f.s.KV().Update(func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bDigests); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(mDigests)
	}); err != nil {
		t.Fatal(err)
	}
	if ds, err := f.s.Digests(); err != nil || len(ds) != 0 {
		t.Fatalf("digests deleted: %d, %v", len(ds), err)
	}
	reopen(t, f)
	checkDigests(t, f.s)
}

// TestDigestRefused: a digest that does not decode is an ErrCorrupt,
// never a panic.
func TestDigestRefused(t *testing.T) {
	r := withHistory(rec("P-1", "Andi", "S-004"), at(-3, 0), 1, 2, 3, 4)
	d := DigestOf(&r)
	v := encodeDigest(&d)
	dd := digestDecoder{names: names{}}
	var got Digest
	if err := dd.decode([]byte("P-1"), v, &got); err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("round trip: %v\ngot  %+v\nwant %+v", err, got, d)
	}
	for n := range len(v) {
		if err := dd.decode([]byte("P-1"), v[:n], &got); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	if err := dd.decode([]byte("P-1"), append(v, 0), &got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a byte more: %v", err)
	}
}

// FuzzDigest: whatever a digest's value holds, decode returns.
func FuzzDigest(f *testing.F) {
	r := withHistory(rec("P-1", "Andi", "S-004"), at(-3, 0), 1, 2, 3, 4)
	d := DigestOf(&r)
	f.Add(encodeDigest(&d))
	f.Fuzz(func(t *testing.T, v []byte) {
		dd := digestDecoder{names: names{}}
		var got Digest
		dd.decode([]byte("P-1"), v, &got)
	})
}

// TestBookStale: the book says which digests differ from what it shows
// (a record another hub process changed), whether it knows the permit by
// its digest or its whole record, and none when they are the same.
func TestBookStale(t *testing.T) {
	r1 := Record{ID: "P-000001", Site: "demo", Door: "server-room", State: Approved, Guest: "Andi",
		Organisation: "PT Jaringan", Purpose: "switch", Equipment: []string{"laptop"}, NotAfter: t0.Add(8 * time.Hour)}
	r2 := Record{ID: "P-000002", Site: "demo", Door: "server-room", State: Requested, Guest: "Budi", NotAfter: t0.Add(time.Hour)}
	b := NewBook(nil)
	b.AddDigests([]Digest{DigestOf(&r1)})
	b.AddPermit(r2)
	ds := []Digest{DigestOf(&r1), DigestOf(&r2)}
	if got := b.Stale(ds); len(got) != 0 {
		t.Fatalf("Stale of the digests the book has = %v; want none", got)
	}
	r2.State, r2.Approver = Coordinated, "kasi"
	r3 := Record{ID: "P-000003", Site: "demo", Door: "server-room", State: Requested}
	ds = []Digest{DigestOf(&r1), DigestOf(&r2), DigestOf(&r3)}
	if got := b.Stale(ds); !slices.Equal(got, []string{"P-000002", "P-000003"}) {
		t.Fatalf("Stale = %v; want the changed P-000002 and the unknown P-000003", got)
	}
}

// TestPrefetchDigests: the digests a prefetch read are those Digests
// gives, once; a record written after the prefetch began is in them (the
// prefetch is read again); a store closed with a prefetch never taken
// closes.
func TestPrefetchDigests(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		if _, err := f.s.Request(sampleRequest()); err != nil {
			t.Fatal(err)
		}
	}
	f.s.PrefetchDigests()
	f.s.PrefetchDigests() // the second does nothing
	checkDigests(t, f.s)
	f.s.PrefetchDigests()
	r, err := f.s.Request(sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if err := coordinate.do(f.s, r.ID); err != nil {
		t.Fatal(err)
	}
	ds, err := f.s.Digests()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 4 || ds[3].ID != r.ID || ds[3].Coordinated.IsZero() {
		t.Fatalf("after a prefetch and a write: %d digests, the last %+v; want the write's", len(ds), ds[len(ds)-1])
	}
	checkDigests(t, f.s)
	f.s.PrefetchDigests()
	reopen(t, f) // closes the store, its prefetch not taken
	checkDigests(t, f.s)
}

// TestAddDigestsMany: a start's many digests, joined to their rows on a
// goroutine of their own, give the rows given as few digests at a time.
func TestAddDigestsMany(t *testing.T) {
	n := joinApart + 904
	ds := make([]Digest, n)
	var evs []wire.Event
	for i := range ds {
		r := rec(fmt.Sprintf("P-%05d", i), "Andi", fmt.Sprintf("S-%03d", i%7))
		r.Site, r.Door, r.Organisation = "s1", fmt.Sprint("d", i%3), fmt.Sprint("PT ", i%11)
		ds[i] = DigestOf(&r)
		evs = append(evs, wire.Event{Site: r.Site, Door: r.Door, Type: wire.EvVisitEntered, Permit: r.ID, At: at(i, 0)})
	}
	many, few := NewBook(nil), NewBook(nil)
	for _, e := range evs {
		many.Apply(e)
		few.Apply(e)
	}
	many.AddDigests(slices.Clone(ds))
	for lo := 0; lo < n; lo += 100 {
		few.AddDigests(slices.Clone(ds[lo:min(lo+100, n)]))
	}
	got, want := many.Rows(), few.Rows()
	if len(got) != n || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d rows; the first %+v, want %+v", len(got), got[0], want[0])
	}
	if got[n-1].Organisation != "PT "+fmt.Sprint((n-1)%11) {
		t.Fatalf("the last row: %+v", got[n-1])
	}
}
