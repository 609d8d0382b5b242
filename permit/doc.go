// Package permit holds the records that the hub and the door share: guest
// permits, staff records and revocations, the commands and the acks of
// events the hub sends to a door, their ed25519 signatures with key
// ids, and card fingerprints.
//
// It is the only place that turns a card UID into a fingerprint, so the raw
// UID never has to leave the reader's goroutine. It must never log, store or
// return a raw UID or a NIK, and it must never import the agent, the hub,
// the hardware or MQTT.
package permit
