package hadiscovery

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// EventTypes are the events sent to Home Assistant's Access entity: who
// came in and out, what was refused, what went wrong. Steps that the
// binary sensors already show (door.opened, rack.closed, ...) and taps are
// not sent.
var EventTypes = []wire.EventType{
	wire.EvGranted,
	wire.EvDenied,
	wire.EvForced,
	wire.EvHeldOpen,
	wire.EvVisitEntered,
	wire.EvVisitExited,
	wire.EvUnescorted,
	wire.EvRackTampered,
	wire.EvSecured,
	wire.EvNotSecured,
	wire.EvCmdExecuted,
	wire.EvCmdRejected,
	wire.EvReaderFault,
	wire.EvRelayFault,
}

// EventTopic is where the door's events for Home Assistant go, not
// retained: kunci/v1/<site>/<door>/ha/event.
func EventTopic(t topic.Door) string {
	return strings.TrimSuffix(t.Status(), "/status") + "/ha/event"
}

// eventPayload is what Home Assistant's event entity reads: event_type
// names the event, the other keys become its attributes. The card's
// fingerprint is left out: Home Assistant is a wider audience than the
// hub.
type eventPayload struct {
	EventType   wire.EventType `json:"event_type"`
	ID          string         `json:"id"`
	Seq         uint64         `json:"seq"`
	At          time.Time      `json:"at"`
	ClockSynced bool           `json:"clock_synced"`
	Reader      string         `json:"reader,omitempty"`
	Permit      string         `json:"permit,omitempty"`
	Escort      string         `json:"escort,omitempty"`
	Staff       string         `json:"staff,omitempty"`
	Reason      wire.Reason    `json:"reason,omitempty"`
	Rack        string         `json:"rack,omitempty"`
	Detail      string         `json:"detail,omitempty"`
}

// EventMessage maps one of the door's events to its message for Home
// Assistant, to be published at QoS 1, not retained. ok is false for an
// event Home Assistant is not sent: a type not in EventTypes, or an event
// replayed after a restart (Home Assistant would fire it as new).
func EventMessage(t topic.Door, e agent.Event) (m Message, ok bool) {
	if e.Replayed || !slices.Contains(EventTypes, e.Type) {
		return Message{}, false
	}
	payload, err := json.Marshal(eventPayload{EventType: e.Type, ID: e.ID, Seq: e.Seq, At: e.At,
		ClockSynced: e.ClockSynced, Reader: e.Reader, Permit: e.Permit, Escort: e.Escort, Staff: e.Staff,
		Reason: e.Reason, Rack: e.Rack, Detail: e.Detail})
	if err != nil {
		return Message{}, false // a time out of JSON's range: the hub still gets the event
	}
	return Message{Topic: EventTopic(t), Payload: payload}, true
}

// Forward publishes the door's events that Home Assistant is sent
// (EventMessage) as they come on events (agent.Door.Listen), until ctx
// ends. A publish waits for the link here, never in the door's loop; what
// the door could not queue meanwhile it dropped and counted.
func Forward(ctx context.Context, t topic.Door, events <-chan agent.Event, pub Publisher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			if m, ok := EventMessage(t, e); ok {
				pub.Publish(m.Topic, QoS, false, m.Payload)
			}
		}
	}
}
