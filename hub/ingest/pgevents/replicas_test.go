package pgevents_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// noAcks takes the acks and drops them.
type noAcks struct{}

func (noAcks) Publish(string, byte, bool, []byte) mqttlink.Token { return mqttlink.Completed(nil) }

// waitStored waits until the ingests' Stored add up to want, and fails t
// if they add up to more: each event stored once, by one of them.
func waitStored(t *testing.T, ins []*ingest.Ingest, want uint64) uint64 {
	t.Helper()
	sum := func() uint64 {
		var n uint64
		for _, in := range ins {
			n += in.Stats().Stored
		}
		return n
	}
	waitfor.Until(t, 10*time.Second, "the ingests to count what they stored", func() bool { return sum() >= want })
	if got := sum(); got != want {
		t.Errorf("the ingests stored %d events between them; want %d, each once", got, want)
	}
	return sum()
}

// startIngests runs two ingests, each on a store of its own on dsn's
// database, until stop; opt, unless nil, sets the options of ingest i.
func startIngests(t *testing.T, dsn string, signer *permit.Signer, opt func(i int, o *ingest.Options)) (ins []*ingest.Ingest, stores []*pgevents.Store, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop = func() {
		cancel()
		wg.Wait()
		for _, st := range stores {
			st.Close()
		}
	}
	for i := range 2 {
		st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
		if err != nil {
			stop()
			t.Fatal(err)
		}
		stores = append(stores, st)
		o := ingest.Options{Signer: signer, MaxBatch: 16}
		if opt != nil {
			opt(i, &o)
		}
		in, err := ingest.New(st, o)
		if err != nil {
			stop()
			t.Fatal(err)
		}
		ins = append(ins, in)
		wg.Go(func() { in.Run(ctx, noAcks{}) })
	}
	// a replica's live view begins when it listens: what the other
	// stored before, it reads at its start (Doors, the book)
	waitfor.Until(t, 10*time.Second, "both ingests to listen", func() bool {
		var n int
		err := stores[0].Pool().QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = $1", `LISTEN "`+pgevents.Channel+`"`).Scan(&n)
		return err == nil && n == len(stores)
	})
	return ins, stores, stop
}

// Two hub ingests on one database, each given every event of two doors
// (the worst a broker could do, where a shared subscription gives each
// message to one) and then all of them again (the doors' resends of what
// was not acked): every event is stored once and in order, the commits of
// both adding up to the events, the races lost counted as duplicates.
func TestTwoIngestsOneDatabase(t *testing.T) {
	dsn := pgtest.DB(t)
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	const n = 400
	doors := []string{"d1", "d2"}
	var payloads []mqttlink.Message
	for i := uint64(1); i <= n; i++ {
		for _, d := range doors {
			j, err := json.Marshal(storetest.Ev("demo", d, "e", i))
			if err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, mqttlink.Message{Topic: topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: d}.Events(),
				Payload: j, QoS: 1})
		}
	}
	ins, stores, stop := startIngests(t, dsn, signer, nil)
	defer stop()
	for pass := range 2 {
		var feed sync.WaitGroup
		for _, in := range ins {
			feed.Go(func() {
				for _, m := range payloads {
					in.Handle(m)
				}
			})
		}
		feed.Wait()
		if pass == 0 {
			// the resend comes once the first pass is through the queues
			waitfor.Until(t, 30*time.Second, "both ingests took the first pass", func() bool {
				return ins[0].Stats().Received == uint64(len(payloads)) && ins[1].Stats().Received == uint64(len(payloads))
			})
		}
	}
	st := stores[0]
	waitfor.Until(t, 30*time.Second, "every event stored", func() bool {
		total, err := st.Total()
		return err == nil && total == 2*n
	})
	// an ingest counts its commit just after it: the counters may trail
	// the database by a moment, never pass it
	stored := waitStored(t, ins, 2*n)
	var dups uint64
	for _, in := range ins {
		s := in.Stats()
		dups += s.Duplicates
		if s.Malformed != 0 {
			t.Errorf("stats %+v", s)
		}
	}
	for _, d := range doors {
		var got []uint64
		if err := st.Walk("demo", d, func(e ingest.Event) error { got = append(got, e.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for i := uint64(1); i <= n; i++ {
			want = append(want, i)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d events stored, not 1..%d once each", d, len(got), n)
		}
	}
	t.Logf("stored %d, duplicates %d, store errors %d and %d", stored, dups, ins[0].Stats().StoreErrors, ins[1].Stats().StoreErrors)
}

// Two hub ingests on one database, each given half of every door's events
// (alternately, as a shared subscription deals them out) and nothing
// again: each holds the events that follow the other's, learns from the
// database's notifications (Watch) when the other stored those before,
// and stores its own then. Every event is stored once and in order, with
// no door sending anything twice; and each ingest hands every event on
// once, its own as it stores them (OnStored), the other's as it reads
// them back after their notification (OnOthers): each replica's live
// view sees every door.
func TestSplitIngestsOneDatabase(t *testing.T) {
	dsn := pgtest.DB(t)
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	const n = 600
	doors := []string{"d1", "d2", "d3"}
	var seenMu sync.Mutex
	seen := [2]map[string][]uint64{{}, {}} // ingest -> door -> seqs handed on
	ins, stores, stop := startIngests(t, dsn, signer, func(i int, o *ingest.Options) {
		take := func(evs []ingest.Event) {
			seenMu.Lock()
			defer seenMu.Unlock()
			for _, e := range evs {
				seen[i][e.Door] = append(seen[i][e.Door], e.Seq)
			}
		}
		o.OnStored, o.OnOthers = take, take
	})
	defer stop()
	k := 0
	for i := uint64(1); i <= n; i++ {
		for _, d := range doors {
			j, err := json.Marshal(storetest.Ev("demo", d, "e", i))
			if err != nil {
				t.Fatal(err)
			}
			ins[k%2].Handle(mqttlink.Message{Topic: topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: d}.Events(),
				Payload: j, QoS: 1})
			k++
		}
	}
	st := stores[0]
	waitfor.Until(t, 60*time.Second, "every event stored", func() bool {
		total, err := st.Total()
		return err == nil && total == uint64(len(doors)*n)
	})
	waitStored(t, ins, uint64(len(doors)*n))
	for _, d := range doors {
		var got []uint64
		if err := st.Walk("demo", d, func(e ingest.Event) error { got = append(got, e.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != n || !slices.IsSorted(got) || got[0] != 1 || got[n-1] != n {
			t.Errorf("%s: %d events stored, not 1..%d once each", d, len(got), n)
		}
	}
	handed := func(i int) (all bool) {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, d := range doors {
			all = all || len(seen[i][d]) < n
		}
		return !all
	}
	for i := range ins {
		waitfor.Until(t, 10*time.Second, "each ingest to hand on every door's events", func() bool { return handed(i) })
		seenMu.Lock()
		for _, d := range doors {
			got := slices.Sorted(slices.Values(seen[i][d]))
			if len(got) != n || slices.Compact(got)[n-1] != n {
				t.Errorf("ingest %d handed on %d events of %s, not 1..%d once each", i, len(got), d, n)
			}
		}
		seenMu.Unlock()
	}
	t.Logf("stats %+v; %+v", ins[0].Stats(), ins[1].Stats())
}

// Two replicas committing the guest book's events of different doors at
// once, each on a store of its own on one database: their books number
// the rows alike, caught up with each other's commits (under the book's
// lock before a commit, and after each notification of the other's), and
// a store opened afterwards loads the same book from the database, which
// is the book of the events stored.
func TestReplicasShareBook(t *testing.T) {
	dsn := pgtest.DB(t)
	evs, permits := storetest.History(11, 60)
	byDoor := map[string][]ingest.Event{}
	var doors []string
	for _, e := range evs {
		if byDoor[e.Door] == nil {
			doors = append(doors, e.Door)
		}
		byDoor[e.Door] = append(byDoor[e.Door], e)
	}
	if len(doors) < 2 {
		t.Fatalf("history of %d doors", len(doors))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var watching sync.WaitGroup
	defer watching.Wait()
	defer cancel()
	stores := openStores(t, dsn, 2)
	for _, st := range stores {
		watching.Go(func() { st.Watch(ctx, func(ingest.Advance) {}) })
	}
	// each replica commits half the doors, a few events of a door at a
	// time, door after door in turn, the two at once
	var wg sync.WaitGroup
	errs := make(chan error, len(stores))
	for i, st := range stores {
		wg.Go(func() {
			mine := map[string][]ingest.Event{}
			for j, d := range doors {
				if j%len(stores) == i {
					mine[d] = byDoor[d]
				}
			}
			for step := 1; len(mine) > 0; step++ {
				for _, d := range doors {
					left := mine[d]
					if len(left) == 0 {
						continue
					}
					n := min(len(left), 1+(step*7+len(d))%5)
					if err := st.Commit(ingest.PutsOf(left[:n])); err != nil {
						errs <- err
						return
					}
					if mine[d] = left[n:]; len(mine[d]) == 0 {
						delete(mine, d)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fresh, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	kept, _ := fresh.Book()
	kept.AddPermits(permits)
	want := kept.Rows()
	built, err := ingest.BuildBookOf(fresh, permits)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !reflect.DeepEqual(rowsByDoor(want), rowsByDoor(built.Rows())) {
		t.Fatalf("the book kept in the database: %d rows; built from the events: %d", len(want), built.Len())
	}
	var caughtUp int64
	for i, st := range stores {
		bk, _ := st.Book()
		bk.AddPermits(permits)
		waitfor.Until(t, 10*time.Second, "each replica's book to catch up with the other's commits", func() bool { return bk.Len() == len(want) })
		if got := bk.Rows(); !reflect.DeepEqual(got, want) {
			t.Errorf("replica %d's book (%d rows) is not the one kept in the database (%d rows)", i, len(got), len(want))
		}
		caughtUp += st.BookCaughtUp()
	}
	if caughtUp == 0 {
		t.Error("neither replica caught its book up with the other's commits")
	}
}

// rowsByDoor is rows door after door, each door's in order.
func rowsByDoor(rows []workflow.Row) []workflow.Row {
	return slices.SortedStableFunc(slices.Values(rows), func(a, b workflow.Row) int { return strings.Compare(a.Door, b.Door) })
}

// The guest book's events a commit stores while the book's lock is held
// elsewhere (another replica's commit) are stored pending, without their
// order; once the lock is free they are numbered, door by door, by the
// store's own catch-up (Watch, trying again while the lock is taken) or
// by the next commit, before its own; the book is that of the events
// stored, in memory and kept.
func TestBookPendingNumbered(t *testing.T) {
	dsn := pgtest.DB(t)
	st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, permits := storetest.History(5, 40)
	ctx, cancel := context.WithCancel(context.Background())
	var watching sync.WaitGroup
	defer watching.Wait()
	defer cancel()
	watching.Go(func() { st.Watch(ctx, func(ingest.Advance) {}) })
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1, 0)", int32(pgstore.LockBook)); err != nil {
		t.Fatal(err)
	}
	half := len(evs) / 2
	for i := 0; i < half; i += 7 {
		if err := st.Commit(ingest.PutsOf(evs[i:min(i+7, half)])); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		var n int
		if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM events_book_pending").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	bk, _ := st.Book()
	if n := pending(); n == 0 || bk.Len() != 0 {
		t.Fatalf("with the book's lock held elsewhere: %d events pending, %d rows in the book; want some, none", n, bk.Len())
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1, 0)", int32(pgstore.LockBook)); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 10*time.Second, "the pending events numbered with no commit", func() bool { return pending() == 0 && bk.Len() > 0 })
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1, 0)", int32(pgstore.LockBook)); err != nil {
		t.Fatal(err)
	}
	quarter := half + (len(evs)-half)/2
	for i := half; i < quarter; i += 7 {
		if err := st.Commit(ingest.PutsOf(evs[i:min(i+7, quarter)])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1, 0)", int32(pgstore.LockBook)); err != nil {
		t.Fatal(err)
	}
	for i := quarter; i < len(evs); i += 7 {
		if err := st.Commit(ingest.PutsOf(evs[i:min(i+7, len(evs))])); err != nil {
			t.Fatal(err)
		}
	}
	waitfor.Until(t, 10*time.Second, "nothing pending", func() bool { return pending() == 0 })
	bk.AddPermits(permits)
	built, err := ingest.BuildBookOf(st, permits)
	if err != nil {
		t.Fatal(err)
	}
	if bk.Len() == 0 || !reflect.DeepEqual(rowsByDoor(bk.Rows()), rowsByDoor(built.Rows())) {
		t.Fatalf("the book: %d rows; built from the events: %d", bk.Len(), built.Len())
	}
	fresh, err := pgevents.Open(ctx, dsn, pgevents.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	kept, _ := fresh.Book()
	kept.AddPermits(permits)
	if !reflect.DeepEqual(kept.Rows(), bk.Rows()) {
		t.Errorf("the book kept (%d rows) is not the one in memory (%d)", kept.Len(), bk.Len())
	}
}

// A replica's held events, written as copies (Hold), are stored by the
// commit of another replica that stores the seqs before them, as far as
// they continue the stream, and returned to it (to hand on and ack); the
// copies the stream passed are deleted, and one after a gap waits for the
// commit that fills it. The guest book has them, in order.
func TestCommitPulled(t *testing.T) {
	stores := openStores(t, pgtest.DB(t), 2)
	a, b := stores[0], stores[1]
	evs, permits := storetest.History(3, 4)
	var door []ingest.Event
	for _, e := range evs {
		if e.Door == evs[0].Door {
			door = append(door, e)
		}
	}
	if len(door) < 8 {
		t.Fatalf("a door of %d events", len(door))
	}
	// b holds seqs 2, 3 and 5..8; a stores 1
	held := append(slices.Clone(door[1:3]), door[4:8]...)
	if err := b.Hold(ingest.PutsOf(held)); err != nil {
		t.Fatal(err)
	}
	pulled, err := a.CommitPulled(ingest.PutsOf(door[:1]))
	if err != nil {
		t.Fatal(err)
	}
	seqs := func(ps []ingest.Put) []uint64 {
		var out []uint64
		for _, p := range ps {
			for _, e := range p.Events {
				out = append(out, e.Seq)
			}
		}
		return out
	}
	if got := seqs(pulled); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("pulled %v; want 2 and 3, which continue 1", got)
	}
	if th, err := a.Through(door[0].Site, door[0].Door, door[0].Epoch); err != nil || th != 3 {
		t.Fatalf("through %d, %v; want 3", th, err)
	}
	if pulled, err = a.CommitPulled(ingest.PutsOf(door[3:4])); err != nil || !slices.Equal(seqs(pulled), []uint64{5, 6, 7, 8}) {
		t.Fatalf("the commit of 4 pulled %v, %v; want 5..8", seqs(pulled), err)
	}
	var left int
	if err := a.Pool().QueryRow(context.Background(), "SELECT count(*) FROM events_held").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d held copies left (%v); want none: the stream passed them", left, err)
	}
	bk, _ := a.Book()
	bk.AddPermits(permits)
	built, err := ingest.BuildBookOf(a, permits)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bk.Rows(), built.Rows()) {
		t.Errorf("the book: %d rows; built from the events: %d", bk.Len(), built.Len())
	}
}

// openStores opens n stores on dsn's database, closed when t ends.
func openStores(t *testing.T, dsn string, n int) []*pgevents.Store {
	t.Helper()
	var stores []*pgevents.Store
	for range n {
		st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	return stores
}
