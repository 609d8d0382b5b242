package workflow

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// kept is a store of a Book's state: what Stage's Puts wrote.
type kept map[string][]byte

func (k kept) put(kvs []KV) {
	for _, kv := range kvs {
		k[string(kv.Key)] = slices.Clone(kv.Value)
	}
}

// load makes a Book from k, as a store reads it: in the order of the keys.
func (k kept) load(t *testing.T, permits []Record) *Book {
	t.Helper()
	keys := slices.Sorted(maps.Keys(k))
	l := NewBookLoader()
	for _, key := range keys {
		if err := l.Add([]byte(key), k[key]); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Book()
	if err != nil {
		t.Fatal(err)
	}
	b.AddPermits(permits)
	return b
}

// loadDigests is load, the permits given as a hub's start gives them:
// by their digests, the guests' names and NIKs read from the records
// (SetRecords) when a row is returned.
func (k kept) loadDigests(t *testing.T, permits []Record) *Book {
	t.Helper()
	b := k.load(t, nil)
	byID := map[string]Record{}
	var ds []Digest
	for i := range permits {
		byID[permits[i].ID] = permits[i]
		ds = append(ds, DigestOf(&permits[i]))
	}
	b.SetRecords(func(id string) (Record, error) {
		r, ok := byID[id]
		if !ok {
			return r, ErrNotFound
		}
		return r, nil
	})
	b.AddDigests(ds)
	return b
}

// sameBooks compares the rows and service times of two books, for
// filters of every kind.
func sameBooks(t *testing.T, what string, got, want *Book) {
	t.Helper()
	for _, f := range []Filter{{}, {Site: "s1", Door: "d1"}, {Door: "d2"}, {Permit: "P-3"}, {From: t0.Add(time.Hour)}} {
		sameRows(t, fmt.Sprintf("%s: rows %+v", what, f), got.Query(f), want.Query(f))
		g, gn := got.Page(f, 1, 3)
		w, wn := want.Page(f, 1, 3)
		sameRows(t, fmt.Sprintf("%s: page %+v", what, f), g, w)
		if gn != wn {
			t.Fatalf("%s: page %+v: total %d, want %d", what, f, gn, wn)
		}
		if g, w := got.ServiceTimes(f), want.ServiceTimes(f); !slices.Equal(g, w) {
			t.Fatalf("%s: service times %+v\ngot  %+v\nwant %+v", what, f, g, w)
		}
	}
	// the API's pages go by row number: the same numbers
	g, gn := got.After(Filter{}, 3, 5)
	w, wn := want.After(Filter{}, 3, 5)
	sameRows(t, what+": After", g, w)
	if gn != wn {
		t.Fatalf("%s: After next %d, want %d", what, gn, wn)
	}
}

// TestBookKept: a Book staged commit by commit, some commits undone (their
// transaction failed) and their events staged again, then made again from
// the state the commits wrote, has the rows, pages and
// service times of a Book that applied the events once; and State loads
// as what the commits wrote.
func TestBookKept(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	doors := []string{"d1", "d2", "d3"}
	for round := range 30 {
		var permits []Record
		for i := range 6 { // P-6 and P-7 stay unknown
			r := rec(fmt.Sprintf("P-%d", i), fmt.Sprint("Guest ", i), "")
			if i%2 == 0 {
				r.Escort = "S-009"
			}
			permits = append(permits, withHistory(r, at(-2, 0), 1, 3, 5, 7))
		}
		evs := randomEvents(rng, 200+rng.IntN(200), doors, 8)
		for i := range evs {
			if rng.IntN(5) == 0 {
				evs[i].Type = wire.EvExitRequested
			}
			evs[i].Card = fmt.Sprint("c", rng.IntN(2))
		}
		want := NewBook(permits)
		for _, e := range evs {
			want.Apply(e)
		}

		got, k := NewBook(nil), kept{}
		got.AddPermits(permits[:3]) // the others come after some visits
		for i := 0; i < len(evs); {
			n := min(1+rng.IntN(20), len(evs)-i)
			c := got.Stage(evs[i : i+n])
			if rng.IntN(4) == 0 {
				c.Undo() // not stored: the ingest gets them again
				continue
			}
			k.put(c.Puts())
			i += n
			if i > len(evs)/2 && i-n <= len(evs)/2 {
				got.AddPermits(permits[3:])
			}
		}
		sameBooks(t, fmt.Sprint("round ", round, ", staged"), got, want)
		// State is what the commits wrote (but for the escorts the
		// records gave since, which a load gives again)
		state := kept{}
		state.put(got.State())
		if len(state) != len(k) {
			t.Fatalf("round %d: State has %d keys, the commits wrote %d", round, len(state), len(k))
		}
		sameBooks(t, fmt.Sprint("round ", round, ", State loaded"), state.load(t, permits), want)
		loaded := k.load(t, permits)
		sameBooks(t, fmt.Sprint("round ", round, ", loaded"), loaded, want)

		// the loaded book goes on with the next events as the first would
		more := randomEvents(rng, 100, doors, 8)
		for i := range more {
			more[i].At = more[i].At.Add(time.Duration(len(evs)) * time.Minute)
			want.Apply(more[i])
		}
		k.put(loaded.Stage(more).Puts())
		sameBooks(t, fmt.Sprint("round ", round, ", loaded and applied"), loaded, want)
		sameBooks(t, fmt.Sprint("round ", round, ", loaded again"), k.load(t, permits), want)
		sameBooks(t, fmt.Sprint("round ", round, ", loaded with digests"), k.loadDigests(t, permits), want)
	}
}

// TestBookLoaderRefuses: a kept state that does not decode is an
// ErrBookState, never a panic.
func TestBookLoaderRefuses(t *testing.T) {
	b := NewBook(nil)
	for _, e := range fullVisit() {
		e.Site, e.Door = "s1", "d1"
		b.Apply(e)
	}
	state := b.State()
	for _, kv := range state {
		for n := range len(kv.Value) {
			l := NewBookLoader()
			err := l.Add(kv.Key, kv.Value[:n])
			if err == nil {
				_, err = l.Book()
			}
			if err != nil && !errors.Is(err, ErrBookState) {
				t.Fatalf("%q cut at %d: %v", kv.Key, n, err)
			}
		}
	}
	for _, k := range [][]byte{nil, []byte("x"), []byte("r12"), []byte("dnoslash")} {
		if err := NewBookLoader().Add(k, nil); !errors.Is(err, ErrBookState) {
			t.Errorf("key %q: %v; want ErrBookState", k, err)
		}
	}
	l := NewBookLoader()
	if err := l.Add(rowKey(1), state[0].Value); !errors.Is(err, ErrBookState) {
		t.Errorf("row 1 without row 0: %v; want ErrBookState", err)
	}
}

// FuzzBookLoader: whatever a kept value holds, Add and Book return.
func FuzzBookLoader(f *testing.F) {
	b := NewBook(nil)
	for _, e := range fullVisit() {
		e.Site, e.Door = "s1", "d1"
		b.Apply(e)
	}
	for _, kv := range b.State() {
		f.Add(kv.Key, kv.Value)
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		l := NewBookLoader()
		if l.Add(k, v) == nil {
			l.Book()
		}
	})
}

// TestInstants: a visit's times kept as instants keep their order and
// spans, whatever zone they came in (a kept book written with the zones
// reads back the same), and the zero time stays unknown.
func TestInstants(t *testing.T) {
	wib := time.FixedZone("WIB", 7*3600)
	for _, tm := range []time.Time{t0, t0.In(wib), time.Unix(0, 0), time.Unix(-5, 0), {}} {
		i := instantOf(tm)
		if tm.IsZero() != (i == 0) || (!tm.IsZero() && i.time().Sub(tm).Abs() > time.Nanosecond) {
			t.Errorf("%v: instant %d, back %v", tm, i, i.time())
		}
		var e enc
		e.time(tm)
		d := &dec{b: e}
		if got := d.instant(); d.err != nil || got != i {
			t.Errorf("%v written with its zone: read %d (%v), want %d", tm, got, d.err, i)
		}
	}
	if a, b := instantOf(t0.In(wib)), instantOf(t0.Add(time.Second)); b-a != instant(time.Second) {
		t.Errorf("a second apart across zones: %d ns", b-a)
	}
}
