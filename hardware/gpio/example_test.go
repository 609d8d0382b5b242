package gpio_test

import (
	"context"
	"log/slog"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kunci-project/kunci/hardware"
	kgpio "github.com/kunci-project/kunci/hardware/gpio"
)

// The wiring cmd does. On the Pi the pins come from host.Init and
// gpioreg.ByName("GPIO17") and so on; here they are gpiotest pins.
func Example() {
	var (
		ctx  = context.Background()
		log  = slog.Default()
		door hardware.Sink // the agent's *agent.Door
	)
	pin := func(name string) gpio.PinIO {
		return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 16)}
	}

	// the relay first: the door is locked before anything else runs
	relay, err := kgpio.NewRelay(pin("GPIO18"), kgpio.RelayConfig{Lock: kgpio.FailSecure})
	if err != nil {
		return
	}
	defer relay.Halt()

	reed, _ := kgpio.NewReed(pin("GPIO17"), kgpio.InputConfig{Name: "door"}, log)
	r1, _ := kgpio.NewReed(pin("GPIO22"), kgpio.InputConfig{Name: "rack R1"}, log)
	exit, _ := kgpio.NewButton(pin("GPIO27"), kgpio.InputConfig{Name: "exit button"}, log)
	sensors := kgpio.Sensors{Door: reed, Racks: map[string]*kgpio.Input{"R1": r1}, Exit: exit}
	go func() {
		if err := sensors.Run(ctx, door); err != nil {
			log.Error("sensors", "err", err)
		}
	}()

	ind, _ := kgpio.NewIndicator(kgpio.IndicatorConfig{Green: pin("GPIO5"), Red: pin("GPIO6"), Buzzer: pin("GPIO13")}, log)
	defer ind.Halt()
	// from the agent's events: access.granted, access.denied, escort.awaited
	patterns := map[string]string{"access.granted": kgpio.Granted, "access.denied": kgpio.Denied, "escort.awaited": kgpio.Waiting}
	_ = ind.Play(patterns["access.granted"])
}
