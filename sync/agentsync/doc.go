// Package agentsync is a door's MQTT side, wired: one link to the broker
// (sync/mqttlink) with the door's last will, the outbox pump
// (sync/outbox), the signed downlink (sync/downlink), the status publisher
// (sync/status) and, optionally, Home Assistant discovery
// (sync/hadiscovery).
//
// It routes the link's messages: the hub's events/ack to the pump, which
// verifies it with the same hub keys as the downlink (Config.Keys), the
// door's own availability to the status publisher, Home Assistant's status
// to discovery, and everything else to the downlink, which refuses and
// records what is not a permit, staff or command topic of this door.
//
// It runs its parts in the process's lifecycle.Group, each stopping in
// its phase: the downlink's calls to the door end with the door
// (lifecycle.Input); the pump and discovery stop with the local API
// (lifecycle.Serve), before the store closes, and acks arriving after the
// pump stopped are dropped (the hub acks the events again when they are
// sent again); the final status and "offline" go out after the store is
// closed (lifecycle.Final), while the link is still up; the link closes
// last (lifecycle.Link).
//
// It must never decide anything about the door (the agent does), never
// read or write the store after the pump stopped, and never open a link
// without the door's will.
package agentsync
