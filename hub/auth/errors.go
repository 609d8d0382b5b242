package auth

import "errors"

// Errors of the package, to test with errors.Is. ErrNoToken, ErrMalformed,
// ErrUnknown and ErrTampered are the HTTP API's 401s, ErrForbidden its
// 403.
var (
	// ErrNoToken: the request has no Authorization: Bearer token.
	ErrNoToken = errors.New("auth: no Authorization: Bearer token")
	// ErrMalformed: the token does not have the shape kunci_<id>_<secret>.
	ErrMalformed = errors.New("auth: token is malformed")
	// ErrUnknown: no token has that id, or it was revoked, or it expired.
	ErrUnknown = errors.New("auth: unknown, revoked or expired token")
	// ErrTampered: the id is known but the secret is not its secret.
	ErrTampered = errors.New("auth: token does not match (tampered?)")
	// ErrForbidden: the token holds none of the roles needed.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrInvalid: a name, role or expiry given to Issue is not acceptable.
	ErrInvalid = errors.New("auth: invalid")
	// ErrNotFound: Revoke was given an id that no token has.
	ErrNotFound = errors.New("auth: no such token")
	// ErrCorrupt: a stored token record cannot be read back.
	ErrCorrupt = errors.New("auth: corrupt token record")
)
