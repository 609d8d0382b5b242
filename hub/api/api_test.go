package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// staffUp adds the escort S-004 and issues the office's tokens.
func staffUp(t *testing.T, e *hubtest.Env) hubtest.Office {
	t.Helper()
	if _, err := e.Client(t, e.Admin).PutStaff(t.Context(), api.StaffRequest{ID: "S-004", Name: "Budi", Site: "demo",
		CardUIDs: []string{hubtest.EscortUID}, Escort: true}); err != nil {
		t.Fatalf("staff add: %v", err)
	}
	return e.Office(t)
}

func permitRequest(now time.Time) api.PermitRequest {
	return api.PermitRequest{Site: "demo", Door: "server-room", Guest: "Siti Rahma", NIK: hubtest.NIK,
		Organisation: "PT Jaringan Nusantara", Phone: "0812000111", Purpose: "replace core switch PSU",
		Equipment: []string{"laptop", "console cable"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(8 * time.Hour),
		CardUID: hubtest.GuestUID}
}

// must checks a call: must(c.Permit(ctx, id))(t) is the permit, or the
// test's end with the call's error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// refused checks that err is the hub's refusal with status code and
// returns its message.
func refused(t *testing.T, err error, code int) string {
	t.Helper()
	var he *client.Error
	if !errors.As(err, &he) || he.StatusCode != code {
		t.Errorf("%v; want the hub's %d", err, code)
		return ""
	}
	return he.Message
}

// request files permitRequest(now) as the holder of token.
func request(t *testing.T, e *hubtest.Env, token string) *api.Permit {
	t.Helper()
	return must(e.Client(t, token).Request(t.Context(), permitRequest(time.Now())))(t)
}

// issue runs SOP steps 1-4 through the API and returns the issued permit.
func issue(t *testing.T, e *hubtest.Env, p hubtest.Office) *api.Permit {
	t.Helper()
	ctx := t.Context()
	rec := request(t, e, p.Desk)
	must(e.Client(t, p.Coord).Coordinate(ctx, rec.ID, permit.Network))(t)
	must(e.Client(t, p.Head).Approve(ctx, rec.ID))(t)
	return must(e.Client(t, p.Head).Escort(ctx, rec.ID, "S-004"))(t)
}

// visit is the door's events of one escorted visit of permit id.
func visit(id string, start time.Time) []wire.Event {
	types := []wire.EventType{"escort.awaited", "access.granted", "door.unlocked", "door.opened", "visit.entered",
		"door.closed", "door.locked", "exit.requested", "door.unlocked", "door.opened", "visit.exited",
		"door.closed", "door.locked", "room.secured"}
	var evs []wire.Event
	for i, typ := range types {
		e := wire.Event{ID: fmt.Sprintf("demo/server-room/e1/%d", i+1), Seq: uint64(i + 1), Epoch: "e1", Site: "demo",
			Door: "server-room", Type: typ, At: start.Add(time.Duration(i) * 30 * time.Second), ClockSynced: true}
		switch typ {
		case "escort.awaited", "access.granted", "visit.entered", "visit.exited":
			e.Permit, e.Escort = id, "S-004"
		}
		evs = append(evs, e)
	}
	return evs
}

// TestSOP: steps 1-4 through the API by four people, the signed permit
// and staff record published for the door, the door's events of the
// visit make one complete guest-book row and a service-time report.
func TestSOP(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	rec := issue(t, e, p)
	if rec.State != workflow.Issued || rec.Requester != "desk" || rec.Coordinator != "pranata" || rec.Approver != "kasi-infra" ||
		rec.Escort != "S-004" || rec.NIK != workflow.MaskNIK(hubtest.NIK) {
		t.Fatalf("issued permit %+v", rec)
	}
	if len(rec.History) != 5 {
		t.Errorf("history %+v; want requested, coordinated, approved, escorted, issued", rec.History)
	}
	doc, ok := e.Pub.RetainedDoc("kunci/v1/demo/server-room/permits/"+rec.ID, func([]byte) bool { return true })
	if !ok {
		t.Fatal("permit not published")
	}
	got, err := e.Keyring.Decode(doc)
	if err != nil || got.Permit == nil || got.Permit.Escort != "S-004" || got.Permit.Version != rec.Version {
		t.Fatalf("published permit %+v, %v", got, err)
	}
	if bytes.Contains(doc, []byte(hubtest.NIK)) || bytes.Contains(doc, []byte(hubtest.GuestUID)) || bytes.Contains(doc, []byte("Siti")) {
		t.Errorf("published permit holds personal data: %s", doc)
	}
	if sd, ok := e.Pub.RetainedDoc("kunci/v1/demo/server-room/staff/S-004", func([]byte) bool { return true }); !ok {
		t.Error("staff record not published")
	} else if r, err := e.Keyring.Decode(sd); err != nil || r.Staff == nil || !r.Staff.Escort {
		t.Errorf("published staff %+v, %v", r, err)
	}

	start := time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	e.Feed(t, visit(rec.ID, start)...)
	ctx := t.Context()
	rows := must(e.Client(t, p.Viewer).GuestBook(ctx, workflow.Filter{}))(t)
	if len(rows) != 1 {
		t.Fatalf("guest book %+v; want one row", rows)
	}
	r := rows[0]
	if r.Permit != rec.ID || r.Guest != "Siti Rahma" || r.NIK != workflow.MaskNIK(hubtest.NIK) || r.Organisation != "PT Jaringan Nusantara" ||
		r.Category != permit.Network || r.Escort != "S-004" || r.Approver != "kasi-infra" ||
		!r.Entered.Equal(start.Add(2*time.Minute)) || !r.Exited.Equal(start.Add(5*time.Minute)) ||
		!r.Secured.Equal(start.Add(6*time.Minute+30*time.Second)) || len(r.Equipment) != 2 || len(r.Alarms) != 0 {
		t.Errorf("guest-book row %+v", r)
	}
	admin := must(e.Client(t, e.Admin).GuestBook(ctx, workflow.Filter{}))(t)
	if admin[0].NIK != hubtest.NIK {
		t.Errorf("admin sees NIK %q; want it in clear", admin[0].NIK)
	}
	var b strings.Builder
	if err := e.Client(t, p.Viewer).GuestBookCSV(ctx, workflow.Filter{}, &b); err != nil {
		t.Fatal(err)
	}
	csv := b.String()
	if !strings.HasPrefix(csv, "permit,guest,nik") || !strings.Contains(csv, "Siti Rahma") || strings.Contains(csv, hubtest.NIK) {
		t.Errorf("CSV:\n%s", csv)
	}

	rep := must(e.Client(t, p.Viewer).SLA(ctx, workflow.Filter{}))(t)
	if len(rep.Permits) != 1 || len(rep.Permits[0].Steps) != 9 || len(rep.Summary) != 9 || len(rep.Standard) != 9 {
		t.Fatalf("sla report %+v", rep)
	}
	steps := rep.Permits[0].Steps
	// entry: escort.awaited -> visit.entered 2 min; exit: exit.requested ->
	// visit.exited 1.5 min; secure: visit.exited -> room.secured 1.5 min
	for _, c := range []struct {
		i int
		d time.Duration
	}{{4, 2 * time.Minute}, {6, 90 * time.Second}, {7, 90 * time.Second}} {
		if s := steps[c.i]; !s.Known || time.Duration(s.Duration) != c.d || !s.Within {
			t.Errorf("step %s = %+v; want %v within", s.Step, s, c.d)
		}
	}
	if !steps[8].Known || rep.Summary[8].Count != 1 {
		t.Errorf("total %+v, summary %+v", steps[8], rep.Summary[8])
	}
}

// TestSelfApproval: one who filed a request cannot approve it, even with
// the approver role; nothing changes.
func TestSelfApproval(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	both := e.Token(t, "kasi-infra", auth.Requester, auth.Approver)
	ctx := t.Context()
	rec := request(t, e, both)
	must(e.Client(t, p.Coord).Coordinate(ctx, rec.ID, permit.Server))(t)
	_, err := e.Client(t, both).Approve(ctx, rec.ID)
	if msg := refused(t, err, http.StatusForbidden); !strings.Contains(msg, "requester") {
		t.Errorf("self-approval = %v; want 403 naming the requester", err)
	}
	// another approver's token of the same person's name is the same person
	_, err = e.Client(t, p.Head).Approve(ctx, rec.ID)
	refused(t, err, http.StatusForbidden)
	got, _ := e.WF.Get(rec.ID)
	if got.State != workflow.Coordinated || got.Approver != "" {
		t.Errorf("after refused approvals: %+v", got)
	}
}

// TestRoles: each action needs its role; NIK is masked for all but admin.
func TestRoles(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	rec := request(t, e, p.Desk)
	base := "/api/permits/" + rec.ID
	for _, c := range []struct {
		who, method, path string
		body              any
	}{
		{p.Viewer, "POST", "/api/permits", permitRequest(time.Now())},
		{p.Desk, "POST", base + "/coordinate", api.CoordinateRequest{Category: permit.Server}},
		{p.Coord, "POST", base + "/approve", nil},
		{p.Desk, "POST", base + "/escort", api.EscortRequest{Staff: "S-004"}},
		{p.Viewer, "POST", base + "/reject", api.ReasonRequest{Reason: "no"}},
		{p.Head, "POST", "/api/staff", api.StaffRequest{ID: "S-009", Name: "X", Site: "demo", CardUIDs: []string{"0A0B0C0D"}}},
		{p.Head, "GET", "/api/tokens", nil},
		{p.Head, "POST", "/api/doors/demo/server-room/commands", api.CommandRequest{Command: "lockdown"}},
	} {
		code, body := e.Do(t, c.who, c.method, c.path, c.body)
		if code != http.StatusForbidden || !strings.Contains(string(body), "role") {
			t.Errorf("%s %s = %d %s; want 403 naming the role", c.method, c.path, code, body)
		}
	}
	for _, who := range []string{p.Desk, p.Coord, p.Head, p.Viewer} {
		got := must(e.Client(t, who).Permit(t.Context(), rec.ID))(t)
		if got.NIK != workflow.MaskNIK(hubtest.NIK) {
			t.Errorf("non-admin sees NIK %q", got.NIK)
		}
	}
	if got := must(e.Client(t, e.Admin).Permit(t.Context(), rec.ID))(t); got.NIK != hubtest.NIK {
		t.Errorf("admin sees NIK %q", got.NIK)
	}
	if got, _ := e.WF.Get(rec.ID); got.State != workflow.Requested || got.Version != rec.Version {
		t.Errorf("refused actions changed the permit: %+v", got)
	}
}

// TestBadInput: every malformed request is a 4xx naming the problem, and
// nothing is stored.
func TestBadInput(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	rec := request(t, e, p.Desk)
	base := "/api/permits/" + rec.ID
	tampered := []byte(p.Desk)
	// one character of the secret changed, still base64url
	if i := len(tampered) - 3; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	good := permitRequest(time.Now())
	without := func(f func(*api.PermitRequest)) api.PermitRequest { r := good; f(&r); return r }
	big := bytes.Repeat([]byte(" "), 10<<20)
	big = append(append([]byte(`{"guest":"`), big...), `"}`...)
	for _, c := range []struct {
		name, token, method, path string
		body                      any
		code                      int
		says                      string
	}{
		{"no token", "", "GET", "/api/permits", nil, 401, "Bearer"},
		{"malformed token", "hello", "GET", "/api/permits", nil, 401, "malformed"},
		{"tampered token", string(tampered), "POST", "/api/permits", good, 401, "does not match"},
		{"unknown token", "kunci_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/api/permits", nil, 401, "unknown"},
		{"missing guest", p.Desk, "POST", "/api/permits", without(func(r *api.PermitRequest) { r.Guest = "" }), 422, "guest"},
		{"missing card", p.Desk, "POST", "/api/permits", without(func(r *api.PermitRequest) { r.CardUID = "" }), 422, "card"},
		{"bad NIK", p.Desk, "POST", "/api/permits", without(func(r *api.PermitRequest) { r.NIK = "12AB" }), 422, "NIK"},
		{"empty window", p.Desk, "POST", "/api/permits", without(func(r *api.PermitRequest) { r.NotAfter = r.NotBefore }), 422, "window"},
		{"bad card", p.Desk, "POST", "/api/permits", without(func(r *api.PermitRequest) { r.CardUID = "XYZ" }), 422, "card"},
		{"unknown site", p.Desk, "POST", "/api/permits", without(func(r *api.PermitRequest) { r.Site = "elsewhere" }), 422, "elsewhere/server-room"},
		{"wrong type", p.Desk, "POST", "/api/permits", []byte(`{"guest":"A","entries":"two"}`), 400, `entries`},
		{"wrong time", p.Desk, "POST", "/api/permits", []byte(`{"not_before":"tomorrow"}`), 400, "time"},
		{"unknown field", p.Desk, "POST", "/api/permits", []byte(`{"guest":"A","nik_raw":"1"}`), 400, "nik_raw"},
		{"not JSON", p.Desk, "POST", "/api/permits", []byte(`{"guest":`), 400, "JSON"},
		// encoding/json would read SITE as site, and keep the last of two
		// (issue 13): refused, naming the key
		{"key in upper case", p.Desk, "POST", "/api/permits", []byte(`{"SITE":"demo"}`), 400, `key \"SITE\": no such field; keys are case-sensitive: \"site\"`},
		{"key in mixed case", p.Coord, "POST", base + "/coordinate", []byte(`{"Category":"server"}`), 400, `key \"Category\"`},
		{"key twice", p.Desk, "POST", "/api/permits", []byte(`{"guest":"A","guest":"B"}`), 400, `key \"guest\" appears twice`},
		{"key twice in a token's body", e.Admin, "POST", "/api/tokens", []byte(`{"name":"x","roles":["viewer"],"roles":["admin"]}`), 400, `key \"roles\" appears twice`},
		{"stray bracket after the body", p.Desk, "POST", "/api/permits", []byte(`{}]`), 400, "more than one"},
		{"two values", p.Desk, "POST", "/api/permits", []byte(`{} {}`), 400, "more than one"},
		{"array body", p.Desk, "POST", "/api/permits", []byte(`[1,2]`), 400, "body"},
		{"10 MiB body", p.Desk, "POST", "/api/permits", big, 413, "larger than"},
		{"unknown permit", p.Coord, "POST", "/api/permits/P-999999/coordinate", api.CoordinateRequest{Category: permit.Server}, 404, "P-999999"},
		{"bad category", p.Coord, "POST", base + "/coordinate", []byte(`{"category":"power"}`), 400, "category"},
		{"approve too early", p.Head, "POST", base + "/approve", nil, 409, "requested"},
		{"escort nobody", p.Head, "POST", base + "/escort", api.EscortRequest{}, 400, "staff"},
		{"reject without reason", p.Coord, "POST", base + "/reject", api.ReasonRequest{}, 400, "reason"},
		{"staff without card", e.Admin, "POST", "/api/staff", api.StaffRequest{ID: "S-009", Name: "X", Site: "demo"}, 400, "card"},
		{"staff bad id", e.Admin, "POST", "/api/staff", api.StaffRequest{ID: "S 9/", Name: "X", Site: "demo", CardUIDs: []string{"0A0B0C0D"}}, 422, "id"},
		{"unknown command", e.Admin, "POST", "/api/doors/demo/server-room/commands", api.CommandRequest{Command: "open-sesame"}, 400, "open-sesame"},
		{"bad door", e.Admin, "POST", "/api/doors/demo/a+b/commands", api.CommandRequest{Command: "lockdown"}, 400, "door"},
		{"bad state filter", p.Viewer, "GET", "/api/permits?state=done", nil, 400, "state"},
		{"bad date", p.Viewer, "GET", "/api/guestbook?from=yesterday", nil, 400, "from"},
		{"reversed range", p.Viewer, "GET", "/api/guestbook?from=2026-11-02&to=2026-11-01", nil, 400, "not after"},
		{"bad format", p.Viewer, "GET", "/api/guestbook?format=xml", nil, 400, "format"},
		{"wrong content type", p.Desk, "POST", "/api/permits", []byte(`guest=A`), 415, "Content-Type"},
		{"unknown role", e.Admin, "POST", "/api/tokens", []byte(`{"name":"x","roles":["root"]}`), 400, "root"},
		{"unknown token id", e.Admin, "DELETE", "/api/tokens/00000000000000ff", nil, 404, "token"},
		{"no route", p.Viewer, "GET", "/api/nothing", nil, 404, "no route"},
		{"purge without retention", e.Admin, "POST", "/api/purge", nil, 409, "retention"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := e.WF.List()
			staffBefore, _ := e.WF.ListStaff()
			var req *http.Request
			code, body := 0, []byte(nil)
			if c.name == "wrong content type" {
				req, _ = http.NewRequest(c.method, e.Server.URL+c.path, strings.NewReader("guest=A"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+c.token)
				resp, err := e.Server.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				code = resp.StatusCode
				var m map[string]string
				json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				body = []byte(m["error"])
			} else {
				code, body = e.Do(t, c.token, c.method, c.path, c.body)
			}
			if code != c.code {
				t.Errorf("%d %s; want %d", code, body, c.code)
			}
			if !strings.Contains(string(body), c.says) {
				t.Errorf("answer %s does not say %q", body, c.says)
			}
			if code != 401 && code != 413 && !json.Valid(body) && c.name != "wrong content type" {
				t.Errorf("answer is not JSON: %s", body)
			}
			after, _ := e.WF.List()
			staffAfter, _ := e.WF.ListStaff()
			if len(after) != len(before) || after[0].Version != before[0].Version || len(staffAfter) != len(staffBefore) {
				t.Errorf("a refused request changed the store")
			}
		})
	}
	// an empty form: every problem named at once
	code, body := e.Do(t, p.Desk, "POST", "/api/permits", []byte(`{}`))
	for _, w := range []string{"site", "door", "guest", "organisation", "purpose", "NIK", "window", "card"} {
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), w) {
			t.Errorf("empty request = %d %s; want 422 naming %s", code, body, w)
		}
	}
	if e.Tokens.Stats().Tampered == 0 {
		t.Error("tampered token not counted")
	}
	_, m := e.Do(t, p.Viewer, "GET", "/metrics", nil)
	if !strings.Contains(string(m), "kunci_hub_api_client_errors_total") {
		t.Errorf("metrics:\n%s", m)
	}
}

// TestRevoke: a revoked permit's retained record becomes the signed
// revocation; revoking twice is refused.
func TestRevoke(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	rec := issue(t, e, p)
	head := e.Client(t, p.Head)
	must(head.Revoke(t.Context(), rec.ID, "work cancelled"))(t)
	isRevocation := func(d []byte) bool {
		r, err := e.Keyring.Decode(d)
		return err == nil && r.Revocation != nil
	}
	doc, ok := e.Pub.RetainedDoc("kunci/v1/demo/server-room/permits/"+rec.ID, isRevocation)
	if !ok {
		t.Fatalf("retained %s; want the revocation", doc)
	}
	_, err := head.Revoke(t.Context(), rec.ID, "again")
	refused(t, err, http.StatusConflict)
}

// TestRestart: after a restart the records are signed and published again
// with the same bytes, and the guest book is rebuilt from the events.
func TestRestart(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	rec := issue(t, e, p)
	tp := "kunci/v1/demo/server-room/permits/" + rec.ID
	first, _ := e.Pub.RetainedDoc(tp, func([]byte) bool { return true })
	e.Feed(t, visit(rec.ID, time.Now().UTC())...)
	e.Pub = &hubtest.Pub{Retained: map[string][]byte{}}
	e.Restart(t, hubtest.Options{})
	again, ok := e.Pub.RetainedDoc(tp, func([]byte) bool { return true })
	if !ok || !bytes.Equal(first, again) {
		t.Errorf("after restart %s; want the same document %s", again, first)
	}
	rows := must(e.Client(t, p.Viewer).GuestBook(t.Context(), workflow.Filter{}))(t)
	if len(rows) != 1 || rows[0].Secured.IsZero() {
		t.Errorf("guest book after restart: %+v", rows)
	}
	e.Feed(t, visit(rec.ID, time.Now().UTC())...) // the door sends it all again
	if s := e.Hub.Stats().Ingest; s.Duplicates != 14 || s.Stored != 0 {
		t.Errorf("resent events: %+v; want 14 duplicates, none stored", s)
	}
	if n := len(must(e.Client(t, p.Viewer).GuestBook(t.Context(), workflow.Filter{}))(t)); n != 1 {
		t.Errorf("%d rows after the resend; want 1", n)
	}
}

// TestCommand: an admin's lockdown is signed and sent to the door's cmd
// topic, not retained.
func TestCommand(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	c := must(e.Client(t, e.Admin).Command(t.Context(), "demo", "server-room", wire.CmdLockdown))(t)
	var found bool
	for _, m := range e.Pub.Sent() {
		if m.Topic == "kunci/v1/demo/server-room/cmd" {
			r, err := e.Keyring.Decode(m.Payload)
			found = err == nil && r.Command != nil && r.Command.ID == c.ID && r.Command.Name == "lockdown"
		}
	}
	if !found {
		t.Errorf("command %+v not sent signed: %v", c, e.Pub.Sent())
	}
}

// TestPurge: the retention purges the guest's personal data from the
// permit and the guest book.
func TestPurge(t *testing.T) {
	clock := hubtest.NewClock(time.Now())
	e := hubtest.New(t, hubtest.Options{Now: clock.Now, Retention: 30 * 24 * time.Hour})
	p := staffUp(t, e)
	rec := issue(t, e, p)
	e.Feed(t, visit(rec.ID, time.Now().UTC())...)
	admin := e.Client(t, e.Admin)
	res := must(admin.Purge(t.Context()))(t)
	if len(res.Purged) != 0 {
		t.Fatalf("purged %v before the retention", res.Purged)
	}
	clock.Add(31 * 24 * time.Hour)
	res = must(admin.Purge(t.Context()))(t)
	if len(res.Purged) != 1 {
		t.Fatalf("purge %+v; want the permit", res)
	}
	rows := must(admin.GuestBook(t.Context(), workflow.Filter{}))(t)
	if len(rows) != 1 || rows[0].Guest != workflow.PurgedGuest || strings.Contains(rows[0].NIK, "3201") {
		t.Errorf("guest book after purge: %+v", rows)
	}
}

// TestPurgeLeavesNoTrace: after a purge through the API, none of the
// purged guests' names, NIKs and phones is left in any of the hub's files,
// in clear or JSON-escaped, not in the pages the stores freed (issue 13).
func TestPurgeLeavesNoTrace(t *testing.T) {
	clock := hubtest.NewClock(time.Now())
	e := hubtest.New(t, hubtest.Options{Now: clock.Now, Retention: 30 * 24 * time.Hour})
	p := staffUp(t, e)
	ctx := t.Context()
	var secrets []string
	for i := range 8 {
		req := permitRequest(time.Now())
		req.Guest = fmt.Sprintf("Tamu <Rahasia> & Nomor %03d", i)
		req.NIK = fmt.Sprintf("9%015d", 737000000+i)
		req.Phone = fmt.Sprintf("+62-877-%04d-7311", i)
		secrets = append(secrets, req.Guest, req.NIK, req.Phone)
		rec := must(e.Client(t, p.Desk).Request(ctx, req))(t)
		must(e.Client(t, p.Coord).Coordinate(ctx, rec.ID, permit.Network))(t)
		must(e.Client(t, p.Head).Approve(ctx, rec.ID))(t)
		must(e.Client(t, p.Head).Escort(ctx, rec.ID, "S-004"))(t)
	}
	e.Feed(t, visit("P-000001", time.Now().UTC())...)
	admin := e.Client(t, e.Admin)
	if rows := must(admin.GuestBook(ctx, workflow.Filter{}))(t); len(rows) != 1 || rows[0].Guest != "Tamu <Rahasia> & Nomor 000" {
		t.Fatalf("guest book before the purge: %+v", rows)
	}
	clock.Add(31 * 24 * time.Hour)
	if res := must(admin.Purge(ctx))(t); len(res.Purged) != 8 {
		t.Fatalf("purge %+v; want the 8 permits", res)
	}
	e.Stop()
	err := filepath.WalkDir(e.Dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(path)
		for _, v := range secrets {
			j, _ := json.Marshal(v)
			if bytes.Contains(raw, []byte(v)) || bytes.Contains(raw, j[1:len(j)-1]) {
				t.Errorf("%s still holds %q", filepath.Base(path), v)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatch: the stream starts with the doors' state and carries events
// as they are stored.
func TestWatch(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	s := must(e.Client(t, e.Admin).Watch(t.Context()))(t)
	defer s.Close()
	if !s.Next() || !strings.Contains(string(s.Raw()), `"kind":"state"`) || !strings.Contains(string(s.Raw()), "server-room") {
		t.Fatalf("first line %q (%v)", s.Raw(), s.Err())
	}
	e.Feed(t, visit("P-000001", time.Now().UTC())[:1]...)
	if !s.Next() || !strings.Contains(string(s.Raw()), `"kind":"event"`) || !strings.Contains(string(s.Raw()), "escort.awaited") {
		t.Fatalf("next line %q (%v)", s.Raw(), s.Err())
	}
}

// TestEvents: a door's stored events, filtered, the most recent last.
func TestEvents(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.Feed(t, visit("P-000001", time.Now().UTC())...)
	c, ctx := e.Client(t, e.Admin), t.Context()
	evs := must(c.Events(ctx, client.EventQuery{Site: "demo", Door: "server-room", Type: wire.EvLocked}))(t)
	if len(evs) != 2 || evs[0].Seq != 7 || evs[1].Seq != 13 {
		t.Errorf("door.locked events %+v; want seqs 7 and 13", evs)
	}
	evs = must(c.Events(ctx, client.EventQuery{Site: "demo", Door: "server-room", Limit: 3}))(t)
	if len(evs) != 3 || evs[0].Seq != 12 || evs[2].Seq != 14 {
		t.Errorf("last 3 events %+v; want seqs 12-14", evs)
	}
	if evs := must(c.Events(ctx, client.EventQuery{Site: "demo", Door: "other"}))(t); len(evs) != 0 {
		t.Errorf("events of an unknown door: %+v", evs)
	}
	_, err := c.Events(ctx, client.EventQuery{Site: "demo"})
	refused(t, err, http.StatusBadRequest)
	// a limit of 0 is the client's "the hub's default": sent by hand
	if code, body := e.Do(t, e.Admin, "GET", "/api/events?site=demo&door=server-room&limit=0", nil); code != http.StatusBadRequest {
		t.Fatalf("limit=0: %d %s; want 400", code, body)
	}
}

// TestMetricsNeedAToken: the hub's counters (sign-in failures, the
// doors' events) are read with a token of any role, never without one
// (issue 13).
func TestMetricsNeedAToken(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	desk := e.Token(t, "desk", auth.Requester)
	for _, path := range []string{"/metrics", "/api/metrics"} {
		if code, body := e.Do(t, "", "GET", path, nil); code != http.StatusUnauthorized || strings.Contains(string(body), "kunci_hub_") {
			t.Errorf("GET %s without a token = %d %.80s; want 401 and no counters", path, code, body)
		}
		if code, body := e.Do(t, desk, "GET", path, nil); code != http.StatusOK || !strings.Contains(string(body), "kunci_hub_auth_refused_total") {
			t.Errorf("GET %s with a requester's token = %d %.80s; want 200 and the counters", path, code, body)
		}
	}
}
