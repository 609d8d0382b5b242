//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// smallDisk mounts a tmpfs of size bytes for the test, or skips when the
// machine does not let it (outside CI: it needs root).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs: %v: %s", err, out)
		}
		t.Skipf("a small file system needs mount (root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes zeros to a new file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = io.Copy(f, io.LimitReader(zeros{}, 1<<40))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v; want ENOSPC", dir, err)
	}
	return path
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// The door on a full disk, as the review found it: before, every input
// answered 503, the door was believed closed with no alarm, and the agent
// would not start again. Now the door's state follows its inputs, the
// status says the store fails, the agent starts on the full disk, locked,
// and once there is room the events held in memory are stored, in order,
// with a store.failed note.
func TestFullDisk(t *testing.T) {
	disk := smallDisk(t, "24m")
	dir := t.TempDir()
	fx := newAgentFixture(t, buildKunci(t, dir), dir)
	fx.store = filepath.Join(disk, "agent.db")
	cfg := agentConfig{unlock: "5s", extra: "store_quota: {min_free_mb: 4}\n"}
	run := fx.start(t, cfg, 0)
	filler := fill(t, disk)

	status := func(r *agentRun) wire.Status {
		t.Helper()
		var st wire.Status
		if err := r.getJSON("/status", &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// the door moves until a write fails: bbolt has some room of its own
	var st wire.Status
	for i := 0; i < 5000; i++ {
		for _, body := range []string{`{"open":true}`, `{"open":false}`} {
			if err := run.post("/sim/door", body); err != nil {
				t.Fatalf("move %d of the door on a full disk: %v", i, err)
			}
		}
		if st = status(run); slices.Contains(st.Alarms, wire.AlarmStoreFailed) {
			break
		}
	}
	if !slices.Contains(st.Alarms, wire.AlarmStoreFailed) {
		t.Fatalf("status %+v after 5,000 door moves on a full disk; want store_failed", st)
	}
	if err := run.post("/sim/door", `{"open":true}`); err != nil {
		t.Fatalf("open the door with the store failing: %v", err)
	}
	if st = status(run); st.Door != wire.Open || !slices.Contains(st.Alarms, wire.AlarmDoorForced) {
		t.Errorf("status %+v; want the door open, door_forced: the state follows the input", st)
	}
	if err := run.post("/sim/door", `{"open":false}`); err != nil {
		t.Fatal(err)
	}

	// killed, and started again on the full disk: it runs, locked
	run.cmd.Process.Kill()
	<-run.exited
	run = fx.start(t, cfg, st.Seq-1)
	if st = status(run); st.Lock != wire.Locked || !slices.Contains(st.Alarms, wire.AlarmStoreFailed) {
		t.Errorf("status after a start on a full disk %+v; want locked and store_failed", st)
	}

	// room again: within the loop's next look, the held events are stored
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 30*time.Second, "store_failed cleared once the disk has room", func() bool {
		return !slices.Contains(status(run).Alarms, wire.AlarmStoreFailed)
	})
	var notes, n int
	for after := uint64(0); ; {
		var page []wire.Event
		if err := run.getJSON(fmt.Sprintf("/events?after=%d", after), &page); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Type == wire.EvStoreFailed {
				notes++
			}
		}
		n += len(page)
		after = page[len(page)-1].Seq
	}
	if notes == 0 {
		t.Errorf("no store.failed among the %d events once the disk had room", n)
	}
	t.Logf("%d events stored, %d store.failed notes", n, notes)
}
