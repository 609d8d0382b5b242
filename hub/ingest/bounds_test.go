package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// bigMsg is msg with a detail of n bytes.
func bigMsg(site, door, epoch string, seq uint64, n int) mqttlink.Message {
	m := msg(site, door, epoch, seq)
	m.Payload = []byte(strings.Replace(string(m.Payload), `"type":"tap"`, `"type":"tap","detail":"`+strings.Repeat("x", n)+`"`, 1))
	return m
}

// liveHeap returns the bytes of the live heap, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// storedSeqs returns the seqs stored of a stream, in order, and fails t
// if one is stored twice or out of order.
func storedSeqs(t *testing.T, st *ingest.Store, site, door, epoch string) []uint64 {
	t.Helper()
	evs, err := st.Events(site, door, epoch, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range evs {
		if len(out) > 0 && e.Seq <= out[len(out)-1] {
			t.Fatalf("stored seq %d after %d", e.Seq, out[len(out)-1])
		}
		out = append(out, e.Seq)
	}
	return out
}

// TestFloodStaysBounded is issue 13's first finding: one door's
// credential sends made-up epochs of events with a 15 KB detail, each
// beyond a gap, so that the hub would hold them all. What the hub holds
// stays within its bounds in bytes and in epochs, its heap does not grow
// with the flood, the door's real events are stored exactly once, and
// everything held goes once the flood stops.
func TestFloodStaysBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, err := ingest.New(st, signed(ingest.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		_, stop := run(t, in)
		defer stop()
		before := liveHeap()
		const epochs, perEpoch, detail = 4, 2048, 15000
		for seq := uint64(1); seq <= 50; seq++ {
			in.Handle(msg("demo", "server-room", "real", seq))
		}
		var maxBytes, maxEpochs uint64
		for ep := range epochs {
			for i := range uint64(perEpoch) {
				in.Handle(bigMsg("demo", "server-room", fmt.Sprintf("made-up-%d", ep), i+2, detail))
				if i%256 == 0 {
					synctest.Wait()
					s := in.Stats()
					maxBytes, maxEpochs = max(maxBytes, s.HeldBytes), max(maxEpochs, s.HeldEpochs)
				}
			}
		}
		// the real door goes on meanwhile: a gap in its epoch finds the
		// door's epochs taken, its events are dropped and sent again
		for _, seq := range []uint64{52, 53, 51, 52, 53, 54} {
			in.Handle(msg("demo", "server-room", "real", seq))
		}
		in.Handle(msg("demo", "lab", "other", 2))
		in.Handle(msg("demo", "lab", "other", 1))
		settle()
		s := in.Stats()
		maxBytes, maxEpochs = max(maxBytes, s.HeldBytes), max(maxEpochs, s.HeldEpochs)
		grown := int64(liveHeap()) - int64(before)
		t.Logf("held at most %d bytes in %d epochs; heap grew %d bytes; stats %+v", maxBytes, maxEpochs, grown, s)
		if maxBytes > ingest.DefaultMaxHeldBytes || maxEpochs > ingest.DefaultMaxHeldEpochs {
			t.Errorf("held up to %d bytes in %d epochs; want at most %d bytes in %d", maxBytes, maxEpochs,
				ingest.DefaultMaxHeldBytes, ingest.DefaultMaxHeldEpochs)
		}
		// 4 MiB held, clipped to MaxDetail: far below what the flood
		// sent (4 × 2048 × 15 KB, 123 MB)
		if grown > 32<<20 {
			t.Errorf("live heap grew %d MiB with the flood; want under 32", grown>>20)
		}
		if s.Dropped == 0 || s.Clipped != epochs*perEpoch {
			t.Errorf("stats %+v: want drops, and every flood event clipped", s)
		}
		if got := storedSeqs(t, st, "demo", "server-room", "real"); !slices.Equal(got, seqs(1, 54)) {
			t.Errorf("the door's real epoch stored %v; want 1..54 once each", got)
		}
		if got := storedSeqs(t, st, "demo", "lab", "other"); !slices.Equal(got, seqs(1, 2)) {
			t.Errorf("another door stored %v; want 1, 2", got)
		}
		for ep := range epochs {
			if th, _ := st.Through("demo", "server-room", fmt.Sprintf("made-up-%d", ep)); th != 0 {
				t.Errorf("made-up epoch %d stored through %d", ep, th)
			}
		}
		// the flood stops: held events go after HeldIdle, the gaps after
		// GapIdle
		time.Sleep(ingest.DefaultHeldIdle + ingest.DefaultStallAfter)
		synctest.Wait()
		if s := in.Stats(); s.HeldBytes != 0 || s.HeldEpochs != ingest.DefaultMaxHeldEpochs || s.Gaps != 2 {
			t.Errorf("after HeldIdle: stats %+v; want nothing held, the two gaps still reported", s)
		}
		time.Sleep(ingest.DefaultGapIdle)
		synctest.Wait()
		if s := in.Stats(); s.HeldBytes != 0 || s.HeldEpochs != 0 || s.Gaps != 0 || len(in.Gaps()) != 0 {
			t.Errorf("after GapIdle: stats %+v, gaps %v; want none", s, in.Gaps())
		}
	})
}

// TestHeldBounds: each bound on what is held drops the events beyond it,
// keeping the lowest seqs, counting each drop under its reason.
func TestHeldBounds(t *testing.T) {
	ev := func(door, epoch string, seq uint64) mqttlink.Message { return bigMsg("demo", door, epoch, seq, 900) }
	for _, tc := range []struct {
		name     string
		o        ingest.Options
		msgs     []mqttlink.Message
		why      string
		n        uint64
		maxBytes uint64 // bytes held at most at the end, 0: not checked
	}{
		// an event costs some 2.5 KB held: two fit in 6000 bytes
		{"door bytes", ingest.Options{MaxHeldBytes: 6000}, []mqttlink.Message{ev("a", "e", 5), ev("a", "e", 6), ev("a", "e", 7),
			ev("a", "e", 8), ev("a", "e", 3), ev("a", "f", 9)}, "door_bytes", 4, 6000},
		{"total bytes", ingest.Options{MaxHeldTotal: 6000}, []mqttlink.Message{ev("a", "e", 5), ev("a", "e", 6), ev("b", "e", 7),
			ev("b", "e", 8), ev("c", "e", 2)}, "total_bytes", 3, 6000},
		{"door epochs", ingest.Options{MaxHeldEpochs: 1}, []mqttlink.Message{ev("a", "e", 5), ev("a", "f", 6), ev("a", "f", 7),
			ev("b", "f", 8)}, "epochs", 2, 0},
		{"hub streams", ingest.Options{MaxHeldStreams: 2}, []mqttlink.Message{ev("a", "e", 5), ev("b", "f", 6), ev("c", "f", 7),
			ev("a", "e", 8)}, "epochs", 1, 0},
		{"stream count", ingest.Options{MaxHeld: 2}, []mqttlink.Message{ev("a", "e", 5), ev("a", "e", 6), ev("a", "e", 7),
			ev("a", "e", 4)}, "held_limit", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
				tc.o.Metrics = metrics.NewRegistry()
				in, err := ingest.New(st, signed(tc.o))
				if err != nil {
					t.Fatal(err)
				}
				_, stop := run(t, in)
				defer stop()
				for _, m := range tc.msgs {
					in.Handle(m)
					synctest.Wait()
				}
				s := in.Stats()
				if got := dropsOf(tc.o.Metrics, tc.why); got != tc.n || s.Dropped != tc.n {
					t.Errorf("drops for %s: %d, stats %+v; want %d of that reason only\n%s", tc.why, got, s, tc.n, tc.o.Metrics.Text())
				}
				if s.HeldBytes == 0 || tc.maxBytes > 0 && s.HeldBytes > tc.maxBytes {
					t.Errorf("held %d bytes; want some, at most %d", s.HeldBytes, tc.maxBytes)
				}
			})
		})
	}
}

// dropsOf reads kunci_hub_events_dropped_total{reason=why} from r.
func dropsOf(r *metrics.Registry, why string) uint64 {
	var n uint64
	for line := range strings.Lines(string(r.Text())) {
		if v, ok := strings.CutPrefix(line, `kunci_hub_events_dropped_total{reason="`+why+`"} `); ok {
			fmt.Sscan(v, &n)
		}
	}
	return n
}

// TestHeldIdleDropped: a stream that sends nothing for HeldIdle has its
// held events dropped; its gap stays reported, and the door's resend from
// its ack fills it.
func TestHeldIdleDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		pub, stop := run(t, in)
		defer stop()
		for _, s := range []uint64{1, 2, 4, 5, 6} {
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		if s := in.Stats(); s.HeldBytes == 0 || s.HeldEpochs != 1 {
			t.Fatalf("stats %+v; want 4..6 held", s)
		}
		time.Sleep(ingest.DefaultHeldIdle + ingest.DefaultStallAfter)
		synctest.Wait()
		s := in.Stats()
		if s.HeldBytes != 0 || s.Dropped != 3 || s.Gaps != 1 {
			t.Fatalf("after HeldIdle: stats %+v; want the 3 held dropped, the gap reported", s)
		}
		if g := in.Gaps(); len(g) != 1 || g[0].From != 3 || g[0].To != 3 {
			t.Errorf("gaps %+v; want 3..3", g)
		}
		for s := uint64(3); s <= 6; s++ { // the door's resend
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		if got := storedSeqs(t, st, "demo", "server-room", "e1"); !slices.Equal(got, seqs(1, 6)) {
			t.Errorf("stored %v; want 1..6", got)
		}
		if s := in.Stats(); s.Gaps != 0 || s.HeldEpochs != 0 || len(in.Gaps()) != 0 {
			t.Errorf("stats %+v; want the gap closed", s)
		}
		if acks := sent(t, pub); acks[len(acks)-1].Through != 6 {
			t.Errorf("last ack %+v; want through 6", acks[len(acks)-1])
		}
	})
}

// gapWatch records what OnGaps was told, by door.
type gapWatch struct {
	mu   sync.Mutex
	last map[string][]ingest.Gap
	n    int
}

func (w *gapWatch) on(site, door string, gs []ingest.Gap) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[string][]ingest.Gap{}
	}
	w.last[site+"/"+door] = gs
	w.n++
}

func (w *gapWatch) of(door string) ([]ingest.Gap, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[door], w.n
}

// TestGapReportedAndAccepted: a gap open for StallAfter is reported
// (Gaps, OnGaps); the operator accepts as lost only seqs that are
// missing; then the held events are stored and acked, the run is kept in
// the store, and the gap closes.
func TestGapReportedAndAccepted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hub.db")
		st, err := ingest.OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		var w gapWatch
		var mu sync.Mutex
		var stored []uint64
		in, _ := ingest.New(st, signed(ingest.Options{OnGaps: w.on, OnStored: func(evs []ingest.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				stored = append(stored, e.Seq)
			}
		}}))

		pub, stop := run(t, in)
		start := time.Now()
		for s := uint64(5); s <= 10; s++ {
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		ctx := context.Background()
		accept := func(epoch string, through uint64) (ingest.Lost, error) {
			return in.AcceptLost(ctx, ingest.LostRequest{Site: "demo", Door: "server-room", Epoch: epoch, Through: through,
				By: "admin", Reason: "hub-events.db lost"})
		}
		if g := in.Gaps(); len(g) != 0 {
			t.Errorf("gaps %v before StallAfter; want none yet", g)
		}
		time.Sleep(ingest.DefaultStallAfter)
		synctest.Wait()
		want := []ingest.Gap{{Site: "demo", Door: "server-room", Epoch: "e1", From: 1, To: 4, Since: start}}
		if g := in.Gaps(); !slices.Equal(g, want) {
			t.Fatalf("gaps %+v; want %+v", g, want)
		}
		if g, _ := w.of("demo/server-room"); !slices.Equal(g, want) {
			t.Errorf("OnGaps told %+v; want %+v", g, want)
		}
		for _, tc := range []struct {
			epoch   string
			through uint64
			want    error
		}{
			{"e1", 5, ingest.ErrLostRange}, // 5 came: never lost
			{"e1", 0, ingest.ErrLostRange},
			{"e2", 4, ingest.ErrNoGap},
		} {
			if _, err := accept(tc.epoch, tc.through); !errors.Is(err, tc.want) {
				t.Errorf("AcceptLost(%s, %d) = %v; want %v", tc.epoch, tc.through, err, tc.want)
			}
		}
		// part of the gap first: the rest stays reported
		if _, err := accept("e1", 2); err != nil {
			t.Fatal(err)
		}
		want[0].From = 3
		if g := in.Gaps(); !slices.Equal(g, want) {
			t.Errorf("gaps %+v after accepting 1..2; want %+v", g, want)
		}
		l, err := accept("e1", 4)
		if err != nil {
			t.Fatal(err)
		}
		if l.From != 3 || l.To != 4 || l.By != "admin" || l.Reason != "hub-events.db lost" || !l.At.Equal(time.Now()) {
			t.Errorf("AcceptLost = %+v; want 3..4 by admin", l)
		}
		settle()
		mu.Lock()
		if !slices.Equal(stored, seqs(5, 10)) {
			t.Errorf("OnStored saw %v; want 5..10", stored)
		}
		mu.Unlock()
		if g := in.Gaps(); len(g) != 0 {
			t.Errorf("gaps %+v after the recovery; want none", g)
		}
		if g, _ := w.of("demo/server-room"); len(g) != 0 {
			t.Errorf("OnGaps last told %+v; want none", g)
		}
		if acks := sent(t, pub); len(acks) == 0 || acks[len(acks)-1].Through != 10 {
			t.Errorf("acks %+v; want the last through 10", acks)
		}
		if s := in.Stats(); s.Lost != 4 || s.Stored != 6 || s.HeldEpochs != 0 || s.HeldBytes != 0 {
			t.Errorf("stats %+v; want 4 lost, 6 stored, nothing held", s)
		}
		stop()
		checkDB(t, st.DB())
		st.Close()

		// what the store keeps across a restart
		st = openStore(t, path)
		lost, err := st.Lost("demo", "server-room")
		if err != nil || len(lost) != 2 || lost[0].From != 1 || lost[0].To != 2 || lost[1].From != 3 || lost[1].To != 4 {
			t.Fatalf("Lost = %+v, %v; want 1..2 and 3..4", lost, err)
		}
		if all, err := st.AllLost(); err != nil || !slices.Equal(all, lost) {
			t.Errorf("AllLost = %+v, %v; want %+v", all, err, lost)
		}
		d, err := st.Door("demo", "server-room")
		if err != nil || len(d.Epochs) != 1 || d.Epochs[0] != (ingest.Epoch{Epoch: "e1", Through: 10, Lost: 4}) || d.Count() != 6 {
			t.Errorf("Door = %+v (count %d), %v; want e1 through 10, 4 lost, 6 events", d, d.Count(), err)
		}
		var walked []uint64
		if err := st.Walk("demo", "server-room", func(e ingest.Event) error { walked = append(walked, e.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(walked, seqs(5, 10)) {
			t.Errorf("Walk = %v; want 5..10", walked)
		}
		in, _ = ingest.New(st, signed(ingest.Options{}))
		pub, stop = run(t, in)
		defer stop()
		for s := uint64(4); s <= 11; s++ { // a resend from before the recovery's ack
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		if got := storedSeqs(t, st, "demo", "server-room", "e1"); !slices.Equal(got, seqs(5, 11)) {
			t.Errorf("stored %v after the restart; want 5..11", got)
		}
		if acks := sent(t, pub); acks[len(acks)-1].Through != 11 {
			t.Errorf("acks %+v; want the last through 11", acks)
		}
	})
}

// TestAcceptLostAfterIdle: a gap whose held events went idle can still
// be accepted as lost, up to the seq before the lowest that came; the
// door's resend is then stored.
func TestAcceptLostAfterIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		_, stop := run(t, in)
		defer stop()
		for s := uint64(101); s <= 110; s++ {
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		time.Sleep(ingest.DefaultHeldIdle + ingest.DefaultStallAfter)
		synctest.Wait()
		if s := in.Stats(); s.HeldBytes != 0 || s.Gaps != 1 {
			t.Fatalf("stats %+v; want nothing held, a gap reported", s)
		}
		r := ingest.LostRequest{Site: "demo", Door: "server-room", Epoch: "e1", Through: 101, By: "admin", Reason: "x"}
		if _, err := in.AcceptLost(context.Background(), r); !errors.Is(err, ingest.ErrLostRange) {
			t.Errorf("AcceptLost through 101 = %v; want ErrLostRange", err)
		}
		r.Through = 100
		if _, err := in.AcceptLost(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		for s := uint64(101); s <= 112; s++ {
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		if got := storedSeqs(t, st, "demo", "server-room", "e1"); !slices.Equal(got, seqs(101, 112)) {
			t.Errorf("stored %v; want 101..112", got)
		}
	})
}
