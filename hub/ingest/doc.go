// Package ingest is the hub's receiving end of the doors' event streams:
// it takes event JSON from a persistent MQTT session subscribed to every
// door's events topic, validates it, stores each event exactly once and in
// seq order per door and epoch in its own bbolt file, and after the commit
// acks {"epoch","through"} to the door's events/ack topic. The guest book
// and reports read the stored events through Store.
//
// A seq beyond the next one expected is held in a bounded buffer until the
// gap fills; the agent publishes again whatever the hub has not acked, so
// dropping that buffer loses nothing. A duplicate is acked again, never
// stored twice.
//
// It must never ack an event before the transaction that stores it has
// committed, never store an event out of seq order or twice, and never
// crash on a payload: malformed input is counted, logged and dropped. It
// must never import the agent: the event JSON of design.md is the contract
// between them.
package ingest
