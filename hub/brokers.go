package hub

import (
	"sync"

	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// onBroker tells, for a hub on several brokers (mqttlink.Set), which
// broker each door is on: the one it last said something live on. A
// door's status and availability are taken from that broker only, since
// the others may hold the past: the retained "online" and status of a
// broker the door left when it was killed (brought back by its
// persistence), or the will ("offline") a broker publishes when the
// connection of a door that moved away times out there. A live message
// on another broker, but for a will, means the door moved: it is taken,
// and the door is on that broker from then on. A retained one is taken
// only for a door not yet heard of since the hub started. With one
// broker every message is its.
type onBroker struct {
	mu sync.Mutex
	on map[DoorName]int // by mqttlink.Message.Broker
}

// take reports whether m, the door's status or availability (v, for
// availability), is to be taken, and notes the door's broker.
func (b *onBroker) take(d DoorName, m mqttlink.Message, availability string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.on == nil {
		b.on = map[DoorName]int{}
	}
	cur, known := b.on[d]
	switch {
	case !known || cur == m.Broker:
	case m.Retained:
		return false
	case availability == wire.Offline:
		return false // a will of a connection the door left
	}
	b.on[d] = m.Broker
	return true
}

// fromDoorsBroker reports whether m, a status or availability (v) of the
// door, comes from the broker it is on (onBroker). Only the configured
// doors are followed, so that the map is bounded; another door's every
// message is taken, as with one broker.
func (h *Hub) fromDoorsBroker(site, door string, m mqttlink.Message, v string) bool {
	d := DoorName{Site: site, Door: door}
	if _, ok := h.doors[d]; !ok {
		return true
	}
	return h.brokers.take(d, m, v)
}
