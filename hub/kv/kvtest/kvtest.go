// Package kvtest is the behaviour every kv.DB must have, as one suite
// that each backend's tests run (Run): bbolt's adapter in hub/kv,
// PostgreSQL in hub/kv/pgkv. It checks reads and writes, the order of keys
// as bytes (0x80 and above included) over several pages, empty values,
// cursors both ways, the collect-then-delete walk the hub's code does, a
// failed Update keeping nothing, writes refused in a View, sequences
// across transactions, reopenings and processes, and writers that run
// one at a time.
//
// It must never be imported outside tests.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/kunci-project/kunci/hub/kv"
)

// Backend is a kind of store for the suite.
type Backend struct {
	// New makes a place for a store (a file, a database) for t and
	// returns its opener: each call opens the store at that place,
	// empty the first time. The suite closes what it opens.
	New func(t testing.TB) (open func() (kv.DB, error))
	// Shared says that the store of one place may be open twice at once,
	// as two processes share one database; a bbolt file is one
	// process's at a time.
	Shared bool
}

// Run runs the suite against b, a subtest each.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"ReadWrite", testReadWrite},
		{"Order", testOrder},
		{"Cursor", testCursor},
		{"CollectThenDelete", testCollectThenDelete},
		{"FailedUpdate", testFailedUpdate},
		{"ReadOnly", testReadOnly},
		{"Sequence", testSequence},
		{"Reopen", testReopen},
		{"OneWriter", testOneWriter},
		{"Snapshot", testSnapshot},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each on a store of its own
			c.fn(t, b)
		})
	}
}

// open opens the store of opener, closed when t ends.
func open(t *testing.T, opener func() (kv.DB, error)) kv.DB {
	t.Helper()
	db, err := opener()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var (
	bA = []byte("a")
	bB = []byte("b")
)

func update(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, db kv.DB, fn func(kv.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

// get reads key of bucket in a View; nil if absent.
func get(t *testing.T, db kv.DB, bucket []byte, key string) []byte {
	t.Helper()
	var v []byte
	view(t, db, func(tx kv.Tx) error {
		v = bytes.Clone(tx.Bucket(bucket).Get([]byte(key)))
		return nil
	})
	return v
}

// keys lists the keys of bucket through ForEach.
func keys(t *testing.T, db kv.DB, bucket []byte) []string {
	t.Helper()
	var out []string
	view(t, db, func(tx kv.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out
}

func testReadWrite(t *testing.T, b Backend) {
	db := open(t, b.New(t))
	view(t, db, func(tx kv.Tx) error {
		bk := tx.Bucket([]byte("never"))
		if bk.Get([]byte("k")) != nil || bk.Len() != 0 {
			t.Error("a bucket never written is not empty")
		}
		if k, _ := bk.Cursor().First(); k != nil {
			t.Errorf("the cursor of a bucket never written gives %q", k)
		}
		return bk.ForEach(func(k, _ []byte) error { return fmt.Errorf("ForEach of a bucket never written gives %q", k) })
	})
	update(t, db, func(tx kv.Tx) error {
		a := tx.Bucket(bA)
		for _, p := range [][2]string{{"k1", "one"}, {"k2", "two"}, {"k3", "three"}} {
			if err := a.Put([]byte(p[0]), []byte(p[1])); err != nil {
				return err
			}
		}
		if err := a.Put([]byte("k2"), []byte("TWO")); err != nil {
			return err
		}
		if got := a.Get([]byte("k2")); string(got) != "TWO" {
			t.Errorf("Get in the Update after a Put = %q; want TWO", got)
		}
		if err := a.Delete([]byte("k3")); err != nil {
			return err
		}
		if err := a.Delete([]byte("absent")); err != nil {
			t.Errorf("Delete of a key absent = %v", err)
		}
		// the same key in another bucket is another key
		if err := tx.Bucket(bB).Put([]byte("k1"), []byte("b's")); err != nil {
			return err
		}
		// empty values, given as nil and as empty
		if err := a.Put([]byte("empty"), nil); err != nil {
			return err
		}
		if err := a.Put([]byte("empty2"), []byte{}); err != nil {
			return err
		}
		if v := a.Get([]byte("empty")); v == nil || len(v) != 0 {
			t.Errorf("Get of an empty value in its Update = %#v; want empty, not nil", v)
		}
		return nil
	})
	for _, c := range []struct {
		bucket []byte
		key    string
		want   []byte
	}{
		{bA, "k1", []byte("one")}, {bA, "k2", []byte("TWO")}, {bA, "k3", nil}, {bB, "k1", []byte("b's")},
		{bB, "k2", nil}, {bA, "empty", []byte{}}, {bA, "empty2", []byte{}},
	} {
		got := get(t, db, c.bucket, c.key)
		if !bytes.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("Get(%s, %s) = %#v; want %#v", c.bucket, c.key, got, c.want)
		}
	}
	view(t, db, func(tx kv.Tx) error {
		if n := tx.Bucket(bA).Len(); n != 4 {
			t.Errorf("Len = %d; want 4", n)
		}
		return tx.Bucket(bA).ForEach(func(k, v []byte) error {
			if v == nil {
				t.Errorf("ForEach gives %q a nil value", k)
			}
			return nil
		})
	})
	// two handles of one bucket, in the Update that makes it and the one
	// that drops it
	update(t, db, func(tx kv.Tx) error {
		h1, h2 := tx.Bucket([]byte("twice")), tx.Bucket([]byte("twice"))
		if err := h2.Put([]byte("k"), []byte("v")); err != nil {
			return err
		}
		if v := h1.Get([]byte("k")); string(v) != "v" {
			t.Errorf("a handle taken before its bucket's first write reads %q; want v", v)
		}
		if err := tx.DeleteBucket([]byte("twice")); err != nil {
			return err
		}
		if v := h1.Get([]byte("k")); v != nil {
			t.Errorf("a handle of a dropped bucket reads %q", v)
		}
		return h1.Put([]byte("k2"), []byte("v2"))
	})
	if got := keys(t, db, []byte("twice")); !slices.Equal(got, []string{"k2"}) {
		t.Errorf("keys written through a handle of a dropped bucket: %q", got)
	}
	// a big value, and the longest key
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	long := bytes.Repeat([]byte{0xfe}, kv.MaxKeySize)
	update(t, db, func(tx kv.Tx) error {
		if err := tx.Bucket(bA).Put([]byte("big"), big); err != nil {
			return err
		}
		return tx.Bucket(bA).Put(long, []byte("long"))
	})
	if got := get(t, db, bA, "big"); !bytes.Equal(got, big) {
		t.Errorf("a value of %d bytes reads %d bytes", len(big), len(got))
	}
	if got := get(t, db, bA, string(long)); string(got) != "long" {
		t.Errorf("the longest key reads %q", got)
	}
	// keys no backend stores
	for _, k := range [][]byte{nil, {}, bytes.Repeat([]byte{1}, kv.MaxKeySize+1)} {
		err := db.Update(func(tx kv.Tx) error { return tx.Bucket(bA).Put(k, []byte("x")) })
		if !errors.Is(err, kv.ErrKey) {
			t.Errorf("Put of a key of %d bytes = %v; want kv.ErrKey", len(k), err)
		}
	}
	// DeleteBucket drops the keys, not another bucket's
	update(t, db, func(tx kv.Tx) error {
		if err := tx.DeleteBucket(bB); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("never"))
	})
	if got := keys(t, db, bB); len(got) != 0 {
		t.Errorf("keys after DeleteBucket = %q", got)
	}
	if got := get(t, db, bA, "k1"); string(got) != "one" {
		t.Errorf("another bucket after DeleteBucket: k1 = %q", got)
	}
}

// orderKeys are keys that sort as bytes, not as text: 0x80 and above
// after 0x7f, a key before its extensions, 0x00 inside.
func orderKeys() [][]byte {
	ks := [][]byte{{0xff}, {0xff, 0xff}, {0x80}, {0x7f}, {0x01}, {0x00}, []byte("a"), []byte("a\x00"), []byte("ab"),
		[]byte("B"), []byte("é"), []byte("Z"), {0xc3, 0xa9, 0x00}, []byte("P-000010"), []byte("P-000009")}
	// enough to cross pages: 3,000 eight-byte big-endian numbers
	for i := range 3000 {
		ks = append(ks, []byte{0x10, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
	}
	return ks
}

func testOrder(t *testing.T, b Backend) {
	db := open(t, b.New(t))
	ks := orderKeys()
	update(t, db, func(tx kv.Tx) error {
		for i, k := range ks {
			if err := tx.Bucket(bA).Put(k, []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	want := slices.Clone(ks)
	slices.SortFunc(want, bytes.Compare)
	var fwd, back [][]byte
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket(bA).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) != 1 {
				t.Fatalf("value of %x = %x", k, v)
			}
			fwd = append(fwd, bytes.Clone(k))
		}
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			back = append(back, bytes.Clone(k))
		}
		return nil
	})
	if !slices.EqualFunc(fwd, want, bytes.Equal) {
		t.Errorf("First, Next: %d keys, in another order than bytes sort them", len(fwd))
	}
	slices.Reverse(back)
	if !slices.EqualFunc(back, want, bytes.Equal) {
		t.Errorf("Last, Prev: %d keys, in another order than bytes sort them", len(back))
	}
	var each [][]byte
	view(t, db, func(tx kv.Tx) error {
		return tx.Bucket(bA).ForEach(func(k, _ []byte) error {
			each = append(each, bytes.Clone(k))
			return nil
		})
	})
	if !slices.EqualFunc(each, want, bytes.Equal) {
		t.Errorf("ForEach: %d keys, in another order than bytes sort them", len(each))
	}
	view(t, db, func(tx kv.Tx) error {
		if n := tx.Bucket(bA).Len(); n != len(ks) {
			t.Errorf("Len = %d; want %d", n, len(ks))
		}
		return nil
	})
}

func testCursor(t *testing.T, b Backend) {
	db := open(t, b.New(t))
	update(t, db, func(tx kv.Tx) error {
		for _, k := range []string{"b", "d", "f", "\x80"} {
			if err := tx.Bucket(bA).Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx kv.Tx) error {
		c := tx.Bucket(bA).Cursor()
		for _, s := range []struct {
			name string
			move func() ([]byte, []byte)
			want string // "" for nil
		}{
			{"First", c.First, "b"},
			{"Prev at the first", c.Prev, ""},
			{"Seek an existing key", func() ([]byte, []byte) { return c.Seek([]byte("d")) }, "d"},
			{"Next", c.Next, "f"},
			{"Prev", c.Prev, "d"},
			{"Prev", c.Prev, "b"},
			{"Seek between keys", func() ([]byte, []byte) { return c.Seek([]byte("c")) }, "d"},
			{"Prev after it", c.Prev, "b"},
			{"Seek before every key", func() ([]byte, []byte) { return c.Seek([]byte("\x00")) }, "b"},
			{"Seek 0x7f", func() ([]byte, []byte) { return c.Seek([]byte("\x7f")) }, "\x80"},
			{"Next at the last", c.Next, ""},
			{"Seek past the last", func() ([]byte, []byte) { return c.Seek([]byte("\x81")) }, ""},
			{"Prev after it", c.Prev, "\x80"},
			{"Prev", c.Prev, "f"},
			{"Last", c.Last, "\x80"},
			{"Next", c.Next, ""},
		} {
			k, v := s.move()
			if string(k) != s.want || (k == nil) != (s.want == "") || (k != nil && string(v) != "v"+s.want) {
				t.Errorf("%s = %q, %q; want %q", s.name, k, v, s.want)
			}
		}
		return nil
	})
	// a cursor sees its own Update's writes
	update(t, db, func(tx kv.Tx) error {
		a := tx.Bucket(bA)
		if err := a.Put([]byte("c"), []byte("vc")); err != nil {
			return err
		}
		if err := a.Delete([]byte("d")); err != nil {
			return err
		}
		if k, _ := a.Cursor().Seek([]byte("bb")); string(k) != "c" {
			t.Errorf("Seek after a Put in the same Update = %q; want c", k)
		}
		if k, _ := a.Cursor().Seek([]byte("cc")); string(k) != "f" {
			t.Errorf("Seek after a Delete in the same Update = %q; want f", k)
		}
		return nil
	})
}

// testCollectThenDelete is the hub's way of deleting what a walk finds
// (sessions, the notification queue, purged records): collect the keys,
// then delete them.
func testCollectThenDelete(t *testing.T, b Backend) {
	db := open(t, b.New(t))
	update(t, db, func(tx kv.Tx) error {
		for i := range 2500 {
			if err := tx.Bucket(bA).Put(fmt.Appendf(nil, "k%05d", i), []byte{byte(i % 3)}); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, db, func(tx kv.Tx) error {
		a := tx.Bucket(bA)
		var drop [][]byte
		if err := a.ForEach(func(k, v []byte) error {
			if v[0] == 0 {
				drop = append(drop, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range drop {
			if err := a.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	got := keys(t, db, bA)
	if len(got) != 2500-834 {
		t.Fatalf("%d keys left; want %d", len(got), 2500-834)
	}
	for _, k := range got {
		var i int
		fmt.Sscanf(k, "k%05d", &i)
		if i%3 == 0 {
			t.Fatalf("key %s was to go", k)
		}
	}
	// the oldest first, one at a time (the command log's trimming)
	update(t, db, func(tx kv.Tx) error {
		a := tx.Bucket(bA)
		for n := a.Len(); n > 10; n-- {
			k, _ := a.Cursor().First()
			if err := a.Delete(bytes.Clone(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if got := keys(t, db, bA); len(got) != 10 || got[0] != "k02485" {
		t.Errorf("after trimming to 10: %q", got)
	}
}

var errFn = errors.New("fn's error")

func testFailedUpdate(t *testing.T, b Backend) {
	db := open(t, b.New(t))
	update(t, db, func(tx kv.Tx) error {
		if _, err := tx.Bucket(bA).NextSequence(); err != nil {
			return err
		}
		return tx.Bucket(bA).Put([]byte("kept"), []byte("1"))
	})
	write := func(tx kv.Tx) {
		a := tx.Bucket(bA)
		a.Put([]byte("new"), []byte("x"))
		a.Put([]byte("kept"), []byte("changed"))
		a.Delete([]byte("kept2"))
		a.NextSequence()
		tx.Bucket(bB).Put([]byte("new"), []byte("x"))
		tx.DeleteBucket([]byte("c"))
	}
	update(t, db, func(tx kv.Tx) error { return tx.Bucket(bA).Put([]byte("kept2"), []byte("2")) })
	update(t, db, func(tx kv.Tx) error { return tx.Bucket([]byte("c")).Put([]byte("kept3"), []byte("3")) })
	// fn's own error, and a failed Put that fn ignores
	if err := db.Update(func(tx kv.Tx) error { write(tx); return errFn }); !errors.Is(err, errFn) {
		t.Errorf("Update whose fn failed = %v; want fn's error", err)
	}
	if err := db.Update(func(tx kv.Tx) error {
		write(tx)
		tx.Bucket(bA).Put(nil, []byte("no key"))
		return nil
	}); !errors.Is(err, kv.ErrKey) {
		t.Errorf("Update with a failed Put that fn ignored = %v; want kv.ErrKey", err)
	}
	if got := keys(t, db, bA); !slices.Equal(got, []string{"kept", "kept2"}) {
		t.Errorf("keys after failed Updates = %q", got)
	}
	if got := get(t, db, bA, "kept"); string(got) != "1" {
		t.Errorf("kept = %q after failed Updates; want 1", got)
	}
	if got := keys(t, db, bB); len(got) != 0 {
		t.Errorf("bucket b after failed Updates: %q", got)
	}
	if got := keys(t, db, []byte("c")); len(got) != 1 {
		t.Errorf("bucket c after failed Updates: %q", got)
	}
	update(t, db, func(tx kv.Tx) error {
		if n, err := tx.Bucket(bA).NextSequence(); err != nil || n != 2 {
			t.Errorf("NextSequence after failed Updates = %d, %v; want 2", n, err)
		}
		return nil
	})
}

func testReadOnly(t *testing.T, b Backend) {
	db := open(t, b.New(t))
	update(t, db, func(tx kv.Tx) error { return tx.Bucket(bA).Put([]byte("k"), []byte("v")) })
	for name, w := range map[string]func(kv.Tx) error{
		"Put":          func(tx kv.Tx) error { return tx.Bucket(bA).Put([]byte("k2"), []byte("v")) },
		"Delete":       func(tx kv.Tx) error { return tx.Bucket(bA).Delete([]byte("k")) },
		"NextSequence": func(tx kv.Tx) error { _, err := tx.Bucket(bA).NextSequence(); return err },
		"DeleteBucket": func(tx kv.Tx) error { return tx.DeleteBucket(bA) },
	} {
		var werr error
		err := db.View(func(tx kv.Tx) error { werr = w(tx); return nil })
		if !errors.Is(werr, kv.ErrReadOnly) || !errors.Is(err, kv.ErrReadOnly) {
			t.Errorf("%s in a View = %v, View = %v; want kv.ErrReadOnly", name, werr, err)
		}
	}
	if got := keys(t, db, bA); !slices.Equal(got, []string{"k"}) {
		t.Errorf("keys after writes in Views: %q", got)
	}
}

func testSequence(t *testing.T, b Backend) {
	opener := b.New(t)
	db := open(t, opener)
	next := func(db kv.DB, bucket []byte) uint64 {
		t.Helper()
		var n uint64
		update(t, db, func(tx kv.Tx) error {
			var err error
			n, err = tx.Bucket(bucket).NextSequence()
			return err
		})
		return n
	}
	for want := uint64(1); want <= 3; want++ {
		if n := next(db, bA); n != want {
			t.Errorf("NextSequence = %d; want %d", n, want)
		}
	}
	if n := next(db, bB); n != 1 {
		t.Errorf("NextSequence of another bucket = %d; want 1", n)
	}
	// two in one transaction
	update(t, db, func(tx kv.Tx) error {
		x, _ := tx.Bucket(bA).NextSequence()
		y, err := tx.Bucket(bA).NextSequence()
		if x != 4 || y != 5 {
			t.Errorf("two NextSequence in one Update = %d, %d; want 4, 5", x, y)
		}
		return err
	})
	if b.Shared {
		// another process at once
		other := open(t, opener)
		if n := next(other, bA); n != 6 {
			t.Errorf("NextSequence of another process = %d; want 6", n)
		}
		if n := next(db, bA); n != 7 {
			t.Errorf("NextSequence after another process's = %d; want 7", n)
		}
	} else {
		update(t, db, func(tx kv.Tx) error { _, err := tx.Bucket(bA).NextSequence(); return err })
		update(t, db, func(tx kv.Tx) error { _, err := tx.Bucket(bA).NextSequence(); return err })
	}
	// the process after this one
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, opener)
	if n := next(db, bA); n != 8 {
		t.Errorf("NextSequence after reopening = %d; want 8", n)
	}
	update(t, db, func(tx kv.Tx) error { return tx.DeleteBucket(bA) })
	if n := next(db, bA); n != 1 {
		t.Errorf("NextSequence after DeleteBucket = %d; want 1", n)
	}
}

func testReopen(t *testing.T, b Backend) {
	opener := b.New(t)
	db := open(t, opener)
	update(t, db, func(tx kv.Tx) error {
		if err := tx.Bucket(bA).Put([]byte{0x80, 0}, []byte("x")); err != nil {
			return err
		}
		return tx.Bucket(bA).Put([]byte("e"), nil)
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, opener)
	if got := keys(t, db, bA); !slices.Equal(got, []string{"e", "\x80\x00"}) {
		t.Errorf("keys after reopening: %q", got)
	}
	if v := get(t, db, bA, "e"); v == nil || len(v) != 0 {
		t.Errorf("an empty value after reopening = %#v", v)
	}
}

// testOneWriter: Updates that read, then write what they read, from
// several goroutines (and, on a shared store, two processes) lose none of
// their writes: one writer at a time, none retried.
func testOneWriter(t *testing.T, b Backend) {
	opener := b.New(t)
	dbs := []kv.DB{open(t, opener)}
	if b.Shared {
		dbs = append(dbs, open(t, opener))
	}
	const goroutines, each = 8, 25
	// the sequence each increment took, by goroutine
	seqs := make([][]uint64, goroutines)
	increment := func(g int, tx kv.Tx) error {
		a := tx.Bucket(bA)
		var n int
		if v := a.Get([]byte("n")); v != nil {
			fmt.Sscan(string(v), &n)
		}
		s, err := a.NextSequence()
		if err != nil {
			return err
		}
		seqs[g] = append(seqs[g], s)
		return a.Put([]byte("n"), fmt.Append(nil, n+1))
	}
	var eg errgroup.Group
	for g := range goroutines {
		eg.Go(func() error {
			for range each {
				if err := dbs[g%len(dbs)].Update(func(tx kv.Tx) error { return increment(g, tx) }); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, dbs[0], bA, "n"); string(got) != fmt.Sprint(goroutines*each) {
		t.Errorf("counter = %s after %d increments", got, goroutines*each)
	}
	all := slices.Concat(seqs...)
	slices.Sort(all)
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("sequences taken: %v; want 1..%d once each", all, goroutines*each)
		}
	}
}

// testSnapshot: a View reads one state, whatever another process commits
// meanwhile. (On bbolt a write while the same process holds a read
// transaction may wait for it, for a remapping: shared stores only.)
func testSnapshot(t *testing.T, b Backend) {
	if !b.Shared {
		t.Skip("a store of one process: its snapshots are bbolt's")
	}
	opener := b.New(t)
	db, other := open(t, opener), open(t, opener)
	update(t, db, func(tx kv.Tx) error { return tx.Bucket(bA).Put([]byte("k"), []byte("old")) })
	view(t, db, func(tx kv.Tx) error {
		a := tx.Bucket(bA)
		if v := a.Get([]byte("k")); string(v) != "old" {
			t.Errorf("k = %q; want old", v)
		}
		update(t, other, func(tx kv.Tx) error {
			if err := tx.Bucket(bA).Put([]byte("k"), []byte("new")); err != nil {
				return err
			}
			return tx.Bucket(bA).Put([]byte("k2"), []byte("new"))
		})
		if v := a.Get([]byte("k")); string(v) != "old" {
			t.Errorf("k = %q in the View after another's commit; want old", v)
		}
		if n := a.Len(); n != 1 {
			t.Errorf("Len = %d in the View after another's commit; want 1", n)
		}
		return nil
	})
	if v := get(t, db, bA, "k"); string(v) != "new" {
		t.Errorf("k = %q in a View after the commit; want new", v)
	}
}
