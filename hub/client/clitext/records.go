package clitext

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
)

// Requested shows a permit just requested (SOP step 1) and what it waits
// for.
func Requested(w io.Writer, p *api.Permit) error {
	printLine(w, "%s requested: %s (%s) at %s/%s, %s to %s\n", p.ID, p.Guest, p.Organisation, p.Site, p.Door,
		Clock(p.NotBefore), Clock(p.NotAfter))
	return NextStep(w, p)
}

// Stepped shows a permit after a step of its life (coordinate, approve,
// escort, reject, revoke): its state, who took the step and when, the
// note, and what it waits for.
func Stepped(w io.Writer, p *api.Permit) error {
	line := p.ID + " " + string(p.State)
	if n := len(p.History); n > 0 {
		h := p.History[n-1]
		line += " by " + h.By + " at " + Clock(h.At)
		if h.Note != "" {
			line += ": " + h.Note
		}
	}
	printLine(w, "%s", line)
	return NextStep(w, p)
}

// NextStep says what the permit waits for, and the command that takes the
// step.
func NextStep(w io.Writer, p *api.Permit) error {
	var err error
	switch p.State {
	case workflow.Requested:
		err = printLine(w, "next: kunci permit coordinate %s --category network|server\n", p.ID)
	case workflow.Coordinated:
		err = printLine(w, "next: kunci permit approve %s (by someone other than %s)\n", p.ID, p.Requester)
	case workflow.Approved:
		err = printLine(w, "next: kunci permit escort %s --staff S-...\n", p.ID)
	case workflow.Escorted, workflow.Issued:
		err = printLine(w, "signed and sent to %s/%s: %s may enter with escort %s\n", p.Site, p.Door, p.Guest, p.Escort)
	case workflow.Revoked:
		err = printLine(w, "revocation signed and sent to %s/%s\n", p.Site, p.Door)
	}
	return err
}

// Permits shows permits, one a row.
func Permits(w io.Writer, ps []api.Permit) error {
	t := NewTable(w, "ID", "STATE", "DOOR", "GUEST", "ORGANISATION", "FROM", "UNTIL", "CATEGORY", "ESCORT")
	for _, p := range ps {
		t.Row(p.ID, string(p.State), p.Site+"/"+p.Door, p.Guest, p.Organisation, Clock(p.NotBefore), Clock(p.NotAfter),
			string(p.Category), p.Escort)
	}
	return t.Flush()
}

// Permit shows one permit, a field a row, then its history.
func Permit(w io.Writer, p *api.Permit) error {
	entries := "any inside the window"
	if p.Entries > 0 {
		entries = strconv.Itoa(p.Entries)
	}
	kv := NewTable(w, "permit", p.ID+" ("+string(p.State)+", version "+strconv.FormatUint(p.Version, 10)+")")
	kv.Row("door", p.Site+"/"+p.Door)
	kv.Row("guest", p.Guest)
	kv.Row("nik", p.NIK)
	kv.Row("organisation", p.Organisation)
	kv.Row("phone", p.Phone)
	kv.Row("purpose", p.Purpose)
	kv.Row("equipment", strings.Join(p.Equipment, ", "))
	kv.Row("window", Clock(p.NotBefore)+" to "+Clock(p.NotAfter))
	kv.Row("entries", entries)
	kv.Row("card", p.Card.Short())
	kv.Row("category", string(p.Category))
	kv.Row("requester", p.Requester)
	kv.Row("coordinator", p.Coordinator)
	kv.Row("approver", p.Approver)
	kv.Row("escort", p.Escort)
	if !p.Purged.IsZero() {
		kv.Row("purged", Clock(p.Purged)+" (personal data removed)")
	}
	if err := kv.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := NewTable(w, "AT", "STATE", "BY", "NOTE")
	for _, h := range p.History {
		t.Row(Clock(h.At), string(h.State), h.By, h.Note)
	}
	return t.Flush()
}

// StaffChanged shows a staff member just added or changed.
func StaffChanged(w io.Writer, m *api.Staff) error {
	err := printLine(w, "%s %s, version %d: %s; %s; %d card(s); signed and sent to the doors\n",
		m.ID, m.Name, m.Version, staffDoors(m), staffRights(m), len(m.Cards))
	return err
}

// Staff shows the staff register, a member a row.
func Staff(w io.Writer, ms []api.Staff) error {
	t := NewTable(w, "ID", "NAME", "DOORS", "RIGHTS", "CARDS", "VERSION", "CHANGED")
	for _, m := range ms {
		t.Row(m.ID, m.Name, staffDoors(&m), staffRights(&m), strconv.Itoa(len(m.Cards)),
			strconv.FormatUint(m.Version, 10), Clock(m.At)+" by "+m.By)
	}
	return t.Flush()
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

// Command shows a door command the hub signed and sent.
func Command(w io.Writer, cmd *permit.Command) error {
	err := printLine(w, "%s sent to %s/%s as command %s; a door offline until after %s never obeys it\n",
		cmd.Name, cmd.Site, cmd.Door, cmd.ID, Clock(cmd.Expires))
	return err
}

// Lost shows a run of seqs accepted as lost.
func Lost(w io.Writer, l *api.Lost) error {
	_, err := fmt.Fprintf(w, "%s/%s epoch %s: seqs %d-%d accepted as lost by %s at %s (%s); its later events are stored\n",
		l.Site, l.Door, l.Epoch, l.From, l.To, l.By, Clock(l.At), l.Reason)
	return err
}

// TokenIssued shows a new API token: the token alone on w (for `kunci
// token add ... > file`), what it is on note.
func TokenIssued(w, note io.Writer, t *api.NewToken) error {
	until := "never expires"
	if !t.Expires.IsZero() {
		until = "expires " + Clock(t.Expires)
	}
	printLine(note, "token %s for %s (%s), %s; shown this once, keep it:\n", t.ID, t.Name, strings.Join(t.Roles, ", "), until)
	_, err := fmt.Fprintln(w, t.Token)
	return err
}

// Tokens shows the API tokens, one a row, active, expired (at now) or
// revoked.
func Tokens(w io.Writer, ts []auth.Info, now time.Time) error {
	t := NewTable(w, "ID", "NAME", "ROLES", "CREATED", "EXPIRES", "STATE")
	for _, i := range ts {
		state := "active"
		switch {
		case i.Revoked:
			state = "revoked " + Clock(i.RevokedAt)
		case !i.Expires.IsZero() && !now.Before(i.Expires):
			state = "expired"
		}
		expires := "never"
		if !i.Expires.IsZero() {
			expires = Clock(i.Expires)
		}
		t.Row(i.ID, i.Name, roleList(i.Roles), Clock(i.Created), expires, state)
	}
	return t.Flush()
}

// TokenRevoked says the token id is revoked.
func TokenRevoked(w io.Writer, id string) error {
	err := printLine(w, "token %s revoked\n", id)
	return err
}

func roleList(rs []auth.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// Whoami shows who the hub takes the token for.
func Whoami(w io.Writer, who *api.Whoami) error {
	err := printLine(w, "%s (%s)\n", who.Name, strings.Join(who.Roles, ", "))
	return err
}

// Users shows the console's users, one a row.
func Users(w io.Writer, us []api.User) error {
	t := NewTable(w, "LOGIN", "NAME", "ROLES", "LANG", "STATE")
	for _, u := range us {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		t.Row(u.Login, u.Name, roleList(u.Roles), u.Lang, state)
	}
	return t.Flush()
}

// UserSaved says what the hub now holds of a user; password, when set,
// is the one made for them, shown this once on note's side.
func UserSaved(w, note io.Writer, u *api.User, password string) error {
	state := ""
	if u.Disabled {
		state = ", disabled: their sessions ended"
	}
	if err := printLine(w, "user %s (%s): %s, %s%s\n", u.Login, u.Name, roleList(u.Roles), u.Lang, state); err != nil {
		return err
	}
	if password == "" {
		return nil
	}
	printLine(note, "password made for %s, shown this once (they sign in at the console with it):\n", u.Login)
	_, err := fmt.Fprintln(w, password)
	return err
}
