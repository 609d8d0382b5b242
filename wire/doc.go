// Package wire is Kunci's wire vocabulary, defined once: the event JSON
// and its types, the reasons of denials and refusals, the door's modes,
// alarms and states, the status JSON, the names of signed commands, and
// the Duration that configs and the hub's API write as "5m". Agent, hub,
// sync and the hub's client all use these types, so a door's record
// decodes into the hub's without loss, and no other package spells
// "door.unlocked" (internal/rules checks that).
//
// It holds data and their spelling only: it must never import another
// Kunci package, do I/O, or hold state.
package wire
