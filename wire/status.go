package wire

import (
	"strings"
	"time"
)

// Mode is the door's mode.
type Mode string

// Modes of the door.
const (
	ModeNormal   Mode = "normal"
	ModeLockdown Mode = "lockdown"
)

// Alarm is an alarm a door's status carries while its condition lasts.
type Alarm string

// Alarms of the status JSON. A tampered rack is named in its alarm
// (RackTamperedAlarm).
const (
	AlarmDoorForced     Alarm = "door_forced"
	AlarmDoorHeldOpen   Alarm = "door_held_open"
	AlarmRoomNotSecured Alarm = "room_not_secured"
	AlarmRackTampered   Alarm = "rack_tampered" // followed by ":" and the rack's name
	AlarmLockdown       Alarm = "lockdown"
	AlarmRelayFault     Alarm = "relay_fault"
	AlarmLowSpace       Alarm = "low_space"    // the store near its quota or its disk near full
	AlarmStoreFailed    Alarm = "store_failed" // the last write of the store failed: events held in memory
)

// RackTamperedAlarm is the alarm of a tampered rack.
func RackTamperedAlarm(rack string) Alarm { return AlarmRackTampered + ":" + Alarm(rack) }

// Kind is the alarm without the rack's name: rack_tampered:R1 is of kind
// rack_tampered.
func (a Alarm) Kind() Alarm {
	k, _, _ := strings.Cut(string(a), ":")
	return Alarm(k)
}

// States of the door's contact and racks, and of its lock, in the status JSON.
const (
	Open     = "open"
	Closed   = "closed"
	Locked   = "locked"
	Unlocked = "unlocked"
)

// Availability of a door on its .../availability topic.
const (
	Online  = "online"
	Offline = "offline"
)

// Status is the status JSON of design.md that a door publishes retained
// and the hub keeps: the door's state after its last stored event.
type Status struct {
	Door        string            `json:"door"` // Open or Closed
	Lock        string            `json:"lock"` // Locked or Unlocked
	Racks       map[string]string `json:"racks"`
	Mode        Mode              `json:"mode"`
	Occupancy   []Occupant        `json:"occupancy"`
	Secured     bool              `json:"secured"`
	Alarms      []Alarm           `json:"alarms"`
	Seq         uint64            `json:"seq"` // of the last event stored
	ClockSynced bool              `json:"clock_synced"`
	Version     string            `json:"version"`
}

// Occupant is someone inside the room: a guest with a permit and escort,
// or a staff member alone.
type Occupant struct {
	Permit string    `json:"permit,omitempty"`
	Escort string    `json:"escort,omitempty"`
	Staff  string    `json:"staff,omitempty"`
	Card   string    `json:"card,omitempty"` // card id (CardIDLen), for exit taps
	Since  time.Time `json:"since"`
}
