package contacttest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kunci-project/kunci/internal/waitfor"
)

// Contact is a fake GPIO line. Its level is the wiring's: a reed switch
// closed to ground reads Low whatever pull the driver asks for (gpiotest's
// In would move it); Set moves it as the switch would, with an edge; every
// level driven by Out is kept.
type Contact struct {
	*gpiotest.Pin

	mu   sync.Mutex
	outs []gpio.Level
}

// New returns a line named name at level l, on real time, with room for 16
// edges not yet waited for.
func New(name string, l gpio.Level) *Contact {
	return &Contact{Pin: &gpiotest.Pin{N: name, L: l, Clock: clockwork.NewRealClock(), EdgesChan: make(chan gpio.Level, 16)}}
}

// In sets the pull and edge detection and keeps the wiring's level.
func (c *Contact) In(pull gpio.Pull, edge gpio.Edge) error {
	l := c.Pin.Read()
	err := c.Pin.In(pull, edge)
	_ = c.Pin.Out(l)
	return err
}

// Out drives l and keeps it in Driven.
func (c *Contact) Out(l gpio.Level) error {
	c.mu.Lock()
	c.outs = append(c.outs, l)
	c.mu.Unlock()
	return c.Pin.Out(l)
}

// Driven returns the levels driven by Out so far, oldest first.
func (c *Contact) Driven() []gpio.Level {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.outs)
}

// Set moves the line to l, as a switch would, with an edge (dropped when
// 16 edges wait already).
func (c *Contact) Set(l gpio.Level) {
	_ = c.Pin.Out(l)
	select {
	case c.EdgesChan <- l:
	default:
	}
}

// WaitLevel waits up to 10 s until c reads l, failing t with what and the
// levels driven so far.
func WaitLevel(t testing.TB, what string, c *Contact, l gpio.Level) {
	t.Helper()
	waitfor.NoError(t, 10*time.Second, func() error {
		if got := c.Read(); got != l {
			return fmt.Errorf("%s: %s reads %s; want %s (driven: %v)", what, c.Name(), got, l, c.Driven())
		}
		return nil
	})
}

// DoorAtRest is a door's lines at rest on the pins of
// configs/agent.pi4-pn532.yaml, the README's wiring: door and racks closed
// (Low), exit button released (High), relay and indicator outputs unset
// (Low). Each call returns a new map, for the caller to change.
func DoorAtRest() map[string]gpio.Level {
	return map[string]gpio.Level{
		"GPIO18": gpio.Low,  // relay
		"GPIO17": gpio.Low,  // door reed
		"GPIO22": gpio.Low,  // rack R1
		"GPIO23": gpio.Low,  // rack R2
		"GPIO27": gpio.High, // exit button, released
		"GPIO16": gpio.Low,  // green LED
		"GPIO20": gpio.Low,  // red LED
		"GPIO21": gpio.Low,  // buzzer
	}
}
