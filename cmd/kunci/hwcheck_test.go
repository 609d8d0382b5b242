package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/hardware/nfc/pn532/pn532test"
	"github.com/kunci-project/kunci/permit"
)

// hwcheckRun is a kunci hwcheck running in-process.
type hwcheckRun struct {
	out, errOut *syncBuffer
	cancel      context.CancelFunc
	done        chan error
}

func startHwcheck(t *testing.T, stdin string, args ...string) *hwcheckRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &hwcheckRun{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- cmdHwcheck(ctx, args, strings.NewReader(stdin), h.out, h.errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("hwcheck did not stop")
		}
	})
	return h
}

// wait returns hwcheck's error, failing the test if it runs past d.
func (h *hwcheckRun) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("hwcheck still runs after %s\nstdout:\n%s", d, h.out)
		return nil
	}
}

// stop ends hwcheck as Ctrl-C does and returns its error.
func (h *hwcheckRun) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	return h.wait(t, 10*time.Second)
}

// see waits until hwcheck printed want.
func (h *hwcheckRun) see(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("hwcheck did not print %q\nstdout:\n%s\nstderr:\n%s", want, h.out, h.errOut)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The wiring, then the inputs as they change, until Ctrl-C; the relay is
// never unlocked.
func TestHwcheckWiringAndInputs(t *testing.T) {
	pins := doorPins(t)
	k := makeKeys(t)
	cfg := gpioConfig(t, k, "/dev/ttyKUNCI-none", "")
	h := startHwcheck(t, "", "--config", cfg)
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
	pins["GPIO17"].set(gpio.High)
	h.see(t, "door: open (High)")
	pins["GPIO17"].set(gpio.Low)
	pins["GPIO23"].set(gpio.High)
	h.see(t, "rack R2: open (High)")
	pins["GPIO27"].set(gpio.Low)
	h.see(t, "exit button: pressed (Low)")
	if err := h.stop(t); err != nil {
		t.Fatalf("hwcheck ended by Ctrl-C = %v; want nil\nstdout:\n%s", err, h.out)
	}
	relay := pins["GPIO18"]
	if d := relay.driven(); len(d) == 0 || slices.Contains(d, gpio.High) || relay.Read() != gpio.Low {
		t.Errorf("relay driven %v; want Low (locked) only", d)
	}
	out := h.out.String()
	if !strings.HasSuffix(out, "relay: locked (GPIO18 Low); board halted\n") {
		t.Errorf("hwcheck's last line is not the relay's halt:\n%s", out)
	}
	if strings.Count(out, "door: closed (Low)") != 2 {
		t.Errorf("want the door closed at start and again:\n%s", out)
	}
}

// --for ends the watch; a fail-safe maglock is explained, and a relay pin
// that the Pi's boot pull would unlock is warned about.
func TestHwcheckFailSafeFor(t *testing.T) {
	pins := doorPins(t)
	k := makeKeys(t)
	cfg := gpioConfig(t, k, "/dev/ttyKUNCI-none", "")
	b, _ := os.ReadFile(cfg)
	y := strings.Replace(string(b), "relay: {pin: GPIO18, lock: fail-secure}", "relay: {pin: GPIO18, lock: fail-safe}", 1)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h := startHwcheck(t, "", "--config", cfg, "--for", "300ms")
	if err := h.wait(t, 10*time.Second); err != nil {
		t.Fatalf("hwcheck --for 300ms = %v\nstdout:\n%s", err, h.out)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("hwcheck --for 300ms returned after %s", d)
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
		t.Errorf("with --for, hwcheck said it watches until Ctrl-C")
	}
	if d := pins["GPIO18"].driven(); len(d) == 0 || slices.Contains(d, gpio.Low) {
		t.Errorf("maglock relay driven %v; want High (locked) only", d)
	}
}

func TestHwcheckPulseRelay(t *testing.T) {
	k := makeKeys(t)
	for _, tc := range []struct {
		name, stdin string
		args        []string
		pulsed      bool
		err         string
	}{
		{"yes flag", "", []string{"--yes"}, true, ""},
		{"answered yes", "yes\n", nil, true, ""},
		{"answered no", "no\n", nil, false, "not confirmed"},
		{"no answer", "", nil, false, "not confirmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pins := doorPins(t)
			relay := pins["GPIO18"]
			cfg := gpioConfig(t, k, "/dev/ttyKUNCI-none", "")
			h := startHwcheck(t, tc.stdin, append([]string{"--config", cfg, "--pulse-relay", "200ms"}, tc.args...)...)
			err := h.wait(t, 10*time.Second)
			out := h.out.String()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("hwcheck = %v; want error %q\nstdout:\n%s", err, tc.err, out)
			}
			d := relay.driven()
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
			if asked := strings.Contains(out, "Unlock the door for 200ms (GPIO18 goes High)? Type yes"); asked == slices.Contains(tc.args, "--yes") {
				t.Errorf("asked = %v with args %v:\n%s", asked, tc.args, out)
			}
		})
	}
}

// Ctrl-C during a pulse locks the relay at once.
func TestHwcheckPulseInterrupted(t *testing.T) {
	pins := doorPins(t)
	relay := pins["GPIO18"]
	k := makeKeys(t)
	h := startHwcheck(t, "", "--config", gpioConfig(t, k, "/dev/ttyKUNCI-none", ""), "--pulse-relay", "1m", "--yes")
	waitLevel(t, "pulse", relay, gpio.High)
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

// A reader that is not there: its fault once, and an error naming it.
func TestHwcheckReadCardMissingReader(t *testing.T) {
	doorPins(t)
	k := makeKeys(t)
	tty := filepath.Join(t.TempDir(), "no-such-tty")
	h := startHwcheck(t, "", "--config", gpioConfig(t, k, tty, ""), "--read-card", "--for", "2500ms")
	err := h.wait(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "reader entry: no card read; last fault") || !strings.Contains(err.Error(), "no-such-tty") {
		t.Fatalf("hwcheck --read-card with no reader = %v; want an error naming the reader and its fault\n%s", err, h.out)
	}
	out := h.out.String()
	if n := strings.Count(out, "no-such-tty: no such file"); n != 1 {
		t.Errorf("the fault was printed %d times; want once\n%s", n, out)
	}
	if !strings.Contains(out, "Reader entry (PN532 "+tty+"): hold a card on it.") {
		t.Errorf("hwcheck did not ask for a card:\n%s", out)
	}
}

func TestHwcheckRefuses(t *testing.T) {
	k := makeKeys(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	doorPins(t)
	gpioCfg := gpioConfig(t, k, "/dev/ttyKUNCI-none", "")
	b, _ := os.ReadFile(gpioCfg)
	running := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(running, []byte(strings.Replace(string(b), "listen: 127.0.0.1:0", "listen: "+busy.Addr().String(), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"sim", []string{"--config", writeAgentConfig(t, k, "127.0.0.1:0", "")}, `hardware: "sim": hwcheck checks the wiring of hardware: gpio`},
		{"agent running", []string{"--config", running}, "stop the agent first"},
		{"reader without read-card", []string{"--config", gpioCfg, "--reader", "entry"}, "--reader and --show-uid go with --read-card"},
		{"show-uid without read-card", []string{"--config", gpioCfg, "--show-uid"}, "--reader and --show-uid go with --read-card"},
		{"unknown reader", []string{"--config", gpioCfg, "--read-card", "--reader", "exit"}, `--reader "exit": agent.yaml has the readers [entry]`},
		{"long pulse", []string{"--config", gpioCfg, "--pulse-relay", "2m"}, "at most 1m0s"},
		{"stray word", []string{"--config", gpioCfg, "now"}, `unexpected "now"`},
	} {
		var out, errOut bytes.Buffer
		err := cmdHwcheck(t.Context(), tc.args, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: hwcheck = %v; want an error containing %q", tc.name, err, tc.want)
		}
		if strings.Contains(out.String(), "Wiring") {
			t.Errorf("%s: hwcheck opened the board:\n%s", tc.name, &out)
		}
	}
	if !strings.Contains(usage, "kunci hwcheck --config FILE") {
		t.Errorf("the usage does not mention hwcheck:\n%s", usage)
	}
}

// Cards on a PN532 (the fake chip): type, UID length and fingerprint, the
// raw UID only with --show-uid.
func TestHwcheckReadCards(t *testing.T) {
	k := makeKeys(t)
	key, err := permit.LoadSiteKey(k.site)
	if err != nil {
		t.Fatal(err)
	}
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
			h := &hwcheck{
				cfg: &config.Agent{SiteKeyFile: k.site, Readers: []config.Reader{{Name: "entry", Type: config.ReaderPN532}}},
				b:   &board{readers: map[string]nfc.Reader{"entry": dev}},
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

// Only the reader asked for is read; without a site key, the card is still
// described.
func TestHwcheckReadCardsOneReader(t *testing.T) {
	chip := pn532test.NewChip()
	chip.Present(pn532test.CardA(0x0A, 0x0B, 0x0C, 0x0D))
	dev := pn532.New("fake-exit", chip.Opener(), pn532.Options{AckTimeout: 20 * time.Millisecond, ResponseTimeout: 100 * time.Millisecond})
	defer dev.Halt()
	var out bytes.Buffer
	h := &hwcheck{
		cfg: &config.Agent{SiteKeyFile: filepath.Join(t.TempDir(), "none.key"), Readers: []config.Reader{
			{Name: "entry", Type: config.ReaderPN532}, {Name: "exit", Type: config.ReaderPN532}}},
		b:   &board{readers: map[string]nfc.Reader{"exit": dev}},
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

func TestPinLabelAndBootLevel(t *testing.T) {
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
		{"P1_12", "P1_12", gpio.Low, false},
	} {
		if got := pinLabel(tc.pin); got != tc.label {
			t.Errorf("pinLabel(%s) = %q; want %q", tc.pin, got, tc.label)
		}
		if l, ok := bootLevel(tc.pin); l != tc.boot || ok != tc.known {
			t.Errorf("bootLevel(%s) = %s, %v; want %s, %v", tc.pin, l, ok, tc.boot, tc.known)
		}
	}
	if len(headerPins) != 28 {
		t.Errorf("headerPins has %d GPIOs; the 40-pin header has 28", len(headerPins))
	}
	seen := map[int]string{}
	for name, n := range headerPins {
		if other, ok := seen[n]; ok {
			t.Errorf("header pin %d is both %s and %s", n, name, other)
		}
		seen[n] = name
	}
}

// The Raspberry Pi example of configs/ on the pins it names: hwcheck shows
// its wiring as the README's table does.
func TestHwcheckPiExample(t *testing.T) {
	const example = "../../configs/agent.pi4-pn532.yaml"
	cfg, err := config.LoadAgent(example)
	if err != nil {
		t.Fatal(err)
	}
	if err := agentAbsent(cfg); err != nil {
		t.Skipf("something listens on the example's address: %v", err)
	}
	doorPins(t)
	h := startHwcheck(t, "", "--config", example, "--for", "100ms")
	if err := h.wait(t, 10*time.Second); err != nil {
		t.Fatalf("hwcheck = %v\n%s", err, h.out)
	}
	for _, w := range []string{
		"GPIO18 (header pin 12)   output, active-high driver", "fail-secure lock (electric strike)",
		"door          GPIO17 (header pin 11)   reed switch to GND", "pull-up; debounce 50ms",
		"rack R1       GPIO22 (header pin 15)", "rack R2       GPIO23 (header pin 16)",
		"exit button   GPIO27 (header pin 13)", "pull-up; debounce 30ms",
		"green LED     GPIO16 (header pin 36)", "red LED       GPIO20 (header pin 38)", "buzzer        GPIO21 (header pin 40)",
		"reader entry  pn532                    on /dev/serial0",
	} {
		if !strings.Contains(h.out.String(), w) {
			t.Errorf("hwcheck printed no %q:\n%s", w, h.out)
		}
	}
}
