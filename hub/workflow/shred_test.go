package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/permit"
	bolt "go.etcd.io/bbolt"
)

// personal is one guest's personal data as a test files it.
type personal struct{ guest, nik, phone string }

// guests makes n guests whose names, NIKs and phones no other bytes of a
// store can hold by chance; the names carry characters that JSON escapes.
func guests(n int) []personal {
	out := make([]personal, n)
	for i := range out {
		out[i] = personal{
			guest: fmt.Sprintf("Tamu <Rahasia> & Nomor %03d", i),
			nik:   fmt.Sprintf("9%015d", 737000000+i),
			phone: fmt.Sprintf("+62-877-%04d-7311", i),
		}
	}
	return out
}

// encodings are the ways v can be written in a file: as it is and as
// encoding/json writes it inside a string.
func encodings(v string) [][]byte {
	j, _ := json.Marshal(v)
	return [][]byte{[]byte(v), j[1 : len(j)-1]}
}

// grepDir returns, for each file of dir, the values of vs its raw bytes
// contain in any of their encodings.
func grepDir(t *testing.T, dir string, vs []string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range vs {
			for _, enc := range encodings(v) {
				if bytes.Contains(raw, enc) {
					found[filepath.Base(path)] = append(found[filepath.Base(path)], v)
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPurgedDataLeavesTheFiles: after a purge, no purged name, NIK or phone
// is left anywhere in the store's files, not in the pages bbolt freed (the
// earlier versions of every record), while the guests not purged read
// back whole.
func TestPurgedDataLeavesTheFiles(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Dir(f.s.File().Path())
	gs := guests(40)
	var purged, kept []string
	for i, g := range gs {
		req := inWindow(0, 8*time.Hour) // ended: purged
		if i%4 == 3 {
			req = inWindow(0, 365*day) // still valid: kept
		}
		req.Guest, req.NIK, req.Phone = g.guest, g.nik, g.phone
		r, _ := issue(t, f, req) // four versions of the record
		if i%4 == 3 {
			kept = append(kept, r.ID)
			continue
		}
		purged = append(purged, r.ID)
	}
	purge(t, f, t0.Add(8*time.Hour+retain), retain, purged...)
	path := f.s.File().Path()
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	var vs []string
	for i, g := range gs {
		if i%4 != 3 {
			vs = append(vs, g.guest, g.nik, g.phone)
		}
	}
	if found := grepDir(t, dir, vs); len(found) > 0 {
		for file, v := range found {
			t.Errorf("%s still holds %d purged values, e.g. %q", file, len(v), v[0])
		}
	}
	s, err := Open(path, f.s.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, id := range kept {
		g := gs[4*i+3]
		r, err := s.Get(id)
		if err != nil || r.Guest != g.guest || r.NIK != g.nik || r.Phone != g.phone {
			t.Fatalf("kept %s reads %+v, %v; want %+v", id, r, err, g)
		}
	}
}

// TestOpenSealsAnOldStore: a store written before the personal data was
// sealed (each record's JSON in clear, its earlier versions in freed
// pages) is sealed and compacted when opened: its records read the same,
// and no name, NIK or phone is left in clear in its files.
func TestOpenSealsAnOldStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	gs := guests(12)
	var want []Record
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range gs {
		r := Record{ID: fmt.Sprintf("P-%06d", i+1), State: Requested, Site: "demo", Door: "server-room",
			Guest: g.guest, NIK: g.nik, Phone: g.phone, Organisation: "PT Jaringan", Purpose: "replace switch",
			NotBefore: t0, NotAfter: t0.Add(8 * time.Hour), Requester: "desk",
			History: []Transition{{State: Requested, By: "desk", At: t0, Version: 1}}}
		for v := range 3 { // three versions: two left in freed pages
			r.Version = uint64(v + 1)
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(bPermits)
				if err != nil {
					return err
				}
				j, err := json.Marshal(&r)
				if err != nil {
					return err
				}
				return b.Put([]byte(r.ID), j)
			}); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, r)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the records read after sealing:\n%+v\nwant\n%+v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, g := range gs {
		vs = append(vs, g.guest, g.nik, g.phone)
	}
	for file, v := range grepDir(t, dir, vs) {
		t.Errorf("%s holds %d values in clear, e.g. %q", file, len(v), v[0])
	}
	if err := boltcheck.CheckFile(path); err != nil {
		t.Error(err)
	}
	// opened again, it is not compacted again, and reads the same
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.List(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("the records read when opened again: %v\n%+v", err, got)
	}
}

// TestOpenRefusesAStoreWithoutItsKeys: a sealed store whose keys file is
// missing (a backup restored without it) is refused with an error naming
// the keys file, not opened to read every name as unreadable.
func TestOpenRefusesAStoreWithoutItsKeys(t *testing.T) {
	f := newFixture(t)
	r, _ := issue(t, f, inWindow(0, 8*time.Hour))
	opts := f.s.opts
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(opts.KeysPath, opts.KeysPath+".away"); err != nil {
		t.Fatal(err)
	}
	if s, err := f.reopen(opts); err == nil || !strings.Contains(err.Error(), opts.KeysPath) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open without the keys file: %v; want an error naming it", err)
	}
	if err := os.Rename(opts.KeysPath+".away", opts.KeysPath); err != nil {
		t.Fatal(err)
	}
	s, err := f.reopen(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Get(r.ID); err != nil || got.Guest != r.Guest || got.NIK != r.NIK {
		t.Fatalf("with its keys back: %+v, %v", got, err)
	}
}

// BenchmarkRequest: filing a request, its personal data sealed (a key
// written to the keys file first, then the record).
func BenchmarkRequest(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "wf.db"), Options{
		SiteKeys: map[string]permit.SiteKey{"demo": permit.SiteKey(strings.Repeat("k", 32))}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	req := sampleRequest()
	for b.Loop() {
		if _, err := s.Request(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPurge: purging a tenth of a store of 10,000 requests (the
// keys file of the other 9,000 written anew), and reading them all.
func BenchmarkPurge(b *testing.B) {
	for _, op := range []string{"purge", "list"} {
		b.Run(op, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, err := Open(filepath.Join(b.TempDir(), "wf.db"), Options{Now: func() time.Time { return t0.Add(100 * day) }})
				if err != nil {
					b.Fatal(err)
				}
				recs := make([]Record, 10_000)
				for i := range recs {
					end := t0.Add(365 * day)
					if i%10 == 0 {
						end = t0
					}
					recs[i] = Record{ID: fmt.Sprintf("P-%06d", i+1), State: Issued, Guest: "Andi", NIK: "3302011234567890",
						NotBefore: t0.Add(-day), NotAfter: end}
				}
				if err := s.Import(recs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if op == "purge" {
					if res, err := s.Purge(retain); err != nil || len(res.Purged) != 1_000 {
						b.Fatal(len(res.Purged), err)
					}
				} else if list, err := s.List(); err != nil || len(list) != len(recs) {
					b.Fatal(len(list), err)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}

// TestLostKeyReadsUnreadable: a request whose key alone is gone (a purge
// interrupted between its two files) reads UnreadableGuest, with no NIK
// or phone, instead of failing the list; the next purge marks it purged.
func TestLostKeyReadsUnreadable(t *testing.T) {
	f := newFixture(t)
	lost, _ := issue(t, f, inWindow(0, 8*time.Hour))
	kept, _ := issue(t, f, inWindow(0, 365*day))
	if err := f.s.keys.retain(func(id string) bool { return id != lost.ID }); err != nil {
		t.Fatal(err)
	}
	reopen(t, f)
	got := byID(t, f.s)
	if r := got[lost.ID]; r.Guest != UnreadableGuest || r.NIK != "" || r.Phone != "" || r.Organisation != lost.Organisation {
		t.Errorf("the request without its key reads %+v", r)
	}
	if r := got[kept.ID]; r.Guest != kept.Guest || r.NIK != kept.NIK {
		t.Errorf("the other request reads %+v", r)
	}
	purge(t, f, t0.Add(8*time.Hour+retain), retain, lost.ID)
	if r, err := f.s.Get(lost.ID); err != nil || r.Guest != PurgedGuest || r.Purged.IsZero() {
		t.Errorf("purged: %+v, %v", r, err)
	}
}
