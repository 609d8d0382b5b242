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
	"strings"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/internal/cli"
)

// defaultHub is where the client verbs look for the hub without --hub or
// KUNCI_HUB: kunci dev's default --listen.
const defaultHub = "http://127.0.0.1:8080"

// clientFlags are the flags every client verb has.
type clientFlags struct {
	hub, token, tokenFile string
	json                  bool
}

// newClientFlags returns the flag set of the client verb name, with the
// flags every client verb has.
func newClientFlags(name string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	fs := kunci.NewFlags(name, stderr)
	f := new(clientFlags)
	hub := os.Getenv("KUNCI_HUB")
	if hub == "" {
		hub = defaultHub
	}
	fs.StringVar(&f.hub, "hub", hub, "the hub's `URL` (env KUNCI_HUB)")
	fs.StringVar(&f.token, "token", "", "API `token` (env KUNCI_TOKEN)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the API token from `file`")
	fs.BoolVar(&f.json, "json", false, "print the hub's JSON answer as it came")
	return fs, f
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

// answer runs call on the client the flags name and prints its answer
// with show, or, with --json, the hub's answer as it came.
func answer[T any](cf *clientFlags, stdout io.Writer, call func(*client.Client) (T, error), show func(io.Writer, T) error) error {
	var raw []byte
	c, err := cf.client(client.OnAnswer(func(b []byte) { raw = bytes.Clone(b) }))
	if err != nil {
		return err
	}
	v, err := call(c)
	switch {
	case err != nil:
		return explain(err)
	case cf.json:
		return clitext.Raw(stdout, raw)
	}
	return show(stdout, v)
}

// asking returns the client verb name, which has only the client's flags:
// it asks the hub with call and prints the answer with show.
func asking[T any](name string, call func(*client.Client, context.Context) (T, error), show func(io.Writer, T) error) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, cf := newClientFlags(name, stderr)
		if err := cli.ParseFlags(fs, args); err != nil {
			return err
		}
		return answer(cf, stdout, func(c *client.Client) (T, error) { return call(c, ctx) }, show)
	}
}

// sending returns the client verb name that sends the hub one record,
// filled from the verb's flags: fill declares them into r and returns what
// is left to do once they are parsed (lists split, times read); the flags
// in required must be given. call sends r, show prints the answer.
func sending[R, T any](name string, fill func(fs *flag.FlagSet, r *R) (parsed func()), required []string,
	call func(*client.Client, context.Context, R) (T, error), show func(io.Writer, T) error) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, cf := newClientFlags(name, stderr)
		var r R
		parsed := fill(fs, &r)
		if err := cli.ParseRequired(fs, args, required...); err != nil {
			return err
		}
		parsed()
		return answer(cf, stdout, func(c *client.Client) (T, error) { return call(c, ctx, r) }, show)
	}
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
