package auth_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/kunci-project/kunci/hub/auth"
)

func TestParseRole(t *testing.T) {
	for _, c := range []struct {
		in   string
		want auth.Role
		err  error
	}{
		{"requester", auth.Requester, nil},
		{"coordinator", auth.Coordinator, nil},
		{"approver", auth.Approver, nil},
		{"viewer", auth.Viewer, nil},
		{"admin", auth.Admin, nil},
		{" Approver ", auth.Approver, nil},
		{"ADMIN", auth.Admin, nil},
		{"", "", auth.ErrInvalid},
		{"aprover", "", auth.ErrInvalid},
		{"root", "", auth.ErrInvalid},
	} {
		got, err := auth.ParseRole(c.in)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseRoles(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []auth.Role
		err  error
	}{
		{"viewer", []auth.Role{auth.Viewer}, nil},
		{"viewer,approver", []auth.Role{auth.Approver, auth.Viewer}, nil},
		{"approver, viewer, approver", []auth.Role{auth.Approver, auth.Viewer}, nil},
		{"", nil, auth.ErrInvalid},
		{"approver,", nil, auth.ErrInvalid},
		{"approver,boss", nil, auth.ErrInvalid},
	} {
		got, err := auth.ParseRoles(c.in)
		if !slices.Equal(got, c.want) || !errors.Is(err, c.err) {
			t.Errorf("ParseRoles(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestPrincipalHas(t *testing.T) {
	all := []auth.Role{auth.Requester, auth.Coordinator, auth.Approver, auth.Viewer, auth.Admin}
	for _, c := range []struct {
		roles []auth.Role
		has   []auth.Role
		nik   bool
	}{
		{nil, nil, false},
		{[]auth.Role{auth.Requester}, []auth.Role{auth.Requester}, false},
		{[]auth.Role{auth.Approver, auth.Viewer}, []auth.Role{auth.Approver, auth.Viewer}, false},
		{[]auth.Role{auth.Coordinator}, []auth.Role{auth.Coordinator}, false},
		{[]auth.Role{auth.Admin}, all, true},
		{[]auth.Role{auth.Viewer, auth.Admin}, all, true},
	} {
		p := auth.Principal{Name: "budi", Roles: c.roles}
		for _, r := range append(all, "bogus") {
			if got, want := p.Has(r), slices.Contains(c.has, r); got != want {
				t.Errorf("Principal{Roles: %v}.Has(%q) = %v; want %v", c.roles, r, got, want)
			}
		}
		if got := p.CanSeeNIK(); got != c.nik {
			t.Errorf("Principal{Roles: %v}.CanSeeNIK() = %v; want %v", c.roles, got, c.nik)
		}
	}
}
