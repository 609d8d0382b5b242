package agenttest_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/agent/agenttest"
)

func TestRelayRecordsAndFails(t *testing.T) {
	var r agenttest.Relay
	cut := errors.New("relay wire cut")
	if err := r.Unlock(); err != nil {
		t.Fatalf("Unlock = %v", err)
	}
	r.FailLock(cut)
	if err := r.Lock(); !errors.Is(err, cut) {
		t.Fatalf("Lock after FailLock = %v; want %v", err, cut)
	}
	r.FailLock(nil)
	if err := r.Lock(); err != nil {
		t.Fatalf("Lock after FailLock(nil) = %v", err)
	}
	if err := r.Halt(); err != nil {
		t.Fatalf("Halt = %v", err)
	}
	want := []string{agenttest.CallUnlock, agenttest.CallLock, agenttest.CallLock, agenttest.CallHalt}
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls = %v; want %v", got, want)
	}
}

func TestClockSetKeepsMonotonicTime(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := agenttest.NewClock(t0, false)
	c.Advance(time.Minute)
	c.Set(t0.Add(-time.Hour), true)
	if got, want := c.Now(), t0.Add(-time.Hour); !got.Equal(want) || !c.Synced() {
		t.Errorf("Now, Synced = %v, %v; want %v, true", got, c.Synced(), want)
	}
	if c.Mono() != time.Minute {
		t.Errorf("Mono = %v; want 1m: stepping the wall clock does not move it", c.Mono())
	}
	c.SetSynced(false)
	if c.Synced() {
		t.Error("Synced after SetSynced(false) = true")
	}
	c.Reboot(time.Unix(0, 0), 3*time.Second, false)
	if !c.Now().Equal(time.Unix(0, 0)) || c.Mono() != 3*time.Second || c.Synced() {
		t.Errorf("after Reboot: Now %v, Mono %v, Synced %v; want 1970, 3s, false", c.Now(), c.Mono(), c.Synced())
	}
}

func TestRunningClockFollowsTheBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		c := agenttest.NewRunningClock(t0)
		time.Sleep(3 * time.Second)
		if !c.Now().Equal(t0.Add(3*time.Second)) || c.Mono() != 3*time.Second || !c.Synced() {
			t.Errorf("after 3 s: Now %v, Mono %v, Synced %v", c.Now(), c.Mono(), c.Synced())
		}
	})
}
