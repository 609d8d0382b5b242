package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// visit is the door's events of one escorted visit of permit id.
func visit(id string, start time.Time) []wire.Event {
	types := []wire.EventType{wire.EvEscortAwaited, wire.EvGranted, wire.EvUnlocked, wire.EvOpened, wire.EvVisitEntered,
		wire.EvClosed, wire.EvLocked, wire.EvExitRequested, wire.EvUnlocked, wire.EvOpened, wire.EvVisitExited,
		wire.EvClosed, wire.EvLocked, wire.EvSecured}
	var evs []wire.Event
	for i, typ := range types {
		e := wire.Event{ID: fmt.Sprintf("demo/server-room/e1/%d", i+1), Seq: uint64(i + 1), Epoch: "e1", Site: "demo",
			Door: "server-room", Type: typ, At: start.Add(time.Duration(i) * 30 * time.Second), ClockSynced: true}
		switch typ {
		case wire.EvEscortAwaited, wire.EvGranted, wire.EvVisitEntered, wire.EvVisitExited:
			e.Permit, e.Escort = id, "S-004"
		}
		evs = append(evs, e)
	}
	return evs
}

// TestRoutes: each method against a real hub, in the SOP's order: the
// request the hub got (method, path and query, body) and the typed
// answer.
func TestRoutes(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{Retention: 30 * 24 * time.Hour})
	rec := e.Record(t)
	as := func(tok string) *client.Client {
		c, err := client.New(rec.URL+"/", tok) // a trailing slash is dropped
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	office := e.Office(t)
	admin, desk, coord, head, viewer := as(e.Admin), as(office.Desk), as(office.Coord), as(office.Head), as(office.Viewer)
	ctx := t.Context()
	now := time.Now().Truncate(time.Second)
	start := now.Add(time.Minute)
	var tokenID, newToken string
	var asked []string // "GET /api/permits/P-000001", every request of the table
	for _, c := range []struct {
		name        string
		method, uri string
		body        string // "": none
		call        func(t *testing.T) error
	}{
		{"Health", "GET", "/healthz", "", func(t *testing.T) error { return as("").Health(ctx) }},
		{"Whoami", "GET", "/api/whoami", "", func(t *testing.T) error {
			w, err := viewer.Whoami(ctx)
			if err == nil && (w.Name != "auditor" || !reflect.DeepEqual(w.Roles, []string{"viewer"})) {
				t.Errorf("whoami %+v", w)
			}
			return err
		}},
		{"PutStaff", "POST", "/api/staff", `{"id":"S-004","name":"Budi","site":"demo","card_uids":["` + hubtest.EscortUID + `"],"escort":true,"solo":false}`,
			func(t *testing.T) error {
				m, err := admin.PutStaff(ctx, api.StaffRequest{ID: "S-004", Name: "Budi", Site: "demo", CardUIDs: []string{hubtest.EscortUID}, Escort: true})
				if err == nil && (m.ID != "S-004" || m.Version != 1 || len(m.Cards) != 1 || !m.Escort || m.By != "admin") {
					t.Errorf("staff %+v", m)
				}
				return err
			}},
		{"Staff", "GET", "/api/staff", "", func(t *testing.T) error {
			ms, err := viewer.Staff(ctx)
			if err == nil && (len(ms) != 1 || ms[0].ID != "S-004") {
				t.Errorf("staff %+v", ms)
			}
			return err
		}},
		{"Request", "POST", "/api/permits",
			`{"site":"demo","door":"server-room","guest":"Siti Rahma","nik":"` + hubtest.NIK + `","organisation":"PT Jaringan Nusantara",
			  "purpose":"replace core switch PSU","equipment":["laptop"],"not_before":"` + now.Add(-time.Hour).Format(time.RFC3339) +
				`","not_after":"` + now.Add(8*time.Hour).Format(time.RFC3339) + `","card_uid":"` + hubtest.GuestUID + `"}`,
			func(t *testing.T) error {
				p, err := desk.Request(ctx, api.PermitRequest{Site: "demo", Door: "server-room", Guest: "Siti Rahma", NIK: hubtest.NIK,
					Organisation: "PT Jaringan Nusantara", Purpose: "replace core switch PSU", Equipment: []string{"laptop"},
					NotBefore: now.Add(-time.Hour), NotAfter: now.Add(8 * time.Hour), CardUID: hubtest.GuestUID})
				if err == nil && (p.ID != "P-000001" || p.State != workflow.Requested || p.NIK != workflow.MaskNIK(hubtest.NIK) || p.Requester != "desk") {
					t.Errorf("requested %+v", p)
				}
				return err
			}},
		{"Coordinate", "POST", "/api/permits/P-000001/coordinate", `{"category":"network"}`, func(t *testing.T) error {
			p, err := coord.Coordinate(ctx, "P-000001", permit.Network)
			if err == nil && (p.State != workflow.Coordinated || p.Category != permit.Network || p.Coordinator != "pranata") {
				t.Errorf("coordinated %+v", p)
			}
			return err
		}},
		{"Approve", "POST", "/api/permits/P-000001/approve", `{}`, func(t *testing.T) error {
			p, err := head.Approve(ctx, "P-000001")
			if err == nil && (p.State != workflow.Approved || p.Approver != "kasi-infra") {
				t.Errorf("approved %+v", p)
			}
			return err
		}},
		{"Escort", "POST", "/api/permits/P-000001/escort", `{"staff":"S-004"}`, func(t *testing.T) error {
			p, err := head.Escort(ctx, "P-000001", "S-004")
			if err == nil && (p.State != workflow.Issued || p.Escort != "S-004") {
				t.Errorf("escorted %+v", p)
			}
			if _, ok := e.Pub.RetainedDoc("kunci/v1/demo/server-room/permits/P-000001", func([]byte) bool { return true }); !ok {
				t.Error("the permit was not published")
			}
			return err
		}},
		{"Permits", "GET", "/api/permits?state=issued", "", func(t *testing.T) error {
			ps, err := viewer.Permits(ctx, workflow.Issued)
			if err == nil && (len(ps) != 1 || ps[0].ID != "P-000001" || ps[0].NIK != workflow.MaskNIK(hubtest.NIK)) {
				t.Errorf("issued permits %+v", ps)
			}
			return err
		}},
		{"Permits all", "GET", "/api/permits", "", func(t *testing.T) error {
			ps, err := viewer.Permits(ctx, "")
			if err == nil && len(ps) != 1 {
				t.Errorf("permits %+v", ps)
			}
			return err
		}},
		{"Permit", "GET", "/api/permits/P-000001", "", func(t *testing.T) error {
			p, err := admin.Permit(ctx, "P-000001")
			if err == nil && (p.NIK != hubtest.NIK || len(p.History) != 5) {
				t.Errorf("the admin's permit %+v; want the NIK in clear and five steps", p)
			}
			return err
		}},
		{"GuestBook", "GET", "/api/guestbook?" + url.Values{"site": {"demo"}, "door": {"server-room"}, "from": {start.Add(-time.Hour).Format(time.RFC3339)}}.Encode(), "",
			func(t *testing.T) error {
				e.Feed(t, visit("P-000001", start)...)
				rows, err := viewer.GuestBook(ctx, workflow.Filter{Site: "demo", Door: "server-room", From: start.Add(-time.Hour)})
				if err == nil && (len(rows) != 1 || rows[0].Permit != "P-000001" || rows[0].NIK != workflow.MaskNIK(hubtest.NIK) ||
					!rows[0].Entered.Equal(start.Add(2*time.Minute)) || !rows[0].Secured.Equal(start.Add(6*time.Minute+30*time.Second))) {
					t.Errorf("guest book %+v", rows)
				}
				return err
			}},
		{"GuestBookCSV", "GET", "/api/guestbook?format=csv&permit=P-000001", "", func(t *testing.T) error {
			var b strings.Builder
			err := viewer.GuestBookCSV(ctx, workflow.Filter{Permit: "P-000001"}, &b)
			_, want := e.Do(t, e.Token(t, "auditor", auth.Viewer), "GET", "/api/guestbook?format=csv&permit=P-000001", nil)
			if err == nil && (b.String() != string(want) || !strings.HasPrefix(b.String(), strings.Join(workflow.CSVHeader, ",")+"\n") ||
				strings.Contains(b.String(), hubtest.NIK)) {
				t.Errorf("CSV:\n%s\nwant the hub's:\n%s", b.String(), want)
			}
			return err
		}},
		{"SLA", "GET", "/api/sla?permit=P-000001", "", func(t *testing.T) error {
			rep, err := viewer.SLA(ctx, workflow.Filter{Permit: "P-000001"})
			if err == nil && (len(rep.Permits) != 1 || len(rep.Permits[0].Steps) != 9 || len(rep.Summary) != 9 || len(rep.Standard) != 9) {
				t.Errorf("sla %+v", rep)
			}
			return err
		}},
		{"Doors", "GET", "/api/doors", "", func(t *testing.T) error {
			ds, err := viewer.Doors(ctx)
			if err == nil && (len(ds) != 1 || ds[0].Site != "demo" || ds[0].Door != "server-room" || ds[0].LastEvent != wire.EvSecured) {
				t.Errorf("doors %+v", ds)
			}
			return err
		}},
		{"Events", "GET", "/api/events?door=server-room&limit=1&permit=P-000001&site=demo&type=visit.exited", "", func(t *testing.T) error {
			evs, err := viewer.Events(ctx, client.EventQuery{Site: "demo", Door: "server-room", Type: wire.EvVisitExited, Permit: "P-000001", Limit: 1})
			if err == nil && (len(evs) != 1 || evs[0].Seq != 11) {
				t.Errorf("events %+v; want the exit, seq 11", evs)
			}
			return err
		}},
		{"Events all", "GET", "/api/events?door=server-room&site=demo", "", func(t *testing.T) error {
			evs, err := viewer.Events(ctx, client.EventQuery{Site: "demo", Door: "server-room"})
			if err == nil && (len(evs) != 14 || evs[0].Seq != 1 || evs[13].Type != wire.EvSecured) {
				t.Errorf("events %+v; want all 14 in order", evs)
			}
			return err
		}},
		{"Watch", "GET", "/api/watch", "", func(t *testing.T) error {
			s, err := viewer.Watch(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			if !s.Next() {
				return s.Err()
			}
			if u, err := s.Update(); err != nil || u.Kind != "state" || u.State.LastEvent != wire.EvSecured {
				t.Errorf("first update %+v, %v; want the door's state", u, err)
			}
			return nil
		}},
		{"Command", "POST", "/api/doors/demo/server-room/commands", `{"command":"lockdown"}`, func(t *testing.T) error {
			cmd, err := admin.Command(ctx, "demo", "server-room", wire.CmdLockdown)
			if err != nil {
				return err
			}
			if cmd.Name != wire.CmdLockdown || cmd.Site != "demo" || cmd.Door != "server-room" || cmd.By != "admin" || !cmd.Expires.After(cmd.Issued) {
				t.Errorf("command %+v", cmd)
			}
			sent := e.Pub.Sent()
			if len(sent) == 0 || sent[len(sent)-1].Topic != "kunci/v1/demo/server-room/cmd" {
				t.Errorf("published %+v", sent)
			}
			return nil
		}},
		{"AddToken", "POST", "/api/tokens", `{"name":"auditor-2","roles":["viewer"]}`, func(t *testing.T) error {
			nt, err := admin.AddToken(ctx, api.TokenRequest{Name: "auditor-2", Roles: []string{"viewer"}})
			if err != nil {
				return err
			}
			tokenID, newToken = nt.ID, nt.Token
			if !strings.HasPrefix(nt.Token, "kunci_") || nt.Name != "auditor-2" || !nt.Expires.IsZero() {
				t.Errorf("new token %+v", nt)
			}
			if w, err := as(nt.Token).Whoami(ctx); err != nil || w.Name != "auditor-2" {
				t.Errorf("the new token: %+v, %v", w, err)
			}
			return nil
		}},
		{"Tokens", "GET", "/api/tokens", "", func(t *testing.T) error {
			infos, err := admin.Tokens(ctx)
			var found bool
			for _, i := range infos {
				found = found || (i.ID == tokenID && i.Name == "auditor-2" && !i.Revoked)
			}
			if err == nil && !found {
				t.Errorf("tokens %+v; want auditor-2's, active", infos)
			}
			return err
		}},
		{"RevokeToken", "DELETE", "/api/tokens/{id}", "", func(t *testing.T) error {
			if err := admin.RevokeToken(ctx, tokenID); err != nil {
				return err
			}
			var he *client.Error
			if _, err := as(newToken).Whoami(ctx); !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
				t.Errorf("a revoked token: %v; want 401", err)
			}
			return nil
		}},
		{"Reject", "POST", "/api/permits/P-REJ/reject", `{"reason":"no escort free"}`, func(t *testing.T) error {
			if _, err := desk.Request(ctx, api.PermitRequest{ID: "P-REJ", Site: "demo", Door: "server-room", Guest: "Andi", NIK: hubtest.NIK,
				Organisation: "PT A", Purpose: "audit", NotBefore: now, NotAfter: now.Add(time.Hour), CardUID: hubtest.GuestUID}); err != nil {
				return err
			}
			p, err := coord.Reject(ctx, "P-REJ", "no escort free")
			if err == nil && (p.State != workflow.Rejected || p.History[len(p.History)-1].Note != "no escort free") {
				t.Errorf("rejected %+v", p)
			}
			return err
		}},
		{"Revoke", "POST", "/api/permits/P-000001/revoke", `{"reason":"work cancelled"}`, func(t *testing.T) error {
			p, err := head.Revoke(ctx, "P-000001", "work cancelled")
			if err == nil && p.State != workflow.Revoked {
				t.Errorf("revoked %+v", p)
			}
			return err
		}},
		{"Alarms", "GET", "/api/alarms?door=server-room&kind=door.forced&open=1&site=demo", "", func(t *testing.T) error {
			// a forced door, as the ingest would hand it to the hub
			if err := e.Hub.Alarms().Event(wire.Event{Site: "demo", Door: "server-room", Type: wire.EvForced, At: now,
				Detail: "opened while locked"}); err != nil {
				t.Fatal(err)
			}
			as, err := viewer.Alarms(ctx, client.AlarmQuery{Open: true, Site: "demo", Door: "server-room", Kind: alarm.DoorForced})
			if err == nil && (len(as) != 1 || as[0].ID != "A-000001" || as[0].Kind != alarm.DoorForced || !as[0].Open()) {
				t.Errorf("alarms %+v", as)
			}
			return err
		}},
		{"Alarm", "GET", "/api/alarms/A-000001", "", func(t *testing.T) error {
			a, err := viewer.Alarm(ctx, "A-000001")
			if err == nil && a.Kind != alarm.DoorForced {
				t.Errorf("alarm %+v", a)
			}
			return err
		}},
		{"AckAlarm", "POST", "/api/alarms/A-000001/ack", `{"note":"checked on camera"}`, func(t *testing.T) error {
			a, err := admin.AckAlarm(ctx, "A-000001", "checked on camera")
			if err == nil && (a.Open() || a.Acked.By != "admin" || a.Acked.Note != "checked on camera") {
				t.Errorf("acknowledged %+v", a)
			}
			return err
		}},
		{"Purge", "POST", "/api/purge", `{}`, func(t *testing.T) error {
			res, err := admin.Purge(ctx)
			if err == nil && (time.Duration(res.Retention) != 30*24*time.Hour || res.Examined != 2 || len(res.Purged) != 0) {
				t.Errorf("purge %+v; want two examined, none purged yet", res)
			}
			return err
		}},
		{"Backup", "GET", "/api/backup", "", func(t *testing.T) error {
			var buf bytes.Buffer
			if err := admin.Backup(ctx, &buf); err != nil {
				return err
			}
			m, err := backup.Check(&buf)
			if err == nil && (len(m.Files) != 3 || m.Files[2].Name != "hub-events.db" || m.Files[2].Size == 0) {
				t.Errorf("backup %+v; want the hub's three stores", m)
			}
			return err
		}},
		{"Metrics", "GET", "/api/metrics", "", func(t *testing.T) error {
			m, err := admin.Metrics(ctx)
			if err == nil && (m["kunci_hub_api_requests_total"] < 20 || m["kunci_hub_events_stored_total"] != 14 || m["kunci_hub_commands_total"] != 1) {
				t.Errorf("metrics %v", m)
			}
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(t); err != nil {
				t.Fatalf("%v", err)
			}
			uri := strings.ReplaceAll(c.uri, "{id}", tokenID)
			got := rec.Take()
			for _, r := range got {
				asked = append(asked, r.Method+" "+strings.SplitN(r.URI, "?", 2)[0])
			}
			if !slices.ContainsFunc(got, func(r hubtest.Request) bool { return r.Is(c.method, uri, c.body) }) {
				t.Errorf("sent %+v; want %s %s %s among them", got, c.method, uri, c.body)
			}
		})
	}
	// every route of hub/api's doc has its method, asked above
	for _, route := range routes(t) {
		if !slices.ContainsFunc(asked, route.MatchString) {
			t.Errorf("no method of the client asks for the route %s of hub/api/doc.go", route)
		}
	}
}

// routes are the routes hub/api/doc.go lists, each a pattern of
// "METHOD /path" ({id} any one segment), alternatives joined.
func routes(t *testing.T) []*regexp.Regexp {
	t.Helper()
	doc, err := os.ReadFile("../api/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []*regexp.Regexp
	for _, line := range strings.Split(string(doc), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "//\t"))
		if !strings.HasPrefix(line, "//\t") || len(f) < 2 || !slices.Contains([]string{"GET", "POST", "DELETE", "PUT", "PATCH"}, f[0]) {
			continue
		}
		var alts []string
		for _, p := range f[1:] {
			path, more := strings.CutSuffix(p, ",")
			path, _, _ = strings.Cut(path, "[")
			path, _, _ = strings.Cut(path, "?")
			alts = append(alts, regexp.MustCompile(`\\\{[a-z]+\\\}`).ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`))
			if !more {
				break
			}
		}
		out = append(out, regexp.MustCompile("^"+f[0]+" ("+strings.Join(alts, "|")+")$"))
	}
	if len(out) < 20 {
		t.Fatalf("hub/api/doc.go lists %d routes; the parse is wrong", len(out))
	}
	return out
}

// TestErrors: every refusal is an *Error with the method, the path, the
// status and the hub's message, and names no token or NIK.
func TestErrors(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	ctx := t.Context()
	desk := e.Token(t, "desk", auth.Requester)
	viewer := e.Token(t, "auditor", auth.Viewer)
	bogus := "kunci_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if _, err := e.Client(t, desk).Request(ctx, api.PermitRequest{ID: "P-1", Site: "demo", Door: "server-room", Guest: "Siti",
		NIK: hubtest.NIK, Organisation: "PT A", Purpose: "work", NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), CardUID: hubtest.GuestUID}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		token        string
		call         func(*client.Client) error
		method, path string
		status       int
		says         string
	}{
		{"no such permit", viewer, func(c *client.Client) error { _, err := c.Permit(ctx, "P-000099"); return err },
			"GET", "/api/permits/P-000099", http.StatusNotFound, "P-000099"},
		{"wrong role", desk, func(c *client.Client) error { _, err := c.Approve(ctx, "P-1"); return err },
			"POST", "/api/permits/P-1/approve", http.StatusForbidden, "role"},
		{"out of order", e.Admin, func(c *client.Client) error { _, err := c.Approve(ctx, "P-1"); return err },
			"POST", "/api/permits/P-1/approve", http.StatusConflict, "requested"},
		{"bad category", e.Admin, func(c *client.Client) error { _, err := c.Coordinate(ctx, "P-1", "power"); return err },
			"POST", "/api/permits/P-1/coordinate", http.StatusBadRequest, "category"},
		{"bad request", desk, func(c *client.Client) error {
			_, err := c.Request(ctx, api.PermitRequest{Site: "demo", Door: "server-room", NIK: "12AB" + hubtest.NIK, CardUID: hubtest.GuestUID})
			return err
		}, "POST", "/api/permits", http.StatusUnprocessableEntity, "guest"},
		{"unknown staff", e.Admin, func(c *client.Client) error { _, err := c.Escort(ctx, "P-1", "S-999"); return err },
			"POST", "/api/permits/P-1/escort", http.StatusConflict, "requested"},
		{"commands are the admin's", viewer, func(c *client.Client) error {
			_, err := c.Command(ctx, "demo", "server-room", wire.CmdLockdown)
			return err
		}, "POST", "/api/doors/demo/server-room/commands", http.StatusForbidden, "role"},
		{"backups are the admin's", viewer, func(c *client.Client) error { return c.Backup(ctx, io.Discard) },
			"GET", "/api/backup", http.StatusForbidden, "role"},
		{"tokens are the admin's", viewer, func(c *client.Client) error { _, err := c.Tokens(ctx); return err },
			"GET", "/api/tokens", http.StatusForbidden, "role"},
		{"unknown token", bogus, func(c *client.Client) error { _, err := c.Doors(ctx); return err },
			"GET", "/api/doors", http.StatusUnauthorized, "unknown"},
		{"no token", "", func(c *client.Client) error { _, err := c.GuestBook(ctx, workflow.Filter{}); return err },
			"GET", "/api/guestbook", http.StatusUnauthorized, "Bearer"},
		{"no token for the stream", "", func(c *client.Client) error { _, err := c.Watch(ctx); return err },
			"GET", "/api/watch", http.StatusUnauthorized, "Bearer"},
		{"no token for the CSV", "", func(c *client.Client) error { return c.GuestBookCSV(ctx, workflow.Filter{}, io.Discard) },
			"GET", "/api/guestbook", http.StatusUnauthorized, "Bearer"},
		{"unknown token id", e.Admin, func(c *client.Client) error { return c.RevokeToken(ctx, "00000000000000ff") },
			"DELETE", "/api/tokens/00000000000000ff", http.StatusNotFound, "token"},
		{"no retention", e.Admin, func(c *client.Client) error { _, err := c.Purge(ctx); return err },
			"POST", "/api/purge", http.StatusConflict, "retention"},
		{"bad filter", viewer, func(c *client.Client) error {
			_, err := c.SLA(ctx, workflow.Filter{From: time.Now(), To: time.Now().Add(-time.Hour)})
			return err
		}, "GET", "/api/sla", http.StatusBadRequest, "not after"},
		{"events need a door", viewer, func(c *client.Client) error {
			_, err := c.Events(ctx, client.EventQuery{Site: "demo"})
			return err
		}, "GET", "/api/events", http.StatusBadRequest, "door"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(e.Client(t, c.token))
			var he *client.Error
			if !errors.As(err, &he) {
				t.Fatalf("%v; want a *client.Error", err)
			}
			if he.Method != c.method || he.Path != c.path || he.StatusCode != c.status || !strings.Contains(he.Message, c.says) {
				t.Errorf("%+v; want %s %s %d saying %q", he, c.method, c.path, c.status, c.says)
			}
			if want := fmt.Sprintf("hub: %s %s: %d %s: %s", c.method, c.path, c.status, http.StatusText(c.status), he.Message); err.Error() != want {
				t.Errorf("%q; want %q", err, want)
			}
			for _, secret := range []string{c.token, hubtest.NIK, hubtest.GuestUID} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("%q shows %q", err, secret)
				}
			}
		})
	}
	if got, _ := e.WF.Get("P-1"); got.State != workflow.Requested || got.Version != 1 {
		t.Errorf("refused requests changed the permit: %+v", got)
	}
}

// TestUnreachable: a hub that is not there is ErrUnreachable, its
// address named, for every kind of call.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	c, err := client.New(addr, "kunci_secret")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"Doors":        func() error { _, err := c.Doors(ctx); return err },
		"Watch":        func() error { _, err := c.Watch(ctx); return err },
		"GuestBookCSV": func() error { return c.GuestBookCSV(ctx, workflow.Filter{}, io.Discard) },
		"Metrics":      func() error { _, err := c.Metrics(ctx); return err },
	} {
		err := call()
		if !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach the hub at "+addr+": ") ||
			strings.Contains(err.Error(), "kunci_secret") {
			t.Errorf("%s: %v; want ErrUnreachable naming %s", name, err, addr)
		}
	}
	// a call the caller ends is its context's error, not the hub's absence
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Doors(cancelled); !errors.Is(err, context.Canceled) || errors.Is(err, client.ErrUnreachable) {
		t.Errorf("a cancelled call: %v; want context.Canceled", err)
	}
}

func TestNewBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://hub", "http://", "127.0.0.1:8080", "://x"} {
		if _, err := client.New(u, "t"); err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:8080") {
			t.Errorf("New(%q) = %v; want an error with an example", u, err)
		}
	}
}

// fake is a client of a server that answers every request with h.
func fake(t *testing.T, h http.HandlerFunc, opts ...client.Option) *client.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "t", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNotTheHub: a proxy's page, an answer too large, an answer of
// another shape: errors naming the call, the bounds kept.
func TestNotTheHub(t *testing.T) {
	ctx := t.Context()
	page := fake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>"+strings.Repeat("bad gateway ", 100)+"</html>")
	})
	_, err := page.Doors(ctx)
	var he *client.Error
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadGateway || !strings.HasPrefix(he.Message, "<html>bad gateway") ||
		len([]rune(he.Message)) != 201 || !strings.HasSuffix(he.Message, "…") {
		t.Errorf("a proxy's page: %v; want a 502 with its first 200 characters", err)
	}
	empty := fake(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	if _, err := empty.Doors(ctx); !errors.As(err, &he) || he.Message != "(no message)" {
		t.Errorf("a 500 without a body: %v", err)
	}
	huge := fake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("["))
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for range client.MaxAnswer >> 20 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte("]"))
	})
	if _, err := huge.Doors(ctx); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("an answer over MaxAnswer: %v; want it refused", err)
	}
	other := fake(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"doors":"all"}`) })
	if _, err := other.Doors(ctx); err == nil || !strings.Contains(err.Error(), "GET /api/doors: answer not understood") {
		t.Errorf("an answer of another shape: %v", err)
	}
	if err := other.Health(ctx); err == nil || !strings.Contains(err.Error(), "not ok") {
		t.Errorf("a health answer without ok: %v", err)
	}
	metrics := fake(t, func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "# HELP kunci_x what\n# TYPE kunci_x counter\nkunci_x 3\n\nkunci_y{door=\"a b\",site=\"c\"} 4.5 1700000000\n")
	})
	if m, err := metrics.Metrics(ctx); err != nil || !reflect.DeepEqual(m, map[string]float64{"kunci_x": 3, `kunci_y{door="a b",site="c"}`: 4.5}) {
		t.Errorf("metrics %v, %v", m, err)
	}
	garbage := fake(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "kunci_x 3\nno-value\n") })
	if _, err := garbage.Metrics(ctx); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("metrics garbage: %v; want line 2 named", err)
	}
}

// TestOnAnswer: the hook gets each answer as the hub sent it.
func TestOnAnswer(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	var raw []byte
	c := e.Client(t, e.Admin, client.OnAnswer(func(b []byte) { raw = bytes.Clone(b) }))
	if _, err := c.Doors(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, want := e.Do(t, e.Admin, "GET", "/api/doors", nil); code != http.StatusOK || !bytes.Equal(raw, want) {
		t.Errorf("OnAnswer got\n%s\nwant the hub's answer\n%s", raw, want)
	}
}

// TestTimeout: WithTimeout bounds a call whole; a stream only until its
// header: a watch outlives it.
func TestTimeout(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	c := e.Client(t, e.Admin, client.WithTimeout(time.Nanosecond))
	if _, err := c.Whoami(t.Context()); !errors.Is(err, client.ErrUnreachable) || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("a call past its timeout: %v; want ErrUnreachable, a timeout", err)
	}
	s, err := c.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Next() {
		t.Fatalf("no state line: %v", s.Err())
	}
	e.Feed(t, visit("P-000001", time.Now())[:1]...)
	for s.Next() {
		if u, err := s.Update(); err != nil || u.Kind == "event" {
			break
		}
	}
	if s.Err() != nil {
		t.Errorf("the stream ended: %v", s.Err())
	}
}

// TestWatch: the doors' state first, then the events as they are
// stored, each line as sent and decoded; the caller's end is no error.
func TestWatch(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	s, err := e.Client(t, e.Token(t, "auditor", auth.Viewer)).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() {
		t.Fatalf("no first line: %v", s.Err())
	}
	u, err := s.Update()
	if err != nil || u.Kind != "state" || u.Site != "demo" || u.Door != "server-room" || u.State == nil || u.State.Availability != "unknown" {
		t.Errorf("first update %+v, %v; want the door's state", u, err)
	}
	if !bytes.Contains(s.Raw(), []byte(`"kind":"state"`)) || bytes.HasSuffix(s.Raw(), []byte("\n")) {
		t.Errorf("raw line %q", s.Raw())
	}
	e.Feed(t, visit("P-000001", time.Now())[:2]...)
	var got []wire.EventType
	for len(got) < 2 && s.Next() {
		u, err := s.Update()
		if err != nil {
			t.Fatal(err)
		}
		if u.Kind == "event" {
			got = append(got, u.Event.Type)
		}
	}
	if !reflect.DeepEqual(got, []wire.EventType{wire.EvEscortAwaited, wire.EvGranted}) {
		t.Errorf("events %v", got)
	}
	cancel()
	for s.Next() {
	}
	if s.Err() != nil {
		t.Errorf("ended by its context: %v; want no error", s.Err())
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after the end: %v", err)
	}
}

// TestWatchClose: Close from another goroutine ends a Next that waits,
// without an error.
func TestWatchClose(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	s, err := e.Client(t, e.Admin).Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() {
		t.Fatal(s.Err())
	}
	done := make(chan bool)
	go func() {
		for s.Next() {
		}
		done <- true
	}()
	s.Close()
	<-done
	if s.Err() != nil {
		t.Errorf("closed: %v; want no error", s.Err())
	}
}

// TestWatchEnds: the link's ends, each an error: silence past WatchIdle
// (ErrIdle), the hub ending the stream; a line not understood is an
// error of that line alone.
func TestWatchEnds(t *testing.T) {
	silent := fake(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "{\"kind\":\"beat\"}\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}, client.WatchIdle(20*time.Millisecond))
	s, err := silent.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() {
		t.Fatalf("no beat: %v", s.Err())
	}
	if s.Next() || !errors.Is(s.Err(), client.ErrIdle) || !strings.Contains(s.Err().Error(), "20ms") {
		t.Errorf("a silent hub: %v; want ErrIdle", s.Err())
	}

	ended := fake(t, func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "not json\n\n{\"kind\":\"beat\"}\n")
	})
	if s, err = ended.Watch(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !s.Next() {
		t.Fatal(s.Err())
	}
	if _, err := s.Update(); err == nil || !strings.Contains(err.Error(), "not understood") {
		t.Errorf("a line not understood: %v", err)
	}
	if !s.Next() {
		t.Fatalf("the stream ended at a line not understood: %v", s.Err())
	}
	if u, err := s.Update(); err != nil || u.Kind != "beat" {
		t.Errorf("after it: %+v, %v", u, err)
	}
	if s.Next() || s.Err() == nil || !strings.Contains(s.Err().Error(), "the hub ended the stream") {
		t.Errorf("the hub ended the stream: %v", s.Err())
	}
}
