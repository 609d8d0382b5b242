package config

import (
	"fmt"
	"slices"
	"sort"

	"github.com/kunci-project/kunci/wire"
)

// Reader types.
const (
	ReaderSim     = "sim"
	ReaderPN532   = "pn532"   // PN532 over UART (HSU), ISO 14443 A and B: the recommended reader
	ReaderMFRC522 = "mfrc522" // MFRC522 over SPI, type A only: prototypes
	ReaderEvdev   = "evdev"   // USB keyboard-wedge reader through Linux evdev: the weakest choice
)

// InputPin is a reed switch or button on a GPIO.
type InputPin struct {
	Pin        string        `yaml:"pin"`         // GPIO17
	ActiveHigh bool          `yaml:"active_high"` // closed reads High; default: closed reads Low, with pull-up
	Pull       string        `yaml:"pull"`        // up (default), down, float (an external resistor)
	Debounce   wire.Duration `yaml:"debounce"`    // 50 ms for reeds, 30 ms for the exit button
}

// RelayPin is the lock's relay.
type RelayPin struct {
	Pin       string `yaml:"pin"`        // GPIO18
	ActiveLow bool   `yaml:"active_low"` // the relay board energises on Low
	Lock      string `yaml:"lock"`       // fail-secure (strike, default) or fail-safe (maglock)
}

// Indicator is the optional LEDs and buzzer.
type Indicator struct {
	Green     string `yaml:"green"`
	Red       string `yaml:"red"`
	Amber     string `yaml:"amber"`
	Buzzer    string `yaml:"buzzer"`
	ActiveLow bool   `yaml:"active_low"`
}

// GPIO is the wiring of a door on a Raspberry Pi's header.
type GPIO struct {
	Relay      RelayPin            `yaml:"relay"`
	Door       InputPin            `yaml:"door"`
	Racks      map[string]InputPin `yaml:"racks"`
	ExitButton *InputPin           `yaml:"exit_button"`
	Indicator  Indicator           `yaml:"indicator"`
	Poll       wire.Duration       `yaml:"poll"` // polling period where a pin has no edge detection (20 ms)
}

// ReaderHW is the hardware part of a reader's config.
type ReaderHW struct {
	Device   string `yaml:"device"`    // pn532: /dev/serial0; evdev: /dev/input/by-id/...-event-kbd
	SPI      string `yaml:"spi"`       // mfrc522: /dev/spidev0.0 or SPI0.0
	IRQPin   string `yaml:"irq_pin"`   // mfrc522: required
	ResetPin string `yaml:"reset_pin"` // mfrc522: required
	Format   string `yaml:"format"`    // evdev: hex (default) or decimal
	// TypeAOnly: pn532 polls ISO 14443 type A cards only. Type B cards
	// answer with a PUPI that many of them make up anew at every tap, so
	// such a card cannot be recognised by its identifier.
	TypeAOnly bool          `yaml:"type_a_only"`
	Hold      wire.Duration `yaml:"hold"` // a card left on the reader counts again only after this long away (1 s)
}

func (c *Agent) validateHardware(bad func(field, format string, a ...any)) {
	switch c.Hardware {
	case "sim":
		for i, r := range c.Readers {
			if r.Type != ReaderSim && r.Type != "" {
				bad(fmt.Sprintf("readers[%d].type", i), "%q needs hardware: gpio; with hardware: sim every reader is sim", r.Type)
			}
		}
		if c.GPIO != nil {
			bad("gpio", "set, but hardware is sim")
		}
		if !isLoopback(c.Listen) {
			// anyone who reaches it could tap cards and open the door
			// in the records
			bad("hardware", "sim (the default when hardware is left out) serves the unauthenticated simulator on listen %q, "+
				"which is off loopback: set hardware: gpio for a real door, or listen on 127.0.0.1", c.Listen)
		}
		return
	case "gpio":
	default:
		bad("hardware", "%q is not supported; want sim or gpio", c.Hardware)
		return
	}
	for i, r := range c.Readers {
		f := fmt.Sprintf("readers[%d]", i)
		switch r.Type {
		case ReaderPN532:
			if r.Device == "" {
				bad(f+".device", "missing: the PN532's serial port, e.g. /dev/serial0")
			}
		case ReaderMFRC522:
			if r.TypeAOnly {
				bad(f+".type_a_only", "only for pn532 (the MFRC522 reads type A only anyway)")
			}
			if r.SPI == "" {
				bad(f+".spi", "missing: the SPI port, e.g. /dev/spidev0.0")
			}
			if r.IRQPin == "" {
				bad(f+".irq_pin", "missing: the MFRC522 driver needs its IRQ pin")
			}
			if r.ResetPin == "" {
				bad(f+".reset_pin", "missing: the MFRC522's reset pin")
			}
		case ReaderEvdev:
			if r.Device == "" {
				bad(f+".device", "missing: the reader's event device, e.g. /dev/input/by-id/usb-...-event-kbd")
			}
			if r.Format != "" && r.Format != "hex" && r.Format != "decimal" {
				bad(f+".format", "%q; want hex or decimal", r.Format)
			}
		case ReaderSim, "":
			bad(f+".type", "missing or sim, but hardware is gpio; want pn532, mfrc522 or evdev")
		default:
			bad(f+".type", "%q is not a reader type; want pn532, mfrc522 or evdev", r.Type)
		}
	}
	g := c.GPIO
	if g == nil {
		bad("gpio", "missing: the relay, door and rack pins of hardware: gpio")
		return
	}
	pins := map[string]string{} // pin -> field using it
	use := func(field, pin string, required bool) {
		if pin == "" {
			if required {
				bad(field, "missing")
			}
			return
		}
		if other, ok := pins[pin]; ok {
			bad(field, "%s is already used by %s", pin, other)
			return
		}
		pins[pin] = field
	}
	use("gpio.relay.pin", g.Relay.Pin, true)
	if g.Relay.Lock != "" && g.Relay.Lock != "fail-secure" && g.Relay.Lock != "fail-safe" {
		bad("gpio.relay.lock", "%q; want fail-secure (electric strike) or fail-safe (maglock)", g.Relay.Lock)
	}
	input := func(field string, p InputPin) {
		use(field+".pin", p.Pin, true)
		switch p.Pull {
		case "", "up", "down", "float":
		default:
			bad(field+".pull", "%q; want up, down or float", p.Pull)
		}
		if p.Debounce < 0 {
			bad(field+".debounce", "negative")
		}
	}
	input("gpio.door", g.Door)
	names := make([]string, 0, len(g.Racks))
	for name := range g.Racks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.Contains(c.Racks, name) {
			bad("gpio.racks."+name, "no rack %q in racks %v", name, c.Racks)
		}
		input("gpio.racks."+name, g.Racks[name])
	}
	for _, r := range c.Racks {
		if _, ok := g.Racks[r]; !ok {
			bad("gpio.racks", "rack %q has no pin", r)
		}
	}
	if g.ExitButton != nil {
		input("gpio.exit_button", *g.ExitButton)
	}
	use("gpio.indicator.green", g.Indicator.Green, false)
	use("gpio.indicator.red", g.Indicator.Red, false)
	use("gpio.indicator.amber", g.Indicator.Amber, false)
	use("gpio.indicator.buzzer", g.Indicator.Buzzer, false)
	for i, r := range c.Readers {
		if r.Type == ReaderMFRC522 {
			use(fmt.Sprintf("readers[%d].irq_pin", i), r.IRQPin, false)
			use(fmt.Sprintf("readers[%d].reset_pin", i), r.ResetPin, false)
		}
	}
	if g.Poll < 0 {
		bad("gpio.poll", "negative")
	}
}
