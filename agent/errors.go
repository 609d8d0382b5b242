package agent

import (
	"errors"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Errors of the agent's store and loop, to test with errors.Is.
var (
	// ErrRollback: a record's version is not newer than the one applied.
	ErrRollback = errors.New("version not newer than the one applied")
	// ErrWrongDoor: a record names another site or door.
	ErrWrongDoor = errors.New("record is for another door")
	// ErrStoreMismatch: the store file belongs to another site or door.
	ErrStoreMismatch = errors.New("store belongs to another door")
	// ErrCompactNoRoom: the store's disk has too little room for a
	// compaction's copy; the store goes on in its file.
	ErrCompactNoRoom = errors.New("no room on the disk for the compaction's copy")
	// ErrCompactSlow: a compaction's copy took longer than the door's
	// writes may wait; it is abandoned.
	ErrCompactSlow = errors.New("compaction's copy past its bound")
	// ErrUnknownReader: a tap names a reader the door does not have.
	ErrUnknownReader = errors.New("unknown reader")
	// ErrUnknownRack: an input names a rack the door does not have.
	ErrUnknownRack = errors.New("unknown rack")
	// ErrStopped: the door's loop is not running.
	ErrStopped = errors.New("door stopped")
	// ErrCommandExpired: a command's expiry has passed by the door's time.
	ErrCommandExpired = errors.New("command expired")
	// ErrCommandNotYetValid: a command issued later than the door's time allows.
	ErrCommandNotYetValid = errors.New("command issued in the future")
	// ErrReplayed: a command's id (its nonce) was taken before.
	ErrReplayed = errors.New("command replayed")
	// ErrClockUntrusted: no trusted time is known to judge a command's
	// expiry by.
	ErrClockUntrusted = errors.New("no trusted time to judge by")
)

// RefusalReason names the refusal that err reports: of a signed record or
// command, by the door (another door, a rollback, an expired or replayed
// command, no trusted time) or by its verification (too large, an
// untrusted key, a bad signature, invalid, of the wrong kind, malformed).
// It returns "" when err is no refusal: a stopped door, a failed store, a
// cancelled context.
func RefusalReason(err error) wire.Reason {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrWrongDoor):
		return wire.ReasonWrongDoor
	case errors.Is(err, ErrRollback):
		return wire.ReasonRollback
	case errors.Is(err, ErrCommandExpired):
		return wire.ReasonExpired
	case errors.Is(err, ErrCommandNotYetValid):
		return wire.ReasonNotYetValid
	case errors.Is(err, ErrReplayed):
		return wire.ReasonReplayed
	case errors.Is(err, ErrClockUntrusted):
		return wire.ReasonClockUntrusted
	case errors.Is(err, permit.ErrTooLarge):
		return wire.ReasonTooLarge
	case errors.Is(err, permit.ErrUnknownKey):
		return wire.ReasonUntrustedKey
	case errors.Is(err, permit.ErrBadSignature):
		return wire.ReasonBadSignature
	case errors.Is(err, permit.ErrInvalid):
		return wire.ReasonInvalid
	case errors.Is(err, permit.ErrWrongKind):
		return wire.ReasonWrongKind
	case errors.Is(err, permit.ErrMalformed):
		return wire.ReasonMalformed
	}
	return ""
}
