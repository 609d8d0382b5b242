// Package outbox is the agent's uplink pump: it publishes the door's event
// log over MQTT to the door's events topic, in seq order, QoS 1, with a
// bounded window of publishes in flight, and deletes events from the log
// only when the hub's end-to-end ack on events/ack says they are stored:
// at most once a DeleteInterval (1 s), each deletion being a durable write
// that a tap's write arriving meanwhile waits for. An ack is a permit.Ack
// signed with a hub key the door trusts (Options.Keys), for the door's
// own site, door and epoch, and through no more than its newest event;
// anything else is refused, counted by reason, and deletes nothing.
//
// Every gap is closed by going back, by a bounded step first: when the
// hub's ack makes no progress for AckTimeout (a wait that doubles, up to
// MaxAckTimeout, while the hub stays silent), and at each reconnection,
// the pump publishes again a probe, the ProbeSize events after the last
// acked seq, not the log: a hub that is down, whose persistent session
// the broker keeps, costs the broker the log once and a probe a timeout.
// An ack that then stops on the probe's last event says the hub has
// nothing after it, and the pump publishes all the rest again
// (Options.AckTimeout). The first connection of Run goes back in full.
// The wire thus carries duplicates, never a skipped or reordered first
// publication; the hub dedupes by id.
// Events stored before the current connection came up go out with
// replayed:true.
//
// It must never delete an event the hub has not acked, never block the
// door (it reads the log, waits on a notify channel, and its deletions
// give way to the door's writes: agent.Store.Ack), and never
// trust a completed publish token as proof of delivery: only the hub's
// signed ack is. A malformed or forged ack is an error and a counter,
// never a crash.
package outbox
