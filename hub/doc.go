// Package hub is the central side of Kunci: it wires the permit workflow
// (hub/workflow), the doors' events (hub/ingest), the guest book kept up to
// date as events are stored (by the event store, in the events' own
// transaction, and read from it at start), the doors' live state, and the
// publishing of signed records and commands to the doors over MQTT.
//
// A Hub owns no listener and no link of its own making: hub/server opens
// the stores, builds the MQTT link with LinkOptions and Handle, serves the
// HTTP API (hub/api) and calls Run.
//
// What the doors hold is what the hub publishes, retained, one topic per
// record: each issued permit (or its revocation) on its door's
// permits/<id>, each staff member on staff/<id> of every door of the
// site. The documents are signed again from the records at start and
// published again on every connection (Ed25519 and the records' JSON are
// deterministic: same bytes), so a broker that lost its retained
// messages, or a hub restored from a backup, puts the doors right.
// Commands are signed, expire and are never retained.
//
// The hub must never publish an unsigned record, a NIK or a raw card UID,
// and never ack an event it has not stored (the ingest's rule).
package hub
