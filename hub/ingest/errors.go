package ingest

import "errors"

// Errors of the ingest, to test with errors.Is.
var (
	// ErrMalformed: the payload is not one event JSON object of design.md.
	ErrMalformed = errors.New("ingest: malformed event")
	// ErrTooLarge: the payload is larger than Options.MaxEventSize.
	ErrTooLarge = errors.New("ingest: event too large")
	// ErrTopic: the message came on a topic that is not a door's events.
	ErrTopic = errors.New("ingest: not an events topic")
	// ErrMismatch: the event's site or door is not its topic's, or its id
	// is not site/door/epoch/seq.
	ErrMismatch = errors.New("ingest: event does not match its topic or id")
	// ErrNoGap: AcceptLost for a stream with no gap open: nothing came
	// beyond a missing seq, so nothing is known to be missing.
	ErrNoGap = errors.New("ingest: no gap open")
	// ErrLostRange: AcceptLost for seqs that are not all missing.
	ErrLostRange = errors.New("ingest: not the missing seqs")
	// ErrOrder: a commit or a lost run that does not continue its
	// stream's through (a duplicate or a gap); nothing of the commit is
	// stored. Two hubs storing one door meet it when one stored first.
	ErrOrder = errors.New("ingest store: not the stream's next seq")
	// ErrCorrupt: a stored record cannot be read back.
	ErrCorrupt = errors.New("ingest: corrupt store record")
	// ErrCursor: a page's cursor (Query.Before) is not one Recent gave.
	ErrCursor = errors.New("ingest: not a cursor of the events")
)
