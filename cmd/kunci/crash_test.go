//go:build unix

package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestCrashSIGKILL runs the real binary as a child under a storm of
// simulated taps and door events and kills it with SIGKILL at random
// moments. After every kill the store must open, pass bbolt's consistency
// check, hold a gap-free log in one epoch, and hold the justifying event of
// every relay movement the child reported: design.md's "no event is lost,
// not by kill -9 at any moment" and "the relay moves only after the event
// that justifies it is durably stored".
func TestCrashSIGKILL(t *testing.T) {
	kills := 30
	if testing.Short() {
		kills = 20
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)
	began := time.Now()

	dir := t.TempDir()
	bin := buildKunci(t, dir)
	fx := newAgentFixture(t, bin, dir)

	var (
		epoch      string
		lastSeq    uint64
		lastLog    storeLog
		relayTotal int
		stormTotal stormStats
	)
	for i := range kills {
		run := fx.start(t, crashConfig, lastSeq)
		stats := stormThenKill(t, run, rng, time.Duration(50+rng.IntN(351))*time.Millisecond)
		stormTotal.add(stats)
		if stats.refused > 0 {
			t.Errorf("kill %d: the live agent refused %d well-formed requests, first: %s", i, stats.refused, stats.firstRefusal)
		}

		lines := run.relayLines(t)
		log := readStoreLog(t, fx.store)
		if epoch == "" {
			epoch = log.epoch
		} else if log.epoch != epoch {
			t.Fatalf("kill %d: epoch changed across a restart: %s, then %s", i, epoch, log.epoch)
		}
		if log.last <= lastSeq {
			t.Fatalf("kill %d: store ends at seq %d, not past %d of the previous run: agent.started is missing", i, log.last, lastSeq)
		}
		if got := log.types[lastSeq+1]; got != "agent.started" {
			t.Errorf("kill %d: first event of the run (seq %d) is %q, want agent.started", i, lastSeq+1, got)
		}
		checkRelayLines(t, i, lines, log, lastSeq)
		relayTotal += len(lines)
		lastSeq, lastLog = log.last, log
		if t.Failed() {
			t.Fatalf("kill %d: stopping; child stderr:\n%s", i, tail(run.stderr.String(), 40))
		}
	}
	if relayTotal == 0 {
		t.Errorf("no relay movement reported in %d runs: the storm opened nothing, or the relay log line changed", kills)
	}
	t.Logf("%d SIGKILLs in %s: %d events stored (epoch %s, seq 1..%d gap-free), %d relay movements verified against their stored events; %d storm requests answered, %d cut by a kill",
		kills, time.Since(began).Round(time.Millisecond), lastSeq, epoch, lastSeq, relayTotal, stormTotal.ok, stormTotal.failed)
	byType := map[string]int{}
	for _, typ := range lastLog.types {
		byType[typ]++
	}
	t.Logf("events by type: %v", byType)
}

// crashConfig relocks soon after a grant, so that the relay moves often.
var crashConfig = agentConfig{unlock: "200ms"}

// stormThenKill storms the agent of r with every kind of input, sends
// SIGKILL after d and waits for the child to die. A request that fails
// before the kill, or an answer other than 200 (only the live agent
// answers), is a refusal.
func stormThenKill(t *testing.T, r *agentRun, rng *rand.Rand, d time.Duration) stormStats {
	t.Helper()
	s := startStorm(t, r, rng, fullStorm)
	select {
	case <-time.After(d):
	case <-r.exited: // killRun reports it
	}
	return killRun(t, r, s)
}

// relayLine is the agent's log line after a relay movement.
type relayLine struct {
	Action string `json:"action"`
	Seq    uint64 `json:"seq"`
}

// relayLines returns the relay movements the dead child reported, in
// order. The kill may cut the last line short; any other line that is not
// JSON, an error logged, or a race report fails the test.
func (r *agentRun) relayLines(t *testing.T) []relayLine {
	t.Helper()
	out := r.stderr.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("the child reported a data race")
	}
	lines := strings.Split(out, "\n")
	var relay []relayLine
	for i, l := range lines {
		if l == "" {
			continue
		}
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			relayLine
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			if i == len(lines)-1 || strings.HasPrefix(l, "WARNING: DATA RACE") || !strings.HasPrefix(l, "{") {
				continue // cut by the kill, or the race detector's report (flagged above)
			}
			t.Errorf("stderr line %d is not JSON: %v: %s", i+1, err, l)
			continue
		}
		if rec.Level == "ERROR" {
			t.Errorf("the agent logged an error: %s", l)
		}
		if rec.Msg == "relay" {
			relay = append(relay, rec.relayLine)
		}
	}
	return relay
}

// storeLog is what the store file holds after a kill.
type storeLog struct {
	epoch string
	last  uint64
	types map[uint64]string
}

// readStoreLog opens the dead child's store, checks it with bbolt and
// checks the event log: keys 1..Sequence() with no gap (nothing is acked
// in this test, so nothing was deleted), each event naming its own seq, id
// and the store's epoch.
func readStoreLog(t *testing.T, path string) storeLog {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("open store after SIGKILL: %v", err)
	}
	defer db.Close()
	log := storeLog{types: map[uint64]string{}}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		meta := tx.Bucket([]byte("meta"))
		if meta == nil || meta.Get([]byte("epoch")) == nil {
			return errors.New("no meta bucket or epoch")
		}
		log.epoch = string(meta.Get([]byte("epoch")))
		ev := tx.Bucket([]byte("events"))
		if ev == nil {
			return errors.New("no events bucket")
		}
		want := uint64(1)
		err := ev.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("event key %x: want 8 bytes", k)
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return fmt.Errorf("event log jumps from seq %d to %d", want-1, seq)
			}
			want++
			var e struct {
				ID    string `json:"id"`
				Seq   uint64 `json:"seq"`
				Epoch string `json:"epoch"`
				Type  string `json:"type"`
			}
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if e.Seq != seq || e.Epoch != log.epoch || e.ID != fmt.Sprintf("demo/server-room/%s/%d", log.epoch, seq) {
				return fmt.Errorf("event under key %d says seq %d, epoch %q, id %q (store epoch %s)", seq, e.Seq, e.Epoch, e.ID, log.epoch)
			}
			log.types[seq] = e.Type
			log.last = seq
			return nil
		})
		if err != nil {
			return err
		}
		if s := ev.Sequence(); s != log.last {
			return fmt.Errorf("events bucket sequence is %d, last event is %d", s, log.last)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("store after SIGKILL: %v", err)
	}
	return log
}

// checkRelayLines requires every movement of run i to follow its own
// stored justification: door.unlocked for unlock, door.locked for lock,
// from this run, in order, alternating from the locked state of the start.
func checkRelayLines(t *testing.T, i int, lines []relayLine, log storeLog, prevSeq uint64) {
	t.Helper()
	want := map[string]string{"unlock": "door.unlocked", "lock": "door.locked"}
	after, next := prevSeq, "unlock"
	for j, l := range lines {
		typ, ok := log.types[l.Seq]
		switch {
		case want[l.Action] == "":
			t.Errorf("kill %d: relay line %d: action %q", i, j, l.Action)
		case !ok:
			t.Errorf("kill %d: relay %s reported with seq %d, which is not in the store (last %d)", i, l.Action, l.Seq, log.last)
		case typ != want[l.Action]:
			t.Errorf("kill %d: relay %s reported with seq %d, which is a %s event, want %s", i, l.Action, l.Seq, typ, want[l.Action])
		case l.Seq <= after:
			t.Errorf("kill %d: relay %s reported with seq %d, not after %d", i, l.Action, l.Seq, after)
		case l.Action != next:
			t.Errorf("kill %d: relay line %d: %s, want %s (movements alternate from locked)", i, j, l.Action, next)
		}
		after = l.Seq
		if l.Action == "unlock" {
			next = "lock"
		} else {
			next = "unlock"
		}
	}
}
