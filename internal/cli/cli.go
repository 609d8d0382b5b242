package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Verb runs one command of a program on the words after its name.
type Verb func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Program is a command with verbs and the usage text its help comes from.
// In Usage, a line that begins with two spaces and Name is the synopsis
// of the verbs it names after Name (several per line, "permit
// reject|revoke" naming two sub-verbs), continued on the lines indented
// by six spaces that follow it.
type Program struct {
	Name  string // the command, "kunci"
	Usage string
}

// Run runs the verb args[0] of verbs on the words after it. No verb, or
// one not in verbs, prints the usage on stderr and is an error; help
// asked for (-h, --help), of the program or of a verb, is not: Run
// returns nil once the usage is printed.
func (p Program) Run(ctx context.Context, args []string, stdout, stderr io.Writer, verbs map[string]Verb) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, p.Usage)
		return errors.New("no command given")
	}
	if IsHelp(args[0]) {
		fmt.Fprint(stderr, p.Usage)
		return nil
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprint(stderr, p.Usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err := v(ctx, args[1:], stdout, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil
}

// Help is the help verb: the usage on stdout; with a verb (and a
// sub-verb), that verb's usage, as -h prints it on stderr.
func (p Program) Help(ctx context.Context, args []string, stdout io.Writer, verbs map[string]Verb) error {
	if len(args) == 0 || IsHelp(args[0]) {
		fmt.Fprint(stdout, p.Usage)
		return nil
	}
	if _, ok := verbs[args[0]]; !ok {
		return fmt.Errorf("help: unknown command %q", args[0])
	}
	return p.Run(ctx, append(slices.Clip(args), "-h"), stdout, stdout, verbs)
}

// Subverb runs the sub-verb args[0] of the verb group from verbs; names
// lists them for people ("add or list").
func (p Program) Subverb(ctx context.Context, group string, args []string, stdout, stderr io.Writer,
	verbs map[string]Verb, names string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s %s: which one? %s (see %s help)", p.Name, group, names, p.Name)
	}
	if IsHelp(args[0]) {
		return p.GroupHelp(stderr, group, names)
	}
	fn, ok := verbs[args[0]]
	if !ok {
		return fmt.Errorf("%s %s: unknown %q; want %s", p.Name, group, args[0], names)
	}
	return fn(ctx, args[1:], stdout, stderr)
}

// GroupHelp prints the usage of a verb with sub-verbs and returns
// flag.ErrHelp, as a flag set does for -h; names lists the sub-verbs.
func (p Program) GroupHelp(stderr io.Writer, group, names string) error {
	fmt.Fprintf(stderr, "usage:\n%s\n%s %s SUB -h prints the flags of one; SUB is %s.\n", p.Synopsis(group), p.Name, group, names)
	return flag.ErrHelp
}

// NewFlags returns the flag set of the verb name ("permit approve"),
// writing to stderr; -h prints the verb's lines of the usage and its
// flags.
func (p Program) NewFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(p.Name+" "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage:\n%s", p.Synopsis(name))
		flags := 0
		fs.VisitAll(func(*flag.Flag) { flags++ })
		if flags > 0 {
			fmt.Fprintf(fs.Output(), "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Synopsis returns the entries of the usage that show the verb name
// ("permit" or "permit approve"), so that -h repeats what the help verb
// says; a verb the usage does not show gets "  NAME VERB [flags]".
func (p Program) Synopsis(name string) string {
	verb, sub, _ := strings.Cut(name, " ")
	prefix := p.Name + " "
	shows := func(line string) bool {
		for rest := line; ; {
			i := strings.Index(rest, prefix)
			if i < 0 {
				return false
			}
			rest = rest[i+len(prefix):]
			w := strings.Fields(rest)
			if len(w) > 0 && w[0] == verb && (sub == "" || len(w) > 1 && slices.Contains(strings.Split(w[1], "|"), sub)) {
				return true
			}
		}
	}
	var b strings.Builder
	in := false
	for line := range strings.Lines(p.Usage) {
		switch {
		case strings.HasPrefix(line, "  "+prefix):
			in = shows(line)
		case !strings.HasPrefix(line, "      "):
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	if b.Len() == 0 {
		return "  " + prefix + name + " [flags]\n"
	}
	return b.String()
}

// IsHelp reports whether arg asks for help, as the flag package takes it.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}
