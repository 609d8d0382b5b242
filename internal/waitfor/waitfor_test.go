package waitfor_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/internal/waitfor"
)

// fakeTB records a failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestTrySucceedsAtOnceWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		calls := 0
		if err := waitfor.Try(time.Hour, func() error { calls++; return nil }); err != nil {
			t.Fatalf("Try = %v", err)
		}
		if calls != 1 || time.Since(start) != 0 {
			t.Errorf("%d calls, %v of bubble time; want 1 call and none", calls, time.Since(start))
		}
	})
}

func TestTryWaitsForTheCondition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ready atomic.Bool
		time.AfterFunc(time.Second, func() { ready.Store(true) })
		err := waitfor.Try(10*time.Second, func() error {
			if !ready.Load() {
				return errors.New("not ready")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Try = %v", err)
		}
	})
}

func TestTryReturnsTheLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := 0
		err := waitfor.Try(time.Second, func() error {
			n++
			return errors.New("attempt " + string(rune('0'+min(n, 9))))
		})
		if err == nil {
			t.Fatal("Try of a check that never passes = nil")
		}
		if n < 3 {
			t.Errorf("%d attempts in a second; want it to keep trying", n)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("gave up after %v; want at least the second", d)
		}
	})
}

func TestUntilFailsWithWhat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &fakeTB{TB: t}
		waitfor.Until(tb, time.Second, "the door", func() bool { return false })
		if !strings.Contains(tb.failed, "the door") {
			t.Fatalf("Until of a condition that never holds failed with %q; want it to name what it awaited", tb.failed)
		}
		tb = &fakeTB{TB: t}
		waitfor.Until(tb, time.Second, "the door", func() bool { return true })
		if tb.failed != "" {
			t.Fatal("Until of a condition that holds failed")
		}
	})
}

func TestNoErrorFailsWithTheLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := &fakeTB{TB: t}
		waitfor.NoError(tb, time.Second, func() error { return errors.New("relay still open") })
		if !strings.Contains(tb.failed, "relay still open") {
			t.Fatalf("NoError of a check that never passes failed with %q; want the check's error", tb.failed)
		}
	})
}
