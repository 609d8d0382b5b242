package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/config"
	kgpio "github.com/kunci-project/kunci/hardware/gpio"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/mfrc522"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/wire"
)

// board is a door's real hardware on a Raspberry Pi: the relay, the reed
// switches and exit button, the LEDs and buzzer, the card readers.
type board struct {
	relay     *kgpio.Relay
	sensors   kgpio.Sensors
	indicator *kgpio.Indicator
	readers   map[string]nfc.Reader
	closers   []func() error
	log       *slog.Logger
}

// pinError names the config field of a pin the board does not have.
func pinError(cfg *config.Agent, field, name string) error {
	return fmt.Errorf("%s: %s: %q is not a pin on this board (see `kunci hwcheck`)", cfg.File(), field, name)
}

// openBoard initialises periph, drives the relay to its safe state first,
// then opens the inputs, outputs and readers of cfg.
func openBoard(cfg *config.Agent, log *slog.Logger) (b *board, err error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("periph: %w", err)
	}
	g := cfg.GPIO
	opened := &board{readers: map[string]nfc.Reader{}, log: log}
	b = opened
	defer func() {
		if err != nil {
			// b is nil here (return nil, err): halt what was opened, the relay first
			opened.Halt()
		}
	}()
	pin := func(field, name string) (gpio.PinIO, error) {
		p := gpioreg.ByName(name)
		if p == nil {
			return nil, pinError(cfg, field, name)
		}
		return p, nil
	}
	relayPin, err := pin("gpio.relay.pin", g.Relay.Pin)
	if err != nil {
		return nil, err
	}
	lock := kgpio.FailSecure
	if g.Relay.Lock == "fail-safe" {
		lock = kgpio.FailSafe
	}
	if b.relay, err = kgpio.NewRelay(relayPin, kgpio.RelayConfig{ActiveLow: g.Relay.ActiveLow, Lock: lock}); err != nil {
		return nil, err
	}
	input := func(field, name string, c config.InputPin, button bool) (*kgpio.Input, error) {
		p, err := pin(field+".pin", c.Pin)
		if err != nil {
			return nil, err
		}
		ic := kgpio.InputConfig{Name: name, ActiveHigh: c.ActiveHigh, Debounce: time.Duration(c.Debounce),
			Poll: time.Duration(g.Poll)}
		switch c.Pull {
		case "up":
			ic.Pull = gpio.PullUp
		case "down":
			ic.Pull = gpio.PullDown
		case "float":
			ic.Pull = gpio.Float
		}
		// periph's gpioioctl waits forever on a 0 timeout: never hand it one
		pi := kgpio.PositiveTimeoutsIn(p)
		if button {
			return kgpio.NewButton(pi, ic, log)
		}
		return kgpio.NewReed(pi, ic, log)
	}
	if b.sensors.Door, err = input("gpio.door", "door", g.Door, false); err != nil {
		return nil, err
	}
	b.sensors.Racks = map[string]*kgpio.Input{}
	for name, c := range g.Racks {
		if b.sensors.Racks[name], err = input("gpio.racks."+name, "rack "+name, c, false); err != nil {
			return nil, err
		}
	}
	if g.ExitButton != nil {
		if b.sensors.Exit, err = input("gpio.exit_button", "exit button", *g.ExitButton, true); err != nil {
			return nil, err
		}
	}
	ind := kgpio.IndicatorConfig{ActiveLow: g.Indicator.ActiveLow}
	for _, o := range []struct {
		field, name string
		out         *gpio.PinOut
	}{{"green", g.Indicator.Green, &ind.Green}, {"red", g.Indicator.Red, &ind.Red},
		{"amber", g.Indicator.Amber, &ind.Amber}, {"buzzer", g.Indicator.Buzzer, &ind.Buzzer}} {
		if o.name == "" {
			continue
		}
		p, err := pin("gpio.indicator."+o.field, o.name)
		if err != nil {
			return nil, err
		}
		*o.out = p
	}
	if ind.Green != nil || ind.Red != nil || ind.Amber != nil || ind.Buzzer != nil {
		if b.indicator, err = kgpio.NewIndicator(ind, log); err != nil {
			return nil, err
		}
	}
	for i, rc := range cfg.Readers {
		r, err := b.openReader(cfg, i, rc)
		if err != nil {
			return nil, err
		}
		b.readers[rc.Name] = r
	}
	return b, nil
}

func (b *board) openReader(cfg *config.Agent, i int, rc config.Reader) (nfc.Reader, error) {
	field := fmt.Sprintf("readers[%d]", i)
	switch rc.Type {
	case config.ReaderPN532:
		return pn532.Open(rc.Device, pn532.Options{TypeAOnly: rc.TypeAOnly, Logger: b.log}), nil
	case config.ReaderMFRC522:
		port, err := spireg.Open(rc.SPI)
		if err != nil {
			return nil, fmt.Errorf("%s: %s.spi: %w", cfg.File(), field, err)
		}
		b.closers = append(b.closers, port.Close)
		reset := gpioreg.ByName(rc.ResetPin)
		if reset == nil {
			return nil, pinError(cfg, field+".reset_pin", rc.ResetPin)
		}
		irq := gpioreg.ByName(rc.IRQPin)
		if irq == nil {
			return nil, pinError(cfg, field+".irq_pin", rc.IRQPin)
		}
		return mfrc522.New(port, reset, kgpio.PositiveTimeoutsIn(irq), mfrc522.Options{})
	}
	return openOtherReader(cfg, field, rc, b.log)
}

// Relay returns the door's relay.
func (b *board) Relay() agent.Relay { return b.relay }

// Run feeds the door from the sensors and readers until ctx ends, and
// plays the door's events on the LEDs and buzzer.
func (b *board) Run(ctx context.Context, door *agent.Door) error {
	var wg sync.WaitGroup
	if b.indicator != nil {
		heard := door.Listen(16)
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-heard:
					switch e.Type {
					case wire.EvGranted:
						b.indicator.Play(kgpio.Granted)
					case wire.EvDenied:
						b.indicator.Play(kgpio.Denied)
					case wire.EvEscortAwaited:
						b.indicator.Play(kgpio.Waiting)
					}
				}
			}
		})
	}
	faults := func(ctx context.Context, reader string, err error) {
		if ferr := door.ReaderFault(ctx, reader, err); ferr != nil && ctx.Err() == nil {
			b.log.Error("reader fault not recorded", "reader", reader, "err", ferr)
		}
	}
	errs := make(chan error, len(b.readers)+1)
	wg.Go(func() { errs <- b.sensors.Run(ctx, door) })
	for name, r := range b.readers {
		wg.Go(func() { errs <- nfc.Run(ctx, r, name, door, faults, nfc.Logger(b.log)) })
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// Halt puts everything in its safe state: the relay first.
func (b *board) Halt() {
	if b.relay != nil {
		if err := b.relay.Halt(); err != nil {
			b.log.Error("relay halt", "err", err)
		}
	}
	for _, r := range b.readers {
		_ = r.Halt()
	}
	if b.indicator != nil {
		_ = b.indicator.Halt()
	}
	_ = b.sensors.Halt()
	for _, c := range b.closers {
		_ = c()
	}
}
