package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
	"github.com/kunci-project/kunci/wire"
)

// filter is the guest book's and the service-time report's choice of
// visits.
type filter struct {
	site, door *string
	from, to   *timeflag.Value
}

// addFilter adds --site, --door, --from and --to; what says what from
// and to select ("visits entered", "permits requested").
func addFilter(fs *flag.FlagSet, what string) *filter {
	return &filter{
		site: fs.String("site", "", "only this `site`"),
		door: fs.String("door", "", "only this `door`"),
		from: timeflag.Var(fs, "from", "only "+what+" from this time"),
		to:   timeflag.Var(fs, "to", "only "+what+" before this time (exclusive)"),
	}
}

// of is the choice as the hub takes it.
func (f *filter) of() workflow.Filter {
	return workflow.Filter{Site: *f.site, Door: *f.door, From: f.from.Time(), To: f.to.Time()}
}

// cmdGuestbook shows the guest book (Buku Tamu): a table, or the hub's CSV.
func cmdGuestbook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("guestbook", stderr)
	cf := addClientFlags(fs)
	f := addFilter(fs, "visits entered")
	id := fs.String("permit", "", "only the visits of this permit (`id`)")
	asCSV := fs.Bool("csv", false, "print the hub's CSV (every field, for a spreadsheet)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *asCSV && cf.json {
		return errors.New("guestbook: --csv or --json, not both")
	}
	which := f.of()
	which.Permit = *id
	if *asCSV {
		c, err := cf.client()
		if err != nil {
			return err
		}
		return explain(c.GuestBookCSV(ctx, which, stdout))
	}
	rows, done, err := ask(cf, stdout, func(c *client.Client) ([]api.GuestRow, error) { return c.GuestBook(ctx, which) })
	if done || err != nil {
		return err
	}
	t := newTable(stdout, "ENTERED", "DOOR", "PERMIT", "GUEST", "NIK", "ORGANISATION", "PURPOSE", "CATEGORY", "ESCORT",
		"APPROVER", "EXITED", "SECURED", "EQUIPMENT", "ALARMS")
	for _, r := range rows {
		exited, secured := clock(r.Exited), clock(r.Secured)
		if r.Exited.IsZero() {
			exited = "inside"
		}
		if r.NotSecured && r.Secured.IsZero() {
			secured = "NOT SECURED"
		}
		alarms := make([]string, len(r.Alarms))
		for i, a := range r.Alarms {
			alarms[i] = string(a.Type) + " " + a.At.Local().Format("15:04:05")
			if a.Rack != "" {
				alarms[i] += " " + a.Rack
			}
		}
		t.row(clock(r.Entered), r.Site+"/"+r.Door, r.Permit, r.Guest, r.NIK, r.Organisation, clip(r.Purpose, 40),
			string(r.Category), r.Escort, r.Approver, exited, secured, strings.Join(r.Equipment, ", "),
			strings.Join(alarms, ", "))
	}
	return t.flush()
}

// clip shortens s to n runes for a table; --csv and --json have it whole.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// cmdSLA shows the service-time report: each permit's steps against the
// SOP's standard times, then the aggregate.
func cmdSLA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("sla", stderr)
	cf := addClientFlags(fs)
	f := addFilter(fs, "permits requested")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	rep, done, err := ask(cf, stdout, func(c *client.Client) (*api.SLAReport, error) { return c.SLA(ctx, f.of()) })
	if done || err != nil {
		return err
	}
	std := map[string]api.StepStandard{}
	var timed []api.StepStandard // the columns: steps with a standard, and the total
	for _, s := range rep.Standard {
		std[s.Step] = s
		if s.Standard != 0 {
			timed = append(timed, s)
		}
	}
	stepName := func(step string) string {
		if s, ok := std[step]; ok && s.Name != "" && s.Name != step {
			return step + " " + s.Name
		}
		return step
	}
	fmt.Fprintf(stdout, "Service time per permit (ok: within the standard, OVER: beyond it; step 6, the work, is not timed)\n")
	header := []string{"PERMIT"}
	for _, s := range timed {
		header = append(header, stepName(s.Step)+" ("+span(time.Duration(s.Standard))+")")
	}
	t := newTable(stdout, header...)
	for _, p := range rep.Permits {
		steps := map[string]api.StepTime{}
		for _, s := range p.Steps {
			steps[s.Step] = s
		}
		cells := []string{p.Permit}
		for _, s := range timed {
			st, ok := steps[s.Step]
			switch {
			case !ok || !st.Known:
				cells = append(cells, "-")
			case st.Within:
				cells = append(cells, span(time.Duration(st.Duration))+" ok")
			default:
				cells = append(cells, span(time.Duration(st.Duration))+" OVER")
			}
		}
		t.row(cells...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nOver the %d permit(s)\n", len(rep.Permits))
	t = newTable(stdout, "STEP", "STANDARD", "TIMED", "MEDIAN", "P90", "WITHIN")
	for _, s := range rep.Summary {
		standard, median, p90, within := "not timed", "-", "-", "-"
		if d := std[s.Step].Standard; d != 0 {
			standard = span(time.Duration(d))
		}
		if s.Count > 0 {
			median, p90 = span(time.Duration(s.Median)), span(time.Duration(s.P90))
			within = strconv.FormatFloat(100*s.Within, 'f', 0, 64) + "%"
		}
		t.row(stepName(s.Step), standard, strconv.Itoa(s.Count), median, p90, within)
	}
	return t.flush()
}

// cmdStatus shows every door's live state.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("status", stderr)
	cf := addClientFlags(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	doors, done, err := ask(cf, stdout, func(c *client.Client) ([]hub.Door, error) { return c.Doors(ctx) })
	if done || err != nil {
		return err
	}
	if len(doors) == 0 {
		_, err := fmt.Fprintln(stdout, "no doors known to the hub yet")
		return err
	}
	now := time.Now()
	t := newTable(stdout, "DOOR", "HUB LINK", "LAST SEEN", "LOCK", "DOOR", "MODE", "RACKS", "OCCUPANCY", "ALARMS")
	for _, d := range doors {
		seen := "never"
		if !d.LastSeen.IsZero() {
			seen = clock(d.LastSeen) + " (" + span(now.Sub(d.LastSeen)) + " ago)"
		}
		t.row(append([]string{d.Site + "/" + d.Door, d.Availability, seen}, doorCells(d.Status)...)...)
	}
	return t.flush()
}

// doorCells shows a door's status: lock, door, mode, racks, occupancy,
// alarms ("?" each before the door said).
func doorCells(s *wire.Status) []string {
	if s == nil {
		return []string{"?", "?", "?", "?", "?", "?"}
	}
	var racks []string
	for _, r := range slices.Sorted(maps.Keys(s.Racks)) {
		racks = append(racks, r+":"+s.Racks[r])
	}
	occ := "empty"
	if len(s.Occupancy) > 0 {
		who := make([]string, len(s.Occupancy))
		for i, o := range s.Occupancy {
			switch {
			case o.Permit != "" && o.Escort != "":
				who[i] = o.Permit + " with " + o.Escort
			case o.Permit != "":
				who[i] = o.Permit
			default:
				who[i] = o.Staff
			}
		}
		occ = strings.Join(who, ", ")
	}
	alarms := make([]string, len(s.Alarms))
	for i, a := range s.Alarms {
		alarms[i] = string(a)
	}
	return []string{s.Lock, s.Door, string(s.Mode), strings.Join(racks, " "), occ, strings.Join(alarms, ", ")}
}

// cmdWatch follows the hub's updates, a line each, until ctx ends.
func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("watch", stderr)
	cf := addClientFlags(fs)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	st, err := c.Watch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped by the user
		}
		return explain(err)
	}
	defer st.Close()
	for st.Next() {
		if cf.json {
			if _, err := fmt.Fprintf(stdout, "%s\n", st.Raw()); err != nil {
				return err
			}
			continue
		}
		u, err := st.Update()
		if err != nil {
			fmt.Fprintf(stderr, "kunci %v\n", err)
			continue
		}
		if u.Kind == "beat" {
			continue
		}
		if _, err := fmt.Fprintln(stdout, updateLine(&u, time.Now())); err != nil {
			return err
		}
	}
	return st.Err()
}

// updateLine shows one update: when, which door, what. now stands for
// the time of updates that carry none.
func updateLine(u *hub.Update, now time.Time) string {
	at, what := now, u.Kind
	switch u.Kind {
	case "event":
		if e := u.Event; e != nil {
			at, what = e.At, "event "+string(e.Type)+eventDetail(e)
		}
	case "status", "state":
		if u.State != nil {
			c := doorCells(u.State.Status)
			what = fmt.Sprintf("%s lock=%s door=%s mode=%s racks=%s occupancy=%s alarms=%s", u.Kind,
				c[0], c[1], c[2], orDash(c[3]), c[4], orDash(c[5]))
			if u.Kind == "state" {
				what = "state " + u.State.Availability + what[len("state"):]
			}
		}
	case "availability":
		if u.State != nil {
			what = u.State.Availability
		}
	case "lagged":
		return fmt.Sprintf("%s  lagged: %d updates missed (this terminal fell behind)", clock(at), u.Missed)
	}
	return fmt.Sprintf("%s  %s/%s  %s", clock(at), u.Site, u.Door, what)
}

func eventDetail(e *wire.Event) string {
	var b strings.Builder
	for _, kv := range [][2]string{{"permit", e.Permit}, {"escort", e.Escort}, {"staff", e.Staff}, {"reader", e.Reader},
		{"rack", e.Rack}, {"card", e.Card}, {"reason", string(e.Reason)}, {"detail", e.Detail}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if e.Replayed {
		b.WriteString(" (replayed)")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
