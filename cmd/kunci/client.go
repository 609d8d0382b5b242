package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
)

// defaultHub is where the client verbs look for the hub without --hub or
// KUNCI_HUB: kunci dev's default --listen.
const defaultHub = "http://127.0.0.1:8080"

// ask runs call on the client the flags name. With --json it prints the
// hub's answer as it came instead and reports done: the verb prints
// nothing more.
func ask[T any](cf *clientFlags, stdout io.Writer, call func(*client.Client) (T, error)) (v T, done bool, err error) {
	var raw []byte
	c, err := cf.client(client.OnAnswer(func(b []byte) { raw = bytes.Clone(b) }))
	if err != nil {
		return v, false, err
	}
	if v, err = call(c); err != nil {
		return v, false, explain(err)
	}
	if !cf.json {
		return v, false, nil
	}
	return v, true, printRaw(stdout, raw)
}

// explain adds to a hub's refusal, or its absence, what the user can do.
func explain(err error) error {
	var he *client.Error
	switch {
	case errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w (check --token, --token-file or KUNCI_TOKEN)", err)
	case errors.Is(err, client.ErrUnreachable):
		return fmt.Errorf("%w\n  (is it running? `kunci dev` starts one on %s; otherwise point --hub or KUNCI_HUB at it)", err, defaultHub)
	}
	return err
}

// clientFlags are the flags every client verb has.
type clientFlags struct {
	hub, token, tokenFile string
	json                  bool
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	f := new(clientFlags)
	hub := os.Getenv("KUNCI_HUB")
	if hub == "" {
		hub = defaultHub
	}
	fs.StringVar(&f.hub, "hub", hub, "the hub's `URL` (env KUNCI_HUB)")
	fs.StringVar(&f.token, "token", "", "API `token` (env KUNCI_TOKEN)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the API token from `file`")
	fs.BoolVar(&f.json, "json", false, "print the hub's JSON answer as it came")
	return f
}

// client returns the hub's client the flags ask for. The token comes from
// --token, else --token-file, else KUNCI_TOKEN.
func (f *clientFlags) client(opts ...client.Option) (*client.Client, error) {
	tok := f.token
	if tok == "" && f.tokenFile != "" {
		var err error
		if tok, err = auth.ReadTokenFile(f.tokenFile); err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
	}
	if tok == "" {
		tok = strings.TrimSpace(os.Getenv("KUNCI_TOKEN"))
	}
	if tok == "" {
		return nil, errors.New("no API token: give --token, --token-file or KUNCI_TOKEN\n" +
			"  (`kunci dev` prints an admin token when it starts; an admin makes others with `kunci token add`)")
	}
	c, err := client.New(f.hub, tok, opts...)
	if err != nil {
		return nil, fmt.Errorf("--hub %q: want a URL like %s", f.hub, defaultHub)
	}
	return c, nil
}

// printRaw prints the hub's answer as it came, for --json.
func printRaw(w io.Writer, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if raw[len(raw)-1] != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// parseWithID parses the flags of a verb on one record, named by its first
// word or by the flag idFlag: `kunci permit approve P-000001 --json`,
// `kunci permit approve --json P-000001` and `kunci permit approve --id
// P-000001` are one command. what names the record in errors.
func parseWithID(fs *flag.FlagSet, args []string, idFlag, what string) (string, error) {
	flagID := fs.String(idFlag, "", "the "+what+" (or give it as the first word)")
	var word string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		word = args[0]
		if err := parseFlags(fs, args[1:]); err != nil {
			return "", err
		}
	} else {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() > 0 {
			word = fs.Arg(0)
			if err := parseFlags(fs, fs.Args()[1:]); err != nil {
				return "", err
			}
		}
	}
	switch {
	case word != "" && *flagID != "" && word != *flagID:
		return "", fmt.Errorf("%s: two %ss given, %q and --%s %q", fs.Name(), what, word, idFlag, *flagID)
	case word != "":
		return word, nil
	case *flagID != "":
		return *flagID, nil
	}
	return "", fmt.Errorf("%s: which %s? give it first: %s <%s> (see -h)", fs.Name(), what, fs.Name(), idFlag)
}

// required reports the flags among names left empty, all at once.
func required(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %s (see -h)", fs.Name(), strings.Join(missing, ", "))
	}
	return nil
}

// list splits a comma-separated flag value, dropping empty items.
func list(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// whenHelp is the usage of every time flag.
const whenHelp = "RFC 3339 (2026-11-28T09:00:00+07:00), a local `time` (2026-11-28 09:00; a date alone is midnight), now, or an offset from now (+2h, now+2h, -30m, +1d)"

// parseTime reads a time flag: RFC 3339; a date and time without a zone,
// read in loc (2026-11-28 09:00, 2026-11-28T09:00:05); a date, midnight in
// loc; "now"; or an offset from now, a Go duration or whole days, with or
// without "now" before it (+2h, now+2h, now-90m, -1d), as kunci sign's
// --from and --until take it. Times relative to now drop their fraction
// of a second.
func parseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	rest, isNow := strings.CutPrefix(s, "now")
	if isNow || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		now = now.Truncate(time.Second)
		if rest == "" {
			return now, nil
		}
		sign := rest[0]
		if sign != '+' && sign != '-' {
			return time.Time{}, fmt.Errorf("time %q: want now, +2h, now+2h or now-30m", s)
		}
		d, err := parseSpan(rest[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w; want an offset like +8h, now+2h, -30m or +1d", s, err)
		}
		if sign == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want %s", s, strings.ReplaceAll(whenHelp, "`", ""))
}

// parseSpan reads a Go duration (2h30m) or whole days (3d).
func parseSpan(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("%q: want whole days, like 3d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration like 2h, 90m or 1d", s)
	}
	return d, nil
}

// whenFlag is a time flag, parsed as it is set.
type whenFlag struct {
	t time.Time
}

func (w *whenFlag) String() string {
	if w == nil || w.t.IsZero() {
		return ""
	}
	return w.t.Format(time.RFC3339)
}

func (w *whenFlag) Set(s string) error {
	t, err := parseTime(s, time.Now(), time.Local)
	w.t = t
	return err
}

func when(fs *flag.FlagSet, name, usage string) *whenFlag {
	w := new(whenFlag)
	fs.Var(w, name, usage+": "+whenHelp)
	return w
}

// table writes aligned columns; rows are tab-separated cells.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// clock shows a time in the local zone, to the second; zero is "-".
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// span shows a duration to the second, without a trailing 0s (4m30s, 2m, 45s).
func span(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// subverb runs the verb args[0] of group from verbs.
func subverb(ctx context.Context, group string, args []string, stdout, stderr io.Writer,
	verbs map[string]func(context.Context, []string, io.Writer, io.Writer) error, names string) error {
	if len(args) == 0 {
		return fmt.Errorf("kunci %s: which one? %s (see kunci help)", group, names)
	}
	if isHelp(args[0]) {
		return groupHelp(stderr, group, names)
	}
	fn, ok := verbs[args[0]]
	if !ok {
		return fmt.Errorf("kunci %s: unknown %q; want %s", group, args[0], names)
	}
	return fn(ctx, args[1:], stdout, stderr)
}
