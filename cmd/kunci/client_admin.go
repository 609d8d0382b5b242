package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

const doorVerbs = "lockdown, release, unlock-once or resync"

// cmdDoor sends a door a command (admin).
func cmdDoor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verbs := map[string]cli.Verb{}
	for _, n := range wire.CommandNames {
		verbs[string(n)] = doorCommand(n)
	}
	return kunci.Subverb(ctx, "door", args, stdout, stderr, verbs, doorVerbs)
}

func doorCommand(name wire.CommandName) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := kunci.NewFlags("door "+string(name), stderr)
		cf := addClientFlags(fs)
		door, err := cli.ParseWithID(fs, args, "door", "door (site/door)")
		if err != nil {
			return err
		}
		site, d, ok := strings.Cut(door, "/")
		if !ok || site == "" || d == "" || strings.Contains(d, "/") {
			return fmt.Errorf("%s: door %q: want site/door, like demo/server-room", fs.Name(), door)
		}
		cmd, done, err := ask(cf, stdout, func(c *client.Client) (*permit.Command, error) { return c.Command(ctx, site, d, name) })
		if done || err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s sent to %s/%s as command %s; a door offline until after %s never obeys it\n",
			name, cmd.Site, cmd.Door, cmd.ID, clock(cmd.Expires))
		return err
	}
}

const tokenVerbs = "add, list or revoke"

// cmdToken manages the API tokens (admin).
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "token", args, stdout, stderr, map[string]cli.Verb{
		"add":    cmdTokenAdd,
		"list":   cmdTokenList,
		"revoke": cmdTokenRevoke,
	}, tokenVerbs)
}

func cmdTokenAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("token add", stderr)
	cf := addClientFlags(fs)
	var r api.TokenRequest
	fs.StringVar(&r.Name, "name", "", "who holds it (`name`): the workflow records it as the actor")
	roles := fs.String("role", "", "`roles`, comma-separated: requester, coordinator, approver, viewer, admin")
	expires := timeflag.Var(fs, "expires", "when it stops working (default: never)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := cli.Required(fs, "name", "role"); err != nil {
		return err
	}
	r.Roles, r.Expires = cli.SplitComma(*roles), expires.Time()
	t, done, err := ask(cf, stdout, func(c *client.Client) (*api.NewToken, error) { return c.AddToken(ctx, r) })
	if done || err != nil {
		return err
	}
	until := "never expires"
	if !t.Expires.IsZero() {
		until = "expires " + clock(t.Expires)
	}
	// the token alone on stdout, for `kunci token add ... > file`
	fmt.Fprintf(stderr, "token %s for %s (%s), %s; shown this once, keep it:\n", t.ID, t.Name, strings.Join(t.Roles, ", "), until)
	_, err = fmt.Fprintln(stdout, t.Token)
	return err
}

func cmdTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("token list", stderr)
	cf := addClientFlags(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	ts, done, err := ask(cf, stdout, func(c *client.Client) ([]auth.Info, error) { return c.Tokens(ctx) })
	if done || err != nil {
		return err
	}
	now := time.Now()
	t := newTable(stdout, "ID", "NAME", "ROLES", "CREATED", "EXPIRES", "STATE")
	for _, i := range ts {
		state := "active"
		switch {
		case i.Revoked:
			state = "revoked " + clock(i.RevokedAt)
		case !i.Expires.IsZero() && !now.Before(i.Expires):
			state = "expired"
		}
		expires := "never"
		if !i.Expires.IsZero() {
			expires = clock(i.Expires)
		}
		t.row(i.ID, i.Name, roleList(i.Roles), clock(i.Created), expires, state)
	}
	return t.flush()
}

func cmdTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("token revoke", stderr)
	cf := addClientFlags(fs)
	id, err := cli.ParseWithID(fs, args, "id", "token id")
	if err != nil {
		return err
	}
	_, done, err := ask(cf, stdout, func(c *client.Client) (struct{}, error) { return struct{}{}, c.RevokeToken(ctx, id) })
	if done || err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "token %s revoked\n", id)
	return err
}

func roleList(rs []auth.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// cmdWhoami shows who the hub takes the token for: a quick check of a
// token and a hub address.
func cmdWhoami(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("whoami", stderr)
	cf := addClientFlags(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	w, done, err := ask(cf, stdout, func(c *client.Client) (*api.Whoami, error) { return c.Whoami(ctx) })
	if done || err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s (%s)\n", w.Name, strings.Join(w.Roles, ", "))
	return err
}
