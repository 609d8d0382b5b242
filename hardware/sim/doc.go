// Package sim is a simulated door: a relay that only remembers its state,
// a door and racks moved over HTTP (POST /sim/tap, /sim/door, /sim/rack,
// /sim/exit-button; GET /sim/state), for kunci dev, demos and tests.
//
// A tap is one card presented and taken away. With "hold" ("10s", at most
// MaxHold) the card stays on the reader and is read again and again
// through the real reader loop (hardware/nfc.Run), whose de-duplication
// makes it one tap, as at a real door; the request answers when the card
// is taken away.
//
// It answers only on loopback, to a loopback Host, and takes only JSON
// (application/json): a web page in the operator's browser cannot drive
// it. It must never be wired to a real door: it has no safety of its own.
package sim
