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
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// cmdDoor sends a door a command (admin).
func cmdDoor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verbs := map[string]cli.Verb{}
	for _, n := range wire.CommandNames {
		verbs[string(n)] = doorCommand(n)
	}
	return kunci.Subverb(ctx, "door", args, stdout, stderr, verbs, "lockdown, release, unlock-once or resync")
}

func doorCommand(name wire.CommandName) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, cf := newClientFlags("door "+string(name), stderr)
		door, err := cli.ParseWithID(fs, args, "door", "door (site/door)")
		if err != nil {
			return err
		}
		site, d, ok := strings.Cut(door, "/")
		if !ok || site == "" || d == "" || strings.Contains(d, "/") {
			return fmt.Errorf("%s: door %q: want site/door, like demo/server-room", fs.Name(), door)
		}
		return answer(cf, stdout, func(c *client.Client) (*permit.Command, error) { return c.Command(ctx, site, d, name) }, clitext.Command)
	}
}

// cmdToken manages the API tokens (admin).
func cmdToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "token", args, stdout, stderr, map[string]cli.Verb{
		"add": cmdTokenAdd,
		"list": asking("token list", (*client.Client).Tokens, func(w io.Writer, ts []auth.Info) error {
			return clitext.Tokens(w, ts, time.Now())
		}),
		"revoke": cmdTokenRevoke,
	}, "add, list or revoke")
}

func cmdTokenAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("token add", stderr)
	var r api.TokenRequest
	fs.StringVar(&r.Name, "name", "", "who holds it (`name`): the workflow records it as the actor")
	roles := fs.String("role", "", "`roles`, comma-separated: requester, coordinator, approver, viewer, admin")
	expires := timeflag.Var(fs, "expires", "when it stops working (default: never)")
	if err := cli.ParseRequired(fs, args, "name", "role"); err != nil {
		return err
	}
	r.Roles, r.Expires = cli.SplitComma(*roles), expires.Time()
	return answer(cf, stdout, func(c *client.Client) (*api.NewToken, error) { return c.AddToken(ctx, r) },
		func(w io.Writer, t *api.NewToken) error { return clitext.TokenIssued(w, stderr, t) })
}

func cmdTokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("token revoke", stderr)
	id, err := cli.ParseWithID(fs, args, "id", "token id")
	if err != nil {
		return err
	}
	return answer(cf, stdout, func(c *client.Client) (string, error) { return id, c.RevokeToken(ctx, id) }, clitext.TokenRevoked)
}
