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
	"slices"
	"strings"
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

Every verb and sub-verb answers -h (or --help) with its usage and flags on stderr, and exit
status 0, as Go's tools do; kunci help [VERB [SUB]] prints the same on stdout.
`

// verb runs one of kunci's commands on the words after its name.
type verb func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// verbs are kunci's commands by name; a verb named here answers -h (the
// table test in help_test.go runs each of them, and their sub-verbs).
func verbs() map[string]verb {
	return map[string]verb{
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
		"status":    cmdStatus,
		"watch":     cmdWatch,
		"door":      cmdDoor,
		"token":     cmdToken,
		"whoami":    cmdWhoami,
		"version":   cmdVersion,
		"help":      cmdHelp,
	}
}

// run runs the command line args. Help asked for (-h, --help) is not an
// error: run returns nil once the usage is printed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	if isHelp(args[0]) {
		fmt.Fprint(stderr, usage)
		return nil
	}
	v, ok := verbs()[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err := v(ctx, args[1:], stdout, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

// cmdHelp prints the usage on stdout; with a verb (and a sub-verb), that
// verb's usage, as -h prints it on stderr.
func cmdHelp(ctx context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if _, ok := verbs()[args[0]]; !ok {
		return fmt.Errorf("help: unknown command %q", args[0])
	}
	return run(ctx, append(slices.Clip(args), "-h"), stdout, stdout)
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "kunci", version)
	return nil
}

// isHelp reports whether arg asks for help, as the flag package takes it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// groupHelp prints the usage of a verb with sub-verbs (kunci permit) and
// returns flag.ErrHelp, as a flag set does for -h; names lists the
// sub-verbs.
func groupHelp(stderr io.Writer, group, names string) error {
	fmt.Fprintf(stderr, "usage:\n%s\nkunci %s SUB -h prints the flags of one; SUB is %s.\n", synopsis(group), group, names)
	return flag.ErrHelp
}

// synopsis returns the entries of usage that show the verb name ("permit"
// or "permit approve"), so that -h repeats what kunci help says.
func synopsis(name string) string {
	verb, sub, _ := strings.Cut(name, " ")
	shows := func(line string) bool {
		for rest := line; ; {
			i := strings.Index(rest, "kunci ")
			if i < 0 {
				return false
			}
			rest = rest[i+len("kunci "):]
			w := strings.Fields(rest)
			if len(w) > 0 && w[0] == verb && (sub == "" || len(w) > 1 && slices.Contains(strings.Split(w[1], "|"), sub)) {
				return true
			}
		}
	}
	var b strings.Builder
	in := false
	for line := range strings.Lines(usage) {
		switch {
		case strings.HasPrefix(line, "  kunci "):
			in = shows(line)
		case !strings.HasPrefix(line, "      "):
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		return "  kunci " + name + " [flags]\n"
	}
	return b.String()
}

// newFlags returns the flag set of the verb name, writing to stderr; -h
// prints the verb's lines of the usage and its flags.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kunci "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage:\n%s", synopsis(name))
		flags := 0
		fs.VisitAll(func(*flag.Flag) { flags++ })
		if flags > 0 {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
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
