package agent

import "github.com/kunci-project/kunci/permit"

// Event types of design.md; the strings are a contract with the hub.
const (
	EvStarted        = "agent.started"
	EvTap            = "tap"
	EvEscortAwaited  = "escort.awaited"
	EvGranted        = "access.granted"
	EvDenied         = "access.denied"
	EvUnlocked       = "door.unlocked"
	EvLocked         = "door.locked"
	EvOpened         = "door.opened"
	EvClosed         = "door.closed"
	EvForced         = "door.forced"
	EvHeldOpen       = "door.held_open"
	EvExitRequested  = "exit.requested"
	EvRackOpened     = "rack.opened"
	EvRackClosed     = "rack.closed"
	EvRackTampered   = "rack.tampered"
	EvVisitEntered   = "visit.entered"
	EvVisitExited    = "visit.exited"
	EvUnescorted     = "visit.unescorted"
	EvSecured        = "room.secured"
	EvNotSecured     = "room.not_secured"
	EvPermitRejected = "permit.rejected"
	EvCmdExecuted    = "command.executed"
	EvCmdRejected    = "command.rejected"
	EvClockUnsynced  = "clock.unsynced"
	EvReaderFault    = "reader.fault"
	EvRelayFault     = "relay.fault" // an extension: the relay did not move as asked
)

// Denial reasons of design.md.
const (
	ReasonUnknownCard      = "unknown_card"
	ReasonNoPermit         = "no_permit"
	ReasonNotYetValid      = "not_yet_valid"
	ReasonExpired          = "expired"
	ReasonRevoked          = "revoked"
	ReasonEntriesUsed      = "entries_used"
	ReasonEscortTimeout    = "escort_timeout"
	ReasonWrongEscort      = "wrong_escort"
	ReasonEscortNotAllowed = "escort_not_allowed"
	ReasonLockdown         = "lockdown"
	ReasonClockUntrusted   = "clock_untrusted"
)

// Event is one record of the door's log, in the JSON form of design.md
// (permit.Event, the contract the hub reads too). The machine fills the
// fields that say what happened; the store fills the identity (id, seq,
// epoch) and the clock fields when it appends.
type Event = permit.Event

// eventAttrs returns the event's set fields as slog key-value pairs.
func eventAttrs(e *Event) []any {
	a := []any{"seq", e.Seq, "type", e.Type}
	for _, f := range [...]struct{ k, v string }{{"reader", e.Reader}, {"permit", e.Permit}, {"escort", e.Escort},
		{"staff", e.Staff}, {"reason", e.Reason}, {"rack", e.Rack}, {"card", e.Card}, {"detail", e.Detail}} {
		if f.v != "" {
			a = append(a, f.k, f.v)
		}
	}
	return a
}
