package agent_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// fataler is what the store checks need of testing.T and rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkDB runs bbolt's consistency check on an open store.
func checkDB(t fataler, st *agent.Store) {
	t.Helper()
	err := boltcheck.Check(st.DB())
	if err != nil {
		t.Fatalf("store %s is inconsistent: %v", st.DB().Path(), err)
	}
}

// checkFile runs bbolt's consistency check on a closed store file.
func checkFile(t fataler, path string) {
	t.Helper()
	if err := boltcheck.CheckFile(path); err != nil {
		t.Fatalf("store %s is inconsistent: %v", path, err)
	}
}

// openStore opens the store at path for the test door, and closes and
// checks it when the test ends, whether or not the test closed it first.
func openStore(t *testing.T, path string) *agent.Store {
	t.Helper()
	st, err := agent.OpenStore(path, testSite, testDoor)
	if err != nil {
		t.Fatalf("OpenStore(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
		checkFile(t, path)
	})
	return st
}

func newStore(t *testing.T) (*agent.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.db")
	return openStore(t, path), path
}

func allEvents(t *testing.T, st *agent.Store) []agent.Event {
	t.Helper()
	evs, err := st.Events(0, math.MaxInt)
	if err != nil {
		t.Fatalf("Events(0) = %v", err)
	}
	return evs
}

func seqs(evs []agent.Event) []uint64 {
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func appendEvents(t *testing.T, st *agent.Store, types ...wire.EventType) []agent.Event {
	t.Helper()
	b := &agent.Batch{}
	for _, ty := range types {
		b.Events = append(b.Events, agent.Event{Type: ty, At: t0, ClockSynced: true, Boot: "b1", MonoNS: 42, Permit: "P-0001"})
	}
	if err := st.Append(b); err != nil {
		t.Fatalf("Append = %v", err)
	}
	return b.Events
}

var epochPattern = regexp.MustCompile(`^[0-9a-f]{6}$`)

func TestStoreAppend(t *testing.T) {
	st, _ := newStore(t)
	if !epochPattern.MatchString(st.Epoch()) {
		t.Fatalf("Epoch() = %q; want 6 hex digits", st.Epoch())
	}
	if n, err := st.LastSeq(); n != 0 || err != nil {
		t.Fatalf("empty store: LastSeq() = %d, %v; want 0, nil", n, err)
	}
	first := appendEvents(t, st, wire.EvTap, wire.EvEscortAwaited, wire.EvGranted)
	second := appendEvents(t, st, wire.EvUnlocked)
	for i, e := range append(first, second...) {
		seq := uint64(i + 1)
		id := fmt.Sprintf("%s/%s/%s/%d", testSite, testDoor, st.Epoch(), seq)
		if e.Seq != seq || e.Epoch != st.Epoch() || e.ID != id || e.Site != testSite || e.Door != testDoor {
			t.Errorf("appended event %d = seq %d epoch %q id %q site %q door %q; want seq %d epoch %q id %q",
				i, e.Seq, e.Epoch, e.ID, e.Site, e.Door, seq, st.Epoch(), id)
		}
	}
	if err := st.Append(&agent.Batch{}); err != nil {
		t.Fatalf("Append(empty batch) = %v", err)
	}
	if n, _ := st.LastSeq(); n != 4 {
		t.Errorf("LastSeq() = %d; want 4", n)
	}

	evs := allEvents(t, st)
	if got := seqs(evs); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("Events(0) seqs = %v; want 1-4", got)
	}
	want := append(first, second...)
	for i := range evs {
		g, w := evs[i], want[i]
		if g.ID != w.ID || g.Type != w.Type || !g.At.Equal(w.At) || g.ClockSynced != w.ClockSynced || g.Boot != w.Boot ||
			g.MonoNS != w.MonoNS || g.Permit != w.Permit {
			t.Errorf("stored event %d = %+v; want %+v", i, g, w)
		}
	}

	for _, c := range []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 2, []uint64{1, 2}},
		{2, 1, []uint64{3}},
		{2, 10, []uint64{3, 4}},
		{3, 10, []uint64{4}},
		{4, 10, []uint64{}},
		{100, 10, []uint64{}},
		{math.MaxUint64, 10, []uint64{}},
		{0, 0, []uint64{}},
	} {
		got, err := st.Events(c.after, c.limit)
		if err != nil || !slices.Equal(seqs(got), c.want) {
			t.Errorf("Events(%d, %d) seqs = %v, %v; want %v", c.after, c.limit, seqs(got), err, c.want)
		}
	}
}

func TestStoreAck(t *testing.T) {
	st, path := newStore(t)
	appendEvents(t, st, wire.EvTap, wire.EvTap, wire.EvTap, wire.EvTap, wire.EvTap)
	steps := []struct {
		through   uint64
		wantSeqs  []uint64
		wantAcked uint64
	}{
		{0, []uint64{1, 2, 3, 4, 5}, 0},
		{2, []uint64{3, 4, 5}, 2},
		{1, []uint64{3, 4, 5}, 2}, // an older ack changes nothing
		{2, []uint64{3, 4, 5}, 2},
		{100, []uint64{}, 5}, // never past the newest event
	}
	for _, s := range steps {
		if err := st.Ack(s.through); err != nil {
			t.Fatalf("Ack(%d) = %v", s.through, err)
		}
		got := seqs(allEvents(t, st))
		acked, err := st.Acked()
		if !slices.Equal(got, s.wantSeqs) || acked != s.wantAcked || err != nil {
			t.Fatalf("Ack(%d): events %v, Acked() = %d, %v; want events %v, acked %d", s.through, got, acked, err, s.wantSeqs, s.wantAcked)
		}
	}
	// seq numbers are never reused, and events after an ack beyond the
	// newest are still kept until acked themselves
	evs := appendEvents(t, st, wire.EvTap, wire.EvTap)
	if evs[0].Seq != 6 || evs[1].Seq != 7 {
		t.Fatalf("after Ack(100) of 5 events, new seqs = %d, %d; want 6, 7", evs[0].Seq, evs[1].Seq)
	}
	if err := st.Ack(6); err != nil {
		t.Fatal(err)
	}
	if got := seqs(allEvents(t, st)); !slices.Equal(got, []uint64{7}) {
		t.Fatalf("after Ack(6): events %v; want [7]", got)
	}

	checkDB(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	if acked, _ := st.Acked(); acked != 6 {
		t.Errorf("after reopen Acked() = %d; want 6", acked)
	}
	if got := seqs(allEvents(t, st)); !slices.Equal(got, []uint64{7}) {
		t.Errorf("after reopen events %v; want [7]", got)
	}
	if evs := appendEvents(t, st, wire.EvTap); evs[0].Seq != 8 {
		t.Errorf("after reopen next seq %d; want 8", evs[0].Seq)
	}
}

// TestStoreAckInBatches: a large ack deletes in transactions of at most
// AckBatch events, each moving Acked, and leaves the newer events.
func TestStoreAckInBatches(t *testing.T) {
	st, _ := newStore(t)
	n := 2*agent.AckBatch + 10
	b := &agent.Batch{}
	for range n + 1 {
		b.Events = append(b.Events, agent.Event{Type: wire.EvTap, At: t0})
	}
	if err := st.Append(b); err != nil {
		t.Fatal(err)
	}
	var ackedAt []uint64 // Acked as each deletion transaction started
	st.OnAckTransaction(func() {
		a, err := st.Acked()
		if err != nil {
			t.Error(err)
		}
		ackedAt = append(ackedAt, a)
	})
	if err := st.Ack(uint64(n)); err != nil {
		t.Fatal(err)
	}
	if want := []uint64{0, agent.AckBatch, 2 * agent.AckBatch}; !slices.Equal(ackedAt, want) {
		t.Errorf("deletion transactions started at acked %v; want %v", ackedAt, want)
	}
	if got := seqs(allEvents(t, st)); !slices.Equal(got, []uint64{uint64(n + 1)}) {
		t.Errorf("after Ack(%d): events %v; want [%d]", n, got, n+1)
	}
	if a, _ := st.Acked(); a != uint64(n) {
		t.Errorf("Acked() = %d; want %d", a, n)
	}
	checkDB(t, st)
}

// TestStoreAckYieldsToTheDoor: a write of the door's that comes while a
// deletion of acked events holds the writer goes next: the deletion stops
// after YieldEvery events, commits them, and goes on only after the
// door's write committed.
func TestStoreAckYieldsToTheDoor(t *testing.T) {
	st, _ := newStore(t)
	const n = 1000
	b := &agent.Batch{}
	for range n {
		b.Events = append(b.Events, agent.Event{Type: wire.EvTap, At: t0})
	}
	if err := st.Append(b); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	waited := false    // appended was read
	var order []string // what each deletion transaction found when it started
	st.OnAckTransaction(func() {
		a, err := st.Acked()
		if err != nil {
			t.Error(err)
		}
		if len(order) > 0 {
			// the door's write returns from Append a moment after it
			// committed (its goroutine may not have run yet); one that has
			// not committed cannot while this transaction holds the
			// writer, so the wait ends only by the timer then
			select {
			case err := <-appended:
				waited = true
				order = append(order, fmt.Sprintf("append done (%v), acked %d", err, a))
			case <-time.After(2 * time.Second):
				order = append(order, fmt.Sprintf("append not done, acked %d", a))
			}
			return
		}
		order = append(order, fmt.Sprintf("acked %d", a))
		// the door's write comes now, and waits for the writer
		go func() { appended <- st.Append(&agent.Batch{Events: []agent.Event{{Type: wire.EvUnlocked, At: t0}}}) }()
		waitfor.Until(t, 10*time.Second, "the door's write waiting", func() bool { return st.DoorWritesWaiting() > 0 })
	})
	err := st.Ack(n)
	if !waited {
		<-appended // the checks below want the store still
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"acked 0", fmt.Sprintf("append done (<nil>), acked %d", agent.YieldEvery)}
	if !slices.Equal(order, want) {
		t.Errorf("deletion transactions:\n%s\nwant\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	evs := allEvents(t, st)
	if len(evs) != 1 || evs[0].Seq != n+1 || evs[0].Type != wire.EvUnlocked {
		t.Errorf("after Ack(%d): events %v; want the door's door.unlocked, seq %d", n, seqs(evs), n+1)
	}
	checkDB(t, st)
}

func TestStoreReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.db")
	st := openStore(t, path)
	epoch := st.Epoch()
	appendEvents(t, st, wire.EvTap, wire.EvTap)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ site, door string }{{testSite, "lab"}, {"elsewhere", testDoor}} {
		other, err := agent.OpenStore(path, c.site, c.door)
		if !errors.Is(err, agent.ErrStoreMismatch) {
			if other != nil {
				other.Close()
			}
			t.Fatalf("OpenStore(%s/%s) of a %s/%s store = %v; want ErrStoreMismatch", c.site, c.door, testSite, testDoor, err)
		}
		if !strings.Contains(err.Error(), testSite+"/"+testDoor) {
			t.Errorf("mismatch error %q does not name the store's door", err)
		}
	}

	st = openStore(t, path)
	if st.Epoch() != epoch {
		t.Errorf("epoch after reopen = %s; want %s", st.Epoch(), epoch)
	}
	if evs := appendEvents(t, st, wire.EvTap); evs[0].Seq != 3 || evs[0].Epoch != epoch {
		t.Errorf("after reopen appended seq %d epoch %s; want 3, %s", evs[0].Seq, evs[0].Epoch, epoch)
	}

	other := openStore(t, filepath.Join(dir, "other.db"))
	if other.Epoch() == epoch {
		t.Errorf("two new stores share the epoch %s", epoch)
	}
}

func TestStoreOpenLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the store's open timeout")
	}
	_, path := newStore(t)
	st, err := agent.OpenStore(path, testSite, testDoor)
	if err == nil {
		st.Close()
		t.Fatal("OpenStore of a store another handle holds open succeeded; want a timeout")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

// applyStep is one Apply and its answer.
type applyStep struct {
	name    string
	rec     permit.Record
	changed bool
	err     error
}

func pRec(id string, version uint64, card permit.Fingerprint, door string) permit.Record {
	p := guestPermit(id, card, "S-ESC")
	p.Version, p.Door = version, door
	return permit.Record{Permit: &p}
}

func rRec(id string, version uint64, door string) permit.Record {
	return permit.Record{Revocation: &permit.Revocation{Permit: id, Version: version, Site: testSite, Door: door, At: t0, By: "head-ict"}}
}

func sRec(id string, version uint64, site string, cards ...permit.Fingerprint) permit.Record {
	return permit.Record{Staff: &permit.Staff{ID: id, Version: version, Site: site, Cards: cards, Escort: true}}
}

// cardSays returns what Card says of fp, in short: the permits with their
// version and revocation, and the staff id.
func cardSays(t *testing.T, st *agent.Store, fp permit.Fingerprint) string {
	t.Helper()
	ci, err := st.Card(fp)
	if err != nil {
		t.Fatalf("Card = %v", err)
	}
	var parts []string
	for _, p := range ci.Permits {
		s := fmt.Sprintf("%s@%d", p.ID, p.Version)
		if p.Revoked {
			s += "/revoked"
		}
		if p.Used > 0 {
			s += fmt.Sprintf("/used%d", p.Used)
		}
		parts = append(parts, s)
	}
	if ci.Staff != nil {
		parts = append(parts, fmt.Sprintf("staff %s@%d", ci.Staff.ID, ci.Staff.Version))
	}
	return strings.Join(parts, " ")
}

func runApply(t *testing.T, st *agent.Store, steps []applyStep) {
	t.Helper()
	for _, s := range steps {
		changed, err := st.Apply(s.rec)
		if changed != s.changed || (s.err == nil) != (err == nil) || s.err != nil && !errors.Is(err, s.err) {
			t.Fatalf("%s: Apply = %v, %v; want %v, %v", s.name, changed, err, s.changed, s.err)
		}
	}
}

func TestStoreApply(t *testing.T) {
	st, path := newStore(t)
	c1, c2, c3 := cardOf(1), cardOf(2), cardOf(3)
	type cardWant struct {
		fp   permit.Fingerprint
		want string
	}
	checkCards := func(when string, ws ...cardWant) {
		t.Helper()
		for _, w := range ws {
			if got := cardSays(t, st, w.fp); got != w.want {
				t.Errorf("%s: Card(%s) = %q; want %q", when, w.fp.Short(), got, w.want)
			}
		}
	}

	runApply(t, st, []applyStep{
		{"permit v1", pRec("P-1", 1, c1, testDoor), true, nil},
		{"permit v1 again", pRec("P-1", 1, c1, testDoor), false, nil},
		{"second permit on the same card", pRec("P-2", 1, c1, testDoor), true, nil},
	})
	checkCards("two permits", cardWant{c1, "P-1@1 P-2@1"}, cardWant{c2, ""})

	runApply(t, st, []applyStep{
		{"permit v2 moves to another card", pRec("P-1", 2, c2, testDoor), true, nil},
		{"permit v1 after v2", pRec("P-1", 1, c1, testDoor), false, agent.ErrRollback},
		{"permit for another door", pRec("P-9", 1, c3, "lab"), false, agent.ErrWrongDoor},
		{"permit for another site", func() permit.Record { r := pRec("P-9", 1, c3, testDoor); r.Permit.Site = "x"; return r }(), false, agent.ErrWrongDoor},
	})
	checkCards("card changed", cardWant{c1, "P-2@1"}, cardWant{c2, "P-1@2"}, cardWant{c3, ""})

	runApply(t, st, []applyStep{
		{"revocation for another door", rRec("P-1", 3, "lab"), false, agent.ErrWrongDoor},
		{"revocation v3", rRec("P-1", 3, testDoor), true, nil},
		{"revocation v3 again", rRec("P-1", 3, testDoor), false, nil},
		{"permit v2 after its revocation", pRec("P-1", 2, c2, testDoor), false, agent.ErrRollback},
		{"revocation v2 after v3", rRec("P-1", 2, testDoor), false, agent.ErrRollback},
	})
	checkCards("revoked", cardWant{c2, "P-1@2/revoked"}, cardWant{c1, "P-2@1"})

	runApply(t, st, []applyStep{
		{"permit re-issued as v4", pRec("P-1", 4, c2, testDoor), true, nil},
		{"old revocation after the re-issue", rRec("P-1", 3, testDoor), false, agent.ErrRollback},
	})
	checkCards("re-issued", cardWant{c2, "P-1@4"})

	runApply(t, st, []applyStep{
		{"staff v1", sRec("S-1", 1, testSite, cardOf(10)), true, nil},
		{"staff v1 again", sRec("S-1", 1, testSite, cardOf(10)), false, nil},
		{"staff v2 with other cards", sRec("S-1", 2, testSite, cardOf(11), cardOf(12)), true, nil},
		{"staff v1 after v2", sRec("S-1", 1, testSite, cardOf(10)), false, agent.ErrRollback},
		{"staff of another site", sRec("S-2", 1, "elsewhere", cardOf(13)), false, agent.ErrWrongDoor},
		{"staff and permit ids do not share versions", sRec("P-1", 1, testSite, cardOf(14)), true, nil},
	})
	checkCards("staff", cardWant{cardOf(10), ""}, cardWant{cardOf(11), "staff S-1@2"}, cardWant{cardOf(12), "staff S-1@2"},
		cardWant{cardOf(13), ""}, cardWant{cardOf(14), "staff P-1@1"})

	if _, err := st.Apply(permit.Record{}); !errors.Is(err, permit.ErrInvalid) {
		t.Errorf("Apply(empty record) = %v; want ErrInvalid", err)
	}
	if _, err := st.Card("not-a-fingerprint"); err == nil {
		t.Error("Card(bad fingerprint) = nil error")
	}
	if p, s, err := st.Counts(); p != 2 || s != 2 || err != nil {
		t.Errorf("Counts() = %d, %d, %v; want 2 permits, 2 staff", p, s, err)
	}

	// the applied versions survive a restart
	checkDB(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	runApply(t, st, []applyStep{
		{"after reopen: same version", pRec("P-1", 4, c2, testDoor), false, nil},
		{"after reopen: rollback", pRec("P-1", 3, c2, testDoor), false, agent.ErrRollback},
		{"after reopen: staff rollback", sRec("S-1", 1, testSite, cardOf(10)), false, agent.ErrRollback},
	})
	if got := cardSays(t, st, c2); got != "P-1@4" {
		t.Errorf("after reopen: Card = %q; want P-1@4", got)
	}
}

func TestStoreRevocationVersion(t *testing.T) {
	st, _ := newStore(t)
	c := cardOf(1)
	// a revocation that arrives before its permit still revokes it
	runApply(t, st, []applyStep{
		{"revocation v1", rRec("P-1", 2, testDoor), true, nil},
		{"permit v1 after the revocation", pRec("P-1", 1, c, testDoor), false, agent.ErrRollback},
	})
	if got := cardSays(t, st, c); got != "" {
		t.Errorf("Card = %q; want no permit", got)
	}
	runApply(t, st, []applyStep{{"permit v3", pRec("P-1", 3, c, testDoor), true, nil}})
	if got := cardSays(t, st, c); got != "P-1@3" {
		t.Errorf("revocation v2 of permit v3: Card = %q; want not revoked", got)
	}
	runApply(t, st, []applyStep{{"revocation v4", rRec("P-1", 4, testDoor), true, nil}})
	if got := cardSays(t, st, c); got != "P-1@3/revoked" {
		t.Errorf("revocation v4 of permit v3: Card = %q; want revoked", got)
	}
}

func TestStoreApplyAll(t *testing.T) {
	st, _ := newStore(t)
	recs := []permit.Record{
		pRec("P-1", 1, cardOf(1), testDoor),
		pRec("P-1", 1, cardOf(1), testDoor), // duplicate: neither applied nor refused
		pRec("P-2", 2, cardOf(2), testDoor),
		pRec("P-2", 1, cardOf(2), testDoor), // rollback
		pRec("P-3", 1, cardOf(3), "lab"),    // another door
		sRec("S-1", 1, testSite, cardOf(10)),
	}
	applied, refused, err := st.ApplyAll(recs)
	if applied != 3 || refused != 2 || err != nil {
		t.Fatalf("ApplyAll = %d, %d, %v; want 3 applied, 2 refused", applied, refused, err)
	}
	if got := cardSays(t, st, cardOf(2)); got != "P-2@2" {
		t.Errorf("Card(P-2's card) = %q; want P-2@2", got)
	}
	// a record that is malformed, not merely refused, rolls the whole load back
	bad := pRec("P-4", 1, "short", testDoor)
	applied, refused, err = st.ApplyAll([]permit.Record{pRec("P-5", 1, cardOf(5), testDoor), bad})
	if err == nil {
		t.Fatalf("ApplyAll with a bad card = %d, %d, nil; want an error", applied, refused)
	}
	if got := cardSays(t, st, cardOf(5)); got != "" {
		t.Errorf("after a failed ApplyAll, Card(P-5's card) = %q; want nothing", got)
	}
}

func TestStoreUsage(t *testing.T) {
	st, _ := newStore(t)
	runApply(t, st, []applyStep{{"permit", pRec("P-1", 1, cardOf(1), testDoor), true, nil}})
	for _, used := range [][]string{{"P-1"}, {"P-1", "P-1"}, nil, {"P-other"}} {
		if err := st.Append(&agent.Batch{Events: []agent.Event{{Type: wire.EvVisitEntered}}, Used: used}); err != nil {
			t.Fatal(err)
		}
	}
	if got := cardSays(t, st, cardOf(1)); got != "P-1@1/used3" {
		t.Errorf("Card = %q; want P-1 used 3 times", got)
	}
	// a new version of the permit keeps its count
	runApply(t, st, []applyStep{{"permit v2", pRec("P-1", 2, cardOf(1), testDoor), true, nil}})
	if got := cardSays(t, st, cardOf(1)); got != "P-1@2/used3" {
		t.Errorf("after v2: Card = %q; want P-1 used 3 times", got)
	}
}

func TestStoreState(t *testing.T) {
	st, path := newStore(t)
	snap, last, err := st.State()
	if err != nil || snap.Mode != "" || len(snap.Occupancy) != 0 || !last.IsZero() {
		t.Fatalf("new store: State() = %+v, %v, %v; want empty", snap, last, err)
	}
	want := agent.Snapshot{Mode: wire.ModeLockdown, Occupancy: []wire.Occupant{
		{Permit: "P-1", Escort: "S-ESC", Card: cardOf(1).Short(), Since: t0},
		{Staff: "S-SOLO", Card: cardOf(12).Short(), Since: t0.Add(time.Minute)},
	}}
	trusted := t0.Add(90 * time.Second).In(time.FixedZone("WIB", 7*3600))
	if err := st.Append(&agent.Batch{Events: []agent.Event{{Type: wire.EvTap}}, State: &want, LastTrusted: trusted}); err != nil {
		t.Fatal(err)
	}
	// a batch without state or time leaves both
	if err := st.Append(&agent.Batch{Events: []agent.Event{{Type: wire.EvTap}}}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		snap, last, err := st.State()
		if err != nil {
			t.Fatalf("%s: State() = %v", when, err)
		}
		gj, _ := json.Marshal(snap)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s: State() snapshot = %s; want %s", when, gj, wj)
		}
		if !last.Equal(trusted) {
			t.Errorf("%s: State() last trusted = %v; want %v", when, last, trusted)
		}
	}
	check("open")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	check("reopened")
}

func TestStoreRevocationSameVersion(t *testing.T) {
	st, _ := newStore(t)
	c := cardOf(1)
	// the revocation overrides every version up to its own, its own included
	runApply(t, st, []applyStep{
		{"permit v1", pRec("P-1", 1, c, testDoor), true, nil},
		{"revocation v1", rRec("P-1", 1, testDoor), true, nil},
		{"revocation v1 again", rRec("P-1", 1, testDoor), false, nil},
		{"permit v1 again after its revocation", pRec("P-1", 1, c, testDoor), false, agent.ErrRollback},
	})
	if got := cardSays(t, st, c); got != "P-1@1/revoked" {
		t.Errorf("Card = %q; want P-1@1/revoked", got)
	}
}

// TestStoreEventsJSON: the raw read returns what Events decodes, as
// stored (json.Marshal of the event, "replayed":false among it), in seq
// order from after+1, at most limit, and bytes that stay valid and
// separate after the read transaction.
func TestStoreEventsJSON(t *testing.T) {
	st, _ := newStore(t)
	for range 3 {
		appendEvents(t, st, wire.EvTap, wire.EvGranted, wire.EvUnlocked, wire.EvLocked)
	}
	want := allEvents(t, st)
	for _, c := range []struct {
		after uint64
		limit int
	}{{0, math.MaxInt}, {0, 1}, {3, 4}, {11, 5}, {12, 5}, {0, 0}, {math.MaxUint64, 5}} {
		raw, err := st.EventsJSON(c.after, c.limit)
		if err != nil {
			t.Fatalf("EventsJSON(%d, %d) = %v", c.after, c.limit, err)
		}
		var wantN int
		if c.after < uint64(len(want)) {
			wantN = min(c.limit, len(want)-int(c.after))
		}
		if len(raw) != wantN {
			t.Fatalf("EventsJSON(%d, %d) returned %d events; want %d", c.after, c.limit, len(raw), wantN)
		}
		for i, r := range raw {
			w := want[int(c.after)+i]
			if r.Seq != w.Seq {
				t.Errorf("EventsJSON(%d, %d)[%d].Seq = %d; want %d", c.after, c.limit, i, r.Seq, w.Seq)
			}
			j, _ := json.Marshal(w)
			if string(r.JSON) != string(j) {
				t.Errorf("event %d: raw %s; want the stored %s", r.Seq, r.JSON, j)
			}
			if n := strings.Count(string(r.JSON), `"replayed":false`); n != 1 {
				t.Errorf("event %d: %d times \"replayed\":false in %s; want once", r.Seq, n, r.JSON)
			}
		}
	}
	// the bytes are copies: an append to one does not reach the next, and
	// they outlive the transaction and later writes
	raw, err := st.EventsJSON(0, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	second := string(raw[1].JSON)
	_ = append(raw[0].JSON, "xxxxxxxx"...)
	appendEvents(t, st, wire.EvTap)
	if err := st.Ack(6); err != nil {
		t.Fatal(err)
	}
	if string(raw[1].JSON) != second {
		t.Errorf("event 2's bytes changed after an append to event 1's and a write: %s", raw[1].JSON)
	}
	if left, err := st.EventsJSON(0, math.MaxInt); err != nil || len(left) != 7 || left[0].Seq != 7 {
		t.Errorf("after Ack(6): %d events from %v, %v; want 7 from seq 7", len(left), left, err)
	}
}
