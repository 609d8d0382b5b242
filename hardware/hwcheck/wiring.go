package hwcheck

import (
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/pin/pinreg"

	kgpio "github.com/kunci-project/kunci/hardware/gpio"
)

// Wiring is the door as its agent config describes it: what the check
// prints beside what it sees. cmd/kunci fills it from agent.yaml (this
// package reads no config).
type Wiring struct {
	Site, Door string
	File       string // the config it comes from, named in the report and in errors

	Relay   RelayWiring
	DoorPin string
	Racks   []RackWiring // in the config's order
	ExitPin string       // empty without an exit button
	LEDs    LEDWiring
	Readers []ReaderWiring // in the config's order

	// SiteKeyFile is the site key, to show a card's fingerprint as the door
	// stores it; without it, a card is still described.
	SiteKeyFile string
}

// RelayWiring is the lock's relay: its pin, its driver, its lock.
type RelayWiring struct {
	Pin       string
	ActiveLow bool // the relay board energises on Low
	Lock      kgpio.LockType
}

// RackWiring is a rack's reed switch.
type RackWiring struct {
	Name, Pin string
}

// LEDWiring is the pins of the LEDs and buzzer; empty for none.
type LEDWiring struct {
	Green, Red, Amber, Buzzer string
	ActiveLow                 bool // on = Low
}

// Reader types, as agent.yaml names them.
const (
	PN532   = "pn532"
	MFRC522 = "mfrc522"
	Evdev   = "evdev"
)

// ReaderWiring is a card reader: its name (entry, exit), its type and
// where it is attached.
type ReaderWiring struct {
	Name, Type string
	Device     string // pn532, evdev
	SPI        string // mfrc522, with its IRQ and reset pins
	IRQPin     string
	ResetPin   string
}

// readerNames returns the readers' names in order.
func (w Wiring) readerNames() []string {
	names := make([]string, len(w.Readers))
	for i, r := range w.Readers {
		names[i] = r.Name
	}
	return names
}

// pinLabel names the pin of name with its place on a header, as periph's
// pinreg has it: on a Pi, host.Init's rpi driver registers the board's
// headers ("P1", the 40-pin header, also called J8).
func (h *check) pinLabel(name string) string {
	p := h.pin(name)
	if p == nil {
		return name
	}
	switch hdr, n := pinreg.Position(p); {
	case n == 0:
		return name
	case hdr == "P1":
		return fmt.Sprintf("%s (header pin %d)", name, n)
	default:
		return fmt.Sprintf("%s (%s pin %d)", name, hdr, n)
	}
}

// pin returns the board's pin of name, or nil.
func (h *check) pin(name string) pin.Pin {
	if h.b.Pin == nil || name == "" {
		return nil
	}
	return h.b.Pin(name)
}

// bootLevel is the level the pin of name is pulled to while the Pi boots,
// before any program configures it: GPIO 0-8 up, 9-27 down. An alias
// (P1_12) counts as the GPIO behind it.
func (h *check) bootLevel(name string) (gpio.Level, bool) {
	if r, ok := h.pin(name).(gpio.RealPin); ok {
		name = r.Real().Name()
	}
	return bootLevel(name)
}

func bootLevel(name string) (gpio.Level, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "GPIO"))
	if !strings.HasPrefix(name, "GPIO") || err != nil || n < 0 || n > 27 {
		return gpio.Low, false
	}
	return n <= 8, true
}

func (h *check) relayPin() string { return h.w.Relay.Pin }

func (h *check) lockedLevel() gpio.Level {
	return kgpio.LockedLevel(h.w.Relay.ActiveLow, h.w.Relay.Lock)
}

const roleWidth = 13

func (h *check) row(role, pin, what string, more ...string) {
	h.out.line("  %-*s %-24s %s", roleWidth, role, pin, what)
	for _, m := range more {
		h.out.line("  %-*s %-24s %s", roleWidth, "", "", m)
	}
}

// printWiring prints what the config makes of each pin, with the defaults
// the drivers filled in.
func (h *check) printWiring() {
	g := h.w
	h.out.line("")
	h.out.line("Wiring:")
	driver := "active-high driver (High energises the relay)"
	if g.Relay.ActiveLow {
		driver = "active-low driver (Low energises the relay)"
	}
	locked := h.lockedLevel()
	var lines []string
	if g.Relay.Lock == kgpio.FailSafe {
		lines = append(lines,
			"fail-safe lock (maglock): powered = locked, a power cut releases the door",
			fmt.Sprintf("locked = %s (relay energised, the maglock holds); unlocked = %s (relay off)", locked, !locked),
			"the push-to-exit button (held off 30 s), a PIR request-to-exit and the fire alarm must cut the lock's power in hardware")
	} else {
		lines = append(lines,
			"fail-secure lock (electric strike): unpowered = locked",
			fmt.Sprintf("locked = %s (relay off, strike unpowered); unlocked = %s (relay energised)", locked, !locked))
	}
	if boot, ok := h.bootLevel(g.Relay.Pin); ok {
		if boot == locked {
			lines = append(lines, fmt.Sprintf("while the Pi boots the pin is pulled %s: locked until the agent starts", boot))
		} else {
			pins := "GPIO 9-27"
			if locked == gpio.High {
				pins = "GPIO 0-8"
			}
			lines = append(lines, fmt.Sprintf("WARNING: while the Pi boots the pin is pulled %s, which UNLOCKS the door until the agent starts; "+
				"a pin pulled %s at boot (%s) keeps it locked", boot, locked, pins))
		}
	}
	h.row("relay", h.pinLabel(g.Relay.Pin), "output, "+driver, lines...)
	for _, w := range h.inputs() {
		c := w.in.Config()
		closed, open := gpio.Low, gpio.High
		to := "GND"
		if c.ActiveHigh {
			closed, open, to = gpio.High, gpio.Low, "3.3 V"
		}
		kind, on, off := "reed switch", "closed", "open or a cut wire"
		if w.button {
			kind, on, off = "push button", "pressed", "released or a cut wire"
		}
		pull := map[gpio.Pull]string{gpio.PullUp: "pull-up", gpio.PullDown: "pull-down",
			gpio.Float: "no internal pull (an external resistor must pull it to " + strings.Fields(off)[0] + ")"}[c.Pull]
		h.row(w.label, h.pinLabel(w.pin), fmt.Sprintf("%s to %s: %s reads %s, %s reads %s", kind, to, on, closed, off, open),
			fmt.Sprintf("%s; debounce %s", pull, c.Debounce))
	}
	ind := g.LEDs
	on := "High"
	if ind.ActiveLow {
		on = "Low"
	}
	for _, o := range []struct{ role, pin string }{{"green LED", ind.Green}, {"red LED", ind.Red},
		{"amber LED", ind.Amber}, {"buzzer", ind.Buzzer}} {
		if o.pin != "" {
			h.row(o.role, h.pinLabel(o.pin), "output, on = "+on)
		}
	}
	for _, rc := range g.Readers {
		role := "reader " + rc.Name
		switch rc.Type {
		case PN532:
			h.row(role, "pn532", "on "+rc.Device+": UART (HSU) at 115200 baud; ISO 14443 A and B, 4-, 7- and 10-byte UIDs")
		case MFRC522:
			h.row(role, "mfrc522", "on "+rc.SPI+"; ISO 14443 A only, 4- and 7-byte UIDs",
				"IRQ "+h.pinLabel(rc.IRQPin)+", reset "+h.pinLabel(rc.ResetPin))
		case Evdev:
			h.row(role, "evdev", "on "+rc.Device+": keyboard-wedge, the weakest choice (UIDs may be truncated)")
		default:
			h.row(role, rc.Type, "on "+rc.Device)
		}
	}
	h.out.line("  inputs whose pin has no edge detection are read every %s", h.b.Sensors.Door.Config().Poll)
}
