// Package hardware holds the door's devices: the simulator (hardware/sim)
// and, on a Raspberry Pi, the periph.io drivers. Devices deliver what they
// sense to a Sink and move the lock through the agent's Relay interface.
//
// It must never import the agent's internals or MQTT: the only contract is
// the Sink below and the agent's small Relay interface.
package hardware

import "context"

// Sink receives what the door's sensors see. agent.Door implements it.
// Every method blocks until the input is stored, or ctx ends.
type Sink interface {
	Tap(ctx context.Context, reader string, uid []byte) error
	SetDoor(ctx context.Context, open bool) error
	SetRack(ctx context.Context, rack string, open bool) error
	ExitButton(ctx context.Context) error
}
