package workflow

import "errors"

// Errors of the workflow, to test with errors.Is.
var (
	// ErrNotFound: no permit request or staff member of that id.
	ErrNotFound = errors.New("workflow: not found")
	// ErrExists: a permit request of that id is already stored.
	ErrExists = errors.New("workflow: already exists")
	// ErrInvalid: a request, staff record or argument is incomplete or malformed.
	ErrInvalid = errors.New("workflow: invalid")
	// ErrTransition: the action is not allowed in the permit's current state.
	ErrTransition = errors.New("workflow: illegal transition")
	// ErrSelfApproval: the approver is the one who filed the request.
	ErrSelfApproval = errors.New("workflow: approval by the requester")
	// ErrNotEscort: the staff member named as escort may not escort on that door.
	ErrNotEscort = errors.New("workflow: not an escort")
	// ErrNoSigner: the store was opened without a signing key.
	ErrNoSigner = errors.New("workflow: no signing key")
	// ErrNoSiteKey: no card site key for the permit's site.
	ErrNoSiteKey = errors.New("workflow: no site key")
	// ErrCorrupt: a stored record cannot be read back.
	ErrCorrupt = errors.New("workflow: corrupt store record")
	// ErrNoKeysFile: the keys are not a file (Options.Keys): nothing to back up.
	ErrNoKeysFile = errors.New("workflow: the keys are not a file")
)
