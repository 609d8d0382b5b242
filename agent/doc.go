// Package agent is the door: the rules of the server-room procedure as a
// deterministic state machine over an injected clock, the local bbolt store
// (permits, staff, the card index and the event log) and the loop that runs
// them against the hardware.
//
// The agent owns the small interfaces it needs (Relay, Clock); drivers and
// the simulator implement them. It must never import periph host, paho or
// any package of hardware/ or sync/, never move the relay before the event
// that justifies the movement is stored, and never keep a raw card UID: a
// UID is fingerprinted the moment it arrives and then dropped.
package agent
