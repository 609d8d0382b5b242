package hwcheck

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/pin/pinreg"

	kgpio "github.com/kunci-project/kunci/hardware/gpio"
	"github.com/kunci-project/kunci/hardware/gpio/contacttest"
	"github.com/kunci-project/kunci/hardware/hwcheck/hwchecktest"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/hardware/nfc/pn532/pn532test"
	"github.com/kunci-project/kunci/internal/syncbuf"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// siteKey writes a site key file and returns its path and the key.
func siteKey(t *testing.T) (string, permit.SiteKey) {
	t.Helper()
	k, err := permit.NewSiteKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "site.key")
	if err := os.WriteFile(p, permit.MarshalSiteKey(k), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

// doorWiring is a door's wiring on the pins of doorPins, with a PN532 on
// device as the entry reader, as cmd/kunci makes it of an agent.yaml.
func doorWiring(t *testing.T, device string) Wiring {
	t.Helper()
	key, _ := siteKey(t)
	return Wiring{Site: "demo", Door: "server-room", File: "agent.yaml", SiteKeyFile: key,
		Relay:   RelayWiring{Pin: "GPIO18", Lock: kgpio.FailSecure},
		DoorPin: "GPIO17",
		Racks:   []RackWiring{{"R1", "GPIO22"}, {"R2", "GPIO23"}},
		ExitPin: "GPIO27",
		LEDs:    LEDWiring{Green: "GPIO16", Red: "GPIO20", Buzzer: "GPIO21"},
		Readers: []ReaderWiring{{Name: "entry", Type: PN532, Device: device}},
	}
}

// doorPins are a door's lines at rest on the pins of doorWiring.
func doorPins() map[string]*contacttest.Contact {
	pins := map[string]*contacttest.Contact{}
	for name, l := range contacttest.DoorAtRest() {
		pins[name] = contacttest.New(name, l)
	}
	return pins
}

// openBoard opens the board of w on pins as cmd/kunci's openBoard does on a
// Pi: the relay driven locked first, then the inputs (reeds debounced 10ms,
// the exit button 20ms, with pull-ups), the indicator and the readers.
// halted counts the calls of the board's Halt.
func openBoard(t *testing.T, w Wiring, pins map[string]*contacttest.Contact) (b Board, halted *int) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	relay, err := kgpio.NewRelay(pins[w.Relay.Pin], kgpio.RelayConfig{ActiveLow: w.Relay.ActiveLow, Lock: w.Relay.Lock})
	if err != nil {
		t.Fatal(err)
	}
	input := func(name, pin string, button bool) *kgpio.Input {
		ic := kgpio.InputConfig{Name: name, Pull: gpio.PullUp, Debounce: 10 * time.Millisecond}
		newInput := kgpio.NewReed
		if button {
			ic.Debounce, newInput = 20*time.Millisecond, kgpio.NewButton
		}
		in, err := newInput(pins[pin], ic, log)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	b = Board{Relay: relay, Readers: map[string]nfc.Reader{}}
	b.Sensors.Door = input("door", w.DoorPin, false)
	b.Sensors.Racks = map[string]*kgpio.Input{}
	for _, r := range w.Racks {
		b.Sensors.Racks[r.Name] = input("rack "+r.Name, r.Pin, false)
	}
	if w.ExitPin != "" {
		b.Sensors.Exit = input("exit button", w.ExitPin, true)
	}
	out := func(name string) gpio.PinOut {
		if name == "" {
			return nil
		}
		return pins[name]
	}
	if b.Indicator, err = kgpio.NewIndicator(kgpio.IndicatorConfig{Green: out(w.LEDs.Green), Red: out(w.LEDs.Red),
		Amber: out(w.LEDs.Amber), Buzzer: out(w.LEDs.Buzzer), ActiveLow: w.LEDs.ActiveLow}, log); err != nil {
		t.Fatal(err)
	}
	for _, rc := range w.Readers {
		b.Readers[rc.Name] = pn532.Open(rc.Device, pn532.Options{Logger: log})
	}
	b.Pin = func(name string) pin.Pin {
		if p, ok := pins[name]; ok {
			return p
		}
		return nil
	}
	halted = new(int)
	b.Halt = func() {
		*halted++
		_ = b.Relay.Halt()
		for _, r := range b.Readers {
			_ = r.Halt()
		}
		_ = b.Indicator.Halt()
		_ = b.Sensors.Halt()
	}
	return b, halted
}

// running is a Run in its goroutine.
type running struct {
	out    *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startRun(t *testing.T, w Wiring, b Board, opts Options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{out: &syncbuf.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	opts.Out = r.out
	go func() { r.done <- Run(ctx, w, b, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("hwcheck did not stop")
		}
	})
	return r
}

// wait returns Run's error, failing the test if it runs past d.
func (r *running) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("hwcheck still runs after %s\nout:\n%s", d, r.out)
		return nil
	}
}

// stop ends Run as Ctrl-C does and returns its error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t, 10*time.Second)
}

// see waits until Run printed want.
func (r *running) see(t *testing.T, want string) {
	t.Helper()
	waitfor.NoError(t, 10*time.Second, func() error {
		if !strings.Contains(r.out.String(), want) {
			return fmt.Errorf("hwcheck did not print %q\nout:\n%s", want, r.out)
		}
		return nil
	})
}

// The wiring, then the inputs as they change, until Ctrl-C; the relay is
// never unlocked.
func TestWiringAndInputs(t *testing.T) {
	hwchecktest.PiHeader(t)
	pins := doorPins()
	w := doorWiring(t, "/dev/ttyKUNCI-none")
	b, halted := openBoard(t, w, pins)
	h := startRun(t, w, b, Options{})
	for _, w := range []string{
		"site demo, door server-room",
		"relay", "GPIO18 (header pin 12)", "active-high driver", "fail-secure lock (electric strike)",
		"locked = Low (relay off, strike unpowered); unlocked = High (relay energised)",
		"while the Pi boots the pin is pulled Low: locked until the agent starts",
		"door", "GPIO17 (header pin 11)", "reed switch to GND: closed reads Low, open or a cut wire reads High",
		"pull-up; debounce 10ms",
		"rack R1", "GPIO22 (header pin 15)", "rack R2", "GPIO23 (header pin 16)",
		"exit button", "GPIO27 (header pin 13)", "push button to GND: pressed reads Low", "pull-up; debounce 20ms",
		"green LED", "GPIO16 (header pin 36)", "output, on = High", "buzzer",
		"reader entry", "pn532", "on /dev/ttyKUNCI-none",
		"door: closed (Low)", "rack R1: closed (Low)", "rack R2: closed (Low)", "exit button: released (High)",
		"Watching until Ctrl-C.",
	} {
		h.see(t, w)
	}
	pins["GPIO17"].Set(gpio.High)
	h.see(t, "door: open (High)")
	pins["GPIO17"].Set(gpio.Low)
	pins["GPIO23"].Set(gpio.High)
	h.see(t, "rack R2: open (High)")
	pins["GPIO27"].Set(gpio.Low)
	h.see(t, "exit button: pressed (Low)")
	if err := h.stop(t); err != nil {
		t.Fatalf("hwcheck ended by Ctrl-C = %v; want nil\nout:\n%s", err, h.out)
	}
	relay := pins["GPIO18"]
	if d := relay.Driven(); len(d) == 0 || slices.Contains(d, gpio.High) || relay.Read() != gpio.Low {
		t.Errorf("relay driven %v; want Low (locked) only", d)
	}
	out := h.out.String()
	if !strings.HasSuffix(out, "relay: locked (GPIO18 Low); board halted\n") {
		t.Errorf("hwcheck's last line is not the relay's halt:\n%s", out)
	}
	if strings.Count(out, "door: closed (Low)") != 2 {
		t.Errorf("want the door closed at start and again:\n%s", out)
	}
	if *halted != 1 {
		t.Errorf("the board was halted %d times; want once", *halted)
	}
}

// For ends the watch; a fail-safe maglock is explained, and a relay pin
// that the Pi's boot pull would unlock is warned about.
func TestFailSafeFor(t *testing.T) {
	pins := doorPins()
	w := doorWiring(t, "/dev/ttyKUNCI-none")
	w.Relay.Lock = kgpio.FailSafe
	b, _ := openBoard(t, w, pins)
	start := time.Now()
	h := startRun(t, w, b, Options{For: 300 * time.Millisecond})
	if err := h.wait(t, 10*time.Second); err != nil {
		t.Fatalf("hwcheck for 300ms = %v\nout:\n%s", err, h.out)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("hwcheck for 300ms returned after %s", d)
	}
	for _, w := range []string{
		"active-high driver (High energises the relay)", "fail-safe lock (maglock)",
		"locked = High (relay energised, the maglock holds); unlocked = Low (relay off)",
		"push-to-exit button", "WARNING: while the Pi boots the pin is pulled Low, which UNLOCKS the door",
		"a pin pulled High at boot (GPIO 0-8) keeps it locked",
		"door: closed (Low)", "relay: locked (GPIO18 High); board halted",
	} {
		if !strings.Contains(h.out.String(), w) {
			t.Errorf("hwcheck did not print %q\n%s", w, h.out)
		}
	}
	if strings.Contains(h.out.String(), "Watching until Ctrl-C") {
		t.Errorf("with For, hwcheck said it watches until Ctrl-C")
	}
	if d := pins["GPIO18"].Driven(); len(d) == 0 || slices.Contains(d, gpio.Low) {
		t.Errorf("maglock relay driven %v; want High (locked) only", d)
	}
}

func TestPulseRelay(t *testing.T) {
	for _, tc := range []struct {
		name, stdin string
		yes         bool
		pulsed      bool
		err         string
	}{
		{"yes flag", "", true, true, ""},
		{"answered yes", "yes\n", false, true, ""},
		{"answered no", "no\n", false, false, "not confirmed"},
		{"no answer", "", false, false, "not confirmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins := doorPins()
			relay := pins["GPIO18"]
			w := doorWiring(t, "/dev/ttyKUNCI-none")
			b, _ := openBoard(t, w, pins)
			h := startRun(t, w, b, Options{Pulse: 200 * time.Millisecond, Yes: tc.yes, In: strings.NewReader(tc.stdin)})
			err := h.wait(t, 10*time.Second)
			out := h.out.String()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("hwcheck = %v; want error %q\nout:\n%s", err, tc.err, out)
			}
			d := relay.Driven()
			if d[0] != gpio.Low || d[len(d)-1] != gpio.Low || relay.Read() != gpio.Low {
				t.Errorf("relay driven %v; want Low (locked) first and last", d)
			}
			if got := slices.Contains(d, gpio.High); got != tc.pulsed {
				t.Errorf("relay driven %v; unlocked = %v, want %v", d, got, tc.pulsed)
			}
			if tc.pulsed != strings.Contains(out, "relay: unlocked (GPIO18 High) for 200ms") {
				t.Errorf("pulsed = %v, but hwcheck printed:\n%s", tc.pulsed, out)
			}
			if tc.pulsed && !strings.Contains(out, "relay: locked (GPIO18 Low)\n") {
				t.Errorf("hwcheck did not say the relay locked again:\n%s", out)
			}
			if asked := strings.Contains(out, "Unlock the door for 200ms (GPIO18 goes High)? Type yes"); asked == tc.yes {
				t.Errorf("asked = %v with Yes %v:\n%s", asked, tc.yes, out)
			}
		})
	}
}

// Ctrl-C during a pulse locks the relay at once.
func TestPulseInterrupted(t *testing.T) {
	pins := doorPins()
	relay := pins["GPIO18"]
	w := doorWiring(t, "/dev/ttyKUNCI-none")
	b, _ := openBoard(t, w, pins)
	h := startRun(t, w, b, Options{Pulse: time.Minute, Yes: true})
	contacttest.WaitLevel(t, "pulse", relay, gpio.High)
	start := time.Now()
	if err := h.stop(t); err != nil {
		t.Fatalf("hwcheck = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("hwcheck took %s to stop during a pulse", d)
	}
	if relay.Read() != gpio.Low {
		t.Errorf("relay reads %s after Ctrl-C during a pulse; want Low (locked)", relay.Read())
	}
	if !strings.Contains(h.out.String(), "early: interrupted") {
		t.Errorf("hwcheck did not say the pulse was cut short:\n%s", h.out)
	}
}

// What Run must not do, it refuses before it prints the wiring, and the
// relay is still locked and the board halted on the way out.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"long pulse", Options{Pulse: 2 * time.Minute, Yes: true}, "at most 1m0s"},
		{"negative pulse", Options{Pulse: -time.Second, Yes: true}, "want more than 0"},
		{"negative for", Options{For: -time.Second}, "want no time limit (0) or more"},
		{"unknown reader", Options{ReadCard: true, Reader: "exit"}, `reader "exit": agent.yaml has the readers [entry]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins := doorPins()
			w := doorWiring(t, "/dev/ttyKUNCI-none")
			b, halted := openBoard(t, w, pins)
			var out bytes.Buffer
			err := Run(t.Context(), w, b, Options{Out: &out, Pulse: tc.opts.Pulse, Yes: tc.opts.Yes, For: tc.opts.For,
				ReadCard: tc.opts.ReadCard, Reader: tc.opts.Reader})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v; want an error containing %q", err, tc.want)
			}
			if strings.Contains(out.String(), "Wiring") {
				t.Errorf("Run printed the wiring:\n%s", &out)
			}
			relay := pins["GPIO18"]
			if d := relay.Driven(); len(d) < 2 || slices.Contains(d, gpio.High) || relay.Read() != gpio.Low {
				t.Errorf("relay driven %v; want locked (Low) at the start and again on the way out, never High", d)
			}
			if *halted != 1 {
				t.Errorf("the board was halted %d times; want once", *halted)
			}
		})
	}
}

// A reader that is not there: its fault once, and an error naming it.
func TestReadCardMissingReader(t *testing.T) {
	tty := filepath.Join(t.TempDir(), "no-such-tty")
	w := doorWiring(t, tty)
	b, _ := openBoard(t, w, doorPins())
	h := startRun(t, w, b, Options{ReadCard: true, For: 2500 * time.Millisecond})
	err := h.wait(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "reader entry: no card read; last fault") || !strings.Contains(err.Error(), "no-such-tty") {
		t.Fatalf("hwcheck reading a card with no reader = %v; want an error naming the reader and its fault\n%s", err, h.out)
	}
	out := h.out.String()
	if n := strings.Count(out, "no-such-tty: no such file"); n != 1 {
		t.Errorf("the fault was printed %d times; want once\n%s", n, out)
	}
	if !strings.Contains(out, "Reader entry (PN532 "+tty+"): hold a card on it.") {
		t.Errorf("hwcheck did not ask for a card:\n%s", out)
	}
}

// Cards on a PN532 (the fake chip): type, UID length and fingerprint, the
// raw UID only with ShowUID.
func TestReadCards(t *testing.T) {
	keyFile, key := siteKey(t)
	uid7 := []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}
	pupi := []byte{0x1A, 0x2B, 0x3C, 0x4D}
	for _, tc := range []struct {
		name    string
		card    pn532test.Card
		showUID bool
		want    []string
	}{
		{"type A", pn532test.CardA(uid7...), false, []string{"reader entry: ISO 14443 A card, 7-byte UID, ATQA 0044, SAK 00",
			"fingerprint: " + string(key.Fingerprint(uid7))}},
		{"type B", pn532test.CardB(pupi...), false, []string{"reader entry: ISO 14443 B card, 4-byte PUPI",
			"fingerprint: " + string(key.Fingerprint(pupi))}},
		{"show uid", pn532test.CardA(uid7...), true, []string{"UID: 04A1B2C3D4E5F6 (as kunci sign --card takes it"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chip := pn532test.NewChip()
			chip.Present(tc.card)
			dev := pn532.New("fake", chip.Opener(), pn532.Options{AckTimeout: 20 * time.Millisecond, ResponseTimeout: 100 * time.Millisecond})
			defer dev.Halt()
			var out bytes.Buffer
			h := &check{
				w:   Wiring{SiteKeyFile: keyFile, Readers: []ReaderWiring{{Name: "entry", Type: PN532}}},
				b:   Board{Readers: map[string]nfc.Reader{"entry": dev}},
				out: &printer{w: &out},
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := h.readCards(ctx, "", tc.showUID); err != nil {
				t.Fatalf("readCards = %v\n%s", err, &out)
			}
			for _, w := range append(tc.want, "Reader entry (PN532 fake): hold a card on it.", "the chip answers: PN532 v") {
				if !strings.Contains(out.String(), w) {
					t.Errorf("readCards printed no %q:\n%s", w, &out)
				}
			}
			if !tc.showUID {
				assertNoUID(t, "hwcheck --read-card", out.String(), fmt.Sprintf("%X", tc.card.UID))
			}
		})
	}
}

// assertNoUID fails the test if out shows uid (hex) in any usual form.
func assertNoUID(t *testing.T, what, out, uid string) {
	t.Helper()
	h := strings.ToLower(uid)
	for _, f := range []string{h, strings.ToUpper(h), h[:8], strings.ToUpper(h[:8])} {
		if strings.Contains(out, f) {
			t.Errorf("%s contains the card UID %q: %s", what, f, out)
		}
	}
}

// Only the reader asked for is read; without a site key, the card is still
// described.
func TestReadCardsOneReader(t *testing.T) {
	chip := pn532test.NewChip()
	chip.Present(pn532test.CardA(0x0A, 0x0B, 0x0C, 0x0D))
	dev := pn532.New("fake-exit", chip.Opener(), pn532.Options{AckTimeout: 20 * time.Millisecond, ResponseTimeout: 100 * time.Millisecond})
	defer dev.Halt()
	var out bytes.Buffer
	h := &check{
		w: Wiring{SiteKeyFile: filepath.Join(t.TempDir(), "none.key"), Readers: []ReaderWiring{
			{Name: "entry", Type: PN532}, {Name: "exit", Type: PN532}}},
		b:   Board{Readers: map[string]nfc.Reader{"exit": dev}},
		out: &printer{w: &out},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := h.readCards(ctx, "exit", false); err != nil {
		t.Fatalf("readCards = %v\n%s", err, &out)
	}
	for _, w := range []string{"reader exit: ISO 14443 A card, 4-byte UID", "fingerprint: not computed: site key:"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("readCards printed no %q:\n%s", w, &out)
		}
	}
	if strings.Contains(out.String(), "Reader entry") {
		t.Errorf("readCards read the entry reader too:\n%s", &out)
	}
}

// alias is a pin under another name, as gpioreg's aliases (P1_12) are.
type alias struct {
	gpio.PinIO
	name string
}

func (a alias) Name() string     { return a.name }
func (a alias) String() string   { return a.name }
func (a alias) Real() gpio.PinIO { return a.PinIO }

// Header positions come from periph's pinreg, where the rpi driver (here
// hwchecktest, from the rpi driver's own table) registered the Pi's
// header; boot levels from the GPIO number behind the name.
func TestPinLabelAndBootLevel(t *testing.T) {
	hwchecktest.PiHeader(t)
	pins := map[string]pin.Pin{}
	for _, n := range []string{"GPIO18", "GPIO4", "GPIO8", "GPIO9", "GPIO27", "GPIO28"} {
		pins[n] = contacttest.New(n, gpio.Low)
	}
	pins["J8_12"] = alias{PinIO: contacttest.New("GPIO18", gpio.Low), name: "J8_12"}
	h := &check{b: Board{Pin: func(name string) pin.Pin { return pins[name] }}}
	for _, tc := range []struct {
		pin, label string
		boot       gpio.Level
		known      bool
	}{
		{"GPIO18", "GPIO18 (header pin 12)", gpio.Low, true},
		{"GPIO4", "GPIO4 (header pin 7)", gpio.High, true},
		{"GPIO8", "GPIO8 (header pin 24)", gpio.High, true},
		{"GPIO9", "GPIO9 (header pin 21)", gpio.Low, true},
		{"GPIO27", "GPIO27 (header pin 13)", gpio.Low, true},
		{"GPIO28", "GPIO28", gpio.Low, false},
		{"P1_12", "P1_12", gpio.Low, false}, // not a pin of this board
		{"J8_12", "J8_12 (header pin 12)", gpio.Low, true},
	} {
		if got := h.pinLabel(tc.pin); got != tc.label {
			t.Errorf("pinLabel(%s) = %q; want %q", tc.pin, got, tc.label)
		}
		if l, ok := h.bootLevel(tc.pin); l != tc.boot || ok != tc.known {
			t.Errorf("bootLevel(%s) = %s, %v; want %s, %v", tc.pin, l, ok, tc.boot, tc.known)
		}
	}
	if got := (&check{}).pinLabel("GPIO18"); got != "GPIO18" {
		t.Errorf("pinLabel without the board's pins = %q; want the name alone", got)
	}
	// the header hwcheck reads: 40 places, 28 of them GPIOs, each at one place
	var gpios int
	seen := map[string]int{}
	rows := pinreg.All()[hwchecktest.Header]
	for i, row := range rows {
		for j, p := range row {
			if _, ok := p.(gpio.PinIO); !ok {
				continue
			}
			gpios++
			if other, ok := seen[p.Name()]; ok {
				t.Errorf("%s is at header pins %d and %d", p.Name(), other, 2*i+j+1)
			}
			seen[p.Name()] = 2*i + j + 1
			if _, n := pinreg.Position(p); n != 2*i+j+1 {
				t.Errorf("pinreg.Position(%s) = %d; want %d", p.Name(), n, 2*i+j+1)
			}
		}
	}
	if len(rows) != 20 || gpios != 28 {
		t.Errorf("header %s has %d rows and %d GPIOs; the 40-pin header has 20 rows of 2 and 28 GPIOs", hwchecktest.Header, len(rows), gpios)
	}
}
