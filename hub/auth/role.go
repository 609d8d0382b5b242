package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is what a token may do in the hub's API.
type Role string

// Roles, in the order of the SOP.
const (
	Requester   Role = "requester"   // files permit requests (SOP step 1)
	Coordinator Role = "coordinator" // classifies them (SOP step 2)
	Approver    Role = "approver"    // approves them (SOP step 3)
	Viewer      Role = "viewer"      // reads permits, the guest book and reports
	Admin       Role = "admin"       // every role, tokens, staff, NIK in clear
)

// roles are the known roles, in their canonical order.
var roles = []Role{Requester, Coordinator, Approver, Viewer, Admin}

func (r Role) known() bool { return slices.Contains(roles, r) }

// ParseRole returns the role named s, in any case and with white space
// around it ignored.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.known() {
		return "", fmt.Errorf("%w: role %q: want one of %s", ErrInvalid, s, joinRoles(roles, ", "))
	}
	return r, nil
}

// ParseRoles returns the roles of a comma-separated list such as
// "approver,viewer", as a command-line flag gives them.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for f := range strings.SplitSeq(s, ",") {
		r, err := ParseRole(f)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return canonical(out), nil
}

// canonical returns rs without repeats, in the order of roles.
func canonical(rs []Role) []Role {
	var out []Role
	for _, r := range roles {
		if slices.Contains(rs, r) {
			out = append(out, r)
		}
	}
	return out
}

func joinRoles(rs []Role, sep string) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, sep)
}

// Principal is who made a request: the token's or the user's name (the
// actor), the roles, and the token's id or the user's login and session.
type Principal struct {
	Name      string `json:"name"`
	Roles     []Role `json:"roles"`
	TokenID   string `json:"token_id,omitempty"`
	User      string `json:"user,omitempty"` // a console user's login
	Lang      string `json:"lang,omitempty"` // their language
	SessionID string `json:"-"`
	// Expires is when the token expires (zero: never, or a session's
	// principal), for a stream that must end with it.
	Expires time.Time `json:"-"`
}

// Has reports whether p holds role r; an admin holds every role.
func (p Principal) Has(r Role) bool {
	return r.known() && (slices.Contains(p.Roles, r) || slices.Contains(p.Roles, Admin))
}

// CanSeeNIK reports whether p may see a guest's NIK in clear: only an
// admin may; everyone else sees it masked.
func (p Principal) CanSeeNIK() bool { return slices.Contains(p.Roles, Admin) }

// need returns nil if p holds one of rs (any p, if rs is empty), else
// ErrForbidden naming what is needed.
func (p Principal) need(rs []Role) error {
	if len(rs) == 0 || slices.ContainsFunc(rs, p.Has) {
		return nil
	}
	what := "the role " + string(rs[0])
	if len(rs) > 1 {
		what = "one of the roles " + joinRoles(rs, ", ")
	}
	has := "no role"
	if len(p.Roles) > 0 {
		has = joinRoles(p.Roles, ", ")
	}
	return fmt.Errorf("%w: this needs %s; %s has %s", ErrForbidden, what, p.Name, has)
}

// SeesGuestNames reports whether p sees a guest's name in full in a
// permit request: the roles that handle requests (requester,
// coordinator, approver, and admin) do; a viewer (the auditor) sees the
// names in the guest book only (hub/api's package doc has the rule).
func (p Principal) SeesGuestNames() bool {
	return p.Has(Requester) || p.Has(Coordinator) || p.Has(Approver)
}

type principalKey struct{}

// NewContext returns ctx carrying p, as Middleware does; handlers' tests
// use it to act as someone.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal that Middleware put in ctx, and
// whether there is one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
