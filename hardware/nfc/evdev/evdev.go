package evdev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hardware/nfc"
)

// Device is an opened input device. *os.File satisfies it; so does the read
// end of os.Pipe, which tests use.
type Device interface {
	io.ReadCloser
	SetReadDeadline(t time.Time) error
}

// Opener opens the device; the reader calls it again to recover from a
// fault (the reader unplugged and plugged back).
type Opener func() (Device, error)

// Path opens the input device at path and grabs it (EVIOCGRAB), so that no
// other program, console included, gets its keys. The grab ends when the
// device is closed.
func Path(path string) Opener {
	return func() (Device, error) {
		f, err := os.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			return nil, err
		}
		if err := grab(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("grab %s: %w", path, err)
		}
		return f, nil
	}
}

// Reader is a keyboard-wedge card reader. It implements nfc.Reader and
// nfc.Resetter. ReadUID and Reset are serialised; Halt may be called at any
// time, from any goroutine, twice.
type Reader struct {
	name string
	open Opener
	size int
	o    Options

	halt     chan struct{}
	haltOnce sync.Once

	readMu sync.Mutex // held by ReadUID and Reset

	mu     sync.Mutex // guards the fields below; never held while reading
	dev    Device
	dec    *Decoder
	halted bool
}

var (
	_ nfc.Reader   = (*Reader)(nil)
	_ nfc.Resetter = (*Reader)(nil)
)

// New returns the reader that open reaches, whose events have eventSize
// bytes (EventSize for a real device); name is what String shows. It does
// no I/O: the first ReadUID opens the device, so that a reader missing at
// start is a fault the reader loop reports and recovers from.
func New(name string, open Opener, eventSize int, o Options) (*Reader, error) {
	// Check the options now rather than at the first read.
	if _, err := NewDecoder(nil, eventSize, o); err != nil {
		return nil, err
	}
	return &Reader{name: name, open: open, size: eventSize, o: o, halt: make(chan struct{})}, nil
}

// Open returns the reader of the input device at path (better a
// /dev/input/by-id/…-event-kbd link than an eventN that may change).
func Open(path string, o Options) (*Reader, error) { return New(path, Path(path), EventSize, o) }

// String names the reader.
func (r *Reader) String() string { return "keyboard-wedge reader " + r.name }

// ReadUID waits for a line typed by the reader and returns its UID, with a
// warning wrapping nfc.ErrSuspectUID when the UID looks cut short.
func (r *Reader) ReadUID(ctx context.Context) ([]byte, error) {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	dev, dec, err := r.device()
	if err != nil {
		return nil, err
	}
	if err := dev.SetReadDeadline(time.Time{}); err != nil {
		return nil, r.fail(ctx, dev, err)
	}
	// A deadline in the past ends a blocked read when ctx ends. If it
	// fires, wait for it, or it could land on the next read.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		dev.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()
	uid, err := dec.ReadUID()
	if err == nil || uid != nil || errors.Is(err, ErrLine) {
		return uid, err
	}
	return nil, r.fail(ctx, dev, err)
}

// fail turns a read error into the reader's answer, and drops the device
// unless the read merely ended with ctx.
func (r *Reader) fail(ctx context.Context, dev Device, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return fmt.Errorf("evdev: %w", nfc.ErrHalted)
	}
	if r.dev == dev {
		r.dev.Close()
		r.dev, r.dec = nil, nil
	}
	return fmt.Errorf("evdev: read %s: %w", r.name, err)
}

// device returns the open device, opening it if needed.
func (r *Reader) device() (Device, *Decoder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return nil, nil, fmt.Errorf("evdev: %w", nfc.ErrHalted)
	}
	if r.dev == nil {
		dev, err := r.open()
		if err != nil {
			return nil, nil, fmt.Errorf("evdev: open %s: %w", r.name, err)
		}
		dec, err := NewDecoder(dev, r.size, r.o)
		if err != nil {
			dev.Close()
			return nil, nil, err
		}
		r.dev, r.dec = dev, dec
	}
	return r.dev, r.dec, nil
}

// Reset closes the device and opens it again.
func (r *Reader) Reset(ctx context.Context) error {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	r.mu.Lock()
	if r.dev != nil {
		r.dev.Close()
		r.dev, r.dec = nil, nil
	}
	r.mu.Unlock()
	_, _, err := r.device()
	return err
}

// Halt closes the device, which ends the grab and a blocked ReadUID. Safe
// to call twice.
func (r *Reader) Halt() error {
	r.haltOnce.Do(func() { close(r.halt) })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return nil
	}
	r.halted = true
	if r.dev == nil {
		return nil
	}
	err := r.dev.Close()
	r.dev, r.dec = nil, nil
	if err != nil {
		return fmt.Errorf("evdev: halt: %w", err)
	}
	return nil
}
