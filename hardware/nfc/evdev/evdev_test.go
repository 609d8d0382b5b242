package evdev_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/evdev"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// pipes is a fake input device: each open gives a new pipe, whose write
// end the test types into; unplugged makes opening fail. reads counts the
// reads begun on the read ends.
type pipes struct {
	t     *testing.T
	reads atomic.Int64

	mu        sync.Mutex
	w         *os.File
	opens     int
	unplugged bool
}

func (p *pipes) open() (evdev.Device, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unplugged {
		return nil, os.ErrNotExist
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	if p.w != nil {
		p.w.Close()
	}
	p.w = w
	p.opens++
	p.t.Cleanup(func() { r.Close(); w.Close() })
	return pipeEnd{File: r, reads: &p.reads}, nil
}

// pipeEnd is the read end of a pipe that counts the reads begun on it.
type pipeEnd struct {
	*os.File
	reads *atomic.Int64
}

func (e pipeEnd) Read(b []byte) (int, error) {
	e.reads.Add(1)
	return e.File.Read(b)
}

func (p *pipes) write(b []byte) {
	p.mu.Lock()
	w := p.w
	p.mu.Unlock()
	if _, err := w.Write(b); err != nil {
		p.t.Errorf("write: %v", err)
	}
}

// unplug closes the write end, as a device that disappears ends its reads.
func (p *pipes) unplug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unplugged = true
	p.w.Close()
}

func (p *pipes) plug() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unplugged = false
}

func newReader(t *testing.T, o evdev.Options) (*evdev.Reader, *pipes) {
	t.Helper()
	p := &pipes{t: t}
	r, err := evdev.New("pipe", p.open, evdev.EventSize, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Halt() })
	return r, p
}

func TestReaderReadsUIDs(t *testing.T) {
	r, p := newReader(t, evdev.Options{})
	errc := make(chan error, 1)
	var uid []byte
	go func() {
		var err error
		uid, err = r.ReadUID(t.Context())
		errc <- err
	}()
	waitfor.Until(t, 5*time.Second, "the device opened", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.opens == 1 })
	p.write(typing(t, evdev.EventSize, time.Second, ms(2), "04a1b2c3d4e5f6\n"))
	if err := <-errc; err != nil || !bytes.Equal(uid, []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}) {
		t.Fatalf("ReadUID = % X, %v", uid, err)
	}
	p.write(typing(t, evdev.EventSize, 2*time.Second, ms(2), "04a1b2c3\n"))
	uid, err := r.ReadUID(t.Context())
	if !errors.Is(err, nfc.ErrSuspectUID) || len(uid) != 4 {
		t.Fatalf("ReadUID = % X, %v; want 4 bytes with a truncation warning", uid, err)
	}
	p.write(typing(t, evdev.EventSize, 3*time.Second, ms(2), "abc\n"))
	if _, err := r.ReadUID(t.Context()); !errors.Is(err, evdev.ErrLine) {
		t.Fatalf("ReadUID = %v; want ErrLine", err)
	}
	if p.opens != 1 {
		t.Errorf("%d opens; a bad line must not reopen the device", p.opens)
	}
}

func TestReaderCancel(t *testing.T) {
	r, p := newReader(t, evdev.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.ReadUID(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadUID = %v; want the deadline", err)
	}
	// Half a line typed before the cancel is finished after it, on the
	// same device.
	p.write(typing(t, evdev.EventSize, time.Second, ms(2), "dead"))
	ctx2, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if _, err := r.ReadUID(ctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadUID = %v; want the deadline", err)
	}
	p.write(typing(t, evdev.EventSize, time.Second+ms(10), ms(2), "beef\n"))
	uid, err := r.ReadUID(t.Context())
	if err != nil || !bytes.Equal(uid, []byte{0xDE, 0xAD, 0xBE, 0xEF}) {
		t.Fatalf("ReadUID = % X, %v", uid, err)
	}
	if p.opens != 1 {
		t.Errorf("%d opens; a cancel must not reopen the device", p.opens)
	}
}

func TestReaderHalt(t *testing.T) {
	r, p := newReader(t, evdev.Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := r.ReadUID(context.Background())
		errc <- err
	}()
	waitfor.Until(t, 5*time.Second, "ReadUID reading the device", func() bool { return p.reads.Load() > 0 })
	if err := r.Halt(); err != nil {
		t.Fatalf("Halt = %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, nfc.ErrHalted) {
			t.Fatalf("ReadUID = %v; want ErrHalted", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Halt did not end ReadUID")
	}
	if err := r.Halt(); err != nil {
		t.Errorf("second Halt = %v", err)
	}
	if _, err := r.ReadUID(t.Context()); !errors.Is(err, nfc.ErrHalted) {
		t.Errorf("ReadUID after Halt = %v", err)
	}
}

// TestRunUnplugAndPlug drives nfc.Run over the reader: an unplugged reader
// is a fault, and it is read again once back.
func TestRunUnplugAndPlug(t *testing.T) {
	r, p := newReader(t, evdev.Options{})
	taps := make(chan []byte, 10)
	faults := make(chan error, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- nfc.Run(ctx, r, "entry", tapper(taps), func(_ context.Context, _ string, err error) { faults <- err },
			nfc.Backoff(5*time.Millisecond, 20*time.Millisecond))
	}()
	waitfor.Until(t, 5*time.Second, "the device opened", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.opens == 1 })
	p.write(typing(t, evdev.EventSize, time.Second, ms(2), "deadbeef\n"))
	if got := <-taps; !bytes.Equal(got, []byte{0xDE, 0xAD, 0xBE, 0xEF}) {
		t.Fatalf("tap % X", got)
	}
	p.unplug()
	select {
	case <-faults:
	case <-time.After(5 * time.Second):
		t.Fatal("no fault for an unplugged reader")
	}
	p.plug()
	// the reader opens a device once it is back, and then keeps it: the
	// line typed goes to the pipe it reads
	waitfor.Until(t, 5*time.Second, "the device reopened", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.opens >= 2 && !p.unplugged })
	p.write(typing(t, evdev.EventSize, 5*time.Second, ms(2), "cafebabe\n"))
	select {
	case got := <-taps:
		if !bytes.Equal(got, []byte{0xCA, 0xFE, 0xBA, 0xBE}) {
			t.Fatalf("tap % X", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no tap after the reader came back")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestPathGrabFails: a file that is not an input device cannot be grabbed;
// the opener says so and keeps nothing open.
func TestPathGrabFails(t *testing.T) {
	f := filepath.Join(t.TempDir(), "event0")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := evdev.Path(f)(); err == nil {
		t.Fatal("Path(regular file) = nil error")
	}
	if _, err := evdev.Path(filepath.Join(t.TempDir(), "missing"))(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Path(missing) = %v", err)
	}
	r, err := evdev.Open(f, evdev.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Halt()
	if _, err := r.ReadUID(t.Context()); err == nil {
		t.Fatal("ReadUID of a device that cannot be grabbed = nil error")
	}
}

type tapper chan []byte

func (t tapper) Tap(ctx context.Context, reader string, uid []byte) error {
	t <- uid
	return nil
}
