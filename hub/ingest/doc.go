// Package ingest is the hub's receiving end of the doors' event streams:
// it takes event JSON from a persistent MQTT session subscribed to every
// door's events topic, validates it, stores each event exactly once and in
// seq order per door and epoch in its event store, and after the commit
// acks to the door's events/ack topic: a permit.Ack of the door, epoch and
// through, signed with the hub's key (permit.Signer.SignAck), which the
// door verifies before it deletes anything. The guest book and reports
// read the stored events through the same store, which keeps the guest
// book's state too (EventStore's Book), written with the events. The store is an
// EventStore: Store, its own bbolt file (the default), or PostgreSQL
// (hub/ingest/pgevents) for hub replicas sharing a database.
//
// Decisions where design.md is silent:
//   - A stream is one door's events of one epoch; it starts at seq 1 and
//     is stored gap-free but for runs an operator accepted as lost
//     (below), so "through" (the highest seq stored) says all.
//     A door's epochs read back in the order they were first seen.
//   - A seq beyond the next one expected is held until the gap fills, in
//     bounded buffers: per stream (MaxHeld events, the lowest seqs kept:
//     they are needed first), per door (MaxHeldBytes, and gaps open in
//     MaxHeldEpochs of its epochs at most) and over every door
//     (MaxHeldTotal, MaxHeldStreams). Held events of a stream that sent
//     nothing for HeldIdle are dropped. The agent publishes again, from
//     its ack, whatever the hub has not acked, so dropping held events
//     loses nothing. Every drop is counted by reason and logged at most
//     once a minute. A duplicate is acked again, never stored twice.
//   - Every member of an event has a size bound (MaxDetail, MaxMember,
//     MaxRacks, the ids' 64 characters, MaxEventSize in all), enforced
//     here whatever the agent does: a longer member is cut and counted,
//     not refused, since a refused event would come back for ever.
//   - Events that arrive together are stored in one transaction (up to
//     MaxBatch). A door gets at most one ack per AckInterval while its
//     events keep coming, and its ack at once when the queue runs dry.
//   - Members of the event JSON the hub does not know are accepted and not
//     stored, so that an agent newer than the hub is not refused; what is
//     stored is the validated Event, marshalled again.
//   - A new epoch starts at seq 1. A stream the hub has no record of is
//     stored only from seq 1; one that starts higher is held like any
//     other stream beyond a gap, from 1. The hub cannot tell an epoch
//     made up with a door's credential from its own store lost while the
//     door already deleted what that store had acked (a new file, an old
//     backup): both stall, within the bounds above. A gap open for
//     StallAfter is reported (Gaps, the door's state in the hub's API and
//     console, the log) and stays until it fills, or its stream has sent
//     nothing for GapIdle. Only an operator, who can ask the door what it
//     still holds, ends it: AcceptLost (POST
//     /api/doors/{site}/{door}/gap, kunci door gap) records in the store
//     that the seqs from through+1 to a given N are lost, with who, when
//     and why (Lost, for auditors), moves through to N, and the held
//     events flow. N must be below the lowest seq that came: the events
//     the door still sends are never accepted as lost. So "a new epoch
//     starts at seq 1" holds for the store: every stream is 1..through,
//     each seq stored once or in a recorded lost run.
//
// It must never ack an event before the transaction that stores it has
// committed, never store an event out of seq order or twice, never
// record as lost a seq that came, and never
// crash on a payload: malformed input is counted, logged and dropped. It
// must never import the agent: the event JSON of design.md is the contract
// between them.
package ingest
