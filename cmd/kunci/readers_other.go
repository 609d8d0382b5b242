package main

import (
	"fmt"
	"log/slog"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hardware/nfc"
)

// openOtherReader opens the reader types not handled in openReader.
func openOtherReader(cfg *config.Agent, field string, rc config.Reader, _ *slog.Logger) (nfc.Reader, error) {
	return nil, fmt.Errorf("%s: %s.type: %q is not available in this build", cfg.File(), field, rc.Type)
}
