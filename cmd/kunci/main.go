// Command kunci is the one binary of Kunci: the door agent, the hub, the
// development system and the operators' client verbs. It only parses flags
// and wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// a second signal forces the exit; the relay was halted by the first
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kunci:", err)
		}
		os.Exit(1)
	}
}

const usage = `kunci: door-access controller for server rooms

  kunci dev [--data DIR] [--listen ADDR]   broker, hub and a simulated door with demo permits, in one process
      [--demo]                             play the whole SOP once, print the guest book and service times
  kunci agent --config FILE                run one door
  kunci hub --config FILE                  run the hub: permit workflow, records to the doors, guest book, API
  kunci hwcheck --config FILE [--for D]    a Pi's wiring, then its inputs live (stop the agent first)
      [--pulse-relay D [--yes]]            also unlock the relay once for D, then lock it
      [--read-card [--reader NAME]]        also read one card per reader: UID length, type, fingerprint
  kunci keygen --out DIR                   make a hub signing key and a site key
  kunci sign permit|staff|revocation ...   sign a record for a door without a hub
  kunci version

Client verbs, to the hub at --hub (env KUNCI_HUB, default http://127.0.0.1:8080) with an API
token from --token, --token-file or KUNCI_TOKEN (kunci dev prints an admin token); each takes
--json for the hub's answer as it came, and -h for its flags. Times: RFC 3339, a local
"2026-11-28 09:00", now, or an offset from now (+2h, now+1d, -30m).
  kunci permit request --site S --door D --guest NAME --nik NIK --org ORG --purpose TEXT
      --from T --until T --card UID [--phone P] [--equipment a,b] [--entries N] [--id ID]
  kunci permit coordinate ID --category network|server
  kunci permit approve ID
  kunci permit escort ID --staff S-004
  kunci permit reject|revoke ID --reason TEXT
  kunci permit list [--state S]    kunci permit show ID
  kunci staff add --id S-004 --name N --site S --card UID[,UID] [--doors a,b] [--escort] [--solo] [--disabled]
  kunci staff list
  kunci guestbook [--site S] [--door D] [--from T] [--to T] [--permit ID] [--csv]
  kunci sla [--site S] [--door D] [--from T] [--to T]   service times against the SOP's standards
  kunci status                     every door now        kunci watch   its changes, live
  kunci door lockdown|release|unlock-once|resync site/door                 (admin)
  kunci token add --name N --role R[,R] [--expires T]   kunci token list|revoke ID   (admin)
  kunci whoami                     who the hub takes the token for
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "agent":
		return cmdAgent(ctx, rest, stdout, stderr)
	case "hub":
		return cmdHub(ctx, rest, stdout, stderr)
	case "dev":
		return cmdDev(ctx, rest, stdout, stderr)
	case "hwcheck":
		return cmdHwcheck(ctx, rest, os.Stdin, stdout, stderr)
	case "keygen":
		return cmdKeygen(rest, stdout, stderr)
	case "sign":
		return cmdSign(rest, stdout, stderr)
	case "permit":
		return cmdPermit(ctx, rest, stdout, stderr)
	case "staff":
		return cmdStaff(ctx, rest, stdout, stderr)
	case "guestbook":
		return cmdGuestbook(ctx, rest, stdout, stderr)
	case "sla":
		return cmdSLA(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "watch":
		return cmdWatch(ctx, rest, stdout, stderr)
	case "door":
		return cmdDoor(ctx, rest, stdout, stderr)
	case "token":
		return cmdToken(ctx, rest, stdout, stderr)
	case "whoami":
		return cmdWhoami(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "kunci", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kunci "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and refuses words left over: a flag after a stray
// word would otherwise be ignored without a word.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected %q (flags start with -; quote values with spaces)", fs.Name(), fs.Arg(0))
	}
	return nil
}
