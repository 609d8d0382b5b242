// Command kunci is the one binary of Kunci: the door agent, the hub, the
// development system and the operators' client verbs. It only parses flags
// and wires the parts together.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/internal/cli"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx := shutdownOnSignal(context.Background(), os.Stderr)
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "kunci:", err)
		os.Exit(1)
	}
}

const usage = `kunci: door-access controller for server rooms

  kunci dev [--data DIR] [--listen ADDR]   broker, hub and a simulated door with demo permits, in one process
      [--demo]                             play the whole SOP once, print the guest book and service times
  kunci agent --config FILE                run one door
  kunci hub --config FILE                  run the hub: permit workflow, records to the doors, guest book, API
  kunci hub restore --from FILE --config FILE [--replace]   a backup's stores back, the hub stopped
  kunci hub migrate --from DIR --to-dsn-file FILE   a stopped hub's bbolt stores into PostgreSQL, counted
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
  kunci alarms [--open] [--door site/door] [--kind K]   the alarms, newest first
  kunci alarm ack ID --note TEXT   acknowledge an alarm: what you saw or did   (admin)
  kunci door lockdown|release|unlock-once|resync site/door                 (admin)
  kunci hub backup --out FILE      a copy of the hub's stores, taken while it runs    (admin)
  kunci door gap site/door --epoch E --through N --reason TEXT   accept a stalled epoch's
      missing events as lost, when the hub's event store was lost      (admin)
  kunci token add --name N --role R[,R] [--expires T]   kunci token list|revoke ID   (admin)
  kunci user add --login L --name N --role R[,R] [--lang en] [--password-file F]
  kunci user list                  kunci user disable LOGIN   the console's people   (admin)
  kunci whoami                     who the hub takes the token for

Every verb and sub-verb answers -h (or --help) with its usage and flags on stderr, and exit
status 0, as Go's tools do; kunci help [VERB [SUB]] prints the same on stdout.
`

// kunci is the command line: its verbs' flag sets print their lines of
// usage for -h.
var kunci = cli.Program{Name: "kunci", Usage: usage}

// verbs are kunci's commands by name; a verb named here answers -h (the
// table test in help_test.go runs each of them, and their sub-verbs).
func verbs() map[string]cli.Verb {
	return map[string]cli.Verb{
		"agent": cmdAgent,
		"hub":   cmdHub,
		"dev":   cmdDev,
		"hwcheck": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return cmdHwcheck(ctx, args, os.Stdin, stdout, stderr)
		},
		"keygen": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			return cmdKeygen(args, stdout, stderr)
		},
		"sign": func(_ context.Context, args []string, stdout, stderr io.Writer) error {
			return cmdSign(args, stdout, stderr)
		},
		"permit":    cmdPermit,
		"staff":     cmdStaff,
		"guestbook": cmdGuestbook,
		"sla":       cmdSLA,
		"status": asking("status", (*client.Client).Doors, func(w io.Writer, ds []hub.Door) error {
			return clitext.Doors(w, ds, time.Now())
		}),
		"watch":   cmdWatch,
		"alarms":  cmdAlarms,
		"alarm":   cmdAlarm,
		"door":    cmdDoor,
		"token":   cmdToken,
		"user":    cmdUser,
		"whoami":  asking("whoami", (*client.Client).Whoami, clitext.Whoami),
		"version": cmdVersion,
		"help": func(ctx context.Context, args []string, stdout, _ io.Writer) error {
			return kunci.Help(ctx, args, stdout, verbs())
		},
	}
}

// run runs the command line args. Help asked for (-h, --help) is not an
// error: run returns nil once the usage is printed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Run(ctx, args, stdout, stderr, verbs())
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("version", stderr)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "kunci", version)
	return nil
}
