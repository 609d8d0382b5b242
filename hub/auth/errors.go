package auth

import "errors"

// Errors of the package, to test with errors.Is. ErrNoToken, ErrMalformed,
// ErrUnknown and ErrTampered are the HTTP API's 401s, ErrForbidden its
// 403.
var (
	// ErrNoToken: the request has no Authorization: Bearer token.
	ErrNoToken = errors.New("auth: no Authorization: Bearer token")
	// ErrAmbiguous: the request has more than one Authorization header
	// (which one counts is a proxy's guess): the API's 400.
	ErrAmbiguous = errors.New("auth: more than one Authorization header")
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
	// ErrNotFound: no token has the id given to Revoke, or no user the
	// login.
	ErrNotFound = errors.New("auth: not found")
	// ErrCorrupt: a stored token, user or session record cannot be read
	// back.
	ErrCorrupt = errors.New("auth: corrupt record")
	// ErrExists: a user's login or name is already another's.
	ErrExists = errors.New("auth: already exists")
	// ErrSignIn: the login or the password is wrong (which, it does not
	// say).
	ErrSignIn = errors.New("auth: wrong login or password")
	// ErrDisabled: the user's password is right but the user is disabled.
	ErrDisabled = errors.New("auth: user is disabled")
	// ErrLimited: too many failed sign-ins for this login or from this
	// address; try again later.
	ErrLimited = errors.New("auth: too many failed sign-ins, try again later")
)
