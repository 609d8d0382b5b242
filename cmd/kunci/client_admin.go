package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
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

// cmdDoor sends a door a command, or accepts a stalled epoch's missing
// events as lost (admin).
func cmdDoor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verbs := map[string]cli.Verb{"gap": cmdDoorGap}
	for _, n := range wire.CommandNames {
		verbs[string(n)] = doorCommand(n)
	}
	return kunci.Subverb(ctx, "door", args, stdout, stderr, verbs, "lockdown, release, unlock-once, resync or gap")
}

// parseDoor parses a door verb's flags and its door, site/door.
func parseDoor(fs *flag.FlagSet, args []string, required ...string) (site, door string, err error) {
	name, err := cli.ParseWithID(fs, args, "door", "door (site/door)")
	if err != nil {
		return "", "", err
	}
	site, door, ok := strings.Cut(name, "/")
	if !ok || site == "" || door == "" || strings.Contains(door, "/") {
		return "", "", fmt.Errorf("%s: door %q: want site/door, like demo/server-room", fs.Name(), name)
	}
	return site, door, cli.Required(fs, required...)
}

func doorCommand(name wire.CommandName) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, cf := newClientFlags("door "+string(name), stderr)
		site, d, err := parseDoor(fs, args)
		if err != nil {
			return err
		}
		return answer(cf, stdout, func(c *client.Client) (*permit.Command, error) { return c.Command(ctx, site, d, name) }, clitext.Command)
	}
}

func cmdDoorGap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("door gap", stderr)
	var r api.GapRequest
	fs.StringVar(&r.Epoch, "epoch", "", "the stalled `epoch` (kunci status shows the door's gaps)")
	fs.Uint64Var(&r.Through, "through", 0, "the last `seq` to accept as lost: at most the gap's end")
	fs.StringVar(&r.Reason, "reason", "", "why the events are lost (`text`), kept with your name")
	site, d, err := parseDoor(fs, args, "epoch", "reason")
	if err != nil {
		return err
	}
	if r.Through == 0 {
		return fmt.Errorf("%s: missing --through (see -h)", fs.Name())
	}
	return answer(cf, stdout, func(c *client.Client) (*api.Lost, error) { return c.AcceptGap(ctx, site, d, r) }, clitext.Lost)
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

// cmdUser manages the console's users (admin).
func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "user", args, stdout, stderr, map[string]cli.Verb{
		"add":     cmdUserAdd,
		"list":    asking("user list", (*client.Client).Users, clitext.Users),
		"disable": cmdUserDisable,
	}, "add, list or disable")
}

func cmdUserAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("user add", stderr)
	var r api.UserRequest
	fs.StringVar(&r.Login, "login", "", "what they sign in with (`login`): lowercase letters, digits, . _ -")
	fs.StringVar(&r.Name, "name", "", "the person's `name`, recorded as the actor of their steps")
	roles := fs.String("role", "", "`roles`, comma-separated: requester, coordinator, approver, viewer, admin")
	fs.StringVar(&r.Lang, "lang", "", "the console's `language` for them: id (default) or en")
	pwFile := fs.String("password-file", "", "read the password from `file` (- for stdin); without it one is made and shown once")
	if err := cli.ParseRequired(fs, args, "login", "name", "role"); err != nil {
		return err
	}
	r.Roles = cli.SplitComma(*roles)
	made := ""
	switch *pwFile {
	case "":
		var err error
		if made, err = auth.NewPassword(); err != nil {
			return err
		}
		r.Password = made
	case "-":
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("user add: the password from stdin: %w", err)
		}
		r.Password = strings.TrimRight(line, "\r\n")
	default:
		raw, err := os.ReadFile(*pwFile)
		if err != nil {
			return fmt.Errorf("user add: %w", err)
		}
		r.Password = strings.TrimRight(string(raw), "\r\n")
	}
	return answer(cf, stdout, func(c *client.Client) (*api.User, error) { return c.AddUser(ctx, r) },
		func(w io.Writer, u *api.User) error { return clitext.UserSaved(w, stderr, u, made) })
}

func cmdUserDisable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("user disable", stderr)
	login, err := cli.ParseWithID(fs, args, "login", "user's login")
	if err != nil {
		return err
	}
	return answer(cf, stdout, func(c *client.Client) (*api.User, error) {
		us, err := c.Users(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if u.Login == login {
				req := api.UserRequest{Login: u.Login, Name: u.Name, Lang: u.Lang, Disabled: true}
				for _, r := range u.Roles {
					req.Roles = append(req.Roles, string(r))
				}
				return c.ChangeUser(ctx, req)
			}
		}
		return nil, fmt.Errorf("user disable: no user %q", login)
	}, func(w io.Writer, u *api.User) error { return clitext.UserSaved(w, stderr, u, "") })
}
