package nfc_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/kunci-project/kunci/hardware"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/evdev"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
)

// How cmd wires a reader: open it (no I/O yet), run the loop until the
// context ends, then halt it. door is the agent's Door; faults become
// reader.fault events.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var door hardware.Sink // agent.Door
	faults := func(ctx context.Context, reader string, err error) {
		// e.g. door.ReaderFault(ctx, reader, err): a reader.fault event.
		// err names no UID.
	}

	entry := pn532.Open("/dev/serial0", pn532.Options{})
	defer entry.Halt()
	go nfc.Run(ctx, entry, "entry", door, faults, nfc.AbsentFor(time.Second), nfc.Logger(slog.Default()))

	exit, err := evdev.Open("/dev/input/by-id/usb-reader-event-kbd", evdev.Options{Format: evdev.Decimal})
	if err != nil {
		return // bad options: a config error
	}
	defer exit.Halt()
	nfc.Run(ctx, exit, "exit", door, faults)
}
