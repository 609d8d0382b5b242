package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// maxCommandSkew is how far in the door's future a command may have been
// issued: the hub's clock and the door's differ a little.
const maxCommandSkew = 2 * time.Minute

// signedCommand is a command whose signature was verified, still to be
// judged by the door's loop: only the loop knows the time to judge its
// expiry by.
type signedCommand struct {
	source  string
	cmd     permit.Command
	verdict *error // set by the loop when the command is refused
	quiet   bool   // a refusal is returned, not recorded (CommandUnrecorded)
}

func (signedCommand) isInput() {}

// Command runs a command whose signature the caller has verified (with the
// keyring of Config.Keys). The door refuses it, records command.rejected
// with the reason and counts commands_rejected when it is for another door,
// does not validate, has expired by the time the door judges by (or no
// trusted time is known), or its id was taken before: a replay, refused
// after a restart too. Otherwise the id is taken, durably, and the machine
// runs the command and records command.executed (or command.rejected, for
// an unlock-once in lockdown). The id is taken before the command runs, so
// a crash between the two loses the command rather than obeying it twice.
// source names where the command came from, for the event. The error of a
// refusal wraps ErrWrongDoor, ErrCommandExpired, ErrClockUntrusted,
// ErrReplayed or permit.ErrInvalid.
func (d *Door) Command(ctx context.Context, source string, c permit.Command) error {
	return d.command(ctx, source, c, false)
}

// CommandUnrecorded is Command for a caller that records the refusals
// itself, coalesced (the downlink): a refused command is counted and its
// refusal returned, with no command.rejected stored. What the machine
// says of a command it runs (an unlock-once refused in lockdown) is
// stored as ever.
func (d *Door) CommandUnrecorded(ctx context.Context, source string, c permit.Command) error {
	return d.command(ctx, source, c, true)
}

func (d *Door) command(ctx context.Context, source string, c permit.Command, quiet bool) error {
	var verdict error
	if err := d.Submit(ctx, signedCommand{source: source, cmd: c, verdict: &verdict, quiet: quiet}); err != nil {
		return err
	}
	return verdict
}

// vetCommand judges a signed command at the time j, in the loop: it returns
// the machine's Command to run, or the command.rejected note to store.
func (d *Door) vetCommand(sc signedCommand, j Time) (Input, error) {
	c := sc.cmd
	var reason wire.Reason
	var refusal error
	switch verr := c.Validate(); {
	case verr != nil:
		reason, refusal = wire.ReasonInvalid, verr
	case c.Site != d.cfg.Site || c.Door != d.cfg.Door:
		reason, refusal = wire.ReasonWrongDoor, fmt.Errorf("%w: command %s is for %s/%s", ErrWrongDoor, c.ID, c.Site, c.Door)
	case !j.Trusted && c.Name != wire.CmdLockdown:
		// a lockdown only makes the door safer, so it is obeyed without a
		// trusted clock (its nonce is still checked); anything that could
		// open the door needs a time to judge its expiry by
		reason, refusal = wire.ReasonClockUntrusted, fmt.Errorf("%w: command %s", ErrClockUntrusted, c.ID)
	case j.Trusted && !j.Now.Before(c.Expires):
		reason, refusal = wire.ReasonExpired, fmt.Errorf("%w: command %s expired at %s, door time %s", ErrCommandExpired,
			c.ID, c.Expires.UTC().Format(time.RFC3339), j.Now.UTC().Format(time.RFC3339))
	case j.Trusted && c.Issued.After(j.Now.Add(maxCommandSkew)):
		reason, refusal = wire.ReasonNotYetValid, fmt.Errorf("%w: command %s issued at %s, door time %s", ErrCommandNotYetValid,
			c.ID, c.Issued.UTC().Format(time.RFC3339), j.Now.UTC().Format(time.RFC3339))
	default:
		fresh, err := d.store.ClaimNonce(c.ID, c.Expires, j)
		if err != nil {
			d.ctr.StoreErrors.Inc()
			return nil, err
		}
		if fresh {
			return Command{Name: c.Name, ID: c.ID, Reason: c.Reason}, nil
		}
		reason, refusal = wire.ReasonReplayed, fmt.Errorf("%w: command %s", ErrReplayed, c.ID)
	}
	*sc.verdict = refusal
	d.ctr.CommandsRejected.Inc()
	if sc.quiet {
		return nil, nil
	}
	return Note{Event: Event{Type: wire.EvCmdRejected, Reason: reason, Command: c.Name,
		Detail: fmt.Sprintf("%s: %s %s: %v", sc.source, c.Name, c.ID, refusal)}}, nil
}
