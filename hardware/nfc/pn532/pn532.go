package pn532

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"

	"github.com/kunci-project/kunci/hardware/nfc"
)

// Port is the serial line to the PN532. A go.bug.st/serial Port satisfies
// it. Read returns 0, nil when the read timeout passes without data.
type Port interface {
	io.ReadWriter
	SetReadTimeout(t time.Duration) error
	ResetInputBuffer() error
	Close() error
}

// Opener opens the port; the driver calls it again to recover from a fault
// (a USB serial adapter unplugged and plugged back).
type Opener func() (Port, error)

// BaudRate is the PN532's HSU default.
const BaudRate = 115200

// Serial opens path (e.g. /dev/serial0, /dev/ttyAMA0 or
// /dev/serial/by-id/…) at baud (BaudRate, unless the chip was moved to
// another rate), 8N1, with go.bug.st/serial: periph's serial package never
// sets the baud rate.
func Serial(path string, baud int) Opener {
	return func() (Port, error) {
		p, err := serial.Open(path, &serial.Mode{
			BaudRate: baud,
			DataBits: 8,
			Parity:   serial.NoParity,
			StopBits: serial.OneStopBit,
		})
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return p, nil
	}
}

// Command codes (UM0701-02 §7).
const (
	cmdGetFirmwareVersion  = 0x02
	cmdSAMConfiguration    = 0x14
	cmdRFConfiguration     = 0x32
	cmdInListPassiveTarget = 0x4A
)

func cmdName(c byte) string {
	switch c {
	case cmdGetFirmwareVersion:
		return "GetFirmwareVersion"
	case cmdSAMConfiguration:
		return "SAMConfiguration"
	case cmdRFConfiguration:
		return "RFConfiguration"
	case cmdInListPassiveTarget:
		return "InListPassiveTarget"
	}
	return fmt.Sprintf("command %02X", c)
}

// wakeUp takes the PN532 out of power-down on HSU: 55, then a long
// preamble of zeros while its oscillator starts (UM0701-02 §7.2.11, as
// libnfc's pn532_uart_wakeup does).
var wakeUp = []byte{0x55, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// passiveRetries is MxRtyPassiveActivation: a finite number of activation
// retries, so that InListPassiveTarget answers "no card" and polling can
// alternate between type A and type B (the chip's default, FF, waits
// forever).
const passiveRetries = 0x02

// readSlice bounds each blocking read, so that ctx and Halt are noticed.
const readSlice = 50 * time.Millisecond

var (
	// ErrTimeout is wrapped when the chip did not answer in time.
	ErrTimeout = errors.New("no answer in time")
	// ErrSyntax is wrapped when the chip answered with an error frame.
	ErrSyntax = errors.New("the chip reported a syntax error")
	// errDeadline is a read deadline reached before a whole frame.
	errDeadline = errors.New("deadline")
)

// Options tune the driver; the zero value gives the defaults.
type Options struct {
	// AckTimeout bounds the wait for the chip's ACK of a command
	// (default 100 ms).
	AckTimeout time.Duration
	// ResponseTimeout bounds the wait for the chip's answer once it has
	// acknowledged (default 1 s).
	ResponseTimeout time.Duration
	// PollCycle is the shortest time of one type A and one type B poll
	// (default 20 ms), so that a chip answering "no card" at once cannot
	// make the driver spin.
	PollCycle time.Duration
	// TypeAOnly polls only ISO 14443 type A cards. Type B cards give a
	// 4-byte PUPI, which many cards (e-passports, some ID cards) make up
	// anew at every activation.
	TypeAOnly bool
	// Logger gets the driver's debug messages (default: none).
	Logger *slog.Logger
}

// Firmware is the answer to GetFirmwareVersion.
type Firmware struct {
	IC, Ver, Rev, Support byte
}

func (f Firmware) String() string {
	return fmt.Sprintf("PN5%02X v%d.%d (support %02X)", f.IC, f.Ver, f.Rev, f.Support)
}

// Dev is a PN532 on a serial line (HSU). It polls ISO 14443 type A and type
// B cards in turn and returns their full UID (4, 7 or 10 bytes) or PUPI.
// It implements nfc.Reader and nfc.Resetter. ReadUID, Init and Reset are
// serialised; Halt may be called at any time from any goroutine.
type Dev struct {
	name string
	open Opener
	o    Options
	log  *slog.Logger

	halt     chan struct{}
	haltOnce sync.Once

	fw atomic.Pointer[Firmware]

	mu     sync.Mutex // held for the whole of ReadUID, Init, Reset and Halt
	port   Port
	ready  bool
	halted bool
	in     []byte
	buf    [256]byte
}

var (
	_ nfc.Reader   = (*Dev)(nil)
	_ nfc.Resetter = (*Dev)(nil)
)

// New returns the driver of the PN532 that open reaches; name is what String
// shows (the device path). It does no I/O: the first ReadUID (or Init)
// opens the port and wakes the chip, so that a reader missing at start is a
// fault the reader loop reports and recovers from, not a failed start.
func New(name string, open Opener, o Options) *Dev {
	if o.AckTimeout <= 0 {
		o.AckTimeout = 100 * time.Millisecond
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = time.Second
	}
	if o.PollCycle <= 0 {
		o.PollCycle = 20 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dev{name: name, open: open, o: o, log: log, halt: make(chan struct{})}
}

// Open returns the driver of the PN532 on the serial device path at
// 115200 baud, the chip's HSU rate after power-up. Like New, it does no
// I/O.
func Open(path string, o Options) *Dev { return New(path, Serial(path, BaudRate), o) }

// String names the reader.
func (d *Dev) String() string { return "PN532 " + d.name }

// Firmware returns the chip's version, known after a successful Init (the
// zero Firmware before). It does not wait for a running ReadUID.
func (d *Dev) Firmware() Firmware {
	if fw := d.fw.Load(); fw != nil {
		return *fw
	}
	return Firmware{}
}

// Init opens the port, wakes the chip, configures it (SAM normal mode,
// finite activation retries) and checks that it is a PN532. ReadUID calls
// it when needed; call it to check the reader at start (kunci hwcheck).
func (d *Dev) Init(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return fmt.Errorf("pn532: %w", nfc.ErrHalted)
	}
	return d.initLocked(ctx)
}

// Reset closes the port and initialises the chip again.
func (d *Dev) Reset(ctx context.Context) error { return d.Init(ctx) }

func (d *Dev) initLocked(ctx context.Context) error {
	d.closeLocked()
	p, err := d.open()
	if err != nil {
		return fmt.Errorf("pn532: %w", err)
	}
	d.port = p
	if err := d.configure(ctx); err != nil {
		d.closeLocked()
		return err
	}
	d.ready = true
	d.log.Debug("pn532 ready", "device", d.name, "firmware", d.Firmware().String())
	return nil
}

func (d *Dev) configure(ctx context.Context) error {
	// The first command after a wake-up may be lost while the chip starts.
	var err error
	for range 2 {
		if err = d.write(wakeUp); err != nil {
			return fmt.Errorf("pn532: wake-up: %w", err)
		}
		if _, err = d.transceive(ctx, cmdSAMConfiguration, []byte{0x01, 0x14, 0x01}); err == nil {
			break
		}
		if d.stopped(ctx) != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	fw, err := d.transceive(ctx, cmdGetFirmwareVersion, nil)
	if err != nil {
		return err
	}
	if len(fw) != 4 || fw[0] != 0x32 {
		return fmt.Errorf("pn532: GetFirmwareVersion: the chip is not a PN532")
	}
	d.fw.Store(&Firmware{fw[0], fw[1], fw[2], fw[3]})
	// MaxRetries: MxRtyATR FF, MxRtyPSL 01, MxRtyPassiveActivation.
	_, err = d.transceive(ctx, cmdRFConfiguration, []byte{0x05, 0xFF, 0x01, passiveRetries})
	return err
}

// ReadUID waits for a card and returns its UID (type A) or PUPI (type B).
func (d *Dev) ReadUID(ctx context.Context) ([]byte, error) {
	t, err := d.ReadTarget(ctx)
	if err != nil {
		return nil, err
	}
	return t.UID, nil
}

// ReadTarget waits for a card, polling type A and type B in turn, and
// returns what the chip says about it.
func (d *Dev) ReadTarget(ctx context.Context) (Target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return Target{}, fmt.Errorf("pn532: %w", nfc.ErrHalted)
	}
	if !d.ready {
		if err := d.initLocked(ctx); err != nil {
			return Target{}, err
		}
	}
	mods := []Modulation{TypeA, TypeB}
	if d.o.TypeAOnly {
		mods = mods[:1]
	}
	for {
		start := time.Now()
		for _, m := range mods {
			t, found, err := d.list(ctx, m)
			if err != nil {
				if d.stopped(ctx) == nil {
					// Wake and configure the chip again before the next poll.
					d.ready = false
				}
				return Target{}, err
			}
			if found {
				return t, nil
			}
		}
		if err := d.waitUntil(ctx, start.Add(d.o.PollCycle)); err != nil {
			return Target{}, err
		}
	}
}

func (d *Dev) list(ctx context.Context, m Modulation) (Target, bool, error) {
	params := []byte{1, byte(m)} // MaxTg 1
	if m == TypeB {
		params = append(params, 0x00) // AFI: every application family
	}
	resp, err := d.transceive(ctx, cmdInListPassiveTarget, params)
	if err != nil {
		return Target{}, false, err
	}
	return ParseTargets(m, resp)
}

// Halt aborts any command, switches the RF field off and closes the port.
// It is safe to call twice and while ReadUID runs, which it ends.
func (d *Dev) Halt() error {
	d.haltOnce.Do(func() { close(d.halt) })
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted {
		return nil
	}
	d.halted = true
	if d.port == nil {
		return nil
	}
	var err error
	if d.ready {
		// An ACK aborts the running command; RFConfiguration 01 00 turns the
		// field off. No answer is awaited: the port closes now.
		off, _ := Command(cmdRFConfiguration, 0x01, 0x00)
		_, err = d.port.Write(append(append([]byte(nil), ackFrame...), off...))
	}
	if cerr := d.port.Close(); err == nil {
		err = cerr
	}
	d.port, d.ready, d.in = nil, false, nil
	if err != nil {
		return fmt.Errorf("pn532: halt: %w", err)
	}
	return nil
}

func (d *Dev) closeLocked() {
	if d.port != nil {
		d.port.Close()
	}
	d.port, d.ready, d.in = nil, false, nil
}

// stopped returns why the driver must stop waiting: ctx ended or Halt.
func (d *Dev) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-d.halt:
		return fmt.Errorf("pn532: %w", nfc.ErrHalted)
	default:
		return nil
	}
}

func (d *Dev) waitUntil(ctx context.Context, t time.Time) error {
	dt := time.Until(t)
	if dt <= 0 {
		return d.stopped(ctx)
	}
	tm := time.NewTimer(dt)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.halt:
		return fmt.Errorf("pn532: %w", nfc.ErrHalted)
	case <-tm.C:
		return nil
	}
}

// maxNacks is how often the driver asks the chip to send a damaged answer
// again.
const maxNacks = 2

// transceive sends a command, waits for the ACK, then for the answer, and
// returns the answer's parameters (after the response code). A damaged
// answer is asked for again with a NACK; a command not answered in time is
// aborted with an ACK. Errors name the command and never a frame's data.
func (d *Dev) transceive(ctx context.Context, cmd byte, params []byte) ([]byte, error) {
	resp, err := d.exchange(ctx, cmd, params)
	if err != nil {
		if stop := d.stopped(ctx); stop != nil {
			return nil, stop
		}
		return nil, fmt.Errorf("pn532: %s: %w", cmdName(cmd), err)
	}
	return resp, nil
}

func (d *Dev) exchange(ctx context.Context, cmd byte, params []byte) ([]byte, error) {
	frame, err := Command(cmd, params...)
	if err != nil {
		return nil, err
	}
	if err := d.port.ResetInputBuffer(); err != nil {
		return nil, d.ioError("flush", err)
	}
	d.in = nil
	if err := d.write(frame); err != nil {
		return nil, err
	}
	f, err := d.readFrame(ctx, time.Now().Add(d.o.AckTimeout))
	switch {
	case errors.Is(err, errDeadline):
		return nil, fmt.Errorf("no ACK: %w", ErrTimeout)
	case err != nil:
		return nil, fmt.Errorf("ACK: %w", err)
	case f.Kind == ErrorFrame:
		return nil, ErrSyntax
	case f.Kind != Ack:
		return nil, fmt.Errorf("the chip answered %s instead of ACK", f.Kind)
	}
	deadline := time.Now().Add(d.o.ResponseTimeout)
	for nacks := 0; ; {
		f, err := d.readFrame(ctx, deadline)
		if err != nil {
			if errors.Is(err, ErrFrame) && nacks < maxNacks && d.stopped(ctx) == nil {
				nacks++
				d.drain()
				if err := d.write(nackFrame); err != nil {
					return nil, err
				}
				deadline = time.Now().Add(d.o.ResponseTimeout)
				continue
			}
			d.abort()
			if errors.Is(err, errDeadline) {
				return nil, fmt.Errorf("no answer: %w", ErrTimeout)
			}
			return nil, err
		}
		switch f.Kind {
		case ErrorFrame:
			return nil, ErrSyntax
		case Info:
			if f.TFI == TFIChip && len(f.Data) > 0 && f.Data[0] == cmd+1 {
				return f.Data[1:], nil
			}
		}
		// A late answer to an aborted command, or a stray ACK: not ours.
		d.log.Debug("pn532 dropped a frame", "device", d.name, "waiting_for", cmdName(cmd), "frame", f.String())
	}
}

// abort sends an ACK, which makes the chip drop the running command.
func (d *Dev) abort() {
	if d.port != nil {
		d.port.Write(ackFrame)
	}
}

// drain drops what is left of a damaged frame: bytes until the line has
// been quiet for a few milliseconds, at most 50 ms.
func (d *Dev) drain() {
	d.in = nil
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) {
		if d.port.SetReadTimeout(5*time.Millisecond) != nil {
			return
		}
		if n, err := d.port.Read(d.buf[:]); err != nil || n == 0 {
			return
		}
	}
}

func (d *Dev) write(b []byte) error {
	if _, err := d.port.Write(b); err != nil {
		return d.ioError("write", err)
	}
	return nil
}

func (d *Dev) ioError(op string, err error) error {
	return fmt.Errorf("%s %s: %w", op, d.name, err)
}

// readFrame decodes one frame from the port before deadline. A deadline
// reached in the middle of a frame is ErrTruncated, which a NACK may cure.
func (d *Dev) readFrame(ctx context.Context, deadline time.Time) (Frame, error) {
	read := 0
	f, err := decode(func() (byte, error) {
		c, err := d.readByte(ctx, deadline)
		if err == nil {
			read++
		}
		return c, err
	})
	if errors.Is(err, errDeadline) && read > 0 {
		err = ErrTruncated
	}
	return f, err
}

func (d *Dev) readByte(ctx context.Context, deadline time.Time) (byte, error) {
	for len(d.in) == 0 {
		if err := d.stopped(ctx); err != nil {
			return 0, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, errDeadline
		}
		if err := d.port.SetReadTimeout(min(left, readSlice)); err != nil {
			return 0, d.ioError("read", err)
		}
		n, err := d.port.Read(d.buf[:])
		if err != nil {
			return 0, d.ioError("read", err)
		}
		d.in = d.buf[:n]
	}
	c := d.in[0]
	d.in = d.in[1:]
	return c, nil
}
