// Package sim is a simulated door: a relay that only remembers its state,
// a door and racks moved over HTTP (POST /sim/tap, /sim/door, /sim/rack,
// /sim/exit-button; GET /sim/state), for kunci dev, demos and tests.
//
// It must never be wired to a real door: it has no safety of its own.
package sim
