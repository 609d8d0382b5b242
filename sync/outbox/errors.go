package outbox

import "errors"

// Errors of HandleAck and DecodeAck, to test with errors.Is. Each has its
// own counter in Stats (ErrForgedAck two: an untrusted key, a bad
// signature).
var (
	// ErrMalformedAck: the ack payload is not the JSON of
	// permit.Signer.SignAck, or its signed document holds no valid ack.
	ErrMalformedAck = errors.New("outbox: malformed ack")
	// ErrUnsignedAck: the ack has no signed document, as a hub older than
	// signed acks sends ({"epoch":"…","through":N}), or a forger.
	ErrUnsignedAck = errors.New("outbox: unsigned ack")
	// ErrForgedAck: the ack's signature is not of a hub key the door
	// trusts (it wraps permit.ErrUnknownKey), does not verify (it wraps
	// permit.ErrBadSignature), or its clear epoch or through are not
	// those signed.
	ErrForgedAck = errors.New("outbox: forged ack")
	// ErrOtherDoor: the ack is signed for another door.
	ErrOtherDoor = errors.New("outbox: ack for another door")
	// ErrOtherEpoch: the ack is for another epoch than the log's, as after
	// the agent's store was made anew.
	ErrOtherEpoch = errors.New("outbox: ack for another epoch")
	// ErrAckBeyondLog: the ack names a seq the log never had.
	ErrAckBeyondLog = errors.New("outbox: ack beyond the newest event")
)
