package clitext

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// GuestBook shows the guest book (Buku Tamu), a visit a row: "inside"
// before the exit, "NOT SECURED" for a room left open, the purpose
// clipped to 40 characters.
func GuestBook(w io.Writer, rows []api.GuestRow) error {
	t := NewTable(w, "ENTERED", "DOOR", "PERMIT", "GUEST", "NIK", "ORGANISATION", "PURPOSE", "CATEGORY", "ESCORT",
		"APPROVER", "EXITED", "SECURED", "EQUIPMENT", "ALARMS")
	for _, r := range rows {
		exited, secured := Clock(r.Exited), Clock(r.Secured)
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
		t.Row(Clock(r.Entered), r.Site+"/"+r.Door, r.Permit, r.Guest, r.NIK, r.Organisation, clip(r.Purpose, 40),
			string(r.Category), r.Escort, r.Approver, exited, secured, strings.Join(r.Equipment, ", "),
			strings.Join(alarms, ", "))
	}
	return t.Flush()
}

// SLA shows the service-time report: each permit's steps against the
// SOP's standard times (a column per timed step, and the total), then
// the aggregate per step, and that of "notified -> acted" of the steps
// the hub notifies (2-4) when the report has it.
func SLA(w io.Writer, rep *api.SLAReport) error {
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
	fmt.Fprintf(w, "Service time per permit (ok: within the standard, OVER: beyond it; step 6, the work, is not timed)\n")
	header := []string{"PERMIT"}
	for _, s := range timed {
		header = append(header, stepName(s.Step)+" ("+Span(time.Duration(s.Standard))+")")
	}
	t := NewTable(w, header...)
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
				cells = append(cells, Span(time.Duration(st.Duration))+" ok")
			default:
				cells = append(cells, Span(time.Duration(st.Duration))+" OVER")
			}
		}
		t.Row(cells...)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	summary := func(rows []api.StepSummary) error {
		t := NewTable(w, "STEP", "STANDARD", "TIMED", "MEDIAN", "P90", "WITHIN")
		for _, s := range rows {
			standard, median, p90, within := "not timed", "-", "-", "-"
			if d := std[s.Step].Standard; d != 0 {
				standard = Span(time.Duration(d))
			}
			if s.Count > 0 {
				median, p90 = Span(time.Duration(s.Median)), Span(time.Duration(s.P90))
				within = strconv.FormatFloat(100*s.Within, 'f', 0, 64) + "%"
			}
			t.Row(stepName(s.Step), standard, strconv.Itoa(s.Count), median, p90, within)
		}
		return t.Flush()
	}
	fmt.Fprintf(w, "\nOver the %d permit(s)\n", len(rep.Permits))
	if err := summary(rep.Summary); err != nil || len(rep.Response) == 0 {
		return err
	}
	fmt.Fprintf(w, "\nNotified -> acted: from the step's notification handed to its channel until the step was taken\n")
	return summary(rep.Response)
}

// Doors shows every door's live state, a door a row, with how long ago
// (at now) the hub last heard from it.
func Doors(w io.Writer, doors []hub.Door, now time.Time) error {
	if len(doors) == 0 {
		_, err := fmt.Fprintln(w, "no doors known to the hub yet")
		return err
	}
	t := NewTable(w, "DOOR", "HUB LINK", "LAST SEEN", "LOCK", "DOOR", "MODE", "RACKS", "OCCUPANCY", "ALARMS")
	for _, d := range doors {
		seen := "never"
		if !d.LastSeen.IsZero() {
			seen = Clock(d.LastSeen) + " (" + Span(now.Sub(d.LastSeen)) + " ago)"
		}
		cells := doorCells(d.Status)
		if g := gapText(d.Gaps); g != "" {
			cells[5] = strings.TrimPrefix(strings.TrimPrefix(cells[5], "?")+", "+g, ", ")
		}
		t.Row(append([]string{d.Site + "/" + d.Door, d.Availability, seen}, cells...)...)
	}
	return t.Flush()
}

// gapText names a door's stalled epochs and the seqs they miss.
func gapText(gs []ingest.Gap) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = fmt.Sprintf("gap:%s:%d-%d", g.Epoch, g.From, g.To)
	}
	return strings.Join(out, ", ")
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

// UpdateLine shows one update of the watch stream: when, which door,
// what. now stands for the time of updates that carry none.
func UpdateLine(u *hub.Update, now time.Time) string {
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
	case "gap":
		if u.State != nil {
			what = "gaps " + orDash(gapText(u.State.Gaps))
		}
	case "alarm":
		if a := u.Alarm; a != nil {
			what = fmt.Sprintf("alarm %s %s %s", u.Change, a.ID, a.Kind)
			for _, kv := range [][2]string{{"rack", a.Rack}, {"permit", a.Permit}, {"detail", a.Detail}} {
				if kv[1] != "" {
					what += " " + kv[0] + "=" + kv[1]
				}
			}
			if a.Acked != nil && u.Change == "acked" {
				what += " by=" + a.Acked.By
			}
		}
	case "lagged":
		return fmt.Sprintf("%s  lagged: %d updates missed (this terminal fell behind)", Clock(at), u.Missed)
	}
	return permit.Visible(fmt.Sprintf("%s  %s/%s  %s", Clock(at), u.Site, u.Door, what))
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
