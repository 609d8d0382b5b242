package wire

// CommandName names a signed command from the hub to a door.
type CommandName string

// Command names.
const (
	CmdLockdown   CommandName = "lockdown"
	CmdRelease    CommandName = "release"
	CmdUnlockOnce CommandName = "unlock-once"
	CmdResync     CommandName = "resync"
)

// CommandNames lists every command.
var CommandNames = []CommandName{CmdLockdown, CmdRelease, CmdUnlockOnce, CmdResync}
