package agent_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/syncbuf"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Bounds of the tests: a few hundred pages freed are enough to compact.
const (
	testFreePages = 32
	testFreeShare = 2
)

// neverCompact keeps s from compacting until the test lowers its bounds.
func neverCompact(s *agent.Store) { agent.CompactBounds(s, math.MaxInt, 1, 0, time.Minute) }

func testBounds(s *agent.Store) {
	agent.CompactBounds(s, testFreePages, testFreeShare, 1<<30, time.Minute)
}

// fillStore gives st what a door's store holds after a drain: 200
// permits, the entries used of four, three nonces, and 4,000 events of
// which the first 3,400 are acked and deleted, freeing their pages.
func fillStore(t *testing.T, st *agent.Store) {
	t.Helper()
	var recs []permit.Record
	for i := range 200 {
		p := guestPermit(fmt.Sprintf("P-%04d", i), cardOf(byte(i)), "S-ESC")
		recs = append(recs, permit.Record{Permit: &p})
	}
	if n, _, err := st.ApplyAll(recs); err != nil || n != 200 {
		t.Fatalf("ApplyAll = %d, %v", n, err)
	}
	for i := range 3 {
		if _, err := st.ClaimNonce(fmt.Sprintf("cmd-%d", i), t0.Add(time.Hour), agent.Time{Now: t0, Trusted: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		b := &agent.Batch{Used: []string{fmt.Sprintf("P-%04d", i)}}
		for range 1000 {
			b.Events = append(b.Events, agent.Event{Type: wire.EvTap, At: t0, ClockSynced: true, Boot: "b1",
				MonoNS: int64(i), Reader: agent.ReaderEntry, Permit: "P-0001", Detail: strings.Repeat("x", 200)})
		}
		if err := st.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Ack(3400); err != nil {
		t.Fatal(err)
	}
}

// drainedStore is a new store filled by fillStore, which compacts only
// once the test lowers its bounds.
func drainedStore(t *testing.T) (*agent.Store, string) {
	t.Helper()
	st, path := newStore(t)
	neverCompact(st)
	fillStore(t, st)
	return st, path
}

// bucketDump is one bucket's sequence and keys, values as
// strings: what the tests compare before and after a compaction.
type bucketDump struct {
	seq uint64
	kv  map[string]string
}

// dump returns every bucket of db with its sequence, keys and values.
func dump(t *testing.T, db *bolt.DB) map[string]bucketDump {
	t.Helper()
	out := map[string]bucketDump{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			d := bucketDump{seq: b.Sequence(), kv: map[string]string{}}
			out[string(name)] = d
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return fmt.Errorf("bucket %s: nested bucket %q", name, k)
				}
				d.kv[string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dumpFile(t *testing.T, path string) map[string]bucketDump {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return dump(t, db)
}

// sameDump reports where got differs from want, "" when it does not.
func sameDump(got, want map[string]bucketDump) string {
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w, g := want[name], got[name]
		switch {
		case g.kv == nil:
			diffs = append(diffs, fmt.Sprintf("bucket %s missing", name))
		case g.seq != w.seq:
			diffs = append(diffs, fmt.Sprintf("bucket %s: sequence %d, want %d", name, g.seq, w.seq))
		case !maps.Equal(g.kv, w.kv):
			diffs = append(diffs, fmt.Sprintf("bucket %s: %d keys, want %d, or values differ", name, len(g.kv), len(w.kv)))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("bucket %s not in the old store", name))
		}
	}
	return strings.Join(diffs, "; ")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func noCopyLeft(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path + agent.CompactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the compaction's copy %s: %v; want it gone", path+agent.CompactSuffix, err)
	}
}

// TestCompactKeepsEverything: a compaction gives the freed pages back and
// keeps every bucket, key, value and sequence (events, permits, nonces,
// the card index, the meta); the quota's count stays right and the store
// goes on appending and acking in the new file, across a restart too.
func TestCompactKeepsEverything(t *testing.T) {
	st, path := drainedStore(t)
	free := agent.FreePages(st)
	want, before, space := dump(t, st.DB()), fileSize(t, path), st.Space()
	if free < testFreePages {
		t.Fatalf("%d free pages after the deletions; the test needs %d", free, testFreePages)
	}
	testBounds(st)
	if err := agent.CompactIfDue(st, true); err != nil {
		t.Fatalf("compact = %v", err)
	}
	c := st.Compactions()
	if c.Done != 1 || c.Failed != 0 || c.Skipped != 0 || !c.Last.Online || c.Last.FreePages != free {
		t.Errorf("Compactions() = %+v; want one done online of %d free pages", c, free)
	}
	after := fileSize(t, path)
	if after >= before || c.Last.BeforeBytes != before || c.Last.AfterBytes != after {
		t.Errorf("file %d bytes, before %d (reported %d, %d); want smaller", after, before, c.Last.BeforeBytes, c.Last.AfterBytes)
	}
	if n := agent.FreePages(st); n >= testFreePages {
		t.Errorf("%d free pages after the compaction", n)
	}
	if d := sameDump(dump(t, st.DB()), want); d != "" {
		t.Fatalf("after the compaction: %s", d)
	}
	noCopyLeft(t, path)
	checkDB(t, st)
	if got := st.Space(); got.Pending != space.Pending || got.Level != space.Level {
		t.Errorf("Space() = %+v after, %+v before", got, space)
	}
	evs := appendEvents(t, st, wire.EvOpened, wire.EvClosed)
	if evs[0].Seq != 4001 || st.Space().Pending != 602 {
		t.Errorf("appended seq %d, pending %d; want 4001, 602", evs[0].Seq, st.Space().Pending)
	}
	if err := st.Ack(4001); err != nil {
		t.Fatal(err)
	}
	if p := st.Space().Pending; p != 1 {
		t.Errorf("pending %d after the ack; want 1", p)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	if got := seqs(allEvents(t, st)); !slices.Equal(got, []uint64{4002}) {
		t.Errorf("after a restart the store holds %v; want [4002]", got)
	}
	if fresh, err := st.ClaimNonce("cmd-1", t0.Add(time.Hour), agent.Time{Now: t0, Trusted: true}); err != nil || fresh {
		t.Errorf("ClaimNonce(cmd-1) = %v, %v after the compaction; want a replay", fresh, err)
	}
	if got := cardSays(t, st, cardOf(7)); !strings.Contains(got, "P-0007") {
		t.Errorf("card 7: %s; want its permit", got)
	}
}

// TestCompactFromAck: the deletions of acked events compact the store
// once they free enough; a compaction that is not due does nothing.
func TestCompactFromAck(t *testing.T) {
	st, path := newStore(t)
	testBounds(st)
	appendEvents(t, st, wire.EvTap)
	if err := st.Ack(1); err != nil {
		t.Fatal(err)
	}
	if c := st.Compactions(); c.Done != 0 {
		t.Fatalf("compacted with nothing freed: %+v", c)
	}
	fillStore(t, st)
	if c := st.Compactions(); c.Done != 1 || !c.Last.Online || c.Last.AfterBytes >= c.Last.BeforeBytes {
		t.Errorf("Compactions() = %+v; want one, online, the file smaller", c)
	}
	if n := len(allEvents(t, st)); n != 601 {
		t.Errorf("%d events after; want the 601 not acked", n)
	}
	noCopyLeft(t, path)
}

// TestCompactFailsAtEachStep: a compaction that fails before its copy is
// renamed over the store leaves the old file in use, whole, and no copy
// beside it; once renamed, a failure to sync the directory does not stop
// the swap (the writes must go to the new file). Either way nothing is
// lost and the store goes on working.
func TestCompactFailsAtEachStep(t *testing.T) {
	for _, step := range agent.CompactSteps {
		t.Run(step, func(t *testing.T) {
			st, path := drainedStore(t)
			want, before := dump(t, st.DB()), fileSize(t, path)
			testBounds(st)
			injected := errors.New("injected at " + step)
			agent.CompactStep(st, func(s string) error {
				if s == step {
					return injected
				}
				return nil
			})
			err := agent.CompactIfDue(st, false)
			c := st.Compactions()
			renamed := slices.Index(agent.CompactSteps, step) > slices.Index(agent.CompactSteps, "rename")
			if renamed {
				if err != nil || c.Done != 1 || c.Failed != 0 || fileSize(t, path) >= before {
					t.Errorf("compact = %v, %+v, file %d bytes (before %d); want it done", err, c, fileSize(t, path), before)
				}
			} else if !errors.Is(err, injected) || c.Done != 0 || c.Failed != 1 || fileSize(t, path) != before {
				t.Errorf("compact = %v, %+v, file %d bytes (before %d); want it failed, the old file kept", err, c, fileSize(t, path), before)
			}
			noCopyLeft(t, path)
			if d := sameDump(dump(t, st.DB()), want); d != "" {
				t.Fatalf("after the failure: %s", d)
			}
			checkDB(t, st)
			agent.CompactStep(st, nil)
			evs := appendEvents(t, st, wire.EvOpened)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = openStore(t, path)
			if got := allEvents(t, st); len(got) != 601 || got[600].Seq != evs[0].Seq {
				t.Errorf("after a restart %d events, the last %v; want 601, the last %d", len(got), got[len(got)-1].Seq, evs[0].Seq)
			}
		})
	}
}

// compactChildEnv names, in the test binary started again as a child, the
// store to compact and the step to stop at (compactChild).
const compactChildEnv = "KUNCI_TEST_COMPACT_CHILD"

// compactChild runs in the child of TestCompactKilled: it compacts the
// store as NewDoor does, and at the step named it says so on stdout and
// waits for the parent's kill -9 (its stdin closing is the parent gone).
func compactChild(spec string) {
	path, step, _ := strings.Cut(spec, "|")
	st, err := agent.OpenStore(path, testSite, testDoor)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	testBounds(st)
	agent.CompactStep(st, func(s string) error {
		if s == step {
			fmt.Println("at " + s)
			io.Copy(io.Discard, os.Stdin) // until killed
			os.Exit(3)
		}
		return nil
	})
	fmt.Println("compact:", agent.CompactIfDue(st, false))
	os.Exit(4)
}

// TestCompactKilled: a kill -9 at each step of a compaction (during the
// copy too) leaves the old store or the new one, whole, with every
// bucket, key, value and sequence; OpenStore removes the copy left, and
// the store takes writes again.
func TestCompactKilled(t *testing.T) {
	for _, step := range agent.CompactSteps {
		t.Run(step, func(t *testing.T) {
			st, path := drainedStore(t)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			want, before := dumpFile(t, path), fileSize(t, path)

			cmd := selfCommand("-test.run=^$")
			cmd.Env = append(os.Environ(), compactChildEnv+"="+path+"|"+step)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, rerr := bufio.NewReader(out).ReadString('\n')
			if kerr := cmd.Process.Kill(); kerr != nil {
				t.Error(kerr)
			}
			cmd.Wait()
			if rerr != nil || line != "at "+step+"\n" {
				t.Fatalf("child said %q, %v; want it at %s", line, rerr, step)
			}

			renamed := slices.Index(agent.CompactSteps, step) > slices.Index(agent.CompactSteps, "rename")
			if size := fileSize(t, path); renamed != (size < before) {
				t.Errorf("store %d bytes after a kill at %s, %d before; want the %s file", size, step, before,
					map[bool]string{true: "new", false: "old"}[renamed])
			}
			st = openStore(t, path)
			noCopyLeft(t, path)
			if d := sameDump(dump(t, st.DB()), want); d != "" {
				t.Fatalf("after a kill at %s: %s", step, d)
			}
			checkDB(t, st)
			if evs := appendEvents(t, st, wire.EvOpened); evs[0].Seq != 4001 {
				t.Errorf("appended seq %d; want 4001", evs[0].Seq)
			}
		})
	}
}

// TestCompactWritesWaitForTheCopy: a door write that comes during the
// copy waits for it and lands in the new file; reads go on meanwhile.
func TestCompactWritesWaitForTheCopy(t *testing.T) {
	st, path := drainedStore(t)
	testBounds(st)
	appended := make(chan error, 1)
	var during []error
	var doneEarly bool
	agent.CompactStep(st, func(step string) error {
		if step != "copy" || len(during) > 0 {
			return nil
		}
		go func() { appended <- st.Append(&agent.Batch{Events: []agent.Event{{Type: wire.EvOpened, At: t0}}}) }()
		waitfor.Until(t, 10*time.Second, "the write to wait", func() bool { return agent.DoorWritesWaiting(st) > 0 })
		select {
		case <-appended:
			doneEarly = true
		default:
		}
		_, err := st.LastSeq()
		_, rerr := st.EventsJSON(3400, 10)
		during = append(during, err, rerr, nil)
		return nil
	})
	if err := agent.CompactIfDue(st, true); err != nil {
		t.Fatal(err)
	}
	if err := <-appended; err != nil {
		t.Fatalf("the write during the copy: %v", err)
	}
	if doneEarly {
		t.Error("the write during the copy went into the old file before the swap")
	}
	if len(during) == 0 || errors.Join(during...) != nil {
		t.Errorf("reads during the copy: %v", during)
	}
	if c := st.Compactions(); c.Done != 1 {
		t.Errorf("Compactions() = %+v", c)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, path)
	if got := allEvents(t, st); len(got) != 601 || got[600].Type != wire.EvOpened || got[600].Seq != 4001 {
		t.Errorf("after a restart %d events; want the write of the copy's time, 4001, last", len(got))
	}
}

// TestCompactOnlineBounded: online, a copy past its pause is abandoned
// (the writes waited that long at most), counted, and not tried again
// online soon, but at start, unbounded; too much live data is not tried
// online at all, but at start; too little disk room is skipped, counted,
// and tried again once the drain's deletions halved the live data.
func TestCompactOnlineBounded(t *testing.T) {
	t.Run("slow", func(t *testing.T) {
		st, path := drainedStore(t)
		before := fileSize(t, path)
		agent.CompactBounds(st, testFreePages, testFreeShare, 1<<30, time.Nanosecond)
		if err := agent.CompactIfDue(st, true); !errors.Is(err, agent.ErrCompactSlow) {
			t.Fatalf("compact = %v; want %v", err, agent.ErrCompactSlow)
		}
		if err := agent.CompactIfDue(st, true); err != nil {
			t.Fatalf("compact again = %v; want no try before the free pages double", err)
		}
		if c := st.Compactions(); c.Failed != 1 || c.Done != 0 || fileSize(t, path) != before {
			t.Errorf("Compactions() = %+v, file %d (before %d); want one failed, the file kept", c, fileSize(t, path), before)
		}
		noCopyLeft(t, path)
		if err := agent.CompactIfDue(st, false); err != nil || st.Compactions().Done != 1 {
			t.Errorf("at start: %v, %+v; want it done, its copy unbounded", err, st.Compactions())
		}
	})
	t.Run("live", func(t *testing.T) {
		st, _ := drainedStore(t)
		agent.CompactBounds(st, testFreePages, testFreeShare, 4096, time.Minute)
		if err := agent.CompactIfDue(st, true); err != nil || st.Compactions() != (agent.CompactStats{}) {
			t.Errorf("online with live data above the bound: %v, %+v; want nothing tried", err, st.Compactions())
		}
		if err := agent.CompactIfDue(st, false); err != nil || st.Compactions().Done != 1 {
			t.Errorf("at start: %v, %+v; want it done", err, st.Compactions())
		}
	})
	t.Run("disk", func(t *testing.T) {
		st, path := drainedStore(t)
		before := fileSize(t, path)
		testBounds(st)
		free := uint64(agent.DefaultMinFree + 1<<20) // the quota's room, and less than the copy needs
		agent.SetFreeSpace(st, func(string) (uint64, bool) { return free, true })
		level := st.Space().Level
		if err := agent.CompactIfDue(st, true); !errors.Is(err, agent.ErrCompactNoRoom) {
			t.Fatalf("compact = %v; want %v", err, agent.ErrCompactNoRoom)
		}
		if c := st.Compactions(); c.Skipped != 1 || c.Done != 0 || fileSize(t, path) != before || st.Space().Level != level {
			t.Errorf("Compactions() = %+v, file %d (before %d), level %v (was %v); want one skipped, the file kept",
				c, fileSize(t, path), before, st.Space().Level, level)
		}
		noCopyLeft(t, path)
		free = 1 << 40
		if err := agent.CompactIfDue(st, true); err != nil || st.Compactions().Done != 0 {
			t.Errorf("online again: %v, %+v; want no try before the free pages double or the live data halves", err, st.Compactions())
		}
		if err := st.Ack(4000); err != nil { // the rest of the drain: the live data halves
			t.Fatal(err)
		}
		if c := st.Compactions(); c.Done != 1 || fileSize(t, path) >= before {
			t.Errorf("after the rest of the drain: %+v, file %d (before %d); want it done", c, fileSize(t, path), before)
		}
	})
}

// TestCompactUnderLoad: readers (the pump, the status, the API) and the
// door's writes run throughout while the store compacts again and again
// from its acks; none sees an error or a closed file, every write lands,
// and the quota's count stays right. Run it with -race.
func TestCompactUnderLoad(t *testing.T) {
	const rounds = 6
	st, path := newStore(t)
	agent.CompactBounds(st, 8, testFreeShare, 1<<30, time.Minute)
	for i := range 50 {
		p := guestPermit(fmt.Sprintf("P-%04d", i), cardOf(byte(i)), "S-ESC")
		if _, err := st.Apply(permit.Record{Permit: &p}); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	report := func(err error) {
		if err != nil {
			select {
			case errs <- err:
			default:
			}
		}
	}
	loop := func(read func() error) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				report(read())
			}
		})
	}
	loop(func() error { _, err := st.EventsJSON(0, 100); return err })
	loop(func() error { _, err := st.Acked(); return err })
	loop(func() error { _, err := st.Card(cardOf(3)); return err })
	loop(func() error { _, _, err := st.State(); return err })
	loop(func() error { _ = st.Space(); _, err := st.LastSeq(); return err })
	// the door's writes, 50 of them while the rounds run: a door writing
	// without a pause would hold the deletions back throughout (Ack gives
	// way to its writes)
	var written atomic.Uint64
	wg.Go(func() {
		for range 50 {
			select {
			case <-stop:
				return
			default:
			}
			err := st.Append(&agent.Batch{Events: []agent.Event{{Type: wire.EvTap, At: t0}}})
			report(err)
			if err == nil {
				written.Add(1)
			}
		}
	})
	for round := range rounds {
		b := &agent.Batch{}
		for range 500 {
			b.Events = append(b.Events, agent.Event{Type: wire.EvTap, At: t0, Detail: strings.Repeat("y", 300)})
		}
		if err := st.Append(b); err != nil {
			t.Fatal(err)
		}
		last, err := st.LastSeq()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Ack(last); err != nil {
			t.Fatalf("round %d: Ack = %v", round, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("during the compactions: %v", err)
	}
	c := st.Compactions()
	if c.Done < rounds/2 || c.Failed != 0 {
		t.Errorf("Compactions() = %+v; want one at least every other round", c)
	}
	last, err := st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	acked, err := st.Acked()
	if err != nil {
		t.Fatal(err)
	}
	stored := uint64(len(allEvents(t, st)))
	if last != rounds*500+written.Load() || stored != last-acked || st.Space().Pending != stored {
		t.Errorf("last seq %d, acked %d, stored %d, pending %d; want %d appended, pending the stored",
			last, acked, stored, st.Space().Pending, rounds*500+written.Load())
	}
	noCopyLeft(t, path)
}

// TestDoorCompactsAtStart: a door started on a store left with many free
// pages compacts it before it takes input, logs the sizes and counts it in
// /metrics.
func TestDoorCompactsAtStart(t *testing.T) {
	st, path := drainedStore(t)
	before := fileSize(t, path)
	testBounds(st)
	var logged syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	reg := metrics.NewRegistry()
	d, err := agent.NewDoor(testConfig(), st, &agenttest.Relay{}, agenttest.NewClock(t0, true), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	run := startDoor(d)
	defer run.stop()
	if err := d.Submit(context.Background(), agent.Tick{}); err != nil {
		t.Fatal(err)
	}
	if after := fileSize(t, path); after >= before {
		t.Errorf("store %d bytes after the start, %d before", after, before)
	}
	text := string(reg.Text())
	for _, want := range []string{"kunci_agent_store_compactions_total 1\n", "kunci_agent_store_compactions_failed_total 0\n",
		"kunci_agent_store_compactions_skipped_total 0\n", "kunci_agent_store_compaction_seconds ", "kunci_agent_store_free_pages "} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	line := logged.String()
	if !strings.Contains(line, "store compacted") || !strings.Contains(line, fmt.Sprintf("before_bytes=%d", before)) ||
		!strings.Contains(line, "after_bytes=") {
		t.Errorf("log %q; want the compaction with its sizes", line)
	}
}

// selfCommand runs the test binary again. Under qemu-user (.ci/run's Pi
// tests) the binary is the Pi's and the host cannot exec it: .ci/run
// names the emulator in KUNCI_TEST_EXEC, which runs it as go test's
// -exec does.
func selfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv("KUNCI_TEST_EXEC"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}
