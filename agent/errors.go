package agent

import "errors"

// Errors of the agent's store and loop, to test with errors.Is.
var (
	// ErrRollback: a record's version is not newer than the one applied.
	ErrRollback = errors.New("version not newer than the one applied")
	// ErrWrongDoor: a record names another site or door.
	ErrWrongDoor = errors.New("record is for another door")
	// ErrStoreMismatch: the store file belongs to another site or door.
	ErrStoreMismatch = errors.New("store belongs to another door")
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
