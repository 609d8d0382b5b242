// Package ingest is the hub's receiving end of the doors' event streams:
// it takes event JSON from a persistent MQTT session subscribed to every
// door's events topic, validates it, stores each event exactly once and in
// seq order per door and epoch in its own bbolt file, and after the commit
// acks {"epoch","through"} to the door's events/ack topic. The guest book
// and reports read the stored events through Store.
//
// Decisions where design.md is silent:
//   - A stream is one door's events of one epoch; it starts at seq 1 and
//     is stored gap-free, so "through" (the highest seq stored) says all.
//     A door's epochs read back in the order they were first seen.
//   - A seq beyond the next one expected is held in a bounded buffer per
//     stream until the gap fills; a full buffer keeps the lowest seqs. The
//     agent publishes again whatever the hub has not acked, so dropping
//     held events loses nothing. A duplicate is acked again, never stored
//     twice.
//   - Events that arrive together are stored in one transaction (up to
//     MaxBatch). A door gets at most one ack per AckInterval while its
//     events keep coming, and its ack at once when the queue runs dry.
//   - Members of the event JSON the hub does not know are accepted and not
//     stored, so that an agent newer than the hub is not refused; what is
//     stored is the validated Event, marshalled again.
//   - A stream the hub never saw from seq 1 (its store lost, while the
//     agent already deleted what it had acked) waits for ever: the hub
//     does not guess that the missing events were once stored.
//
// It must never ack an event before the transaction that stores it has
// committed, never store an event out of seq order or twice, and never
// crash on a payload: malformed input is counted, logged and dropped. It
// must never import the agent: the event JSON of design.md is the contract
// between them.
package ingest
