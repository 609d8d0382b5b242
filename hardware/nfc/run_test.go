package nfc_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hardware"
	"github.com/kunci-project/kunci/hardware/nfc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// agent.Door satisfies hardware.Sink; Run must accept it.
var _ nfc.Tapper = hardware.Sink(nil)

// step is one answer of the scripted reader: after waiting `after` (fake
// time inside synctest), ReadUID returns uid and err.
type step struct {
	after time.Duration
	uid   []byte
	err   error
}

// scriptReader answers ReadUID from a script, then blocks until ctx ends.
type scriptReader struct {
	mu     sync.Mutex
	steps  []step
	calls  []time.Time
	resets []time.Time
	halts  int
	// repeat, when set, is returned forever once the script is used up.
	repeat *step
}

func (r *scriptReader) ReadUID(ctx context.Context) ([]byte, error) {
	r.mu.Lock()
	r.calls = append(r.calls, time.Now())
	var s step
	var ok bool
	if len(r.steps) > 0 {
		s, r.steps, ok = r.steps[0], r.steps[1:], true
	} else if r.repeat != nil {
		s, ok = *r.repeat, true
	}
	r.mu.Unlock()
	if !ok {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if s.after > 0 {
		t := time.NewTimer(s.after)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.uid, s.err
}

func (r *scriptReader) Reset(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resets = append(r.resets, time.Now())
	return nil
}

func (r *scriptReader) String() string { return "script" }
func (r *scriptReader) Halt() error    { r.mu.Lock(); r.halts++; r.mu.Unlock(); return nil }

type tap struct {
	at  time.Time
	uid []byte
}

type sink struct {
	mu   sync.Mutex
	taps []tap
	fail int // fail this many taps first
}

func (s *sink) Tap(ctx context.Context, reader string, uid []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reader != "entry" {
		return fmt.Errorf("reader %q", reader)
	}
	if s.fail > 0 {
		s.fail--
		return errors.New("store full")
	}
	s.taps = append(s.taps, tap{time.Now(), bytes.Clone(uid)})
	return nil
}

type faultLog struct {
	mu     sync.Mutex
	faults []error
}

func (f *faultLog) report(ctx context.Context, reader string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fmt.Errorf("%s: %w", reader, err))
}

var (
	uid4  = []byte{0x12, 0x34, 0x56, 0x78}
	uid7  = []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}
	uid10 = []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}
)

// run runs nfc.Run over r for d of fake time and returns what the sink and
// the fault reporter saw.
func run(t *testing.T, r *scriptReader, s *sink, d time.Duration, opts ...nfc.Option) *faultLog {
	t.Helper()
	f := &faultLog{}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if err := nfc.Run(ctx, r, "entry", s, f.report, opts...); err != nil {
		t.Fatalf("Run = %v, want nil when ctx ends", err)
	}
	return f
}

func every(d time.Duration, n int, uid []byte) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{after: d, uid: uid}
	}
	return s
}

func TestRunDropsCardLeftOnReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var steps []step
		steps = append(steps, every(100*time.Millisecond, 30, uid7)...)        // left on for 3 s: one tap
		steps = append(steps, step{after: 600 * time.Millisecond, uid: uid7})  // away 0.6 s: still the same tap
		steps = append(steps, step{after: 1500 * time.Millisecond, uid: uid7}) // away 1.5 s: a new tap
		steps = append(steps, step{after: 10 * time.Millisecond, uid: uid4})   // another card at once: a new tap
		steps = append(steps, step{after: 10 * time.Millisecond, uid: uid7})   // and back: a new tap
		r := &scriptReader{steps: steps}
		s := &sink{}
		f := run(t, r, s, time.Minute)
		var got []string
		for _, tp := range s.taps {
			got = append(got, hex.EncodeToString(tp.uid))
		}
		want := []string{hex.EncodeToString(uid7), hex.EncodeToString(uid7), hex.EncodeToString(uid4), hex.EncodeToString(uid7)}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("taps = %v; want %v", got, want)
		}
		if len(f.faults) != 0 {
			t.Errorf("faults = %v; want none", f.faults)
		}
	})
}

func TestRunAbsentForOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{steps: []step{{uid: uid4}, {after: 300 * time.Millisecond, uid: uid4}}}
		s := &sink{}
		run(t, r, s, time.Minute, nfc.AbsentFor(200*time.Millisecond))
		if len(s.taps) != 2 {
			t.Errorf("%d taps; want 2 with AbsentFor(200ms) and 300 ms away", len(s.taps))
		}
	})
}

func TestRunFaultBackoffAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errGone := errors.New("pn532: open /dev/ttyAMA0: no such file or directory")
		r := &scriptReader{steps: []step{{err: errGone}, {err: errGone}, {err: errGone}, {err: errGone}, {uid: uid4}}}
		s := &sink{}
		start := time.Now()
		f := run(t, r, s, time.Minute)
		if len(s.taps) != 1 {
			t.Fatalf("%d taps; want 1 after the reader recovered", len(s.taps))
		}
		// Waits 0.5, 1, 2, 4 s before the resets.
		wantResets := []time.Duration{500 * time.Millisecond, 1500 * time.Millisecond, 3500 * time.Millisecond, 7500 * time.Millisecond}
		if len(r.resets) != len(wantResets) {
			t.Fatalf("%d resets; want %d", len(r.resets), len(wantResets))
		}
		for i, at := range r.resets {
			if got := at.Sub(start); got != wantResets[i] {
				t.Errorf("reset %d at %v; want %v", i, got, wantResets[i])
			}
		}
		if len(f.faults) != 1 || !errors.Is(f.faults[0], errGone) {
			t.Errorf("faults = %v; want the one error once (repeats within 10 min are not reported)", f.faults)
		}
	})
}

func TestRunDoesNotSpinOnAFailingReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{repeat: &step{err: errors.New("broken")}}
		run(t, r, &sink{}, time.Minute)
		// 0.5+1+2+4+8+16+30 s > 1 min: at most 8 reads.
		if n := len(r.calls); n > 8 {
			t.Errorf("%d reads in a minute of a failing reader; want at most 8", n)
		}
	})
}

func TestRunRepeatsAFaultAfterAWhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{repeat: &step{err: errors.New("broken")}}
		f := run(t, r, &sink{}, 25*time.Minute, nfc.Backoff(time.Second, time.Minute))
		if n := len(f.faults); n != 3 {
			t.Errorf("%d faults in 25 min; want 3 (at 0, ~10 and ~20 min)", n)
		}
	})
}

func TestRunReportsWarningsAndTaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		truncated := fmt.Errorf("evdev: %w: 4-byte uid from a decimal wedge", nfc.ErrSuspectUID)
		random := []byte{0x08, 0x01, 0x02, 0x03}
		r := &scriptReader{steps: []step{
			{uid: uid4, err: truncated},
			{after: 50 * time.Millisecond, uid: uid4, err: truncated}, // repeat of the card on the reader: not again
			{after: 2 * time.Second, uid: random},
		}}
		s := &sink{}
		f := run(t, r, s, time.Minute)
		if len(s.taps) != 2 {
			t.Errorf("%d taps; want 2: suspect uids are still tapped", len(s.taps))
		}
		if len(f.faults) != 2 || !errors.Is(f.faults[0], nfc.ErrSuspectUID) || !errors.Is(f.faults[1], nfc.ErrSuspectUID) {
			t.Errorf("faults = %v; want the truncation and the random-uid warnings", f.faults)
		}
	})
}

func TestRunRefusesBadUIDLength(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{steps: []step{{uid: []byte{1, 2, 3, 4, 5}}, {uid: uid10}}}
		s := &sink{}
		f := run(t, r, s, time.Minute)
		if len(s.taps) != 1 || !bytes.Equal(s.taps[0].uid, uid10) {
			t.Errorf("taps = %v; want only the 10-byte uid", s.taps)
		}
		if len(f.faults) != 1 || strings.Contains(f.faults[0].Error(), "0102030405") {
			t.Errorf("faults = %v; want one, without the uid", f.faults)
		}
	})
}

func TestRunRetapsWhenTheDoorCouldNotStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{steps: every(100*time.Millisecond, 20, uid7)} // card left on 2 s
		s := &sink{fail: 1}
		f := run(t, r, s, time.Minute)
		if len(s.taps) != 1 {
			t.Errorf("%d taps; want 1: the failed tap retried while the card is on the reader", len(s.taps))
		}
		if len(f.faults) != 0 {
			t.Errorf("faults = %v; a door that cannot store is not a reader fault", f.faults)
		}
	})
}

func TestRunReturnsWhenReaderHalted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{steps: []step{{uid: uid4}, {after: time.Second, err: fmt.Errorf("pn532: %w", nfc.ErrHalted)}}}
		s := &sink{}
		f := &faultLog{}
		if err := nfc.Run(t.Context(), r, "entry", s, f.report); err != nil {
			t.Fatalf("Run = %v; want nil", err)
		}
		if len(s.taps) != 1 || len(f.faults) != 0 {
			t.Errorf("taps %d, faults %v; want 1 and none", len(s.taps), f.faults)
		}
	})
}

func TestRunNilReaderAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &scriptReader{steps: []step{{}}}
		f := run(t, r, &sink{}, time.Minute)
		if len(f.faults) != 1 || len(r.resets) != 1 {
			t.Errorf("faults %v, resets %d; want a fault and a reset for (nil, nil)", f.faults, len(r.resets))
		}
	})
}

func TestRunNeverLogsTheUID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		r := &scriptReader{steps: []step{
			{uid: uid7},
			{after: 2 * time.Second, uid: uid10, err: fmt.Errorf("%w: test", nfc.ErrSuspectUID)},
			{after: 2 * time.Second, uid: uid4},
			{after: 2 * time.Second, err: errors.New("reader gone")},
			{after: 2 * time.Second, uid: uid4},
		}}
		s := &sink{fail: 1}
		run(t, r, s, time.Minute, nfc.Logger(log))
		out := strings.ToLower(buf.String())
		for _, u := range [][]byte{uid4, uid7, uid10} {
			if strings.Contains(out, hex.EncodeToString(u)) || strings.Contains(out, fmt.Sprint(u)) {
				t.Errorf("log contains a uid:\n%s", out)
			}
		}
		if !strings.Contains(out, "uid_len=7") {
			t.Errorf("log does not name the uid length:\n%s", out)
		}
	})
}

func TestCheckUID(t *testing.T) {
	for _, tc := range []struct {
		uid           []byte
		warning, fail bool
	}{
		{uid4, false, false},
		{uid7, false, false},
		{uid10, false, false},
		{[]byte{0x08, 1, 2, 3}, true, false},
		{[]byte{0x08, 1, 2, 3, 4, 5, 6}, false, false},
		{nil, false, true},
		{[]byte{1, 2, 3}, false, true},
		{make([]byte, 11), false, true},
	} {
		w, err := nfc.CheckUID(tc.uid)
		if (w != nil) != tc.warning || (err != nil) != tc.fail {
			t.Errorf("CheckUID(%d bytes) = %v, %v; want warning %v, error %v", len(tc.uid), w, err, tc.warning, tc.fail)
		}
	}
}

func TestRunNeedsReaderAndSink(t *testing.T) {
	if err := nfc.Run(t.Context(), nil, "entry", &sink{}, nil); err == nil {
		t.Error("Run without a reader = nil error")
	}
	if err := nfc.Run(t.Context(), &scriptReader{}, "entry", nil, nil); err == nil {
		t.Error("Run without a sink = nil error")
	}
}
