package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/hubtest"
)

// TestUsers: an admin adds, lists, changes and disables console users
// through the API; the answers never hold a password or its hash; other
// roles are refused; a disabled user's session ends.
func TestUsers(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	ctx := context.Background()
	admin := e.Client(t, e.Admin)
	u, err := admin.AddUser(ctx, api.UserRequest{Login: "sari", Name: "Sari Dewi", Roles: []string{"approver"}, Password: hubtest.Password})
	if err != nil || u.Login != "sari" || u.Lang != "id" {
		t.Fatalf("AddUser = %+v, %v", u, err)
	}
	secret, _, err := e.Users.SignIn("sari", hubtest.Password, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req  api.UserRequest
		code int
		says string
	}{
		{api.UserRequest{Login: "sari", Name: "Other", Roles: []string{"viewer"}, Password: hubtest.Password}, 409, "taken"},
		{api.UserRequest{Login: "budi", Name: "Budi", Roles: []string{"root"}, Password: hubtest.Password}, 422, "role"},
		{api.UserRequest{Login: "budi", Name: "Budi", Roles: []string{"viewer"}, Password: "short"}, 422, "shorter than 10"},
	} {
		_, err := admin.AddUser(ctx, c.req)
		var he *client.Error
		if !errors.As(err, &he) || he.StatusCode != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("AddUser(%+v) = %v; want %d saying %q", c.req, err, c.code, c.says)
		}
	}
	code, raw := e.Do(t, e.Admin, "GET", "/api/users", nil)
	if code != 200 || !strings.Contains(string(raw), `"login": "sari"`) || strings.Contains(string(raw), "argon2") ||
		strings.Contains(string(raw), hubtest.Password) {
		t.Errorf("GET /api/users: %d\n%s", code, raw)
	}
	viewer := e.Client(t, e.Token(t, "Viewer Desk", auth.Viewer))
	if _, err := viewer.Users(ctx); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("a viewer lists users: %v; want 403", err)
	}
	if _, err := admin.ChangeUser(ctx, api.UserRequest{Login: "sari", Name: "Sari Dewi", Roles: []string{"approver"}, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Users.Verify(secret); err == nil {
		t.Error("a disabled user's session still holds")
	}
	if code, _ := e.Do(t, e.Admin, "POST", "/api/users/sari", api.UserRequest{Login: "dewi", Name: "X", Roles: []string{"viewer"}}); code != http.StatusUnprocessableEntity {
		t.Errorf("a change whose body names another login: %d; want 422", code)
	}
	if _, err := admin.ChangeUser(ctx, api.UserRequest{Login: "nobody", Name: "X", Roles: []string{"viewer"}}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("changing an unknown user: %v; want 404", err)
	}
}
