package main

import (
	"fmt"
	"log/slog"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/evdev"
)

// openOtherReader opens the reader types not handled in openReader: the
// keyboard-wedge reader through evdev, grabbed so that its keystrokes reach
// no console.
func openOtherReader(cfg *config.Agent, field string, rc config.Reader, log *slog.Logger) (nfc.Reader, error) {
	if rc.Type != config.ReaderEvdev {
		return nil, fmt.Errorf("%s: %s.type: %q is not available in this build", cfg.File(), field, rc.Type)
	}
	o := evdev.Options{Format: evdev.Hex}
	if rc.Format == "decimal" {
		o.Format = evdev.Decimal
	}
	log.Warn("a keyboard-wedge reader: its UIDs may be truncated and anyone at its cable can type one; prefer a PN532",
		"reader", rc.Name)
	r, err := evdev.Open(rc.Device, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %s.device: %w", cfg.File(), field, err)
	}
	return r, nil
}
