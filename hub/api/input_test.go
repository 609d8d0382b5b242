package api_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// call is one request of the input tests and what the hub must answer.
type call struct {
	name, token, method, path string
	body                      any
	code                      int
	says                      string // the answer names it (the field, the door)
}

// refuseAll runs each call and checks its answer, and that no permit,
// staff member or token changed.
func refuseAll(t *testing.T, e *hubtest.Env, calls []call) {
	t.Helper()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before, _ := e.WF.List()
			staff, _ := e.WF.ListStaff()
			tokens, _ := e.Tokens.List()
			code, body := e.Do(t, c.token, c.method, c.path, c.body)
			if code != c.code || !strings.Contains(string(body), c.says) {
				t.Errorf("%d %.300s; want %d naming %q", code, body, c.code, c.says)
			}
			if strings.ContainsAny(string(body), "\u001b\u0007\u202e\u009b") {
				t.Errorf("the answer repeats the hostile characters: %q", body)
			}
			after, _ := e.WF.List()
			staffAfter, _ := e.WF.ListStaff()
			tokensAfter, _ := e.Tokens.List()
			if len(after) != len(before) || (len(after) > 0 && after[0].Version != before[0].Version) ||
				len(staffAfter) != len(staff) || len(tokensAfter) != len(tokens) {
				t.Error("a refused request changed the store")
			}
		})
	}
}

// commandsSent counts the commands the hub published.
func commandsSent(e *hubtest.Env) int {
	n := 0
	for _, m := range e.Pub.Sent() {
		if strings.HasSuffix(m.Topic, "/cmd") {
			n++
		}
	}
	return n
}

// The review's names (issue 13) are refused at every write path with a
// 400 naming the field: a permit's fields, a staff member's, a user's and
// a token's names, and the reasons of reject, revoke and a door command.
func TestHostileTextRefused(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	ctx := t.Context()
	pending := request(t, e, p.Desk)
	issued := issue(t, e, p)
	good := permitRequest(time.Now())
	with := func(f func(*api.PermitRequest)) api.PermitRequest { r := good; f(&r); return r }
	refuseAll(t, e, []call{
		{"screen clear in guest", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Guest = "Rina\u001b[2J\u001b]0;pwn\u0007" }), 400, "guest"},
		{"fake row in organisation", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Organisation = "Org\nP-9999,fake row" }), 400, "organisation"},
		{"U+202E in guest", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Guest = "Rina\u202eanaS" }), 400, "guest"},
		{"CR in purpose", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Purpose = "fix\rfake" }), 400, "purpose"},
		{"C1 CSI in equipment", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Equipment = []string{"cable\u009b2J"} }), 400, "equipment[0]"},
		{"BEL in phone", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Phone = "0812\u0007" }), 400, "phone"},
		{"ESC in staff name", e.Admin, "POST", "/api/staff", api.StaffRequest{ID: "S-009", Name: "Budi\u001b[2J", Site: "demo",
			CardUIDs: []string{"0A0B0C0D"}, Escort: true}, 400, "name"},
		{"U+202E in token name", e.Admin, "POST", "/api/tokens", api.TokenRequest{Name: "budi\u202e", Roles: []string{"viewer"}}, 400, "name"},
		{"ESC in user name", e.Admin, "POST", "/api/users", api.UserRequest{Login: "budi", Name: "Budi\u001b]0;pwn\u0007",
			Roles: []string{"viewer"}, Password: hubtest.Password}, 400, "name"},
		{"ESC in reject reason", p.Coord, "POST", "/api/permits/" + pending.ID + "/reject", api.ReasonRequest{Reason: "no\u001b[2J"}, 400, "reason"},
		{"U+202E in revoke reason", p.Head, "POST", "/api/permits/" + issued.ID + "/revoke", api.ReasonRequest{Reason: "done\u202e"}, 400, "reason"},
		{"ESC in command reason", e.Admin, "POST", "/api/doors/demo/server-room/commands",
			api.CommandRequest{Command: wire.CmdLockdown, Reason: "drill\u001b[2J"}, 400, "reason"},
	})
	if n := commandsSent(e); n != 0 {
		t.Errorf("%d commands published; want none", n)
	}
	// a purpose and a reason may have several lines
	r := good
	r.Purpose = "replace the PSU\ncheck the fans"
	must(e.Client(t, p.Desk).Request(ctx, r))(t)
	must(e.Client(t, p.Coord).Reject(ctx, pending.ID, "no form\nask again"))(t)
}

func TestSizeAndPolicyLimits(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	request(t, e, p.Desk) // so that the store has a record to compare
	good := permitRequest(time.Now())
	with := func(f func(*api.PermitRequest)) api.PermitRequest { r := good; f(&r); return r }
	refuseAll(t, e, []call{
		{"900 KB guest name", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Guest = strings.Repeat("A", 900_000) }), 400, "guest"},
		{"long organisation", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Organisation = strings.Repeat("o", 201) }), 400, "organisation"},
		{"long purpose", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Purpose = strings.Repeat("p", 501) }), 400, "purpose"},
		{"long phone", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Phone = strings.Repeat("1", 21) }), 400, "phone"},
		{"long reason", p.Coord, "POST", "/api/permits/P-000001/reject", api.ReasonRequest{Reason: strings.Repeat("r", 501)}, 400, "reason"},
		{"long staff name", e.Admin, "POST", "/api/staff", api.StaffRequest{ID: "S-009", Name: strings.Repeat("B", 101), Site: "demo",
			CardUIDs: []string{"0A0B0C0D"}}, 400, "name"},
		{"until 9999-12-31", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) {
			r.NotAfter = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
		}), 422, "max_permit_window"},
		{"31 days", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.NotAfter = r.NotBefore.Add(31 * 24 * time.Hour) }), 422, "max_permit_window"},
		{"a million entries", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Entries = 1_000_000 }), 422, "entries"},
		{"permit for an unknown door", p.Desk, "POST", "/api/permits", with(func(r *api.PermitRequest) { r.Door = "nowhere" }), 422, "demo/nowhere"},
		{"command to an unknown door", e.Admin, "POST", "/api/doors/demo/nowhere/commands", api.CommandRequest{Command: wire.CmdUnlockOnce}, 404, "demo/nowhere"},
		{"command to an unknown site", e.Admin, "POST", "/api/doors/elsewhere/server-room/commands", api.CommandRequest{Command: wire.CmdLockdown}, 404, "elsewhere/server-room"},
	})
	if n := commandsSent(e); n != 0 {
		t.Errorf("%d commands published; want none", n)
	}
	// the limits themselves are accepted
	r := good
	r.Guest, r.NotAfter, r.Entries = strings.Repeat("A", 100), r.NotBefore.Add(30*24*time.Hour), 100
	must(e.Client(t, p.Desk).Request(t.Context(), r))(t)
}

// oldToken stores a token as a hub made before actors had one spelling
// (issue 13), so that a store may hold "dual" and "Dual" both.
func oldToken(t *testing.T, e *hubtest.Env, n int, name string, roles ...auth.Role) string {
	t.Helper()
	id, secret := fmt.Sprintf("%016x", 0xd0a1_0000+n), strings.Repeat(string(rune('A'+n)), 43)
	sum := sha256.Sum256([]byte(secret))
	rec, err := json.Marshal(map[string]any{"id": id, "name": name, "roles": roles, "created": time.Now().UTC(), "sha256": sum[:]})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WF.KV().Update(func(tx kv.Tx) error { return tx.Bucket([]byte("tokens")).Put([]byte(id), rec) }); err != nil {
		t.Fatal(err)
	}
	return "kunci_" + id + "_" + secret
}

// The review's "Dual approved a request filed by dual": refused as
// self-approval (403), and a hub no longer issues the second spelling.
func TestSelfApprovalUnderAnotherCase(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	dual := oldToken(t, e, 1, "dual", auth.Requester)
	for i, spelling := range []string{"Dual", "DUAL"} {
		head := oldToken(t, e, 2+i, spelling, auth.Approver)
		rec := request(t, e, dual)
		must(e.Client(t, p.Coord).Coordinate(t.Context(), rec.ID, permit.Server))(t)
		if code, body := e.Do(t, head, "POST", "/api/permits/"+rec.ID+"/approve", nil); code != http.StatusForbidden {
			t.Errorf("%s approving what dual filed: %d %s; want 403", spelling, code, body)
		}
		if got := must(e.Client(t, p.Head).Permit(t.Context(), rec.ID))(t); got.State != "coordinated" || got.Approver != "" {
			t.Errorf("after the refusal the permit is %s, approver %q; want coordinated, none", got.State, got.Approver)
		}
	}
	code, body := e.Do(t, e.Admin, "POST", "/api/tokens", api.TokenRequest{Name: "dUAL", Roles: []string{"approver"}})
	if code != http.StatusConflict || !strings.Contains(string(body), "spell") {
		t.Errorf("issuing dUAL beside dual: %d %s; want 409 naming the spelling", code, body)
	}
}

// The phone is masked as the NIK is, for every role but admin; the
// guest's name is shown to the roles that handle the request and masked
// for a viewer (who reads names in the guest book).
func TestPhoneAndNameByRole(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	rec := request(t, e, p.Desk)
	for _, c := range []struct {
		who, token, guest, phone string
	}{
		{"desk", p.Desk, "Siti Rahma", "********11"},
		{"coordinator", p.Coord, "Siti Rahma", "********11"},
		{"approver", p.Head, "Siti Rahma", "********11"},
		{"viewer", p.Viewer, "S*** R****", "********11"},
		{"admin", e.Admin, "Siti Rahma", "0812000111"},
	} {
		for _, path := range []string{"/api/permits/" + rec.ID, "/api/permits"} {
			code, body := e.Do(t, c.token, "GET", path, nil)
			if code != http.StatusOK {
				t.Fatalf("%s GET %s: %d %s", c.who, path, code, body)
			}
			if !strings.HasPrefix(string(body), "[") {
				body = append(append([]byte("["), body...), ']')
			}
			var got []api.Permit
			if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 {
				t.Fatalf("%s GET %s: %v %s", c.who, path, err, body)
			}
			if got[0].Guest != c.guest || got[0].Phone != c.phone {
				t.Errorf("%s GET %s: guest %q phone %q; want %q %q", c.who, path, got[0].Guest, got[0].Phone, c.guest, c.phone)
			}
		}
	}
}
