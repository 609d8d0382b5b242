package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// noEnv clears the client's environment for the test.
func noEnv(t *testing.T) {
	t.Setenv("KUNCI_HUB", "")
	t.Setenv("KUNCI_TOKEN", "")
}

func TestClientMissingToken(t *testing.T) {
	noEnv(t)
	for _, args := range [][]string{
		{"status"},
		{"permit", "approve", "P-000001"},
		{"guestbook", "--csv"},
		{"watch"},
		{"token", "list"},
	} {
		_, _, err := invoke(t, args...)
		if err == nil || !strings.Contains(err.Error(), "no API token") || !strings.Contains(err.Error(), "kunci dev") ||
			!strings.Contains(err.Error(), "--token") || !strings.Contains(err.Error(), "KUNCI_TOKEN") {
			t.Errorf("%q: %v; want no API token, how to give one and that kunci dev prints one", args, err)
		}
	}
	empty := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := invoke(t, "status", "--token-file", empty); err == nil || !strings.Contains(err.Error(), "--token-file") ||
		!strings.Contains(err.Error(), empty) {
		t.Errorf("an empty --token-file: %v; want the flag and the file named", err)
	}
	if _, _, err := invoke(t, "status", "--token-file", empty+".missing"); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("a missing --token-file: %v; want the flag named", err)
	}
}

// TestClientBadFlags: mistakes caught before the hub is asked, each
// naming what is wrong.
func TestClientBadFlags(t *testing.T) {
	noEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"permit"}, "request, coordinate, approve"},
		{[]string{"permit", "aprove", "P-1"}, `unknown "aprove"`},
		{[]string{"permit", "approve"}, "which permit id?"},
		{[]string{"permit", "approve", "P-1", "P-2"}, `unexpected "P-2"`},
		{[]string{"permit", "approve", "P-1", "--id", "P-2"}, `"P-1" and --id "P-2"`},
		{[]string{"permit", "approve", "P-1", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"permit", "coordinate", "P-1"}, "missing --category"},
		{[]string{"permit", "coordinate", "P-1", "--category", "power"}, `--category "power": want network or server`},
		{[]string{"permit", "escort", "P-1"}, "missing --staff"},
		{[]string{"permit", "reject", "P-1"}, "missing --reason"},
		{[]string{"permit", "request", "--site", "demo", "--from", "now"},
			"missing --door, --guest, --nik, --org, --purpose, --until, --card"},
		{[]string{"permit", "request", "--from", "tomorrow"}, `invalid value "tomorrow" for flag -from`},
		{[]string{"permit", "request", "--entries", "many"}, "invalid value"},
		{[]string{"staff", "add", "--id", "S-1"}, "missing --name, --site, --card"},
		{[]string{"staff", "remove"}, `unknown "remove"; want add or list`},
		{[]string{"guestbook", "--csv", "--json"}, "--csv or --json"},
		{[]string{"guestbook", "demo"}, `unexpected "demo"`},
		{[]string{"sla", "--to", "yesterday"}, `invalid value "yesterday" for flag -to`},
		{[]string{"door", "open", "demo/server-room"}, `unknown "open"; want lockdown, release, unlock-once, resync or gap`},
		{[]string{"door", "lockdown"}, "which door (site/door)?"},
		{[]string{"door", "lockdown", "server-room"}, `door "server-room": want site/door`},
		{[]string{"door", "lockdown", "--door", "demo/a/b"}, `want site/door`},
		{[]string{"door", "gap", "demo/server-room"}, "missing --epoch, --reason"},
		{[]string{"door", "gap", "demo/server-room", "--epoch", "e1", "--reason", "lost"}, "missing --through"},
		{[]string{"door", "gap", "server-room", "--epoch", "e1"}, `door "server-room": want site/door`},
		{[]string{"token", "add", "--name", "desk"}, "missing --role"},
		{[]string{"token", "revoke"}, "which token id?"},
		{[]string{"status", "--hub", "ftp://hub"}, `--hub "ftp://hub": want a URL like http://127.0.0.1:8080`},
	} {
		_, _, err := invoke(t, append(c.args, "--token", "t0")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want %q", c.args, err, c.want)
		}
	}
}

// TestClientUnreachable: a hub that is not there is named, with the way
// to start one.
func TestClientUnreachable(t *testing.T) {
	noEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"status"}, {"watch"}, {"guestbook", "--csv"}, {"permit", "list"}} {
		_, _, err := invoke(t, append(args, "--hub", url, "--token", "t0")...)
		if err == nil || !strings.Contains(err.Error(), "cannot reach the hub at "+url) ||
			!strings.Contains(err.Error(), "kunci dev") || !strings.Contains(err.Error(), "--hub") {
			t.Errorf("%q: %v; want the hub's URL named, kunci dev and --hub suggested", args, err)
		}
	}
	// KUNCI_HUB is the default of --hub
	t.Setenv("KUNCI_HUB", url)
	if _, _, err := invoke(t, "status", "--token", "t0"); err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("KUNCI_HUB=%s: %v; want it used", url, err)
	}
}

// clientHub is a real hub (hubtest: bbolt stores in a temporary folder,
// the real API) behind a recorder, and a token for each role.
type clientHub struct {
	*hubtest.Env
	url string
	rec *hubtest.Recorder
	hubtest.Office
}

func newClientHub(t *testing.T) *clientHub {
	t.Helper()
	noEnv(t)
	e := hubtest.New(t, hubtest.Options{})
	rec := e.Record(t)
	return &clientHub{Env: e, url: rec.URL, rec: rec, Office: e.Office(t)}
}

// kunci runs a client verb as the holder of token.
func (h *clientHub) kunci(t *testing.T, token string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return invoke(t, append(args, "--hub", h.url, "--token", token)...)
}

// must runs a client verb that must succeed and returns its output.
func (h *clientHub) must(t *testing.T, token string, args ...string) string {
	t.Helper()
	out, errOut, err := h.kunci(t, token, args...)
	if err != nil {
		t.Fatalf("kunci %q: %v\n%s%s", args, err, out, errOut)
	}
	return out
}

// issue runs SOP steps 1-4 through the client verbs.
func (h *clientHub) issue(t *testing.T) {
	t.Helper()
	h.must(t, h.Admin, "staff", "add", "--id", "S-004", "--name", "Budi Hartono", "--site", "demo", "--card", hubtest.EscortUID, "--escort")
	h.must(t, h.Desk, "permit", "request", "--site", "demo", "--door", "server-room", "--guest", "Siti Rahma",
		"--nik", hubtest.NIK, "--org", "PT Jaringan Nusantara", "--purpose", "replace core switch PSU",
		"--from", "-1h", "--until", "+8h", "--card", hubtest.GuestUID)
	h.must(t, h.Coord, "permit", "coordinate", "P-000001", "--category", "network")
	h.must(t, h.Head, "permit", "approve", "P-000001")
	h.must(t, h.Head, "permit", "escort", "P-000001", "--staff", "S-004")
}

// visit is the door's events of one escorted visit of P-000001 from
// start: entry 1 min after the escort was awaited, exit 1.5 min after it
// was requested, the room secured 2.5 min after the exit (over the
// standard 2), a door held open inside.
func visit(start time.Time) []wire.Event {
	var evs []wire.Event
	for i, s := range []struct {
		typ    wire.EventType
		after  time.Duration
		permit bool
	}{
		{"escort.awaited", 0, true}, {"access.granted", 20 * time.Second, true}, {"visit.entered", time.Minute, true},
		{"door.held_open", 5 * time.Minute, false}, {"exit.requested", 30 * time.Minute, true},
		{"visit.exited", 31*time.Minute + 30*time.Second, true}, {"room.secured", 34 * time.Minute, false},
	} {
		e := wire.Event{ID: fmt.Sprintf("demo/server-room/e1/%d", i+1), Seq: uint64(i + 1), Epoch: "e1", Site: "demo",
			Door: "server-room", Type: s.typ, At: start.Add(s.after), ClockSynced: true, Reader: "entry"}
		if s.permit {
			e.Permit, e.Escort = "P-000001", "S-004"
		}
		evs = append(evs, e)
	}
	return evs
}

// lines checks that out has a line matching each pattern.
func lines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	t.Logf("kunci %s:\n%s", what, out)
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)^` + p + `$`).MatchString(out) {
			t.Errorf("%s: no line matches %s in\n%s", what, p, out)
		}
	}
}

// TestClientSOP: SOP steps 1-4, the staff register, the guest book, the
// service times and the door's status through the client verbs against
// the real API: each verb's request, what the hub stored, the tables.
func TestClientSOP(t *testing.T) {
	h := newClientHub(t)
	from := time.Now().Add(-time.Hour).Truncate(time.Second)
	until := from.Add(9 * time.Hour)
	opened := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	rfc := func(t time.Time) string { return t.Format(time.RFC3339) }
	for _, s := range []struct {
		token       string
		args        []string
		method, uri string
		body        string // "": none
		out         []string
	}{
		{h.Admin, []string{"staff", "add", "--id", "S-004", "--name", "Budi Hartono", "--site", "demo", "--card", hubtest.EscortUID, "--escort"},
			"POST", "/api/staff",
			`{"id":"S-004","name":"Budi Hartono","site":"demo","card_uids":["` + hubtest.EscortUID + `"],"escort":true,"solo":false}`,
			[]string{`S-004 Budi Hartono, version 1: demo, every door; escort; 1 card\(s\); signed and sent to the doors`}},
		{h.Admin, []string{"staff", "add", "--id", "S-001", "--name", "Sari", "--site", "demo", "--doors", "server-room",
			"--card", "0A0B0C0D, 0A0B0C0E", "--escort", "--solo"},
			"POST", "/api/staff",
			`{"id":"S-001","name":"Sari","site":"demo","doors":["server-room"],"card_uids":["0A0B0C0D","0A0B0C0E"],"escort":true,"solo":true}`,
			[]string{`S-001 Sari, version 1: demo/server-room; escort, solo; 2 card\(s\); signed and sent to the doors`}},
		{h.Viewer, []string{"whoami"}, "GET", "/api/whoami", "", []string{`auditor \(viewer\)`}},
		{h.Viewer, []string{"staff", "list"}, "GET", "/api/staff", "",
			[]string{`ID +NAME +DOORS +RIGHTS +CARDS +VERSION +CHANGED`,
				`S-001 +Sari +demo/server-room +escort, solo +2 +1 +[-0-9: ]+ by admin`,
				`S-004 +Budi Hartono +demo, every door +escort +1 +1 +[-0-9: ]+ by admin`}},
		{h.Desk, []string{"permit", "request", "--site", "demo", "--door", "server-room", "--guest", "Siti Rahma",
			"--nik", hubtest.NIK, "--org", "PT Jaringan Nusantara", "--phone", "0812000111", "--purpose", "replace core switch PSU",
			"--equipment", "laptop, console cable", "--from", rfc(from), "--until", rfc(until), "--card", hubtest.GuestUID,
			"--form-opened", rfc(opened)},
			"POST", "/api/permits",
			`{"site":"demo","door":"server-room","guest":"Siti Rahma","nik":"` + hubtest.NIK + `","organisation":"PT Jaringan Nusantara",
			  "phone":"0812000111","purpose":"replace core switch PSU","equipment":["laptop","console cable"],
			  "not_before":"` + rfc(from) + `","not_after":"` + rfc(until) + `","card_uid":"` + hubtest.GuestUID + `",
			  "form_opened":"` + rfc(opened) + `"}`,
			[]string{`P-000001 requested: Siti Rahma \(PT Jaringan Nusantara\) at demo/server-room, ` + clitext.Clock(from) + ` to ` + clitext.Clock(until),
				`next: kunci permit coordinate P-000001 --category network\|server`}},
		{h.Coord, []string{"permit", "coordinate", "P-000001", "--category", "network"},
			"POST", "/api/permits/P-000001/coordinate", `{"category":"network"}`,
			[]string{`P-000001 coordinated by pranata at [-0-9: ]+: network`, `next: kunci permit approve P-000001 \(by someone other than desk\)`}},
		{h.Head, []string{"permit", "approve", "P-000001"}, "POST", "/api/permits/P-000001/approve", `{}`,
			[]string{`P-000001 approved by kasi-infra at [-0-9: ]+`, `next: kunci permit escort P-000001 --staff S-\.\.\.`}},
		{h.Head, []string{"permit", "escort", "--staff", "S-004", "P-000001"}, "POST", "/api/permits/P-000001/escort", `{"staff":"S-004"}`,
			[]string{`P-000001 issued by kasi-infra at [-0-9: ]+`,
				`signed and sent to demo/server-room: Siti Rahma may enter with escort S-004`}},
		{h.Viewer, []string{"permit", "list", "--state", "issued"}, "GET", "/api/permits?state=issued", "",
			[]string{`ID +STATE +DOOR +GUEST +ORGANISATION +FROM +UNTIL +CATEGORY +ESCORT`,
				// a viewer sees the name in the guest book, not in requests (hub/api's doc)
				`P-000001 +issued +demo/server-room +S\*{3} R\*{4} +PT Jaringan Nusantara +` + clitext.Clock(from) + ` +` + clitext.Clock(until) + ` +network +S-004`}},
		{h.Viewer, []string{"permit", "show", "P-000001"}, "GET", "/api/permits/P-000001", "",
			[]string{`permit +P-000001 \(issued, version \d+\)`, `nik +3201\*{10}23`, `equipment +laptop, console cable`,
				`window +` + clitext.Clock(from) + ` to ` + clitext.Clock(until), `entries +any inside the window`, `card +[0-9a-f]{16}`,
				`requester +desk`, `coordinator +pranata`, `approver +kasi-infra`, `escort +S-004`,
				`AT +STATE +BY +NOTE`, `[-0-9: ]+ +requested +desk +-`, `[-0-9: ]+ +issued +kasi-infra +.*`}},
		{h.Admin, []string{"permit", "show", "--id", "P-000001"}, "GET", "/api/permits/P-000001", "",
			[]string{`nik +` + hubtest.NIK}},
	} {
		out, errOut, err := h.kunci(t, s.token, s.args...)
		if err != nil {
			t.Fatalf("kunci %q: %v\n%s", s.args, err, errOut)
		}
		got := h.rec.Last()
		if !got.Is(s.method, s.uri, s.body) {
			t.Errorf("kunci %q sent %s %s %s; want %s %s %s", s.args, got.Method, got.URI, got.Body, s.method, s.uri, s.body)
		}
		lines(t, strings.Join(s.args, " "), out, s.out...)
	}
	rec, err := h.WF.Get("P-000001")
	if err != nil {
		t.Fatal(err)
	}
	card, _ := h.SiteKey.FingerprintText(hubtest.GuestUID)
	if rec.State != workflow.Issued || rec.Card != card || rec.NIK != hubtest.NIK || !rec.NotBefore.Equal(from) ||
		!slices.Equal(rec.Equipment, []string{"laptop", "console cable"}) || rec.Requester != "desk" || rec.Escort != "S-004" {
		t.Errorf("stored permit %+v", rec)
	}

	start := time.Now().Add(time.Minute).Truncate(time.Second)
	h.Feed(t, visit(start)...)
	day := start.Add(-24 * time.Hour).Format("2006-01-02")
	midnight, _ := time.ParseInLocation("2006-01-02", day, time.Local)
	out := h.must(t, h.Viewer, "guestbook", "--door", "server-room", "--from", day)
	if got, want := h.rec.Last().URI, "/api/guestbook?"+(url.Values{"door": {"server-room"}, "from": {rfc(midnight)}}).Encode(); got != want {
		t.Errorf("guestbook asked %s; want %s", got, want)
	}
	lines(t, "guestbook", out,
		`ENTERED +DOOR +PERMIT +GUEST +NIK +ORGANISATION +PURPOSE +CATEGORY +ESCORT +APPROVER +EXITED +SECURED +EQUIPMENT +ALARMS`,
		clitext.Clock(start.Add(time.Minute))+` +demo/server-room +P-000001 +Siti Rahma +3201\*{10}23 +PT Jaringan Nusantara +replace core switch PSU `+
			`+network +S-004 +kasi-infra +`+clitext.Clock(start.Add(31*time.Minute+30*time.Second))+` +`+clitext.Clock(start.Add(34*time.Minute))+
			` +laptop, console cable +door.held_open `+start.Add(5*time.Minute).Local().Format("15:04:05"))

	out = h.must(t, h.Viewer, "sla")
	if got := h.rec.Last().URI; got != "/api/sla" {
		t.Errorf("sla asked %s", got)
	}
	lines(t, "sla", out,
		`PERMIT +1 form \(5m\) +2 coordinate \(5m\) +3 approve \(2m\) +4 escort \(2m\) +5 entry \(3m\) +7 exit \(3m\) +8 secure \(2m\) +total \(22m\)`,
		`P-000001 +3m(1s)? ok +0s ok +0s ok +0s ok +1m ok +1m30s ok +2m30s OVER +\S+ OVER`,
		`STEP +STANDARD +TIMED +MEDIAN +P90 +WITHIN`,
		`5 entry +3m +1 +1m +1m +100%`,
		`6 work +not timed +0 +- +- +-`,
		`8 secure +2m +1 +2m30s +2m30s +0%`,
		`total +22m +1 +\S+ +\S+ +0%`)

	status, _ := json.Marshal(wire.Status{Door: "closed", Lock: "locked", Racks: map[string]string{"R2": "open", "R1": "closed"},
		Mode: "normal", Occupancy: []wire.Occupant{{Permit: "P-000001", Escort: "S-004"}, {Staff: "S-001"}},
		Alarms: []wire.Alarm{"rack_tampered:R2"}, Seq: 9})
	h.Hub.Handle(mqttlink.Message{Topic: "kunci/v1/demo/server-room/availability", Payload: []byte("online")})
	h.Hub.Handle(mqttlink.Message{Topic: "kunci/v1/demo/server-room/status", Payload: status})
	out = h.must(t, h.Viewer, "status")
	lines(t, "status", out,
		`DOOR +HUB LINK +LAST SEEN +LOCK +DOOR +MODE +RACKS +OCCUPANCY +ALARMS`,
		`demo/server-room +online +[-0-9: ]+ \(\d+s ago\) +locked +closed +normal +R1:closed R2:open +P-000001 with S-004, S-001 +rack_tampered:R2`)
}

// TestClientJSON: --json prints the hub's answer as the hub gave it.
func TestClientJSON(t *testing.T) {
	h := newClientHub(t)
	h.issue(t)
	h.Feed(t, visit(time.Now().Truncate(time.Second))...)
	for _, c := range []struct {
		token string
		args  []string
		path  string
	}{
		{h.Viewer, []string{"permit", "list"}, "/api/permits"},
		{h.Viewer, []string{"permit", "list", "--state", "requested"}, "/api/permits?state=requested"},
		{h.Viewer, []string{"permit", "show", "P-000001"}, "/api/permits/P-000001"},
		{h.Viewer, []string{"staff", "list"}, "/api/staff"},
		{h.Viewer, []string{"guestbook"}, "/api/guestbook"},
		{h.Viewer, []string{"guestbook", "--permit", "P-000002"}, "/api/guestbook?permit=P-000002"},
		{h.Viewer, []string{"sla"}, "/api/sla"},
		{h.Viewer, []string{"status"}, "/api/doors"},
		{h.Admin, []string{"token", "list"}, "/api/tokens"},
	} {
		out := h.must(t, c.token, append(c.args, "--json")...)
		code, want := h.Do(t, c.token, "GET", c.path, nil)
		if code != http.StatusOK || out != strings.TrimSuffix(string(want), "\n")+"\n" {
			t.Errorf("kunci %q --json:\n%s\nwant the hub's answer to GET %s (%d):\n%s", c.args, out, c.path, code, want)
		}
	}
	// a change: the permit as the hub answered, nothing else
	out := h.must(t, h.Head, "permit", "revoke", "P-000001", "--reason", "work cancelled", "--json")
	var p api.Permit
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.State != workflow.Revoked || p.History[len(p.History)-1].Note != "work cancelled" {
		t.Errorf("revoke --json: %s (%v)", out, err)
	}
	if got := h.rec.Last(); got.Method != "POST" || got.URI != "/api/permits/P-000001/revoke" || !hubtest.JSONEqual(got.Body, `{"reason":"work cancelled"}`) {
		t.Errorf("revoke sent %+v", got)
	}
}

// TestClientGuestbookCSV: --csv is the hub's CSV, byte for byte.
func TestClientGuestbookCSV(t *testing.T) {
	h := newClientHub(t)
	h.issue(t)
	h.Feed(t, visit(time.Now().Truncate(time.Second))...)
	out := h.must(t, h.Viewer, "guestbook", "--csv", "--site", "demo", "--door", "server-room")
	const asked = "/api/guestbook?door=server-room&format=csv&site=demo"
	if got := h.rec.Last().URI; got != asked {
		t.Errorf("guestbook --csv asked %s; want %s", got, asked)
	}
	_, want := h.Do(t, h.Viewer, "GET", asked, nil)
	if out != string(want) || !strings.HasPrefix(out, strings.Join(workflow.CSVHeader, ",")+"\n") || !strings.Contains(out, "Siti Rahma") {
		t.Errorf("guestbook --csv:\n%s\nwant the hub's CSV:\n%s", out, want)
	}
}

// TestClientHubErrors: the hub's refusals come through with its message
// and status, print nothing, and change nothing.
func TestClientHubErrors(t *testing.T) {
	h := newClientHub(t)
	h.issue(t)
	both := h.Token(t, "kepala", auth.Requester, auth.Approver)
	h.must(t, both, "permit", "request", "--id", "P-SELF", "--site", "demo", "--door", "server-room", "--guest", "Andi",
		"--nik", hubtest.NIK, "--org", "PT A", "--purpose", "audit", "--from", "now", "--until", "now+2h", "--card", hubtest.GuestUID)
	h.must(t, h.Coord, "permit", "coordinate", "P-SELF", "--category", "server")
	for _, c := range []struct {
		token        string
		args         []string
		method, path string
		body         any
		status       int
	}{
		{h.Viewer, []string{"permit", "show", "P-000099"}, "GET", "/api/permits/P-000099", nil, http.StatusNotFound},
		{h.Desk, []string{"permit", "approve", "P-SELF"}, "POST", "/api/permits/P-SELF/approve", struct{}{}, http.StatusForbidden},
		{both, []string{"permit", "approve", "P-SELF"}, "POST", "/api/permits/P-SELF/approve", struct{}{}, http.StatusForbidden},
		{h.Head, []string{"permit", "coordinate", "P-000001", "--category", "server"}, "POST", "/api/permits/P-000001/coordinate",
			api.CoordinateRequest{Category: permit.Server}, http.StatusForbidden},
		{h.Coord, []string{"permit", "coordinate", "P-000001", "--category", "server"}, "POST", "/api/permits/P-000001/coordinate",
			api.CoordinateRequest{Category: permit.Server}, http.StatusConflict},
		{h.Head, []string{"permit", "escort", "P-SELF", "--staff", "S-999"}, "POST", "/api/permits/P-SELF/escort",
			api.EscortRequest{Staff: "S-999"}, http.StatusConflict},
		{h.Desk, []string{"permit", "request", "--site", "demo", "--door", "server-room", "--guest", "Andi", "--nik", "12",
			"--org", "PT A", "--purpose", "audit", "--from", "2026-01-01T10:00:00Z", "--until", "2026-01-01T12:00:00Z", "--card", hubtest.GuestUID},
			"POST", "/api/permits", api.PermitRequest{Site: "demo", Door: "server-room", Guest: "Andi", NIK: "12", Organisation: "PT A",
				Purpose: "audit", NotBefore: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC),
				CardUID: hubtest.GuestUID}, http.StatusUnprocessableEntity},
		{h.Viewer, []string{"door", "lockdown", "demo/server-room"}, "POST", "/api/doors/demo/server-room/commands",
			api.CommandRequest{Command: "lockdown"}, http.StatusForbidden},
		{h.Viewer, []string{"token", "list"}, "GET", "/api/tokens", nil, http.StatusForbidden},
		{h.Admin, []string{"door", "gap", "demo/server-room", "--epoch", "e1", "--through", "5", "--reason", "lost"}, "POST",
			"/api/doors/demo/server-room/gap", api.GapRequest{Epoch: "e1", Through: 5, Reason: "lost"}, http.StatusConflict},
		{"kunci_bogus_token", []string{"status"}, "GET", "/api/doors", nil, http.StatusUnauthorized},
	} {
		before, _ := h.WF.List()
		code, body := h.Do(t, c.token, c.method, c.path, c.body)
		var hubSays struct{ Error string }
		if err := json.Unmarshal(body, &hubSays); err != nil || code != c.status || hubSays.Error == "" {
			t.Fatalf("the hub's own answer to %s %s: %d %s; want %d with an error", c.method, c.path, code, body, c.status)
		}
		out, _, err := h.kunci(t, c.token, c.args...)
		want := fmt.Sprintf("hub: %s %s: %d %s: %s", c.method, c.path, c.status, http.StatusText(c.status), hubSays.Error)
		if err == nil || !strings.HasPrefix(err.Error(), want) || out != "" {
			t.Errorf("kunci %q = %q, %v; want nothing printed and %s", c.args, out, err, want)
		}
		if c.status == http.StatusUnauthorized && (err == nil || !strings.Contains(err.Error(), "KUNCI_TOKEN")) {
			t.Errorf("401: %v; want the token's sources named", err)
		}
		if after, _ := h.WF.List(); !reflect.DeepEqual(before, after) {
			t.Errorf("kunci %q changed the permits", c.args)
		}
	}
}

// TestClientDoorGap: kunci status shows a door's stalled epoch and the
// seqs it misses; kunci door gap accepts them as lost, and the gap goes.
func TestClientDoorGap(t *testing.T) {
	noEnv(t)
	e := hubtest.New(t, hubtest.Options{Ingest: ingest.Options{StallAfter: 50 * time.Millisecond}})
	rec := e.Record(t)
	h := &clientHub{Env: e, url: rec.URL, rec: rec, Office: e.Office(t)}
	e.Feed(t, hubtest.Visit("P-000001", time.Now().UTC(), 101)...)
	waitfor.Until(t, 10*time.Second, "the gap in kunci status", func() bool {
		return strings.Contains(h.must(t, h.Viewer, "status"), "gap:e1:1-100")
	})
	out := h.must(t, h.Admin, "door", "gap", "demo/server-room", "--epoch", "e1", "--through", "100", "--reason", "hub-events.db lost")
	if got := h.rec.Last(); got.Method != "POST" || got.URI != "/api/doors/demo/server-room/gap" ||
		!hubtest.JSONEqual(got.Body, `{"epoch":"e1","through":100,"reason":"hub-events.db lost"}`) {
		t.Errorf("door gap sent %+v", got)
	}
	lines(t, "door gap", out, `demo/server-room epoch e1: seqs 1-100 accepted as lost by admin at [-0-9: ]+ \(hub-events.db lost\); its later events are stored`)
	if out := h.must(t, h.Viewer, "status"); strings.Contains(out, "gap:") {
		t.Errorf("kunci status after the recovery:\n%s\nwant no gap", out)
	}
}

// TestClientDoorCommand: a command reaches the door's topic, signed.
func TestClientDoorCommand(t *testing.T) {
	h := newClientHub(t)
	for _, name := range []string{"lockdown", "release", "unlock-once", "resync"} {
		out := h.must(t, h.Admin, "door", name, "--door", "demo/server-room")
		if got := h.rec.Last(); got.Method != "POST" || got.URI != "/api/doors/demo/server-room/commands" ||
			!hubtest.JSONEqual(got.Body, `{"command":"`+name+`"}`) {
			t.Errorf("door %s sent %+v", name, got)
		}
		lines(t, "door "+name, out, name+` sent to demo/server-room as command C-[0-9a-f]+; a door offline until after [-0-9: ]+ never obeys it`)
		sent := h.Pub.Sent()
		if len(sent) == 0 || sent[len(sent)-1].Topic != "kunci/v1/demo/server-room/cmd" {
			t.Fatalf("door %s: published %+v", name, sent)
		}
		rec, err := h.Keyring.Decode(sent[len(sent)-1].Payload)
		if err != nil || rec.Command == nil || string(rec.Command.Name) != name || rec.Command.By != "admin" {
			t.Errorf("door %s: the door gets %+v, %v", name, rec, err)
		}
	}
}

// TestClientTokens: a token made by token add works until revoked.
func TestClientTokens(t *testing.T) {
	h := newClientHub(t)
	expires := time.Date(2030, 1, 1, 0, 0, 0, 0, time.Local)
	out, errOut, err := h.kunci(t, h.Admin, "token", "add", "--name", "auditor-2", "--role", "viewer, requester", "--expires", "2030-01-01")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.rec.Last(); got.Method != "POST" || got.URI != "/api/tokens" ||
		!hubtest.JSONEqual(got.Body, `{"name":"auditor-2","roles":["viewer","requester"],"expires":"`+expires.Format(time.RFC3339)+`"}`) {
		t.Errorf("token add sent %+v", got)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(tok, "kunci_") || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("token add printed %q and %q; want the token alone on stdout, the note on stderr", out, errOut)
	}
	p, err := h.Tokens.Verify(tok)
	if err != nil || p.Name != "auditor-2" {
		t.Fatalf("the new token: %+v, %v", p, err)
	}
	infos, _ := h.Tokens.List()
	var id string
	for _, i := range infos {
		if i.Name == "auditor-2" {
			id = i.ID
		}
	}
	lines(t, "token list", h.must(t, h.Admin, "token", "list"),
		`ID +NAME +ROLES +CREATED +EXPIRES +STATE`,
		id+` +auditor-2 +(viewer,requester|requester,viewer) +[-0-9: ]+ +`+clitext.Clock(expires)+` +active`)
	h.must(t, tok, "status") // a viewer reads
	file := filepath.Join(t.TempDir(), "auditor-2.token")
	if err := os.WriteFile(file, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := invoke(t, "permit", "list", "--hub", h.url, "--token-file", file); err != nil {
		t.Errorf("--token-file: %v", err)
	}
	t.Setenv("KUNCI_TOKEN", tok)
	if _, _, err := invoke(t, "staff", "list", "--hub", h.url); err != nil {
		t.Errorf("KUNCI_TOKEN: %v", err)
	}
	lines(t, "token revoke", h.must(t, h.Admin, "token", "revoke", id), "token "+id+" revoked")
	if got := h.rec.Last(); got.Method != "DELETE" || got.URI != "/api/tokens/"+id || got.Body != "" {
		t.Errorf("token revoke sent %+v", got)
	}
	lines(t, "token list", h.must(t, h.Admin, "token", "list"), id+` +auditor-2 +.* +revoked [-0-9: ]+`)
	if _, _, err := h.kunci(t, tok, "status"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a revoked token: %v; want 401", err)
	}
}

// TestClientWatch: watch prints the doors' state, then a line per update,
// until its context ends; --json passes the stream through.
func TestClientWatch(t *testing.T) {
	h := newClientHub(t)
	before := goleak.IgnoreCurrent()
	for _, asJSON := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		pr, pw := io.Pipe()
		args := []string{"watch", "--hub", h.url, "--token", h.Viewer}
		if asJSON {
			args = append(args, "--json")
		}
		done := make(chan error, 1)
		go func() {
			err := run(ctx, args, pw, io.Discard)
			pw.Close()
			done <- err
		}()
		got := make(chan string)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				got <- sc.Text()
			}
			close(got)
		}()
		next := func(what string) string {
			t.Helper()
			select {
			case l, ok := <-got:
				if !ok {
					t.Fatalf("watch ended before %s", what)
				}
				return l
			case <-time.After(10 * time.Second):
				t.Fatalf("watch: no %s", what)
			}
			return ""
		}
		first := next("state line")
		seq := uint64(1)
		if asJSON {
			seq = 2
		}
		h.Feed(t, wire.Event{ID: fmt.Sprintf("demo/server-room/e1/%d", seq), Seq: seq, Epoch: "e1", Site: "demo", Door: "server-room",
			Type: "access.denied", At: time.Now().Truncate(time.Second), Reader: "entry", Card: "e43f9936d0b8ef46", Reason: "no_permit"})
		var event string
		for event == "" || strings.Contains(event, "beat") {
			event = next("event line")
		}
		if asJSON {
			var u hub.Update
			if err := json.Unmarshal([]byte(first), &u); err != nil || u.Kind != "state" || u.State == nil {
				t.Errorf("watch --json first line %s (%v); want the door's state as the hub sent it", first, err)
			}
			if err := json.Unmarshal([]byte(event), &u); err != nil || u.Kind != "event" || u.Event.Type != "access.denied" {
				t.Errorf("watch --json event line %s (%v)", event, err)
			}
		} else {
			lines(t, "watch", first+"\n"+event,
				`[-0-9: ]+  demo/server-room  state unknown lock=\? door=\? mode=\? racks=\? occupancy=\? alarms=\?`,
				`[-0-9: ]+  demo/server-room  event access.denied reader=entry card=e43f9936d0b8ef46 reason=no_permit`)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch stopped by its context: %v; want no error", err)
		}
		for range got {
		}
	}
	// the client's connection and goroutines are gone with its context
	goleak.VerifyNone(t, before)
}

// TestClientUsers: user add makes a console user (a password made and
// shown once, or read from a file), user list shows them, user disable
// ends their sessions.
func TestClientUsers(t *testing.T) {
	h := newClientHub(t)
	out, errOut, err := h.kunci(t, h.Admin, "user", "add", "--login", "sari", "--name", "Sari Dewi", "--role", "approver")
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(strings.SplitN(out, "\n", 2)[1])
	if !strings.HasPrefix(out, "user sari (Sari Dewi): approver, id\n") || len(pw) != 16 || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("user add printed %q and %q", out, errOut)
	}
	if got := h.rec.Last(); got.Method != "POST" || got.URI != "/api/users" {
		t.Errorf("user add sent %+v", got)
	}
	secret, _, err := h.Users.SignIn("sari", pw, "192.0.2.1")
	if err != nil {
		t.Fatalf("the made password: %v", err)
	}
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("kata-sandi-dewi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = h.must(t, h.Admin, "user", "add", "--login", "dewi", "--name", "Dewi", "--role", "viewer", "--lang", "en", "--password-file", file)
	if strings.Count(out, "\n") != 1 {
		t.Errorf("user add with a password file printed %q; want no password", out)
	}
	if _, _, err := h.Users.SignIn("dewi", "kata-sandi-dewi", "192.0.2.1"); err != nil {
		t.Errorf("the file's password: %v", err)
	}
	lines(t, "user list", h.must(t, h.Admin, "user", "list"),
		`LOGIN +NAME +ROLES +LANG +STATE`,
		`dewi +Dewi +viewer +en +active`,
		`sari +Sari Dewi +approver +id +active`)
	if out := h.must(t, h.Admin, "user", "disable", "sari"); !strings.Contains(out, "disabled") {
		t.Errorf("user disable printed %q", out)
	}
	if _, _, err := h.Users.Verify(secret); err == nil {
		t.Error("a disabled user's session still holds")
	}
	if _, _, err := h.kunci(t, h.Admin, "user", "disable", "nobody"); err == nil {
		t.Error("disabling an unknown user succeeded")
	}
}

// TestClientAlarms: a forced door is an alarm in kunci alarms until an
// admin acknowledges it with kunci alarm ack; a viewer may read, not ack.
func TestClientAlarms(t *testing.T) {
	h := newClientHub(t)
	if out := h.must(t, h.Viewer, "alarms"); out != "no alarms\n" {
		t.Errorf("kunci alarms on a quiet hub:\n%s", out)
	}
	h.Feed(t, wire.Event{ID: "demo/server-room/e1/1", Seq: 1, Epoch: "e1", Site: "demo", Door: "server-room",
		Type: wire.EvForced, At: time.Now().UTC(), ClockSynced: true, Detail: "opened while locked"})
	out := h.must(t, h.Viewer, "alarms", "--open", "--door", "demo/server-room", "--kind", "door.forced")
	if got := h.rec.Last(); got.URI != "/api/alarms?door=server-room&kind=door.forced&open=1&site=demo" {
		t.Errorf("kunci alarms asked %s", got.URI)
	}
	lines(t, "alarms", out, `ID +OPENED +DOOR +KIND +ON +STATE +ACKNOWLEDGED +DETAIL`,
		`A-000001 +[-0-9: ]+ +demo/server-room +door.forced +- +active \([0-9a-z.]+\) +OPEN +opened while locked`)
	if _, errOut, err := h.kunci(t, h.Viewer, "alarm", "ack", "A-000001", "--note", "seen"); err == nil || !strings.Contains(errOut+err.Error(), "403") && !strings.Contains(errOut+err.Error(), "admin") {
		t.Errorf("a viewer's ack: %v %s; want refused", err, errOut)
	}
	if _, _, err := h.kunci(t, h.Admin, "alarm", "ack", "A-000001"); err == nil || !strings.Contains(err.Error(), "--note") {
		t.Errorf("an ack without a note: %v; want --note asked for", err)
	}
	out = h.must(t, h.Admin, "alarm", "ack", "A-000001", "--note", "checked on camera: the technician")
	if got := h.rec.Last(); got.Method != "POST" || got.URI != "/api/alarms/A-000001/ack" ||
		!hubtest.JSONEqual(got.Body, `{"note":"checked on camera: the technician"}`) {
		t.Errorf("alarm ack sent %+v", got)
	}
	lines(t, "alarm ack", out, `alarm A-000001 \(door.forced at demo/server-room\) acknowledged by admin at [-0-9: ]+`)
	if out := h.must(t, h.Viewer, "alarms", "--open"); out != "no alarms\n" {
		t.Errorf("kunci alarms --open after the ack:\n%s", out)
	}
}
