package outbox

import "errors"

// Errors of HandleAck, to test with errors.Is. Each has its own counter in
// Stats.
var (
	// ErrMalformedAck: the ack payload is not {"epoch":"…","through":N}.
	ErrMalformedAck = errors.New("outbox: malformed ack")
	// ErrOtherEpoch: the ack is for another epoch than the log's, as after
	// the agent's store was made anew.
	ErrOtherEpoch = errors.New("outbox: ack for another epoch")
	// ErrAckBeyondLog: the ack names a seq the log never had.
	ErrAckBeyondLog = errors.New("outbox: ack beyond the newest event")
)
