package permit

import "time"

// Event is one record of a door's log in the JSON form of design.md: the
// contract between the agent, which writes it, and the hub, which stores
// it. It names cards only by short fingerprint and people by permit or
// staff id, never by UID or NIK.
type Event struct {
	ID          string    `json:"id"` // site/door/epoch/seq
	Seq         uint64    `json:"seq"`
	Epoch       string    `json:"epoch"`
	Site        string    `json:"site"`
	Door        string    `json:"door"`
	Type        string    `json:"type"`
	At          time.Time `json:"at"`
	ClockSynced bool      `json:"clock_synced"`
	Boot        string    `json:"boot"`
	MonoNS      int64     `json:"mono_ns"`
	Reader      string    `json:"reader"`
	Permit      string    `json:"permit"`
	Escort      string    `json:"escort"`
	Reason      string    `json:"reason"`
	Rack        string    `json:"rack"`
	Replayed    bool      `json:"replayed"`
	// Extensions to the contract.
	Staff  string `json:"staff,omitempty"`  // staff id of a staff card
	Card   string `json:"card,omitempty"`   // short card fingerprint, never a UID
	Detail string `json:"detail,omitempty"` // what is open, which command, why rejected
}

// MovesRelay reports whether e is the event that justifies a relay
// movement (door.unlocked, door.locked): the relay may only move after
// such an event is stored.
func (e *Event) MovesRelay() bool { return e.Type == "door.unlocked" || e.Type == "door.locked" }
