package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
	"github.com/kunci-project/kunci/permit"
)

func cmdPermit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "permit", args, stdout, stderr, map[string]cli.Verb{
		"request": sending("permit request", permitRequest, []string{"site", "door", "guest", "nik", "org", "purpose", "from", "until", "card"},
			(*client.Client).Request, clitext.Requested),
		"coordinate": permitStep("coordinate", "category", "`network` or server: what the work concerns (SOP step 2)",
			func(c *client.Client, ctx context.Context, id, category string) (*api.Permit, error) {
				return c.Coordinate(ctx, id, permit.Category(category))
			}),
		"approve": permitStep("approve", "", "", func(c *client.Client, ctx context.Context, id, _ string) (*api.Permit, error) {
			return c.Approve(ctx, id)
		}),
		"escort": permitStep("escort", "staff", "`id` of the staff member who escorts the guest (S-004)", (*client.Client).Escort),
		"reject": permitStep("reject", "reason", "`why`, for the record", (*client.Client).Reject),
		"revoke": permitStep("revoke", "reason", "`why`, for the record", (*client.Client).Revoke),
		"list":   cmdPermitList,
		"show": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs, cf := newClientFlags("permit show", stderr)
			id, err := cli.ParseWithID(fs, args, "id", "permit id")
			if err != nil {
				return err
			}
			return answer(cf, stdout, func(c *client.Client) (*api.Permit, error) { return c.Permit(ctx, id) }, clitext.Permit)
		},
	}, "request, coordinate, approve, escort, reject, revoke, list or show")
}

// permitRequest declares the flags of the special permit form (SOP step
// 1) into r.
func permitRequest(fs *flag.FlagSet, r *api.PermitRequest) (parsed func()) {
	fs.StringVar(&r.ID, "id", "", "the permit's `id` (default: the hub numbers it, P-000001)")
	fs.StringVar(&r.Site, "site", "", "the door's `site`")
	fs.StringVar(&r.Door, "door", "", "the `door` the guest may open")
	fs.StringVar(&r.Guest, "guest", "", "the guest's full `name`")
	fs.StringVar(&r.NIK, "nik", "", "the guest's `NIK` (16 digits)")
	fs.StringVar(&r.Organisation, "org", "", "the guest's company or agency (`name`)")
	fs.StringVar(&r.Phone, "phone", "", "the guest's `phone` number (optional)")
	fs.StringVar(&r.Purpose, "purpose", "", "the work to do (`text`)")
	equipment := fs.String("equipment", "", "what the guest brings in, comma-separated (`list`: \"laptop,console cable\")")
	from := timeflag.Var(fs, "from", "start of the visit window")
	until := timeflag.Var(fs, "until", "end of the visit window")
	fs.IntVar(&r.Entries, "entries", 0, "entries allowed (`n`; 0: any inside the window)")
	fs.StringVar(&r.CardUID, "card", "", "the guest card's `UID` in hex, as the desk reader types it (only its fingerprint is kept)")
	formOpened := timeflag.Var(fs, "form-opened", "when the desk opened the form, for the service time of step 1 (optional)")
	return func() {
		r.Equipment, r.NotBefore, r.NotAfter, r.FormOpened = cli.SplitComma(*equipment), from.Time(), until.Time(), formOpened.Time()
	}
}

// permitStep returns the verb of one step of a permit's life after the
// request, with the one flag it asks for (none for approve), whose value
// call gets.
func permitStep(step, flag, usage string, call func(c *client.Client, ctx context.Context, id, value string) (*api.Permit, error)) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs, cf := newClientFlags("permit "+step, stderr)
		value := new(string)
		if flag != "" {
			value = fs.String(flag, "", usage)
		}
		id, err := cli.ParseWithID(fs, args, "id", "permit id")
		if err != nil {
			return err
		}
		if flag != "" {
			if err := cli.Required(fs, flag); err != nil {
				return err
			}
			if flag == "category" && *value != "network" && *value != "server" {
				return fmt.Errorf("%s: --category %q: want network or server", fs.Name(), *value)
			}
		}
		return answer(cf, stdout, func(c *client.Client) (*api.Permit, error) { return call(c, ctx, id, *value) }, clitext.Stepped)
	}
}

func cmdPermitList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("permit list", stderr)
	state := fs.String("state", "", "only permits in this `state` (requested, coordinated, approved, escorted, issued, rejected, revoked)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	return answer(cf, stdout, func(c *client.Client) ([]api.Permit, error) { return c.Permits(ctx, workflow.State(*state)) }, clitext.Permits)
}

func cmdStaff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "staff", args, stdout, stderr, map[string]cli.Verb{
		"add":  sending("staff add", staffAdd, []string{"id", "name", "site", "card"}, (*client.Client).PutStaff, clitext.StaffChanged),
		"list": asking("staff list", (*client.Client).Staff, clitext.Staff),
	}, "add or list")
}

// staffAdd declares the flags of a staff member, added or changed (same
// id), into r.
func staffAdd(fs *flag.FlagSet, r *api.StaffRequest) (parsed func()) {
	fs.StringVar(&r.ID, "id", "", "the staff member's `id` (S-004); an existing id is changed")
	fs.StringVar(&r.Name, "name", "", "full `name`")
	fs.StringVar(&r.Site, "site", "", "the `site` they work at")
	doors := fs.String("doors", "", "the doors they may open, comma-separated (`list`; default: every door of the site)")
	cards := fs.String("card", "", "card `UID`s in hex, comma-separated (only fingerprints are kept)")
	fs.BoolVar(&r.Escort, "escort", false, "may escort guests")
	fs.BoolVar(&r.Solo, "solo", false, "may enter alone")
	fs.BoolVar(&r.Disabled, "disabled", false, "cards refused at every door")
	return func() { r.Doors, r.CardUIDs = cli.SplitComma(*doors), cli.SplitComma(*cards) }
}
