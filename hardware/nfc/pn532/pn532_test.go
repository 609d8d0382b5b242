package pn532_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/hardware/nfc/pn532/pn532test"
	"github.com/kunci-project/kunci/internal/waitfor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fast keeps the tests quick; the fake chip answers in microseconds.
var fast = pn532.Options{AckTimeout: 20 * time.Millisecond, ResponseTimeout: 100 * time.Millisecond}

func newDev(t *testing.T, c *pn532test.Chip, o pn532.Options) *pn532.Dev {
	t.Helper()
	d := pn532.New("fake", c.Opener(), o)
	t.Cleanup(func() { d.Halt() })
	return d
}

func readUID(t *testing.T, d *pn532.Dev) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return d.ReadUID(ctx)
}

func TestReadUID(t *testing.T) {
	for _, tc := range []struct {
		name string
		card pn532test.Card
		want string
	}{
		{"A 4-byte", pn532test.CardA(uid4...), "ISO 14443 A card, 4-byte UID, ATQA 0004, SAK 08"},
		{"A 7-byte", pn532test.CardA(uid7...), "ISO 14443 A card, 7-byte UID, ATQA 0044, SAK 00"},
		{"A 10-byte", pn532test.CardA(uid10...), "ISO 14443 A card, 10-byte UID, ATQA 0084, SAK 00"},
		{"A with ATS", pn532test.Card{Type: pn532.TypeA, UID: uid7, ATQA: [2]byte{0x03, 0x44}, SAK: 0x20, ATS: []byte{0x75, 0x77, 0x81, 0x02, 0x80}}, "ISO 14443 A card, 7-byte UID, ATQA 0344, SAK 20"},
		{"B", pn532test.CardB(pupi...), "ISO 14443 B card, 4-byte PUPI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := pn532test.NewChip()
			c.Present(tc.card)
			d := newDev(t, c, fast)
			tg, err := d.ReadTarget(t.Context())
			if err != nil {
				t.Fatalf("ReadTarget = %v", err)
			}
			if !bytes.Equal(tg.UID, tc.card.UID) || tg.String() != tc.want {
				t.Errorf("ReadTarget = %s % X; want %s % X", tg, tg.UID, tc.want, tc.card.UID)
			}
			if !bytes.Equal(tg.ATS, tc.card.ATS) {
				t.Errorf("ATS = % X; want % X", tg.ATS, tc.card.ATS)
			}
			if fw := d.Firmware(); fw.String() != "PN532 v1.6 (support 07)" {
				t.Errorf("Firmware = %v", fw)
			}
			uid, err := readUID(t, d)
			if err != nil || !bytes.Equal(uid, tc.card.UID) {
				t.Errorf("ReadUID = % X, %v; want % X", uid, err, tc.card.UID)
			}
		})
	}
}

func TestInitWakesAndConfiguresTheChip(t *testing.T) {
	c := pn532test.NewChip() // asleep after power-up
	d := newDev(t, c, fast)
	if err := d.Init(t.Context()); err != nil {
		t.Fatalf("Init = %v", err)
	}
	if c.Commands(0x14) != 1 || c.Commands(0x02) != 1 || c.Commands(0x32) != 1 {
		t.Errorf("SAMConfiguration %d, GetFirmwareVersion %d, RFConfiguration %d; want 1 each",
			c.Commands(0x14), c.Commands(0x02), c.Commands(0x32))
	}
	// Put to sleep under the driver's feet: the next read fails, the one
	// after wakes it again.
	c.Sleep()
	c.Present(pn532test.CardA(uid4...))
	if _, err := readUID(t, d); !errors.Is(err, pn532.ErrTimeout) {
		t.Fatalf("ReadUID from a sleeping chip = %v; want ErrTimeout", err)
	}
	if uid, err := readUID(t, d); err != nil || !bytes.Equal(uid, uid4) {
		t.Fatalf("ReadUID after = % X, %v; want the card", uid, err)
	}
}

func TestNotAPN532(t *testing.T) {
	c := pn532test.NewChip()
	c.IC = 0x33
	d := newDev(t, c, fast)
	if err := d.Init(t.Context()); err == nil || !strings.Contains(err.Error(), "not a PN532") {
		t.Fatalf("Init = %v; want not a PN532", err)
	}
}

func TestPollingAlternatesTypeAAndB(t *testing.T) {
	c := pn532test.NewChip()
	d := newDev(t, c, fast)
	done := make(chan struct{})
	var uid []byte
	var err error
	go func() {
		defer close(done)
		uid, err = readUID(t, d)
	}()
	waitfor.Until(t, 5*time.Second, "6 polls", func() bool { return c.Polls() >= 6 })
	c.Present(pn532test.CardB(pupi...))
	<-done
	if err != nil || !bytes.Equal(uid, pupi) {
		t.Fatalf("ReadUID = % X, %v; want the type B card", uid, err)
	}
	p := c.Polled()
	for i, m := range p {
		if want := []pn532.Modulation{pn532.TypeA, pn532.TypeB}[i%2]; m != want {
			t.Fatalf("poll %d was %v; want %v (polls %v)", i, m, want, p)
		}
	}
}

func TestTypeAOnly(t *testing.T) {
	c := pn532test.NewChip()
	c.NoTypeB = true // an error frame for type B: the driver must not ask
	c.Present(pn532test.CardB(pupi...))
	o := fast
	o.TypeAOnly = true
	d := newDev(t, c, o)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := d.ReadUID(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadUID = %v; want the deadline (no type A card)", err)
	}
	for _, m := range c.Polled() {
		if m != pn532.TypeA {
			t.Fatalf("polled %v with TypeAOnly", m)
		}
	}
}

func TestChipErrorFrame(t *testing.T) {
	c := pn532test.NewChip()
	c.NoTypeB = true
	d := newDev(t, c, fast)
	if _, err := readUID(t, d); !errors.Is(err, pn532.ErrSyntax) {
		t.Fatalf("ReadUID = %v; want ErrSyntax", err)
	}
}

// TestDamagedAnswerIsAskedAgain: one damaged answer costs a NACK, not a read.
func TestDamagedAnswerIsAskedAgain(t *testing.T) {
	for _, k := range []pn532test.Corruption{
		pn532test.BadChecksum, pn532test.BadLengthChecksum, pn532test.BadPostamble,
		pn532test.Truncated, pn532test.WrongLength, pn532test.Noise, pn532test.Garbage,
	} {
		for _, uid := range [][]byte{uid4, uid7, uid10} {
			t.Run(fmt.Sprintf("%d/%d", k, len(uid)), func(t *testing.T) {
				c := pn532test.NewChip()
				d := newDev(t, c, fast)
				if err := d.Init(t.Context()); err != nil {
					t.Fatal(err)
				}
				c.Present(pn532test.CardA(uid...))
				c.Corrupt(k, 2)
				got, err := readUID(t, d)
				if err != nil || !bytes.Equal(got, uid) {
					t.Fatalf("ReadUID = % X, %v; want % X", got, err, uid)
				}
			})
		}
	}
}

// TestTooManyDamagedAnswers: the read fails with an error that names no
// UID, and the next read works.
func TestTooManyDamagedAnswers(t *testing.T) {
	for _, k := range []pn532test.Corruption{
		pn532test.BadChecksum, pn532test.BadLengthChecksum, pn532test.BadPostamble,
		pn532test.Truncated, pn532test.WrongLength, pn532test.Garbage, pn532test.Silence,
	} {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			c := pn532test.NewChip()
			d := newDev(t, c, fast)
			if err := d.Init(t.Context()); err != nil {
				t.Fatal(err)
			}
			c.Present(pn532test.CardA(uid7...))
			c.Corrupt(k, 3)
			_, err := readUID(t, d)
			if err == nil {
				t.Fatal("ReadUID = nil error after 3 damaged answers")
			}
			if !errors.Is(err, pn532.ErrFrame) && !errors.Is(err, pn532.ErrTimeout) {
				t.Errorf("ReadUID = %v; want ErrFrame or ErrTimeout", err)
			}
			if s := strings.ToLower(err.Error()); strings.Contains(s, hex.EncodeToString(uid7[1:4])) {
				t.Errorf("error %q contains the UID", err)
			}
			// The damage may outlast one read (a silent chip is woken again);
			// once the line is clean the driver reads again on its own.
			var got []byte
			for range 3 {
				if got, err = readUID(t, d); err == nil {
					break
				}
			}
			if err != nil || !bytes.Equal(got, uid7) {
				t.Fatalf("ReadUID after the damage = % X, %v; want the card", got, err)
			}
		})
	}
}

// TestUnplugAndPlug: a port that disappears fails the read; the driver
// reopens it once it is back.
func TestUnplugAndPlug(t *testing.T) {
	c := pn532test.NewChip()
	c.Present(pn532test.CardA(uid4...))
	d := newDev(t, c, fast)
	if _, err := readUID(t, d); err != nil {
		t.Fatal(err)
	}
	c.Unplug()
	if _, err := readUID(t, d); !errors.Is(err, pn532test.ErrUnplugged) {
		t.Fatalf("ReadUID unplugged = %v; want ErrUnplugged", err)
	}
	if err := d.Reset(t.Context()); !errors.Is(err, pn532test.ErrUnplugged) {
		t.Fatalf("Reset unplugged = %v; want ErrUnplugged", err)
	}
	c.Plug()
	c.Present(pn532test.CardA(uid10...))
	if got, err := readUID(t, d); err != nil || !bytes.Equal(got, uid10) {
		t.Fatalf("ReadUID plugged back = % X, %v; want the card", got, err)
	}
}

func TestHaltEndsReadUIDAndIsIdempotent(t *testing.T) {
	c := pn532test.NewChip()
	d := pn532.New("fake", c.Opener(), fast)
	errc := make(chan error, 1)
	go func() {
		_, err := d.ReadUID(context.Background())
		errc <- err
	}()
	waitfor.Until(t, 5*time.Second, "polling", func() bool { return c.Polls() > 2 })
	start := time.Now()
	if err := d.Halt(); err != nil {
		t.Fatalf("Halt = %v", err)
	}
	if err := <-errc; !errors.Is(err, nfc.ErrHalted) {
		t.Fatalf("ReadUID = %v; want ErrHalted", err)
	}
	if dt := time.Since(start); dt > time.Second {
		t.Errorf("Halt took %v", dt)
	}
	if c.Field() {
		t.Error("the RF field is still on after Halt")
	}
	if err := d.Halt(); err != nil {
		t.Errorf("second Halt = %v", err)
	}
	if _, err := d.ReadUID(t.Context()); !errors.Is(err, nfc.ErrHalted) {
		t.Errorf("ReadUID after Halt = %v; want ErrHalted", err)
	}
	if err := d.Reset(t.Context()); !errors.Is(err, nfc.ErrHalted) {
		t.Errorf("Reset after Halt = %v; want ErrHalted", err)
	}
}

func TestCancelAbortsTheCommand(t *testing.T) {
	c := pn532test.NewChip()
	c.TryTime = time.Hour // the chip waits for a card "forever"
	d := newDev(t, c, pn532.Options{AckTimeout: 20 * time.Millisecond, ResponseTimeout: 2 * time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := d.ReadUID(ctx)
		errc <- err
	}()
	waitfor.Until(t, 5*time.Second, "a running poll", c.Busy)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadUID = %v; want context.Canceled", err)
	}
	if c.Busy() {
		t.Error("the chip still runs InListPassiveTarget: no ACK sent to abort it")
	}
	// The chip is still usable without a new wake-up.
	c.TryTime = time.Millisecond
	c.Present(pn532test.CardA(uid7...))
	sams := c.Commands(0x14)
	if got, err := readUID(t, d); err != nil || !bytes.Equal(got, uid7) {
		t.Fatalf("ReadUID = % X, %v", got, err)
	}
	if c.Commands(0x14) != sams {
		t.Error("the driver configured the chip again after a mere cancel")
	}
}

// TestRunRecovers drives the real stack: nfc.Run over the driver over the
// fake chip, through damaged frames and a port that disappears.
func TestRunRecovers(t *testing.T) {
	c := pn532test.NewChip()
	d := newDev(t, c, fast)
	s := newSink()
	faults := make(chan error, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- nfc.Run(ctx, d, "entry", s, func(_ context.Context, _ string, err error) { faults <- err },
			nfc.Backoff(10*time.Millisecond, 50*time.Millisecond), nfc.AbsentFor(50*time.Millisecond))
	}()
	tapOf := func(card pn532test.Card) {
		t.Helper()
		c.Present(card)
		select {
		case got := <-s.taps:
			if !bytes.Equal(got, card.UID) {
				t.Fatalf("tap % X; want % X", got, card.UID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no tap of a %d-byte UID", len(card.UID))
		}
		c.Remove()
	}
	tapOf(pn532test.CardA(uid4...))
	tapOf(pn532test.CardA(uid7...))
	tapOf(pn532test.CardA(uid10...))
	tapOf(pn532test.CardB(pupi...))

	c.Corrupt(pn532test.BadChecksum, 7)
	tapOf(pn532test.CardA(uid7...))
	if len(faults) == 0 {
		t.Error("no fault after 7 damaged answers")
	}

	c.Unplug()
	waitfor.Until(t, 5*time.Second, "a fault for the unplugged reader", func() bool {
		for len(faults) > 0 {
			if errors.Is(<-faults, pn532test.ErrUnplugged) {
				return true
			}
		}
		return false
	})
	c.Plug()
	tapOf(pn532test.CardA(uid10...))

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

type sink struct{ taps chan []byte }

func newSink() *sink { return &sink{taps: make(chan []byte, 100)} }

func (s *sink) Tap(ctx context.Context, reader string, uid []byte) error {
	s.taps <- uid
	return nil
}

// BenchmarkTapToSink measures the time from the fake chip presenting a card
// to the door's Tap call, through nfc.Run, the driver, the frame codec and
// the fake serial port, with the reader idle and polling when the card
// comes (the previous card removed and seen gone). A new UID each time.
//
//   - chip-2ms: the fake takes 2 ms per activation attempt (3 attempts per
//     empty poll) and the driver's default 20 ms poll cycle applies, so a
//     card waits for the next type A poll: about the latency a person sees,
//     short of the real chip's RF timing.
//   - stack-only: the chip answers at once and the poll cycle is 1 ns: the
//     cost of the software stack alone.
func BenchmarkTapToSink(b *testing.B) {
	for _, bc := range []struct {
		name  string
		try   time.Duration
		cycle time.Duration
	}{
		{"chip-2ms", 2 * time.Millisecond, 0},
		{"stack-only", 0, time.Nanosecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := pn532test.NewChip()
			c.TryTime = bc.try
			d := pn532.New("fake", c.Opener(), pn532.Options{PollCycle: bc.cycle})
			defer d.Halt()
			s := newSink()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- nfc.Run(ctx, d, "entry", s, nil) }()
			uid := []byte{0x04, 0xA1, 0xB2, 0, 0, 0, 0}
			tap := func(n int) {
				uid[3], uid[4], uid[5], uid[6] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
				c.Present(pn532test.CardA(uid...))
				<-s.taps
			}
			// idle removes the card, waits until the driver has polled
			// without it, then a random part of a poll cycle, so that cards
			// come at any point of the cycle.
			idle := func() {
				c.Remove()
				for p := c.Polls(); c.Polls() < p+3; {
					time.Sleep(100 * time.Microsecond)
				}
				time.Sleep(rand.N(25 * time.Millisecond))
			}
			tap(0) // wakes and configures the chip
			idle()
			b.ResetTimer()
			for i := range b.N {
				tap(i + 1)
				b.StopTimer()
				idle()
				b.StartTimer()
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}
