package mfrc522_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio"

	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/mfrc522"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	uid4  = []byte{0xDE, 0xAD, 0xBE, 0xEF}
	uid7  = []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}
	uid10 = []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}
)

// newDev returns the adapter over a fake chip; at the end of the test it
// halts it, checks that no goroutine is left and that no wait reached the
// pin without a positive timeout.
func newDev(t *testing.T, o mfrc522.Options) (*mfrc522.Dev, *fakeChip) {
	t.Helper()
	c := newFakeChip()
	d, err := mfrc522.New(c, &outPin{}, c.irq, o)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(func() {
		if err := d.Halt(); err != nil {
			t.Errorf("Halt = %v", err)
		}
		if bad := c.irq.badCalls(); len(bad) > 0 {
			t.Errorf("the IRQ pin got WaitForEdge(%v): on gpioioctl 0 waits forever, -1 misses edges", bad)
		}
		c.irq.release()
		verifyNone(t)
	})
	return d, c
}

// verifyNone checks that no goroutine of the code is left, also inside a
// testing/synctest bubble, whose own goroutines are not the code's.
func verifyNone(t *testing.T) {
	t.Helper()
	goleak.VerifyNone(t, goleak.IgnoreTopFunction("internal/synctest.Run"),
		goleak.IgnoreTopFunction("testing/synctest.testingSynctestTest"))
}

func readUID(t *testing.T, d *mfrc522.Dev) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return d.ReadUID(ctx)
}

func TestCRCA(t *testing.T) {
	// HLTA is sent as 50 00 57 CD (ISO/IEC 14443-3).
	if got := crcA([]byte{0x50, 0x00}); got != 0xCD57 {
		t.Fatalf("crcA(50 00) = %04X; want CD57", got)
	}
}

func TestNewRequiresPins(t *testing.T) {
	c := newFakeChip()
	if _, err := mfrc522.New(c, &outPin{}, nil, mfrc522.Options{}); !errors.Is(err, mfrc522.ErrNoIRQ) {
		t.Errorf("New without IRQ = %v; want ErrNoIRQ", err)
	}
	if _, err := mfrc522.New(c, nil, c.irq, mfrc522.Options{}); err == nil {
		t.Error("New without reset pin = nil error")
	}
}

func TestNewWithoutChip(t *testing.T) {
	c := newFakeChip()
	c.absent = true
	if _, err := mfrc522.New(c, &outPin{}, c.irq, mfrc522.Options{}); err == nil {
		t.Fatal("New with no chip on the bus = nil error")
	}
	verifyNone(t)
}

func TestReadUID(t *testing.T) {
	for _, uid := range [][]byte{uid4, uid7} {
		t.Run(hex.EncodeToString(uid[:1])+"/"+string(rune('0'+len(uid))), func(t *testing.T) {
			d, c := newDev(t, mfrc522.Options{})
			c.present(newCard(uid...))
			for range 3 { // a card left on the reader is read again
				got, err := readUID(t, d)
				if err != nil || !bytes.Equal(got, uid) {
					t.Fatalf("ReadUID = % X, %v; want % X", got, err, uid)
				}
			}
		})
	}
}

// TestTenByteUIDRefused: periph's driver returns such a UID as 7 bytes with
// a cascade tag inside; the adapter must not pass that on.
func TestTenByteUIDRefused(t *testing.T) {
	d, c := newDev(t, mfrc522.Options{})
	c.present(newCard(uid10...))
	got, err := readUID(t, d)
	if !errors.Is(err, mfrc522.ErrTenByteUID) {
		t.Fatalf("ReadUID = % X, %v; want ErrTenByteUID", got, err)
	}
	c.present(newCard(uid7...))
	if got, err := readUID(t, d); err != nil || !bytes.Equal(got, uid7) {
		t.Fatalf("ReadUID after = % X, %v", got, err)
	}
}

// The tests of waits run in a synctest bubble: the fake chip, periph's
// driver and the adapter wait on the bubble's clock, so that a window, a
// deadline and Halt's bound are exact and no test sleeps in real time.

func TestReadUIDWaitsForACard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, c := newDev(t, mfrc522.Options{Window: 300 * time.Millisecond})
		go func() {
			time.Sleep(700 * time.Millisecond) // more than two windows
			c.present(newCard(uid7...))
		}()
		if got, err := readUID(t, d); err != nil || !bytes.Equal(got, uid7) {
			t.Fatalf("ReadUID = % X, %v", got, err)
		}
	})
}

func TestHaltEndsReadUID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, c := newDev(t, mfrc522.Options{})
		errc := make(chan error, 1)
		go func() {
			_, err := d.ReadUID(context.Background())
			errc <- err
		}()
		time.Sleep(250 * time.Millisecond) // well inside periph's wait
		start := time.Now()
		if err := d.Halt(); err != nil {
			t.Fatalf("Halt = %v", err)
		}
		if err := <-errc; !errors.Is(err, nfc.ErrHalted) {
			t.Fatalf("ReadUID = %v; want ErrHalted", err)
		}
		if dt := time.Since(start); dt > 500*time.Millisecond {
			t.Errorf("Halt took %v", dt)
		}
		if err := d.Halt(); err != nil {
			t.Errorf("second Halt = %v", err)
		}
		c.present(newCard(uid4...))
		if _, err := d.ReadUID(t.Context()); !errors.Is(err, nfc.ErrHalted) {
			t.Errorf("ReadUID after Halt = %v; want ErrHalted", err)
		}
		if err := d.Reset(t.Context()); !errors.Is(err, nfc.ErrHalted) {
			t.Errorf("Reset after Halt = %v; want ErrHalted", err)
		}
		// newDev's cleanup checks that no goroutine is left.
	})
}

func TestCancelEndsReadUID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _ := newDev(t, mfrc522.Options{})
		ctx, cancel := context.WithTimeout(t.Context(), 250*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := d.ReadUID(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadUID = %v; want the deadline", err)
		}
		if dt := time.Since(start); dt > 600*time.Millisecond {
			t.Errorf("ReadUID returned %v after the deadline", dt-250*time.Millisecond)
		}
		verifyNone(t)
	})
}

// TestSPIFailureInTheWait: an SPI error inside periph's wait would strand
// its goroutine; the adapter reports it, leaves nothing behind, and Reset
// recovers.
func TestSPIFailureInTheWait(t *testing.T) {
	d, c := newDev(t, mfrc522.Options{Window: 5 * time.Second})
	c.set(func(c *fakeChip) { c.failTx = 60 }) // in the wait loop, after Init
	_, err := readUID(t, d)
	if err == nil || !strings.Contains(err.Error(), "spi") {
		t.Fatalf("ReadUID = %v; want the SPI error", err)
	}
	verifyNone(t)
	if _, err := readUID(t, d); err == nil {
		t.Fatal("ReadUID before Reset = nil error; the kept SPI error must stay until Reset")
	}
	if err := d.Reset(t.Context()); err != nil {
		t.Fatalf("Reset = %v", err)
	}
	c.present(newCard(uid4...))
	if got, err := readUID(t, d); err != nil || !bytes.Equal(got, uid4) {
		t.Fatalf("ReadUID after Reset = % X, %v", got, err)
	}
}

// TestChipGone: a chip that stops answering (MISO reads FF) is a fault, not
// a stranded goroutine; Reset recovers once it is back.
func TestChipGone(t *testing.T) {
	d, c := newDev(t, mfrc522.Options{})
	c.set(func(c *fakeChip) { c.absent = true })
	if _, err := readUID(t, d); !errors.Is(err, mfrc522.ErrNoChip) {
		t.Fatalf("ReadUID = %v; want ErrNoChip", err)
	}
	if err := d.Reset(t.Context()); !errors.Is(err, mfrc522.ErrNoChip) {
		t.Fatalf("Reset = %v; want ErrNoChip", err)
	}
	verifyNone(t)
	c.set(func(c *fakeChip) { c.absent = false; c.softReset() })
	if err := d.Reset(t.Context()); err != nil {
		t.Fatalf("Reset = %v", err)
	}
	c.present(newCard(uid7...))
	if got, err := readUID(t, d); err != nil || !bytes.Equal(got, uid7) {
		t.Fatalf("ReadUID = % X, %v", got, err)
	}
}

func TestMisreadsBecomeAFault(t *testing.T) {
	d, c := newDev(t, mfrc522.Options{})
	p := newCard(uid4...)
	p.badBCC = true
	c.present(p)
	_, err := readUID(t, d)
	if err == nil || !strings.Contains(err.Error(), "read uid") {
		t.Fatalf("ReadUID = %v; want a read fault", err)
	}
	// periph's text would carry the check byte, an XOR of UID bytes.
	bcc := uid4[0] ^ uid4[1] ^ uid4[2] ^ uid4[3]
	for _, b := range []byte{bcc, ^bcc} {
		if regexp.MustCompile(`\b` + hex.EncodeToString([]byte{b}) + `\b`).MatchString(strings.ToLower(err.Error())) {
			t.Errorf("error %q shows the check byte", err)
		}
	}
}

func TestResetPulsesTheResetPin(t *testing.T) {
	c := newFakeChip()
	rst := &outPin{}
	d, err := mfrc522.New(c, rst, c.irq, mfrc522.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.irq.release()
	defer d.Halt()
	if err := d.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := len(rst.levels)
	if n < 2 || rst.levels[n-2] != gpio.Low || rst.levels[n-1] != gpio.High {
		t.Errorf("reset pin levels %v; want ... Low High", rst.levels)
	}
}

// TestRun drives nfc.Run over the adapter: 4- and 7-byte UIDs are tapped,
// a 10-byte UID is a fault, never a wrong tap.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, c := newDev(t, mfrc522.Options{Window: 300 * time.Millisecond})
		taps := make(chan []byte, 10)
		faults := make(chan error, 10)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- nfc.Run(ctx, d, "entry", tapper(taps), func(_ context.Context, _ string, err error) { faults <- err },
				nfc.Backoff(10*time.Millisecond, 50*time.Millisecond), nfc.AbsentFor(50*time.Millisecond))
		}()
		for _, uid := range [][]byte{uid4, uid7} {
			c.present(newCard(uid...))
			select {
			case got := <-taps:
				if !bytes.Equal(got, uid) {
					t.Fatalf("tap % X; want % X", got, uid)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no tap of a %d-byte UID", len(uid))
			}
			c.remove()
			time.Sleep(150 * time.Millisecond)
		}
		c.present(newCard(uid10...))
		select {
		case err := <-faults:
			if !errors.Is(err, mfrc522.ErrTenByteUID) {
				t.Errorf("fault %v; want ErrTenByteUID", err)
			}
		case got := <-taps:
			t.Fatalf("a 10-byte card was tapped as % X", got)
		case <-time.After(5 * time.Second):
			t.Fatal("no fault for a 10-byte UID")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

type tapper chan []byte

func (t tapper) Tap(ctx context.Context, reader string, uid []byte) error {
	t <- uid
	return nil
}
