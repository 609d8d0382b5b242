package wire

import "time"

// EventType is the type of an event in the door's log.
type EventType string

// Event types of design.md; the strings are the contract between the door,
// which writes them, and the hub, which reads them.
const (
	EvStarted        EventType = "agent.started"
	EvTap            EventType = "tap"
	EvEscortAwaited  EventType = "escort.awaited"
	EvGranted        EventType = "access.granted"
	EvDenied         EventType = "access.denied"
	EvUnlocked       EventType = "door.unlocked"
	EvLocked         EventType = "door.locked"
	EvOpened         EventType = "door.opened"
	EvClosed         EventType = "door.closed"
	EvForced         EventType = "door.forced"
	EvHeldOpen       EventType = "door.held_open"
	EvExitRequested  EventType = "exit.requested"
	EvRackOpened     EventType = "rack.opened"
	EvRackClosed     EventType = "rack.closed"
	EvRackTampered   EventType = "rack.tampered"
	EvVisitEntered   EventType = "visit.entered"
	EvVisitExited    EventType = "visit.exited"
	EvUnescorted     EventType = "visit.unescorted"
	EvSecured        EventType = "room.secured"
	EvNotSecured     EventType = "room.not_secured"
	EvPermitRejected EventType = "permit.rejected"
	EvCmdExecuted    EventType = "command.executed"
	EvCmdRejected    EventType = "command.rejected"
	EvClockUnsynced  EventType = "clock.unsynced"
	EvReaderFault    EventType = "reader.fault"
	EvRelayFault     EventType = "relay.fault" // an extension: the relay did not move as asked
	// EvStoreLowSpace: the door's store is near its quota or its disk
	// near full (detail says which); EvStoreFailed: writes failed for a
	// while, recorded once they work again (detail says for how long and
	// what was kept in memory meanwhile). Extensions.
	EvStoreLowSpace EventType = "store.low_space"
	EvStoreFailed   EventType = "store.failed"
)

// EventTypes lists every event type, in the order of design.md.
var EventTypes = []EventType{EvStarted, EvTap, EvEscortAwaited, EvGranted, EvDenied, EvUnlocked, EvLocked,
	EvOpened, EvClosed, EvForced, EvHeldOpen, EvExitRequested, EvRackOpened, EvRackClosed, EvRackTampered,
	EvVisitEntered, EvVisitExited, EvUnescorted, EvSecured, EvNotSecured, EvPermitRejected, EvCmdExecuted,
	EvCmdRejected, EvClockUnsynced, EvReaderFault, EvRelayFault, EvStoreLowSpace, EvStoreFailed}

// Reason says why a tap was denied (access.denied), or why a record or a
// command was refused (permit.rejected, command.rejected).
type Reason string

// Denial reasons of design.md, on access.denied.
const (
	ReasonUnknownCard      Reason = "unknown_card"
	ReasonNoPermit         Reason = "no_permit"
	ReasonNotYetValid      Reason = "not_yet_valid"
	ReasonExpired          Reason = "expired"
	ReasonRevoked          Reason = "revoked"
	ReasonEntriesUsed      Reason = "entries_used"
	ReasonEscortTimeout    Reason = "escort_timeout"
	ReasonWrongEscort      Reason = "wrong_escort"
	ReasonEscortNotAllowed Reason = "escort_not_allowed"
	ReasonLockdown         Reason = "lockdown"
	ReasonClockUntrusted   Reason = "clock_untrusted"
)

// Refusal reasons of a record or command from the downlink, on
// permit.rejected and command.rejected. ReasonExpired, ReasonLockdown and
// ReasonClockUntrusted serve there too.
const (
	ReasonWrongTopic   Reason = "wrong_topic"   // not a permits/<id>, staff/<id> or cmd topic of this door
	ReasonTooLarge     Reason = "too_large"     // larger than a signed record may be
	ReasonRetained     Reason = "retained"      // a command delivered as a retained message
	ReasonMalformed    Reason = "malformed"     // not a signed document (unsigned included)
	ReasonUntrustedKey Reason = "untrusted_key" // signed by a key the door does not pin
	ReasonBadSignature Reason = "bad_signature" // the signature does not match (forged, altered)
	ReasonInvalid      Reason = "invalid"       // a signed record or command that does not validate
	ReasonWrongKind    Reason = "wrong_kind"    // a record of another kind than its topic carries
	ReasonIDMismatch   Reason = "id_mismatch"   // a record whose id is not its topic's id
	ReasonWrongDoor    Reason = "wrong_door"    // for another site or door
	ReasonRollback     Reason = "rollback"      // a version not newer than the one applied
	ReasonReplayed     Reason = "replayed"      // a command whose nonce was taken before
	ReasonUnknown      Reason = "unknown"       // a command name this door does not know
)

// CardIDLen is the length in hex digits of an event's card id: the first
// 64 bits of the card's HMAC-SHA256 fingerprint under the site key. The
// id only tells one card from another in a door's log and the hub's
// views; no decision is taken on it (the door matches cards on the full
// fingerprint). Among the n cards a site ever sees, two ids collide with a
// probability near n²/2⁶⁵: about 3·10⁻⁸ for a million cards. The key is
// the site's secret, so the id says nothing about the UID without it.
const CardIDLen = 16

// Event is one record of a door's log in the JSON form of design.md. It
// names cards only by card id (CardIDLen) and people by permit or staff
// id, never by UID or NIK. The door fills the fields that say what
// happened; its store fills the identity (id, seq, epoch) and the clock
// fields when it appends.
type Event struct {
	ID          string    `json:"id"` // site/door/epoch/seq
	Seq         uint64    `json:"seq"`
	Epoch       string    `json:"epoch"`
	Site        string    `json:"site"`
	Door        string    `json:"door"`
	Type        EventType `json:"type"`
	At          time.Time `json:"at"`
	ClockSynced bool      `json:"clock_synced"`
	Boot        string    `json:"boot"`
	MonoNS      int64     `json:"mono_ns"`
	Reader      string    `json:"reader"`
	Permit      string    `json:"permit"` // the permit the event is about, refused records' too
	Escort      string    `json:"escort"`
	Reason      Reason    `json:"reason"`
	Rack        string    `json:"rack"`
	Replayed    bool      `json:"replayed"`
	// Extensions to the contract.
	Staff   string      `json:"staff,omitempty"`   // staff id of a staff card
	Card    string      `json:"card,omitempty"`    // card id (CardIDLen), never a UID
	Command CommandName `json:"command,omitempty"` // the command executed or refused
	Racks   []string    `json:"racks,omitempty"`   // room.not_secured: the racks left open
	Count   uint64      `json:"count,omitempty"`   // a flood's summary: how many refusals like this one were not recorded apart
	Detail  string      `json:"detail,omitempty"`  // for people: what is open, which file, what failed
}

// MovesRelay reports whether e is the event that justifies a relay
// movement (door.unlocked, door.locked): the relay may only move after
// such an event is stored.
func (e *Event) MovesRelay() bool { return e.Type == EvUnlocked || e.Type == EvLocked }
