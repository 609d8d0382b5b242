package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hardware/gpio/contacttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// fakePins registers a contacttest.Contact at its level for each name, for
// the rest of the test. periph's registry is process-wide: the pins are
// unregistered when the test ends, and a machine whose periph drivers
// registered a pin of that name (a real Pi) skips the test.
func fakePins(t *testing.T, levels map[string]gpio.Level) map[string]*contacttest.Contact {
	t.Helper()
	// openBoard calls host.Init: here it finds no drivers (no GPIO chip, no
	// SPI, no I²C) and leaves the registry to the test
	if _, err := host.Init(); err != nil {
		t.Fatalf("host.Init: %v", err)
	}
	pins := map[string]*contacttest.Contact{}
	for name, l := range levels {
		if p := gpioreg.ByName(name); p != nil {
			t.Skipf("this machine has a pin %s (%s): the fake pins would clash with real ones", name, p)
		}
		c := contacttest.New(name, l)
		if err := gpioreg.Register(c); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := gpioreg.Unregister(name); err != nil {
				t.Errorf("unregister %s: %v", name, err)
			}
		})
		pins[name] = c
	}
	return pins
}

// doorPins registers a door's lines at rest (contacttest.DoorAtRest).
func doorPins(t *testing.T) map[string]*contacttest.Contact {
	return fakePins(t, contacttest.DoorAtRest())
}

// gpioConfig is an agent.yaml for the pins of doorPins, with a PN532 on
// device as the entry reader; extra is appended to the gpio section.
func gpioConfig(t *testing.T, k hubKeys, device, gpioExtra string) string {
	t.Helper()
	y := fmt.Sprintf(`site: demo
door: server-room
store: data/agent.db
listen: 127.0.0.1:0
site_key_file: %s
trusted_keys: [%s]
clock: trusted
hardware: gpio
readers:
  - {name: entry, type: pn532, device: %s}
racks: [R1, R2]
rules:
  unlock: 3s
gpio:
  relay: {pin: GPIO18, lock: fail-secure}
  door: {pin: GPIO17, debounce: 10ms}
  racks:
    R1: {pin: GPIO22, debounce: 10ms}
    R2: {pin: GPIO23, debounce: 10ms}
  exit_button: {pin: GPIO27, debounce: 20ms}
  indicator: {green: GPIO16, red: GPIO20, buzzer: GPIO21}
%s`, k.site, k.pub, device, gpioExtra)
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var readyListen = regexp.MustCompile(`msg="door ready".* listen=(\S+)`)

// startAgent runs `kunci agent --config cfg` in-process and returns its
// local API's base URL and a stop that cancels it and returns run's error.
func startAgent(t *testing.T, cfg string) (base string, stderr *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"agent", "--config", cfg}, &syncBuffer{}, stderr) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				result = fmt.Errorf("agent did not stop within 10 s of its context ending")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	var m []string
	waitfor.NoError(t, 20*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("agent returned %v before it was ready\nstderr:\n%s", err, stderr)
		default:
		}
		if m = readyListen.FindStringSubmatch(stderr.String()); m == nil {
			return fmt.Errorf("agent not ready\nstderr:\n%s", stderr)
		}
		return nil
	})
	return "http://" + m[1], stderr, stop
}

// waitEvent polls the agent's GET /events until an event of type typ after
// seq that ok accepts (ok may be nil) is stored, and returns it.
func waitEvent(t *testing.T, base string, after uint64, typ wire.EventType, ok func(agent.Event) bool) agent.Event {
	t.Helper()
	var found agent.Event
	waitfor.NoError(t, 10*time.Second, func() error {
		evs := getEvents(t, base)
		for _, e := range evs {
			if e.Seq > after && e.Type == typ && (ok == nil || ok(e)) {
				found = e
				return nil
			}
		}
		return fmt.Errorf("no %s after seq %d; events: %v", typ, after, types(evs, 0))
	})
	return found
}

func getEvents(t *testing.T, base string) []agent.Event {
	t.Helper()
	resp, err := http.Get(base + "/events?after=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []agent.Event
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	return evs
}

// kunci agent with hardware: gpio, in-process, on fake pins registered
// under the Pi's names: the relay is locked before anything else, the reed
// switches and the exit button reach the door, the missing reader is a
// reader.fault, and the relay ends locked.
func TestAgentGPIOEndToEnd(t *testing.T) {
	pins := doorPins(t)
	relay, door, r1, exit := pins["GPIO18"], pins["GPIO17"], pins["GPIO22"], pins["GPIO27"]
	k := makeKeys(t)
	tty := filepath.Join(t.TempDir(), "no-such-tty")
	base, stderr, stop := startAgent(t, gpioConfig(t, k, tty, ""))

	if d := relay.Driven(); len(d) == 0 || d[0] != gpio.Low || slices.Contains(d, gpio.High) {
		t.Fatalf("relay driven %v at start; want Low (locked: active-high, fail-secure) first and never High", d)
	}
	for _, name := range []string{"GPIO18", "GPIO17", "GPIO22", "GPIO27"} {
		if gpioreg.ByName(name) != gpio.PinIO(pins[name]) {
			t.Errorf("after host.Init, %s is %v; want the test's pin, left alone", name, gpioreg.ByName(name))
		}
	}
	if got := pins["GPIO16"].Driven(); len(got) == 0 || slices.Contains(got, gpio.High) {
		t.Errorf("green LED driven %v; want it set off (Low) and never lit", got)
	}

	f := waitEvent(t, base, 0, wire.EvReaderFault, func(e agent.Event) bool { return e.Reader == "entry" })
	if !strings.Contains(f.Detail, "no-such-tty") {
		t.Errorf("reader.fault detail %q; want it to name the device", f.Detail)
	}

	seq := lastSeq(getEvents(t, base))
	door.Set(gpio.High)
	waitEvent(t, base, seq, wire.EvForced, nil)
	door.Set(gpio.Low)
	seq = waitEvent(t, base, seq, wire.EvClosed, nil).Seq

	r1.Set(gpio.High)
	waitEvent(t, base, seq, wire.EvRackTampered, func(e agent.Event) bool { return e.Rack == "R1" })
	r1.Set(gpio.Low)
	seq = waitEvent(t, base, seq, wire.EvRackClosed, func(e agent.Event) bool { return e.Rack == "R1" }).Seq

	exit.Set(gpio.Low)
	waitEvent(t, base, seq, wire.EvExitRequested, nil)
	contacttest.WaitLevel(t, "after the exit button", relay, gpio.High)
	exit.Set(gpio.High)
	seq = waitEvent(t, base, seq, wire.EvUnlocked, nil).Seq
	door.Set(gpio.High)
	waitEvent(t, base, seq, wire.EvOpened, nil)
	door.Set(gpio.Low)
	waitEvent(t, base, seq, wire.EvLocked, nil)
	contacttest.WaitLevel(t, "after the door closed", relay, gpio.Low)
	if e := findEvent(getEvents(t, base), seq, wire.EvForced); e != nil {
		t.Errorf("door opened after the exit button: %s; want no door.forced", e.Type)
	}

	if err := stop(); err != nil {
		t.Fatalf("agent = %v; want nil when its context ends\nstderr:\n%s", err, stderr)
	}
	d := relay.Driven()
	if relay.Read() != gpio.Low || d[len(d)-1] != gpio.Low {
		t.Errorf("relay at the end reads %s, driven %v; want it left Low (locked)", relay.Read(), d)
	}
	if !strings.Contains(stderr.String(), "relay halted") {
		t.Errorf("agent did not log the relay's halt:\n%s", stderr)
	}
}

// A pin the board does not have is named by its config field, and the
// relay, driven first, is locked again on the way out.
func TestAgentGPIOUnknownPin(t *testing.T) {
	k := makeKeys(t)
	for _, tc := range []struct {
		name, relayPin, r2Pin, field, pin string
	}{
		{"relay", "GPIO98", "GPIO23", "gpio.relay.pin", "GPIO98"},
		{"rack", "GPIO18", "GPIO97", "gpio.racks.R2.pin", "GPIO97"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			levels := contacttest.DoorAtRest()
			delete(levels, "GPIO18") // the relay's and R2's pins are the case's
			delete(levels, "GPIO23")
			for _, p := range []string{tc.relayPin, tc.r2Pin} {
				if p != tc.pin {
					levels[p] = gpio.Low
				}
			}
			pins := fakePins(t, levels)
			cfg := gpioConfig(t, k, "/dev/null", "")
			b, _ := os.ReadFile(cfg)
			y := strings.Replace(strings.Replace(string(b), "pin: GPIO18", "pin: "+tc.relayPin, 1), "pin: GPIO23", "pin: "+tc.r2Pin, 1)
			if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := invoke(t, "agent", "--config", cfg)
			want := fmt.Sprintf(`agent.yaml: %s: %q is not a pin on this board`, tc.field, tc.pin)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("agent = %v; want an error containing %s", err, want)
			}
			if relay := pins["GPIO18"]; relay != nil {
				if d := relay.Driven(); len(d) < 2 || slices.Contains(d, gpio.High) || relay.Read() != gpio.Low {
					t.Errorf("relay driven %v; want locked (Low) at start and again on the way out, never High", d)
				}
			}
		})
	}
}
