// Package status keeps a door's retained MQTT state current: the status
// JSON on kunci/v1/<site>/<door>/status after every change, and "online" on
// .../availability at every connection, with "offline" as the connection's
// last will (Will) and published by the agent itself on a clean stop.
//
// A burst of changes is folded: at most one status publish is in flight,
// and the next one carries whatever the status is when it is sent, so the
// latest status always wins and a slow or absent broker costs the door
// nothing. On every new connection the status is published again before
// "online", so a subscriber that sees "online" finds a fresh status.
//
// Wiring: the link's options take Will for the last will and
// Subscriptions merged into theirs, and the link's handler passes every
// message to Publisher.Handle first: a will that a broker publishes late,
// after the agent's new connection said "online", is answered with
// "online" again.
//
// Shutdown order for the wiring: cancel Run's context and wait for Run to
// return (it publishes the final status and "offline", bounded by
// Options.StopTimeout), then stop the mqttlink.Link; a link stopped first
// disconnects cleanly, without its will, and leaves "online" retained.
//
// It must never block the door (it only reads Door.Status and the Watch
// channel), never retain anything but the status and availability, and
// never carry a card UID: the status JSON names people by permit and
// staff id only.
package status
