package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/kunci-project/kunci/internal/devbroker"
)

// devMQTTDefault is the default of kunci dev's --mqtt. "off" runs the door
// alone, without a broker or the hub's ingest, as dev did before.
const devMQTTDefault = "127.0.0.1:1883"

// startDevBroker starts the embedded broker on addr (--mqtt). A refusal
// names the flags that get round it.
func startDevBroker(addr string, log *slog.Logger) (*devbroker.Broker, error) {
	b, err := devbroker.Start(addr, log)
	switch {
	case errors.Is(err, devbroker.ErrAddrInUse):
		return nil, fmt.Errorf("%w: %s is already in use by another program (a Mosquitto, say); choose another address with --mqtt, or use the broker running there with --broker tcp://%s", devbroker.ErrAddrInUse, addr, addr)
	case errors.Is(err, devbroker.ErrNotLoopback):
		return nil, fmt.Errorf("--mqtt %s: the embedded broker lets every client in, so it listens on a loopback address only (127.0.0.1:PORT); use --broker URL for a broker other machines reach", addr)
	case err != nil:
		return nil, fmt.Errorf("--mqtt %w", err)
	}
	return b, nil
}
