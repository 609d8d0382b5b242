package cli_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/internal/cli"
)

// shop is a program of the tests: two verbs, one with sub-verbs, one
// entry continued on the next line, two entries on one line.
var shop = cli.Program{Name: "shop", Usage: `shop: a test program

  shop buy --item I [--count N]
      [--gift]                     wrapped
  shop order add|cancel ID         orders
  shop order list                  shop buy -h    the flags of buy
Notes.
`}

func verbs(got *[]string) map[string]cli.Verb {
	buy := func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		fs := shop.NewFlags("buy", stderr)
		item := fs.String("item", "", "the `item` to buy")
		if err := cli.ParseRequired(fs, args, "item"); err != nil {
			return err
		}
		*got = append(*got, "buy "+*item)
		return nil
	}
	sub := func(name string) cli.Verb {
		return func(_ context.Context, args []string, _, stderr io.Writer) error {
			fs := shop.NewFlags("order "+name, stderr)
			id, err := cli.ParseWithID(fs, args, "id", "order id")
			*got = append(*got, name+" "+id)
			return err
		}
	}
	return map[string]cli.Verb{
		"buy": buy,
		"order": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return shop.Subverb(ctx, "order", args, stdout, stderr,
				map[string]cli.Verb{"add": sub("add"), "cancel": sub("cancel"), "list": sub("list")}, "add, cancel or list")
		},
		"empty": func(_ context.Context, args []string, _, stderr io.Writer) error {
			return cli.ParseFlags(shop.NewFlags("empty", stderr), args)
		},
	}
}

func run(args ...string) (ran []string, stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = shop.Run(context.Background(), args, &o, &e, verbs(&ran))
	return ran, o.String(), e.String(), err
}

func TestSynopsis(t *testing.T) {
	for name, want := range map[string]string{
		"buy":          "  shop buy --item I [--count N]\n      [--gift]                     wrapped\n  shop order list                  shop buy -h    the flags of buy\n",
		"order":        "  shop order add|cancel ID         orders\n  shop order list                  shop buy -h    the flags of buy\n",
		"order cancel": "  shop order add|cancel ID         orders\n",
		"order list":   "  shop order list                  shop buy -h    the flags of buy\n",
		"sell":         "  shop sell [flags]\n",
		"order remove": "  shop order remove [flags]\n",
	} {
		if got := shop.Synopsis(name); got != want {
			t.Errorf("Synopsis(%q) =\n%q\nwant\n%q", name, got, want)
		}
	}
}

// TestRun: a verb runs on the words after it; -h of the program, of a
// verb and of a sub-verb prints its usage on stderr and is no error; no
// verb and an unknown one are errors after the usage.
func TestRun(t *testing.T) {
	for _, c := range []struct {
		args   []string
		ran    string
		err    string // "": nil
		stderr string // a prefix
	}{
		{[]string{"buy", "--item", "tea"}, "buy tea", "", ""},
		{[]string{"order", "cancel", "O-1"}, "cancel O-1", "", ""},
		{[]string{"order", "add", "--id", "O-2"}, "add O-2", "", ""},
		{nil, "", "no command given", "shop: a test program"},
		{[]string{"steal"}, "", `unknown command "steal"`, "shop: a test program"},
		{[]string{"--help"}, "", "", "shop: a test program"},
		{[]string{"buy", "-h"}, "", "", "usage:\n  shop buy --item I [--count N]\n      [--gift]                     wrapped\n" +
			"  shop order list                  shop buy -h    the flags of buy\n\nflags:\n  -item item\n    \tthe item to buy\n"},
		{[]string{"empty", "-h"}, "", "", "usage:\n  shop empty [flags]\n"},
		{[]string{"order", "-help"}, "", "", "usage:\n  shop order add|cancel ID         orders\n" +
			"  shop order list                  shop buy -h    the flags of buy\n\nshop order SUB -h prints the flags of one; SUB is add, cancel or list.\n"},
		{[]string{"order", "cancel", "--h"}, "cancel ", "", "usage:\n  shop order add|cancel ID         orders\n\nflags:\n  -id string\n"},
		{[]string{"order"}, "", "shop order: which one? add, cancel or list (see shop help)", ""},
		{[]string{"order", "remove"}, "", `shop order: unknown "remove"; want add, cancel or list`, ""},
		{[]string{"buy"}, "", "shop buy: missing --item (see -h)", ""},
		{[]string{"buy", "tea"}, "", `shop buy: unexpected "tea" (flags start with -; quote values with spaces)`, ""},
	} {
		ran, out, errOut, err := run(c.args...)
		if (c.err == "" && err != nil) || (c.err != "" && (err == nil || err.Error() != c.err)) {
			t.Errorf("%q: %v; want %q", c.args, err, c.err)
		}
		if strings.Join(ran, ";") != c.ran || out != "" || !strings.HasPrefix(errOut, c.stderr) {
			t.Errorf("%q ran %q, stdout %q, stderr\n%s\nwant %q, nothing and a stderr beginning\n%s", c.args, ran, out, errOut, c.ran, c.stderr)
		}
	}
}

// TestHelp: the help verb prints on stdout what -h prints on stderr.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}, {"buy"}, {"order"}, {"order", "list"}} {
		var ran []string
		var out, errOut bytes.Buffer
		if err := shop.Help(context.Background(), args, &out, verbs(&ran)); err != nil {
			t.Fatalf("help %q: %v", args, err)
		}
		want := shop.Usage
		if len(args) > 0 && !cli.IsHelp(args[0]) {
			if _, _, want, _ = run(append(args, "-h")...); want == "" {
				t.Fatalf("%q -h printed nothing", args)
			}
		}
		if out.String() != want || errOut.Len() > 0 {
			t.Errorf("help %q printed\n%s\nwant\n%s", args, &out, want)
		}
	}
	if err := shop.Help(context.Background(), []string{"steal"}, io.Discard, nil); err == nil || err.Error() != `help: unknown command "steal"` {
		t.Errorf("help steal: %v", err)
	}
}

func TestIsHelp(t *testing.T) {
	for arg, want := range map[string]bool{"-h": true, "--h": true, "-help": true, "--help": true, "help": false, "-x": false, "": false} {
		if got := cli.IsHelp(arg); got != want {
			t.Errorf("IsHelp(%q) = %v; want %v", arg, got, want)
		}
	}
}

func TestParseWithID(t *testing.T) {
	for _, c := range []struct {
		args []string
		id   string
		err  string
	}{
		{[]string{"O-1"}, "O-1", ""},
		{[]string{"O-1", "-v"}, "O-1", ""},
		{[]string{"-v", "O-1"}, "O-1", ""},
		{[]string{"--id", "O-1", "-v"}, "O-1", ""},
		{[]string{"O-1", "--id", "O-1"}, "O-1", ""},
		{[]string{"-v"}, "", "t: which order id? give it first: t <id> (see -h)"},
		{[]string{"O-1", "--id", "O-2"}, "", `t: two order ids given, "O-1" and --id "O-2"`},
		{[]string{"O-1", "O-2"}, "", `t: unexpected "O-2" (flags start with -; quote values with spaces)`},
		{[]string{"-v", "O-1", "O-2"}, "", `t: unexpected "O-2" (flags start with -; quote values with spaces)`},
		{[]string{"-x"}, "", "flag provided but not defined: -x"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		v := fs.Bool("v", false, "")
		id, err := cli.ParseWithID(fs, c.args, "id", "order id")
		if (c.err == "" && (err != nil || id != c.id)) || (c.err != "" && (err == nil || err.Error() != c.err)) {
			t.Errorf("%q = %q, %v; want %q, %q", c.args, id, err, c.id, c.err)
		}
		if c.err == "" && len(c.args) > 1 && c.args[len(c.args)-1] == "-v" && !*v {
			t.Errorf("%q: -v not parsed", c.args)
		}
	}
}

func TestRequired(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("a", "", "")
	fs.String("b", "", "")
	fs.String("c", "set", "")
	if err := cli.Required(fs, "a", "b", "c"); err == nil || err.Error() != "t: missing --a, --b (see -h)" {
		t.Errorf("Required: %v", err)
	}
	if err := cli.Required(fs, "c"); err != nil {
		t.Errorf("Required(c): %v", err)
	}
}

func TestSplitComma(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", " laptop, console cable ,": "laptop|console cable", ",,a,,b": "a|b"} {
		if got := strings.Join(cli.SplitComma(in), "|"); got != want {
			t.Errorf("SplitComma(%q) = %q; want %q", in, got, want)
		}
	}
	if got := cli.SplitComma(" , "); got != nil {
		t.Errorf("SplitComma(blank) = %q; want nil", got)
	}
}

// flag.ErrHelp from a verb is the answer to -h, not an error; any other
// error passes through.
func TestRunErrHelp(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		ret, want error
	}{{flag.ErrHelp, nil}, {boom, boom}, {nil, nil}} {
		err := shop.Run(context.Background(), []string{"x"}, io.Discard, io.Discard, map[string]cli.Verb{
			"x": func(context.Context, []string, io.Writer, io.Writer) error { return c.ret }})
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("a verb returning %v: Run = %v; want %v", c.ret, err, c.want)
		}
	}
}
