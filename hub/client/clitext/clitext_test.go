package clitext_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// at is 2026-11-28 09:00:00 plus d in the local zone, which Clock shows.
func at(d time.Duration) time.Time { return time.Date(2026, 11, 28, 9, 0, 0, 0, time.Local).Add(d) }

// render returns what print wrote, failing the test on an error.
func render(t *testing.T, print func(w io.Writer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := print(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// same reports a difference between got and want, line by line.
func same(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.ReplaceAll(got, " ", "·"), strings.ReplaceAll(want, " ", "·"))
	}
}

func TestSpanClock(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 2 * time.Minute: "2m", 4*time.Minute + 30*time.Second: "4m30s",
		2 * time.Hour: "2h", 2*time.Hour + 5*time.Minute: "2h5m", 90*time.Second + 400*time.Millisecond: "1m30s",
		1500 * time.Millisecond: "2s",
	} {
		if got := clitext.Span(d); got != want {
			t.Errorf("Span(%v) = %q; want %q", d, got, want)
		}
	}
	if got := clitext.Clock(time.Time{}); got != "-" {
		t.Errorf("Clock(zero) = %q; want -", got)
	}
	if got := clitext.Clock(at(1500 * time.Millisecond).UTC()); got != "2026-11-28 09:00:01" {
		t.Errorf("Clock = %q; want the local time to the second", got)
	}
}

func TestTableRaw(t *testing.T) {
	same(t, "table", render(t, func(w io.Writer) error {
		tb := clitext.NewTable(w, "ID", "NAME", "NOTE")
		tb.Row("P-1", "", "long note")
		tb.Row("P-000002", "Siti", "")
		return tb.Flush()
	}), "ID        NAME  NOTE\nP-1       -     long note\nP-000002  Siti  -\n")
	for raw, want := range map[string]string{"": "", "{}": "{}\n", "[1]\n": "[1]\n"} {
		if got := render(t, func(w io.Writer) error { return clitext.Raw(w, []byte(raw)) }); got != want {
			t.Errorf("Raw(%q) = %q; want %q", raw, got, want)
		}
	}
}

func issued() *api.Permit {
	return &api.Permit{ID: "P-000001", Version: 5, State: workflow.Issued, Site: "demo", Door: "server-room", Guest: "Siti Rahma",
		NIK: "3201**********23", Organisation: "PT Jaringan Nusantara", Purpose: "replace core switch PSU",
		Equipment: []string{"laptop", "console cable"}, NotBefore: at(0), NotAfter: at(8 * time.Hour),
		Card: "e43f9936d0b8ef46aa", Category: permit.Network, Requester: "desk", Coordinator: "pranata", Approver: "kasi-infra",
		Escort: "S-004", History: []workflow.Transition{
			{State: workflow.Requested, By: "desk", At: at(-time.Hour)},
			{State: workflow.Issued, By: "kasi-infra", At: at(-time.Minute), Note: "S-004"}}}
}

func TestPermits(t *testing.T) {
	p := issued()
	same(t, "Stepped", render(t, func(w io.Writer) error { return clitext.Stepped(w, p) }),
		"P-000001 issued by kasi-infra at 2026-11-28 08:59:00: S-004\n"+
			"signed and sent to demo/server-room: Siti Rahma may enter with escort S-004\n")
	same(t, "Requested", render(t, func(w io.Writer) error {
		return clitext.Requested(w, &api.Permit{ID: "P-2", State: workflow.Requested, Guest: "Andi", Organisation: "PT A",
			Site: "demo", Door: "server-room", NotBefore: at(0), NotAfter: at(time.Hour)})
	}), "P-2 requested: Andi (PT A) at demo/server-room, 2026-11-28 09:00:00 to 2026-11-28 10:00:00\n"+
		"next: kunci permit coordinate P-2 --category network|server\n")
	for state, want := range map[workflow.State]string{
		workflow.Coordinated: "next: kunci permit approve P-000001 (by someone other than desk)\n",
		workflow.Approved:    "next: kunci permit escort P-000001 --staff S-...\n",
		workflow.Escorted:    "signed and sent to demo/server-room: Siti Rahma may enter with escort S-004\n",
		workflow.Revoked:     "revocation signed and sent to demo/server-room\n",
		workflow.Rejected:    "",
	} {
		q := *p
		q.State = state
		same(t, "NextStep "+string(state), render(t, func(w io.Writer) error { return clitext.NextStep(w, &q) }), want)
	}
	same(t, "Permits", render(t, func(w io.Writer) error { return clitext.Permits(w, []api.Permit{*p}) }),
		"ID        STATE   DOOR              GUEST       ORGANISATION           FROM                 UNTIL                CATEGORY  ESCORT\n"+
			"P-000001  issued  demo/server-room  Siti Rahma  PT Jaringan Nusantara  2026-11-28 09:00:00  2026-11-28 17:00:00  network   S-004\n")
	same(t, "Permit", render(t, func(w io.Writer) error { return clitext.Permit(w, p) }), `permit        P-000001 (issued, version 5)
door          demo/server-room
guest         Siti Rahma
nik           3201**********23
organisation  PT Jaringan Nusantara
phone         -
purpose       replace core switch PSU
equipment     laptop, console cable
window        2026-11-28 09:00:00 to 2026-11-28 17:00:00
entries       any inside the window
card          e43f9936d0b8ef46
category      network
requester     desk
coordinator   pranata
approver      kasi-infra
escort        S-004

AT                   STATE      BY          NOTE
2026-11-28 08:00:00  requested  desk        -
2026-11-28 08:59:00  issued     kasi-infra  S-004
`)
	p.Entries, p.Purged, p.History = 2, at(time.Hour), nil
	out := render(t, func(w io.Writer) error { return clitext.Permit(w, p) })
	for _, line := range []string{"entries       2\n", "purged        2026-11-28 10:00:00 (personal data removed)\n", "\nAT  STATE  BY  NOTE\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("Permit, 2 entries, purged, no history:\n%s\nwant %q", out, line)
		}
	}
}

func TestStaff(t *testing.T) {
	ms := []api.Staff{
		{ID: "S-001", Name: "Sari", Version: 2, Site: "demo", Doors: []string{"server-room", "noc"}, Cards: []permit.Fingerprint{"a", "b"},
			Escort: true, Solo: true, By: "admin", At: at(0)},
		{ID: "S-004", Name: "Budi", Version: 1, Site: "demo", Cards: []permit.Fingerprint{"c"}, Escort: true, By: "admin", At: at(0)},
		{ID: "S-005", Name: "Joko", Version: 3, Site: "demo", Escort: true, Disabled: true, By: "admin", At: at(0)},
		{ID: "S-006", Name: "Ani", Version: 1, Site: "demo", By: "admin", At: at(0)},
	}
	same(t, "StaffChanged", render(t, func(w io.Writer) error { return clitext.StaffChanged(w, &ms[0]) }),
		"S-001 Sari, version 2: demo/server-room,demo/noc; escort, solo; 2 card(s); signed and sent to the doors\n")
	same(t, "Staff", render(t, func(w io.Writer) error { return clitext.Staff(w, ms) }),
		"ID     NAME  DOORS                      RIGHTS                CARDS  VERSION  CHANGED\n"+
			"S-001  Sari  demo/server-room,demo/noc  escort, solo          2      2        2026-11-28 09:00:00 by admin\n"+
			"S-004  Budi  demo, every door           escort                1      1        2026-11-28 09:00:00 by admin\n"+
			"S-005  Joko  demo, every door           DISABLED              0      3        2026-11-28 09:00:00 by admin\n"+
			"S-006  Ani   demo, every door           no escort, not alone  0      1        2026-11-28 09:00:00 by admin\n")
}

func TestAdmin(t *testing.T) {
	same(t, "Command", render(t, func(w io.Writer) error {
		return clitext.Command(w, &permit.Command{ID: "C-1f", Site: "demo", Door: "server-room", Name: wire.CmdLockdown, Expires: at(time.Minute)})
	}), "lockdown sent to demo/server-room as command C-1f; a door offline until after 2026-11-28 09:01:00 never obeys it\n")
	for expires, until := range map[time.Time]string{{}: "never expires", at(time.Hour): "expires 2026-11-28 10:00:00"} {
		var note bytes.Buffer
		out := render(t, func(w io.Writer) error {
			return clitext.TokenIssued(w, &note, &api.NewToken{Token: "kunci_x", ID: "T-1", Name: "desk", Roles: []string{"requester", "viewer"}, Expires: expires})
		})
		same(t, "TokenIssued", out, "kunci_x\n")
		same(t, "TokenIssued's note", note.String(), "token T-1 for desk (requester, viewer), "+until+"; shown this once, keep it:\n")
	}
	same(t, "Tokens", render(t, func(w io.Writer) error {
		return clitext.Tokens(w, []auth.Info{
			{ID: "T-1", Name: "desk", Roles: []auth.Role{auth.Requester, auth.Viewer}, Created: at(0)},
			{ID: "T-2", Name: "old", Roles: []auth.Role{auth.Viewer}, Created: at(0), Expires: at(time.Hour)},
			{ID: "T-3", Name: "later", Roles: []auth.Role{auth.Admin}, Created: at(0), Expires: at(3 * time.Hour)},
			{ID: "T-4", Name: "gone", Created: at(0), Revoked: true, RevokedAt: at(time.Minute)},
		}, at(2*time.Hour))
	}), "ID   NAME   ROLES             CREATED              EXPIRES              STATE\n"+
		"T-1  desk   requester,viewer  2026-11-28 09:00:00  never                active\n"+
		"T-2  old    viewer            2026-11-28 09:00:00  2026-11-28 10:00:00  expired\n"+
		"T-3  later  admin             2026-11-28 09:00:00  2026-11-28 12:00:00  active\n"+
		"T-4  gone   -                 2026-11-28 09:00:00  never                revoked 2026-11-28 09:01:00\n")
	same(t, "TokenRevoked", render(t, func(w io.Writer) error { return clitext.TokenRevoked(w, "T-1") }), "token T-1 revoked\n")
	same(t, "Whoami", render(t, func(w io.Writer) error {
		return clitext.Whoami(w, &api.Whoami{Name: "auditor", Roles: []string{"viewer"}})
	}),
		"auditor (viewer)\n")
}

func TestGuestBook(t *testing.T) {
	same(t, "GuestBook", render(t, func(w io.Writer) error {
		return clitext.GuestBook(w, []api.GuestRow{
			{Site: "demo", Door: "server-room", Permit: "P-1", Guest: "Siti", NIK: "3201**********23", Organisation: "PT A",
				Purpose: "replace the core switch's power supply and its fan tray", Category: permit.Network, Escort: "S-004",
				Approver: "kasi", Entered: at(0), Exited: at(time.Hour), Secured: at(time.Hour + time.Minute), Equipment: []string{"laptop", "cable"},
				Alarms: []api.Alarm{{Type: wire.EvHeldOpen, At: at(5 * time.Minute)}, {Type: wire.EvRackTampered, At: at(6 * time.Minute), Rack: "R2"}}},
			{Site: "demo", Door: "server-room", Permit: "P-2", Guest: "Andi", Entered: at(2 * time.Hour)},
			{Site: "demo", Door: "server-room", Permit: "P-3", Guest: "Rina", Entered: at(0), Exited: at(time.Hour), NotSecured: true},
		})
	}), "ENTERED              DOOR              PERMIT  GUEST  NIK               ORGANISATION  PURPOSE                                   CATEGORY  ESCORT  APPROVER  EXITED               SECURED              EQUIPMENT      ALARMS\n"+
		"2026-11-28 09:00:00  demo/server-room  P-1     Siti   3201**********23  PT A          replace the core switch's power supply …  network   S-004   kasi      2026-11-28 10:00:00  2026-11-28 10:01:00  laptop, cable  door.held_open 09:05:00, rack.tampered 09:06:00 R2\n"+
		"2026-11-28 11:00:00  demo/server-room  P-2     Andi   -                 -             -                                         -         -       -         inside               -                    -              -\n"+
		"2026-11-28 09:00:00  demo/server-room  P-3     Rina   -                 -             -                                         -         -       -         2026-11-28 10:00:00  NOT SECURED          -              -\n")
}

func TestSLA(t *testing.T) {
	d := func(x time.Duration) wire.Duration { return wire.Duration(x) }
	rep := &api.SLAReport{
		Standard: []api.StepStandard{{Step: "1", Name: "form", Standard: d(5 * time.Minute)}, {Step: "6", Name: "work"},
			{Step: "total", Name: "total", Standard: d(22 * time.Minute)}},
		Permits: []api.PermitTimes{{Permit: "P-1", Steps: []api.StepTime{{Step: "1", Known: true, Duration: d(3 * time.Minute), Within: true},
			{Step: "total", Known: true, Duration: d(30 * time.Minute)}}}, {Permit: "P-2"}},
		Summary: []api.StepSummary{{Step: "1", Count: 1, Median: d(3 * time.Minute), P90: d(3 * time.Minute), Within: 1}, {Step: "6"},
			{Step: "total", Count: 1, Median: d(30 * time.Minute), P90: d(30 * time.Minute), Within: 0}},
	}
	same(t, "SLA", render(t, func(w io.Writer) error { return clitext.SLA(w, rep) }),
		"Service time per permit (ok: within the standard, OVER: beyond it; step 6, the work, is not timed)\n"+
			"PERMIT  1 form (5m)  total (22m)\n"+
			"P-1     3m ok        30m OVER\n"+
			"P-2     -            -\n"+
			"\nOver the 2 permit(s)\n"+
			"STEP    STANDARD   TIMED  MEDIAN  P90  WITHIN\n"+
			"1 form  5m         1      3m      3m   100%\n"+
			"6 work  not timed  0      -       -    -\n"+
			"total   22m        1      30m     30m  0%\n")

	rep.Standard = append(rep.Standard, api.StepStandard{Step: "2", Name: "coordinate", Standard: d(5 * time.Minute)},
		api.StepStandard{Step: "3", Name: "approve", Standard: d(2 * time.Minute)})
	rep.Permits, rep.Summary = nil, nil
	rep.Response = []api.StepSummary{{Step: "2", Count: 2, Median: d(time.Minute), P90: d(6 * time.Minute), Within: 0.5}, {Step: "3"}}
	same(t, "SLA with notified -> acted", render(t, func(w io.Writer) error { return clitext.SLA(w, rep) }),
		"Service time per permit (ok: within the standard, OVER: beyond it; step 6, the work, is not timed)\n"+
			"PERMIT  1 form (5m)  total (22m)  2 coordinate (5m)  3 approve (2m)\n"+
			"\nOver the 0 permit(s)\n"+
			"STEP  STANDARD  TIMED  MEDIAN  P90  WITHIN\n"+
			"\nNotified -> acted: from the step's notification handed to its channel until the step was taken\n"+
			"STEP          STANDARD  TIMED  MEDIAN  P90  WITHIN\n"+
			"2 coordinate  5m        2      1m      6m   50%\n"+
			"3 approve     2m        0      -       -    -\n")
}

func TestDoors(t *testing.T) {
	same(t, "no doors", render(t, func(w io.Writer) error { return clitext.Doors(w, nil, at(0)) }), "no doors known to the hub yet\n")
	status := &wire.Status{Door: "closed", Lock: "locked", Racks: map[string]string{"R2": "open", "R1": "closed"}, Mode: wire.ModeNormal,
		Occupancy: []wire.Occupant{{Permit: "P-1", Escort: "S-004"}, {Permit: "P-2"}, {Staff: "S-001"}}, Alarms: []wire.Alarm{"rack_tampered:R2", "held_open"}}
	same(t, "Doors", render(t, func(w io.Writer) error {
		return clitext.Doors(w, []hub.Door{
			{Site: "demo", Door: "server-room", Availability: "online", LastSeen: at(-90 * time.Second), Status: status},
			{Site: "demo", Door: "noc", Availability: "unknown"},
			{Site: "demo", Door: "lab", Availability: "offline", LastSeen: at(-time.Hour), Status: &wire.Status{Door: "open", Lock: "unlocked", Mode: wire.ModeLockdown}},
		}, at(0))
	}), "DOOR              HUB LINK  LAST SEEN                        LOCK      DOOR    MODE      RACKS              OCCUPANCY                   ALARMS\n"+
		"demo/server-room  online    2026-11-28 08:58:30 (1m30s ago)  locked    closed  normal    R1:closed R2:open  P-1 with S-004, P-2, S-001  rack_tampered:R2, held_open\n"+
		"demo/noc          unknown   never                            ?         ?       ?         ?                  ?                           ?\n"+
		"demo/lab          offline   2026-11-28 08:00:00 (1h ago)     unlocked  open    lockdown  -                  empty                       -\n")
}

// TestDoorsGaps: a door's stalled epochs are among its alarms, with the
// seqs they miss, whether or not the door has said its status.
func TestDoorsGaps(t *testing.T) {
	gaps := []ingest.Gap{{Epoch: "e1", From: 1, To: 300}, {Epoch: "e2", From: 5, To: 5}}
	same(t, "Doors", render(t, func(w io.Writer) error {
		return clitext.Doors(w, []hub.Door{
			{Site: "demo", Door: "a", Availability: "online", Status: &wire.Status{Door: "closed", Lock: "locked",
				Alarms: []wire.Alarm{"held_open"}}, Gaps: gaps[:1]},
			{Site: "demo", Door: "b", Availability: "unknown", Gaps: gaps},
		}, at(0))
	}), "DOOR    HUB LINK  LAST SEEN  LOCK    DOOR    MODE  RACKS  OCCUPANCY  ALARMS\n"+
		"demo/a  online    never      locked  closed  -     -      empty      held_open, gap:e1:1-300\n"+
		"demo/b  unknown   never      ?       ?       ?     ?      ?          gap:e1:1-300, gap:e2:5-5\n")
	l := &api.Lost{Site: "demo", Door: "a", Epoch: "e1", From: 1, To: 300, At: at(0), By: "admin", Reason: "store lost"}
	same(t, "Lost", render(t, func(w io.Writer) error { return clitext.Lost(w, l) }),
		"demo/a epoch e1: seqs 1-300 accepted as lost by admin at 2026-11-28 09:00:00 (store lost); its later events are stored\n")
}

func TestUpdateLine(t *testing.T) {
	now := at(time.Hour)
	st := &hub.Door{Site: "demo", Door: "server-room", Availability: "online",
		Status: &wire.Status{Door: "closed", Lock: "locked", Racks: map[string]string{"R1": "closed"}, Mode: wire.ModeNormal}}
	for _, c := range []struct {
		u    hub.Update
		want string
	}{
		{hub.Update{Kind: "event", Site: "demo", Door: "server-room", Event: &wire.Event{Type: wire.EvDenied, At: at(0), Reader: "entry",
			Card: "e43f9936d0b8ef46", Reason: wire.ReasonNoPermit, Replayed: true}},
			"2026-11-28 09:00:00  demo/server-room  event access.denied reader=entry card=e43f9936d0b8ef46 reason=no_permit (replayed)"},
		{hub.Update{Kind: "event", Site: "demo", Door: "server-room", Event: &wire.Event{Type: wire.EvGranted, At: at(0), Permit: "P-1", Escort: "S-004"}},
			"2026-11-28 09:00:00  demo/server-room  event access.granted permit=P-1 escort=S-004"},
		{hub.Update{Kind: "status", Site: "demo", Door: "server-room", State: st},
			"2026-11-28 10:00:00  demo/server-room  status lock=locked door=closed mode=normal racks=R1:closed occupancy=empty alarms=-"},
		{hub.Update{Kind: "state", Site: "demo", Door: "server-room", State: &hub.Door{Availability: "unknown"}},
			"2026-11-28 10:00:00  demo/server-room  state unknown lock=? door=? mode=? racks=? occupancy=? alarms=?"},
		{hub.Update{Kind: "availability", Site: "demo", Door: "server-room", State: st}, "2026-11-28 10:00:00  demo/server-room  online"},
		{hub.Update{Kind: "lagged", Missed: 7}, "2026-11-28 10:00:00  lagged: 7 updates missed (this terminal fell behind)"},
		{hub.Update{Kind: "gap", Site: "demo", Door: "server-room", State: &hub.Door{Gaps: []ingest.Gap{{Epoch: "e1", From: 1, To: 300}}}},
			"2026-11-28 10:00:00  demo/server-room  gaps gap:e1:1-300"},
		{hub.Update{Kind: "gap", Site: "demo", Door: "server-room", State: st}, "2026-11-28 10:00:00  demo/server-room  gaps -"},
		{hub.Update{Kind: "alarm", Site: "demo", Door: "server-room", Change: alarm.Opened, Alarm: &alarm.Alarm{ID: "A-000007",
			Kind: alarm.RackTampered, Site: "demo", Door: "server-room", Rack: "R1", Detail: "opened while the room is empty"}},
			"2026-11-28 10:00:00  demo/server-room  alarm opened A-000007 rack.tampered rack=R1 detail=opened while the room is empty"},
		{hub.Update{Kind: "alarm", Site: "demo", Door: "server-room", Change: alarm.Acked, Alarm: &alarm.Alarm{ID: "A-000007",
			Kind: alarm.RackTampered, Acked: &alarm.Ack{By: "admin", At: at(0)}}},
			"2026-11-28 10:00:00  demo/server-room  alarm acked A-000007 rack.tampered by=admin"},
		{hub.Update{Kind: "what", Site: "demo", Door: "noc"}, "2026-11-28 10:00:00  demo/noc  what"},
	} {
		if got := clitext.UpdateLine(&c.u, now); got != c.want {
			t.Errorf("UpdateLine(%+v) =\n%q\nwant\n%q", c.u, got, c.want)
		}
	}
}

func TestAlarms(t *testing.T) {
	as := []api.AlarmRecord{
		{ID: "A-000003", Kind: alarm.DoorForced, Site: "demo", Door: "server-room", Opened: at(50 * time.Minute),
			Detail: "opened while locked \x1b[2J"},
		{ID: "A-000002", Kind: alarm.Unescorted, Site: "demo", Door: "server-room", Permit: "P-0012", Opened: at(10 * time.Minute),
			Cleared: at(10 * time.Minute), Acked: &alarm.Ack{By: "admin", At: at(20 * time.Minute), Note: "escort came back at once"}},
		{ID: "A-000001", Kind: alarm.RequestWaiting, Opened: at(0), Cleared: at(5 * time.Minute), Permit: "P-0011"},
	}
	same(t, "Alarms", render(t, func(w io.Writer) error { return clitext.Alarms(w, as, at(time.Hour)) }),
		"ID        OPENED               DOOR              KIND              ON      STATE                        ACKNOWLEDGED                                         DETAIL\n"+
			"A-000003  2026-11-28 09:50:00  demo/server-room  door.forced       -       active (10m)                 OPEN                                                 opened while locked \\x1b[2J\n"+
			"A-000002  2026-11-28 09:10:00  demo/server-room  visit.unescorted  P-0012  cleared 2026-11-28 09:10:00  admin 2026-11-28 09:20:00: escort came back at once  -\n"+
			"A-000001  2026-11-28 09:00:00  -                 request.waiting   P-0011  cleared 2026-11-28 09:05:00  OPEN                                                 -\n")
	same(t, "no alarms", render(t, func(w io.Writer) error { return clitext.Alarms(w, nil, at(0)) }), "no alarms\n")
	same(t, "AlarmAcked", render(t, func(w io.Writer) error { return clitext.AlarmAcked(w, &as[1]) }),
		"alarm A-000002 (visit.unescorted at demo/server-room) acknowledged by admin at 2026-11-28 09:20:00\n")
}
