package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hardware/hwcheck"
	"github.com/kunci-project/kunci/hardware/hwcheck/hwchecktest"
)

// The check itself is tested in hardware/hwcheck; here, kunci hwcheck's
// flags, its refusals before the board is opened, and the whole verb on the
// Raspberry Pi example config.

// hwcheckRun is a kunci hwcheck running in-process.
type hwcheckRun struct {
	out, errOut *syncBuffer
	done        chan error
}

func startHwcheck(t *testing.T, stdin string, args ...string) *hwcheckRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &hwcheckRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan error, 1)}
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
		{"negative for", []string{"--config", gpioCfg, "--for", "-1s"}, "--for must not be negative"},
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

// The Raspberry Pi example of configs/ on the pins it names, through the
// whole verb (flags, openBoard, hwcheck.Run): hwcheck shows its wiring as
// the README's table does, with the header positions periph's pinreg has,
// and the relay ends locked.
func TestHwcheckPiExample(t *testing.T) {
	const example = "../../configs/agent.pi4-pn532.yaml"
	cfg, err := config.LoadAgent(example)
	if err != nil {
		t.Fatal(err)
	}
	if err := hwcheck.AgentAbsent(cfg.Listen, cfg.File()); err != nil {
		t.Skipf("something listens on the example's address: %v", err)
	}
	pins := doorPins(t)
	hwchecktest.PiHeader(t)
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
	relay := pins["GPIO18"]
	if d := relay.Driven(); len(d) < 2 || slices.Contains(d, gpio.High) || relay.Read() != gpio.Low {
		t.Errorf("relay driven %v; want locked (Low) at the start and again on the way out, never High", d)
	}
	if !strings.HasSuffix(h.out.String(), "relay: locked (GPIO18 Low); board halted\n") {
		t.Errorf("hwcheck's last line is not the relay's halt:\n%s", h.out)
	}
}

// hwcheckWiring hands agent.yaml's reader types on as they are: hwcheck
// spells them as config does.
func TestHwcheckReaderTypes(t *testing.T) {
	for _, c := range [][2]string{{config.ReaderPN532, hwcheck.PN532}, {config.ReaderMFRC522, hwcheck.MFRC522},
		{config.ReaderEvdev, hwcheck.Evdev}} {
		if c[0] != c[1] {
			t.Errorf("config's reader type %q is %q in hwcheck", c[0], c[1])
		}
	}
}
