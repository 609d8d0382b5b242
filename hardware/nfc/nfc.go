package nfc

import (
	"context"
	"errors"
	"fmt"

	"github.com/kunci-project/kunci/permit"
)

// Reader is a card reader.
type Reader interface {
	// ReadUID blocks until a card is in the field and returns its UID, or
	// returns ctx.Err() once ctx ends. A card left on the reader may be
	// returned again and again; Run drops the repeats.
	//
	// A non-nil UID with a non-nil error means the UID is usable but
	// suspect: the error wraps ErrSuspectUID and says why.
	//
	// After Halt it returns an error wrapping ErrHalted.
	ReadUID(ctx context.Context) (uid []byte, err error)
	// String names the reader for people: type and device, never a UID.
	String() string
	// Halt stops the reader (RF field off, device released). It is safe to
	// call more than once and while ReadUID is blocked, which it ends.
	Halt() error
}

// Resetter is implemented by readers that can recover from a fault by
// reopening or re-initialising their device. Run calls Reset after a failed
// ReadUID, once the backoff has passed.
type Resetter interface {
	Reset(ctx context.Context) error
}

// Tapper receives the UIDs read. hardware.Sink (agent.Door) implements it;
// it fingerprints the UID on arrival.
type Tapper interface {
	Tap(ctx context.Context, reader string, uid []byte) error
}

// FaultReporter is told about reader trouble; cmd maps it to the agent's
// reader.fault event. err never contains a UID. It must not block for long.
type FaultReporter func(ctx context.Context, reader string, err error)

var (
	// ErrHalted is wrapped by the errors of a reader used after Halt.
	ErrHalted = errors.New("reader halted")
	// ErrSuspectUID is wrapped by the warning a reader returns together
	// with a UID that is usable but may not name one card only.
	ErrSuspectUID = errors.New("suspect card uid")
)

// CheckUID reports whether uid has a length a card may have (4, 7 or 10
// bytes) and, as a warning wrapping ErrSuspectUID, whether it is a random
// UID (ISO/IEC 14443-3: a 4-byte UID whose first byte is 0x08 is made up
// anew at every activation, so it cannot identify a card). The error never
// contains the UID.
func CheckUID(uid []byte) (warning, err error) {
	if err := permit.CheckUIDLength(len(uid)); err != nil {
		return nil, err
	}
	if len(uid) == 4 && uid[0] == 0x08 {
		return fmt.Errorf("%w: the card shows a random 4-byte UID (first byte 08), which changes at every tap", ErrSuspectUID), nil
	}
	return nil, nil
}
