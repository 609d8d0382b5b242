package waitfor

import (
	"errors"
	"testing"
	"time"
)

// The polls start at minPoll and double up to maxPoll, so that a condition
// met at once costs nothing and a long wait does not spin.
const (
	minPoll = time.Millisecond
	maxPoll = 20 * time.Millisecond
)

// Try calls try until it returns nil or maxWait has passed, and returns
// try's last error: nil when it succeeded. try is called at least once, and
// once more after the deadline, so that a wait that ends just as the
// condition comes true does not fail.
func Try(maxWait time.Duration, try func() error) error {
	deadline := time.Now().Add(maxWait)
	poll := minPoll
	for {
		err := try()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(poll)
		poll = min(2*poll, maxPoll)
	}
}

var errNotYet = errors.New("not yet")

// Until calls cond until it returns true; when timeout passes first it
// fails t, naming what was awaited. Call it from the test's goroutine: cond
// may call t.Fatal.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := Try(timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
	if err != nil {
		t.Fatalf("waitfor: %s: still not so after %v", what, timeout)
	}
}

// NoError calls check until it returns nil; when timeout passes first it
// fails t with check's last error, which says what is still wrong. Call it
// from the test's goroutine: check may call t.Fatal.
func NoError(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := Try(timeout, check); err != nil {
		t.Fatalf("waitfor: after %v: %v", timeout, err)
	}
}
