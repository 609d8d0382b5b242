package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
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
