package hub

import (
	"testing"

	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// A door's status and availability are taken from the broker it is on.
func TestOnBroker(t *testing.T) {
	type msg struct {
		broker   int
		retained bool
		v        string // availability; "" for a status
		take     bool
	}
	for _, tc := range []struct {
		name string
		msgs []msg
	}{
		{"one broker takes everything", []msg{{0, true, wire.Online, true}, {0, false, "", true},
			{0, false, wire.Offline, true}, {0, true, wire.Offline, true}}},
		{"the will of a broker the door left", []msg{{0, false, wire.Online, true}, {1, false, "", true},
			{1, false, wire.Online, true}, {0, false, wire.Offline, false}, {1, false, "", true}}},
		{"the past of a broker back from a kill", []msg{{1, false, wire.Online, true}, {0, true, "", false},
			{0, true, wire.Online, false}, {1, false, wire.Offline, true}}},
		{"the door back on the first broker", []msg{{0, false, wire.Online, true}, {1, false, wire.Online, true},
			{0, false, "", true}, {0, false, wire.Online, true}, {1, false, wire.Offline, false}, {1, true, wire.Online, false}}},
		{"retained at the hub's start: the first heard", []msg{{1, true, wire.Online, true}, {0, true, wire.Online, false},
			{0, false, "", true}, {1, true, "", false}}},
	} {
		var b onBroker
		d := DoorName{Site: "demo", Door: "server-room"}
		for i, m := range tc.msgs {
			got := b.take(d, mqttlink.Message{Broker: m.broker, Retained: m.retained}, m.v)
			if got != m.take {
				t.Errorf("%s: message %d (broker %d, retained %v, %q): take = %v; want %v", tc.name, i, m.broker, m.retained,
					m.v, got, m.take)
			}
		}
	}
}
