package notify

import "errors"

// Errors of the package, to test with errors.Is.
var (
	// ErrMessage: a Message lacks a field or has one out of bounds.
	ErrMessage = errors.New("notify: invalid message")
	// ErrPersonalData: a Message's text looks like it carries a NIK, a
	// phone number or a card UID.
	ErrPersonalData = errors.New("notify: message looks like it carries personal data")
	// ErrCorrupt: a stored record cannot be read back.
	ErrCorrupt = errors.New("notify: corrupt store record")
	// ErrPermanent: the peer refused the delivery in a way a retry cannot
	// change (a 4xx answer, an SMTP 5xx); it goes to the dead letters at
	// once.
	ErrPermanent = errors.New("notify: refused by the peer")
)
