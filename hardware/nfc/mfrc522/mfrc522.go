package mfrc522

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	periph "periph.io/x/devices/v3/mfrc522"
	"periph.io/x/devices/v3/mfrc522/commands"

	"github.com/kunci-project/kunci/hardware/nfc"
)

var (
	// ErrNoIRQ: periph's driver needs the IRQ pin to wait for a card.
	ErrNoIRQ = errors.New("mfrc522: an IRQ pin is required (periph's driver waits for cards on it)")
	// ErrTenByteUID: the card has a 10-byte UID, which periph's driver
	// cannot read whole.
	ErrTenByteUID = errors.New("mfrc522: the card has a 10-byte UID, which periph's MFRC522 driver cannot read; use a PN532")
	// ErrNoChip: the chip does not answer on the SPI bus.
	ErrNoChip = errors.New("mfrc522: no chip answers on the SPI bus")
)

// Options tune the adapter; the zero value gives the defaults.
type Options struct {
	// Window bounds one wait of periph's ReadUID for a card; the chip is
	// checked and re-initialised between windows (default 2 s).
	Window time.Duration
}

// maxMisreads is how many reads in a row may fail after a card answered
// before ReadUID reports a fault.
const maxMisreads = 3

// Dev is an MFRC522 on SPI with its IRQ and reset pins, through periph's
// driver. It implements nfc.Reader and nfc.Resetter. ReadUID and Reset are
// serialised; Halt may be called at any time, from any goroutine, twice.
type Dev struct {
	dev   *periph.Dev
	conn  *stickyConn
	irq   *irqPin
	reset gpio.PinOut
	o     Options

	halt     chan struct{}
	haltOnce sync.Once

	// busy serialises ReadUID, Reset and Halt: a one-slot channel rather
	// than a mutex, so that a Halt waiting for a read to end is blocked
	// the way a testing/synctest bubble can see (a mutex wait would keep
	// the bubble's clock from moving).
	busy   chan struct{}
	halted bool
}

func (d *Dev) lock()   { d.busy <- struct{}{} }
func (d *Dev) unlock() { <-d.busy }

var (
	_ nfc.Reader   = (*Dev)(nil)
	_ nfc.Resetter = (*Dev)(nil)
)

// New connects to the MFRC522 on port (which it connects, once, at the
// speed periph chooses) and initialises it. irq is required. port, reset
// and irq come from cmd (spireg.Open, gpioreg.ByName); the caller closes
// the port after Halt, and opens a new one to try New again.
func New(port spi.Port, reset gpio.PinOut, irq gpio.PinIn, o Options) (*Dev, error) {
	if irq == nil {
		return nil, ErrNoIRQ
	}
	if reset == nil {
		return nil, errors.New("mfrc522: a reset pin is required")
	}
	if port == nil {
		return nil, errors.New("mfrc522: an SPI port is required")
	}
	if o.Window <= 0 {
		o.Window = 2 * time.Second
	}
	d := &Dev{reset: reset, o: o, halt: make(chan struct{}), busy: make(chan struct{}, 1)}
	p := &spiPort{Port: port}
	d.irq = &irqPin{PinIn: irq, halt: d.halt, failed: p.failed}
	dev, err := periph.NewSPI(p, reset, d.irq)
	if err != nil {
		return nil, fmt.Errorf("mfrc522: %w", err)
	}
	d.dev, d.conn = dev, p.conn
	if err := d.conn.err(); err != nil {
		return nil, fmt.Errorf("mfrc522: init: %w", err)
	}
	if err := d.alive(); err != nil {
		return nil, err
	}
	return d, nil
}

// String names the reader: bus and pins.
func (d *Dev) String() string { return d.dev.String() }

// ReadUID waits for a type A card and returns its 4- or 7-byte UID.
func (d *Dev) ReadUID(ctx context.Context) ([]byte, error) {
	d.lock()
	defer d.unlock()
	if d.halted {
		return nil, fmt.Errorf("mfrc522: %w", nfc.ErrHalted)
	}
	if err := d.conn.err(); err != nil {
		return nil, fmt.Errorf("mfrc522: spi: %w", err)
	}
	d.irq.setDone(ctx.Done())
	defer d.irq.setDone(nil)
	misreads := 0
	for {
		if err := d.stopped(ctx); err != nil {
			return nil, err
		}
		// A missing chip would fail the Init inside periph's wait and
		// leave its goroutine behind.
		if err := d.alive(); err != nil {
			return nil, err
		}
		d.irq.drain()
		uid, err := d.dev.ReadUID(d.o.Window)
		if serr := d.conn.err(); serr != nil {
			return nil, fmt.Errorf("mfrc522: spi: %w", serr)
		}
		if stop := d.stopped(ctx); stop != nil {
			return nil, stop
		}
		if err != nil {
			if !d.irq.sawEdge() {
				continue // the window passed without a card
			}
			if misreads++; misreads < maxMisreads {
				continue // a card pulled away in the middle, most often
			}
			return nil, misread(err)
		}
		switch {
		case len(uid) == 7 && uid[3] == 0x88:
			return nil, ErrTenByteUID
		case len(uid) != 4 && len(uid) != 7:
			return nil, fmt.Errorf("mfrc522: read uid: %d bytes", len(uid))
		}
		return uid, nil
	}
}

// misread words a failed card read. periph's anticollision errors print
// the check byte, an XOR of UID bytes: they are replaced.
func misread(err error) error {
	if strings.Contains(err.Error(), "mismatch") || strings.Contains(err.Error(), "check failed") {
		return errors.New("mfrc522: read uid: the card's anticollision check byte is wrong")
	}
	return fmt.Errorf("mfrc522: read uid: %w", err)
}

// Reset pulses the reset pin and initialises the chip again; it also
// clears a kept SPI error.
func (d *Dev) Reset(ctx context.Context) error {
	d.lock()
	defer d.unlock()
	if d.halted {
		return fmt.Errorf("mfrc522: %w", nfc.ErrHalted)
	}
	if err := d.reset.Out(gpio.Low); err != nil {
		return fmt.Errorf("mfrc522: reset pin: %w", err)
	}
	if err := d.wait(ctx, time.Millisecond); err != nil {
		return err
	}
	if err := d.reset.Out(gpio.High); err != nil {
		return fmt.Errorf("mfrc522: reset pin: %w", err)
	}
	// The oscillator starts within about 40 µs; leave it ample time.
	if err := d.wait(ctx, 50*time.Millisecond); err != nil {
		return err
	}
	d.conn.clear()
	initErr := d.dev.LowLevel.Init()
	if err := d.conn.err(); err != nil {
		return fmt.Errorf("mfrc522: spi: %w", err)
	}
	if err := d.alive(); err != nil {
		return err
	}
	if initErr != nil {
		return fmt.Errorf("mfrc522: init: %w", initErr)
	}
	return nil
}

// Halt ends a running ReadUID and puts the chip in soft power-down. Safe to
// call twice.
func (d *Dev) Halt() error {
	d.haltOnce.Do(func() { close(d.halt) })
	// The IRQ wrapper now ends periph's wait within a slice, so a running
	// ReadUID returns and lets go of the lock with no goroutine left.
	d.lock()
	defer d.unlock()
	if d.halted {
		return nil
	}
	d.halted = true
	// periph's Halt closes its stop channel: once, and with no wait running.
	if err := d.dev.Halt(); err != nil {
		return fmt.Errorf("mfrc522: halt: %w", err)
	}
	if err := d.conn.err(); err != nil {
		return fmt.Errorf("mfrc522: halt: %w", err)
	}
	return nil
}

// alive reads the version register: a chip answers 91, 92 or a clone's
// value, a missing one 00 or FF.
func (d *Dev) alive() error {
	v, _ := d.dev.LowLevel.DevRead(commands.VersionReg)
	if err := d.conn.err(); err != nil {
		return fmt.Errorf("mfrc522: spi: %w", err)
	}
	if v == 0x00 || v == 0xFF {
		return fmt.Errorf("%w (version register reads %02X)", ErrNoChip, v)
	}
	return nil
}

func (d *Dev) stopped(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-d.halt:
		return fmt.Errorf("mfrc522: %w", nfc.ErrHalted)
	default:
		return nil
	}
}

func (d *Dev) wait(ctx context.Context, dt time.Duration) error {
	t := time.NewTimer(dt)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.halt:
		return fmt.Errorf("mfrc522: %w", nfc.ErrHalted)
	case <-t.C:
		return nil
	}
}

// spiPort wraps the port so that the connection periph gets is a
// stickyConn.
type spiPort struct {
	spi.Port
	conn *stickyConn
}

func (p *spiPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.Port.Connect(f, mode, bits)
	if err != nil {
		return nil, err
	}
	p.conn = &stickyConn{Conn: c}
	return p.conn, nil
}

func (p *spiPort) failed() bool { return p.conn != nil && p.conn.err() != nil }

// stickyConn keeps the first SPI error and from then on answers every
// transfer with zeros and no error, without touching the bus. periph's
// driver never sees an SPI error, so its Init inside the wait cannot fail
// and strand its goroutine; the adapter checks err after every call into
// periph and reports it. Reset clears it.
type stickyConn struct {
	spi.Conn
	mu   sync.Mutex
	fail error
}

func (c *stickyConn) Tx(w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail == nil {
		if c.fail = c.Conn.Tx(w, r); c.fail == nil {
			return nil
		}
	}
	clear(r)
	return nil
}

func (c *stickyConn) TxPackets(p []spi.Packet) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail == nil {
		if c.fail = c.Conn.TxPackets(p); c.fail == nil {
			return nil
		}
	}
	for _, pk := range p {
		clear(pk.R)
	}
	return nil
}

func (c *stickyConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fail
}

func (c *stickyConn) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = nil
}
