package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
	"github.com/kunci-project/kunci/permit"
)

const permitVerbs = "request, coordinate, approve, escort, reject, revoke, list or show"

func cmdPermit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "permit", args, stdout, stderr, map[string]cli.Verb{
		"request":    cmdPermitRequest,
		"coordinate": permitStep("coordinate", "category", "`network` or server: what the work concerns (SOP step 2)"),
		"approve":    permitStep("approve", "", ""),
		"escort":     permitStep("escort", "staff", "`id` of the staff member who escorts the guest (S-004)"),
		"reject":     permitStep("reject", "reason", "`why`, for the record"),
		"revoke":     permitStep("revoke", "reason", "`why`, for the record"),
		"list":       cmdPermitList,
		"show":       cmdPermitShow,
	}, permitVerbs)
}

// cmdPermitRequest files the special permit form (SOP step 1).
func cmdPermitRequest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("permit request", stderr)
	cf := addClientFlags(fs)
	var r api.PermitRequest
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
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := cli.Required(fs, "site", "door", "guest", "nik", "org", "purpose", "from", "until", "card"); err != nil {
		return err
	}
	r.Equipment, r.NotBefore, r.NotAfter, r.FormOpened = cli.SplitComma(*equipment), from.Time(), until.Time(), formOpened.Time()
	p, done, err := ask(cf, stdout, func(c *client.Client) (*api.Permit, error) { return c.Request(ctx, r) })
	if done || err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s requested: %s (%s) at %s/%s, %s to %s\n", p.ID, p.Guest, p.Organisation, p.Site, p.Door,
		clock(p.NotBefore), clock(p.NotAfter))
	return nextStep(stdout, p)
}

// permitStep returns the verb of one step of a permit's life after the
// request, with the one flag it asks for (none for approve).
func permitStep(step, flag, usage string) cli.Verb {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := kunci.NewFlags("permit "+step, stderr)
		cf := addClientFlags(fs)
		var value *string
		if flag != "" {
			value = fs.String(flag, "", usage)
		}
		id, err := cli.ParseWithID(fs, args, "id", "permit id")
		if err != nil {
			return err
		}
		var v string
		if flag != "" {
			if err := cli.Required(fs, flag); err != nil {
				return err
			}
			if flag == "category" && *value != "network" && *value != "server" {
				return fmt.Errorf("%s: --category %q: want network or server", fs.Name(), *value)
			}
			v = *value
		}
		p, done, err := ask(cf, stdout, func(c *client.Client) (*api.Permit, error) {
			switch step {
			case "coordinate":
				return c.Coordinate(ctx, id, permit.Category(v))
			case "approve":
				return c.Approve(ctx, id)
			case "escort":
				return c.Escort(ctx, id, v)
			case "reject":
				return c.Reject(ctx, id, v)
			}
			return c.Revoke(ctx, id, v)
		})
		if done || err != nil {
			return err
		}
		line := p.ID + " " + string(p.State)
		if n := len(p.History); n > 0 {
			h := p.History[n-1]
			line += " by " + h.By + " at " + clock(h.At)
			if h.Note != "" {
				line += ": " + h.Note
			}
		}
		fmt.Fprintln(stdout, line)
		return nextStep(stdout, p)
	}
}

// nextStep says what the permit waits for.
func nextStep(w io.Writer, p *api.Permit) error {
	var err error
	switch p.State {
	case workflow.Requested:
		_, err = fmt.Fprintf(w, "next: kunci permit coordinate %s --category network|server\n", p.ID)
	case workflow.Coordinated:
		_, err = fmt.Fprintf(w, "next: kunci permit approve %s (by someone other than %s)\n", p.ID, p.Requester)
	case workflow.Approved:
		_, err = fmt.Fprintf(w, "next: kunci permit escort %s --staff S-...\n", p.ID)
	case workflow.Escorted, workflow.Issued:
		_, err = fmt.Fprintf(w, "signed and sent to %s/%s: %s may enter with escort %s\n", p.Site, p.Door, p.Guest, p.Escort)
	case workflow.Revoked:
		_, err = fmt.Fprintf(w, "revocation signed and sent to %s/%s\n", p.Site, p.Door)
	}
	return err
}

func cmdPermitList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("permit list", stderr)
	cf := addClientFlags(fs)
	state := fs.String("state", "", "only permits in this `state` (requested, coordinated, approved, escorted, issued, rejected, revoked)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	ps, done, err := ask(cf, stdout, func(c *client.Client) ([]api.Permit, error) { return c.Permits(ctx, workflow.State(*state)) })
	if done || err != nil {
		return err
	}
	t := newTable(stdout, "ID", "STATE", "DOOR", "GUEST", "ORGANISATION", "FROM", "UNTIL", "CATEGORY", "ESCORT")
	for _, p := range ps {
		t.row(p.ID, string(p.State), p.Site+"/"+p.Door, p.Guest, p.Organisation, clock(p.NotBefore), clock(p.NotAfter),
			string(p.Category), p.Escort)
	}
	return t.flush()
}

func cmdPermitShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("permit show", stderr)
	cf := addClientFlags(fs)
	id, err := cli.ParseWithID(fs, args, "id", "permit id")
	if err != nil {
		return err
	}
	p, done, err := ask(cf, stdout, func(c *client.Client) (*api.Permit, error) { return c.Permit(ctx, id) })
	if done || err != nil {
		return err
	}
	entries := "any inside the window"
	if p.Entries > 0 {
		entries = strconv.Itoa(p.Entries)
	}
	kv := newTable(stdout, "permit", p.ID+" ("+string(p.State)+", version "+strconv.FormatUint(p.Version, 10)+")")
	kv.row("door", p.Site+"/"+p.Door)
	kv.row("guest", p.Guest)
	kv.row("nik", p.NIK)
	kv.row("organisation", p.Organisation)
	kv.row("phone", p.Phone)
	kv.row("purpose", p.Purpose)
	kv.row("equipment", strings.Join(p.Equipment, ", "))
	kv.row("window", clock(p.NotBefore)+" to "+clock(p.NotAfter))
	kv.row("entries", entries)
	kv.row("card", p.Card.Short())
	kv.row("category", string(p.Category))
	kv.row("requester", p.Requester)
	kv.row("coordinator", p.Coordinator)
	kv.row("approver", p.Approver)
	kv.row("escort", p.Escort)
	if !p.Purged.IsZero() {
		kv.row("purged", clock(p.Purged)+" (personal data removed)")
	}
	if err := kv.flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	t := newTable(stdout, "AT", "STATE", "BY", "NOTE")
	for _, h := range p.History {
		t.row(clock(h.At), string(h.State), h.By, h.Note)
	}
	return t.flush()
}

const staffVerbs = "add or list"

func cmdStaff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return kunci.Subverb(ctx, "staff", args, stdout, stderr, map[string]cli.Verb{
		"add":  cmdStaffAdd,
		"list": cmdStaffList,
	}, staffVerbs)
}

// cmdStaffAdd adds a staff member, or changes one (same id).
func cmdStaffAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("staff add", stderr)
	cf := addClientFlags(fs)
	var r api.StaffRequest
	fs.StringVar(&r.ID, "id", "", "the staff member's `id` (S-004); an existing id is changed")
	fs.StringVar(&r.Name, "name", "", "full `name`")
	fs.StringVar(&r.Site, "site", "", "the `site` they work at")
	doors := fs.String("doors", "", "the doors they may open, comma-separated (`list`; default: every door of the site)")
	cards := fs.String("card", "", "card `UID`s in hex, comma-separated (only fingerprints are kept)")
	fs.BoolVar(&r.Escort, "escort", false, "may escort guests")
	fs.BoolVar(&r.Solo, "solo", false, "may enter alone")
	fs.BoolVar(&r.Disabled, "disabled", false, "cards refused at every door")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := cli.Required(fs, "id", "name", "site", "card"); err != nil {
		return err
	}
	r.Doors, r.CardUIDs = cli.SplitComma(*doors), cli.SplitComma(*cards)
	m, done, err := ask(cf, stdout, func(c *client.Client) (*api.Staff, error) { return c.PutStaff(ctx, r) })
	if done || err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s %s, version %d: %s; %s; %d card(s); signed and sent to the doors\n",
		m.ID, m.Name, m.Version, staffDoors(m), staffRights(m), len(m.Cards))
	return err
}

func staffDoors(m *api.Staff) string {
	if len(m.Doors) == 0 {
		return m.Site + ", every door"
	}
	return m.Site + "/" + strings.Join(m.Doors, ","+m.Site+"/")
}

func staffRights(m *api.Staff) string {
	var r []string
	if m.Escort {
		r = append(r, "escort")
	}
	if m.Solo {
		r = append(r, "solo")
	}
	if m.Disabled {
		r = []string{"DISABLED"}
	}
	if len(r) == 0 {
		return "no escort, not alone"
	}
	return strings.Join(r, ", ")
}

func cmdStaffList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("staff list", stderr)
	cf := addClientFlags(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	ms, done, err := ask(cf, stdout, func(c *client.Client) ([]api.Staff, error) { return c.Staff(ctx) })
	if done || err != nil {
		return err
	}
	t := newTable(stdout, "ID", "NAME", "DOORS", "RIGHTS", "CARDS", "VERSION", "CHANGED")
	for _, m := range ms {
		t.row(m.ID, m.Name, staffDoors(&m), staffRights(&m), strconv.Itoa(len(m.Cards)),
			strconv.FormatUint(m.Version, 10), clock(m.At)+" by "+m.By)
	}
	return t.flush()
}
