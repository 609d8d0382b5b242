package auth_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/internal/metrics"
)

const pw = "kunci-rahasia-1"

func newUsers(tb testing.TB) (*auth.Users, *metrics.Registry, string) {
	tb.Helper()
	db, path := openDB(tb)
	reg := metrics.NewRegistry()
	users, err := auth.NewUsers(db, reg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return users, reg, path
}

func addUser(tb testing.TB, users *auth.Users, login, name string, roles ...auth.Role) auth.User {
	tb.Helper()
	u, err := users.Add(auth.NewUser{Login: login, Name: name, Roles: roles, Password: pw})
	if err != nil {
		tb.Fatalf("Add(%s): %v", login, err)
	}
	return u
}

func signIn(tb testing.TB, users *auth.Users, login string) (string, auth.Session) {
	tb.Helper()
	secret, s, err := users.SignIn(login, pw, "192.0.2.1")
	if err != nil {
		tb.Fatalf("SignIn(%s): %v", login, err)
	}
	return secret, s
}

func ended(s auth.Session) bool {
	select {
	case <-s.Ended:
		return true
	default:
		return false
	}
}

func TestUserSignInAndVerify(t *testing.T) {
	users, reg, _ := newUsers(t)
	u := addUser(t, users, "sari", "Sari Dewi", auth.Viewer, auth.Approver, auth.Viewer)
	if !slices.Equal(u.Roles, []auth.Role{auth.Approver, auth.Viewer}) || u.Lang != "id" || u.Created.IsZero() {
		t.Errorf("Add: %+v; want roles [approver viewer], lang id, a creation time", u)
	}
	secret, s := signIn(t, users, "sari")
	if len(secret) != 43 || s.ID == "" || len(s.CSRF) != 43 || ended(s) {
		t.Errorf("SignIn: secret of %d characters, session %+v; want 43, an id, a CSRF token, not ended", len(secret), s)
	}
	p, s2, err := users.Verify(secret)
	if err != nil || p.Name != "Sari Dewi" || p.User != "sari" || p.Lang != "id" || p.SessionID != s.ID ||
		!p.Has(auth.Approver) || p.Has(auth.Admin) || p.TokenID != "" {
		t.Errorf("Verify = %+v, %v; want Sari Dewi (sari), approver, session %s", p, err, s.ID)
	}
	if s2.ID != s.ID || s2.CSRF != s.CSRF || s2.Ended != s.Ended {
		t.Errorf("Verify's session %+v; want the one SignIn started, %+v", s2, s)
	}
	if !s.CSRFMatches(s.CSRF) || s.CSRFMatches("") || s.CSRFMatches(s.CSRF[1:]) || s.CSRFMatches(secret) {
		t.Error("CSRFMatches: want true for the session's token only")
	}
	for _, c := range []struct{ login, pw string }{
		{"sari", "kunci-rahasia-2"}, {"sari", ""}, {"nobody", pw}, {"SARI", pw}, {"", ""}, {"sari", strings.Repeat("x", 10000)},
	} {
		if _, _, err := users.SignIn(c.login, c.pw, fmt.Sprint("192.0.2.", len(c.login))); !errors.Is(err, auth.ErrSignIn) {
			t.Errorf("SignIn(%q, %.12q) = %v; want ErrSignIn", c.login, c.pw, err)
		}
	}
	for _, bad := range []string{"", "x", secret[1:], secret + "x", s.ID, s.CSRF} {
		if _, _, err := users.Verify(bad); !errors.Is(err, auth.ErrUnknown) {
			t.Errorf("Verify(%.8q…) = %v; want ErrUnknown", bad, err)
		}
	}
	text := string(reg.Text())
	for _, want := range []string{`kunci_hub_signins_total{result="ok"} 1`, `kunci_hub_signins_total{result="refused"} 6`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}

func TestUserAddInvalid(t *testing.T) {
	users, _, _ := newUsers(t)
	addUser(t, users, "sari", "Sari Dewi", auth.Viewer)
	for _, c := range []struct {
		n    auth.NewUser
		want []string // each in the error
	}{
		{auth.NewUser{Login: "Sari", Name: "X", Roles: []auth.Role{auth.Viewer}, Password: pw}, []string{"lowercase"}},
		{auth.NewUser{Login: "sari", Name: "Other", Roles: []auth.Role{auth.Viewer}, Password: pw}, []string{"taken"}},
		{auth.NewUser{Login: "dewi", Name: "Sari Dewi", Roles: []auth.Role{auth.Viewer}, Password: pw}, []string{"already has the name"}},
		{auth.NewUser{Login: "", Name: "", Password: "short"}, []string{"no login", "no name", "no role", "shorter than 10"}},
		{auth.NewUser{Login: strings.Repeat("a", 33), Name: "A", Roles: []auth.Role{"root"}, Lang: "fr", Password: pw},
			[]string{"at most 32", `unknown role "root"`, `language "fr"`}},
		{auth.NewUser{Login: "ab", Name: "A B", Roles: []auth.Role{auth.Viewer}, Password: strings.Repeat("é", 200)}, []string{"longer than 256"}},
	} {
		_, err := users.Add(c.n)
		if err == nil {
			t.Errorf("Add(%+v) = nil; want an error", c.n)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Add(%q): %v; want it to say %q", c.n.Login, err, w)
			}
		}
	}
	if list, err := users.List(); err != nil || len(list) != 1 {
		t.Errorf("List = %d users, %v; want the one added", len(list), err)
	}
}

// TestDisableEndsSessions: a disabled user is refused on the very next
// request, and their live streams see the session end.
func TestDisableEndsSessions(t *testing.T) {
	users, reg, _ := newUsers(t)
	addUser(t, users, "budi", "Budi Santoso", auth.Requester)
	addUser(t, users, "sari", "Sari Dewi", auth.Approver)
	phone, s1 := signIn(t, users, "budi")
	desk, s2 := signIn(t, users, "budi")
	other, s3 := signIn(t, users, "sari")
	if _, err := users.Disable("budi"); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{phone, desk} {
		if _, _, err := users.Verify(secret); !errors.Is(err, auth.ErrUnknown) {
			t.Errorf("Verify after Disable = %v; want ErrUnknown", err)
		}
	}
	if !ended(s1) || !ended(s2) || ended(s3) {
		t.Errorf("ended after disabling budi: %v %v (budi's), %v (sari's); want true true false", ended(s1), ended(s2), ended(s3))
	}
	if _, _, err := users.Verify(other); err != nil {
		t.Errorf("sari's session after disabling budi: %v", err)
	}
	if _, _, err := users.SignIn("budi", pw, "192.0.2.1"); !errors.Is(err, auth.ErrDisabled) {
		t.Errorf("SignIn of a disabled user = %v; want ErrDisabled", err)
	}
	if !strings.Contains(string(reg.Text()), `kunci_hub_signins_total{result="disabled"} 1`) {
		t.Errorf("the disabled sign-in is not counted:\n%s", reg.Text())
	}
	if _, err := users.Disable("nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("Disable(nobody) = %v; want ErrNotFound", err)
	}
}

// TestChangeEndsSessions: new roles hold from the next sign-in, the old
// sessions end, and a new password replaces the old one.
func TestChangeEndsSessions(t *testing.T) {
	users, _, _ := newUsers(t)
	addUser(t, users, "budi", "Budi Santoso", auth.Requester)
	secret, s := signIn(t, users, "budi")
	u, err := users.Change(auth.NewUser{Login: "budi", Name: "Budi S.", Roles: []auth.Role{auth.Coordinator}, Lang: "en"})
	if err != nil || u.Name != "Budi S." || u.Lang != "en" || !slices.Equal(u.Roles, []auth.Role{auth.Coordinator}) {
		t.Fatalf("Change = %+v, %v", u, err)
	}
	if _, _, err := users.Verify(secret); !errors.Is(err, auth.ErrUnknown) || !ended(s) {
		t.Errorf("the session before Change: Verify = %v, ended %v; want ErrUnknown, true", err, ended(s))
	}
	secret, _ = signIn(t, users, "budi")
	if p, _, err := users.Verify(secret); err != nil || p.Name != "Budi S." || !p.Has(auth.Coordinator) || p.Has(auth.Requester) || p.Lang != "en" {
		t.Errorf("Verify after Change = %+v, %v; want Budi S., coordinator only, en", p, err)
	}
	if _, err := users.Change(auth.NewUser{Login: "budi", Name: "Budi S.", Roles: []auth.Role{auth.Viewer}, Password: "baru-dan-panjang"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := users.SignIn("budi", pw, "192.0.2.1"); !errors.Is(err, auth.ErrSignIn) {
		t.Errorf("the old password after a change = %v; want ErrSignIn", err)
	}
	if _, _, err := users.SignIn("budi", "baru-dan-panjang", "192.0.2.1"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

func TestSignOut(t *testing.T) {
	users, _, _ := newUsers(t)
	addUser(t, users, "budi", "Budi Santoso", auth.Requester)
	secret, s := signIn(t, users, "budi")
	for range 2 {
		if err := users.SignOut(secret); err != nil {
			t.Fatalf("SignOut: %v", err)
		}
	}
	if _, _, err := users.Verify(secret); !errors.Is(err, auth.ErrUnknown) || !ended(s) {
		t.Errorf("after SignOut: Verify = %v, ended %v; want ErrUnknown, true", err, ended(s))
	}
}

// TestSessionLifetime: a session ends after SessionIdle without a request
// and after SessionLifetime whatever happens.
func TestSessionLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, _, _ := newUsers(t)
		addUser(t, users, "budi", "Budi Santoso", auth.Requester)
		busy, _ := signIn(t, users, "budi")
		idle, _ := signIn(t, users, "budi")
		start := time.Now()
		verify := func(secret string, ok bool) {
			t.Helper()
			if _, _, err := users.Verify(secret); ok && err != nil || !ok && !errors.Is(err, auth.ErrUnknown) {
				t.Fatalf("Verify after %v = %v; want ok %v", time.Since(start), err, ok)
			}
		}
		time.Sleep(auth.SessionIdle - time.Minute)
		verify(busy, true)
		time.Sleep(2 * time.Minute)
		verify(idle, false) // unused for SessionIdle+1m
		for time.Since(start) < auth.SessionLifetime-auth.SessionIdle/2 {
			verify(busy, true)
			time.Sleep(auth.SessionIdle / 2)
		}
		time.Sleep(time.Until(start.Add(auth.SessionLifetime)))
		verify(busy, false)
	})
}

// TestSignInLimit: after PerLogin failures even the right password is
// refused, unchecked, until the window has passed; PerAddress failures
// from one address shut it out for every login.
func TestSignInLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, reg, _ := newUsers(t)
		addUser(t, users, "budi", "Budi Santoso", auth.Requester)
		for range auth.PerLogin {
			if _, _, err := users.SignIn("budi", "salah-salah-salah", "192.0.2.7"); !errors.Is(err, auth.ErrSignIn) {
				t.Fatalf("a wrong password = %v; want ErrSignIn", err)
			}
		}
		if _, _, err := users.SignIn("budi", pw, "198.51.100.1"); !errors.Is(err, auth.ErrLimited) {
			t.Errorf("the right password after %d failures = %v; want ErrLimited", auth.PerLogin, err)
		}
		time.Sleep(auth.LimitWindow)
		signIn(t, users, "budi")
		if !strings.Contains(string(reg.Text()), `kunci_hub_signins_total{result="limited"} 1`) {
			t.Errorf("the limited sign-in is not counted:\n%s", reg.Text())
		}
	})
}

func TestLimiterByAddress(t *testing.T) {
	l := auth.NewLimiter(nil)
	for i := range auth.PerAddress {
		l.Failed(fmt.Sprint("user", i), "203.0.113.9")
	}
	if l.Allowed("someone-else", "203.0.113.9") {
		t.Errorf("after %d failures from one address, another login from it is allowed", auth.PerAddress)
	}
	if !l.Allowed("someone-else", "203.0.113.10") {
		t.Error("another address is refused")
	}
	l.Failed("budi", "a")
	l.Succeeded("budi")
	if !l.Allowed("budi", "b") {
		t.Error("a login is still counted after its sign-in succeeded")
	}
}

// TestLimiterBounded: a flood of logins from many addresses does not grow
// the limiter without bound, and the flood's newest keys are still held.
func TestLimiterBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := auth.NewLimiter(nil)
		for i := range 50_000 {
			l.Failed(fmt.Sprint("u", i), fmt.Sprint("a", i))
			if i%1000 == 0 {
				time.Sleep(time.Second)
			}
		}
		if n := l.Len(); n > 4096 {
			t.Errorf("the limiter holds %d keys after a flood; want at most 4096", n)
		}
		for range auth.PerLogin - 1 {
			l.Failed("u49999", "x")
		}
		if l.Allowed("u49999", "y") {
			t.Error("the flood's newest login lost its count")
		}
	})
}

// TestNoSecretsOnDisk: the store holds neither a password nor a session's
// secret, only their hashes.
func TestNoSecretsOnDisk(t *testing.T) {
	users, _, path := newUsers(t)
	addUser(t, users, "budi", "Budi Santoso", auth.Requester)
	secret, _ := signIn(t, users, "budi")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{pw, secret} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the store holds %.6q… in clear", s)
		}
	}
	if !bytes.Contains(raw, []byte("$argon2id$v=19$m=19456,t=2,p=1$")) {
		t.Error("the store holds no argon2id hash")
	}
}

// TestSignInCode: a one-time code signs its user in once, before it
// expires, and never a disabled user.
func TestSignInCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users, _, _ := newUsers(t)
		addUser(t, users, "admin", "Admin TIK", auth.Admin)
		c, err := users.SignInCode("admin")
		if err != nil {
			t.Fatal(err)
		}
		secret, _, err := users.RedeemCode(c, "192.0.2.1")
		if err != nil {
			t.Fatalf("RedeemCode: %v", err)
		}
		if p, _, err := users.Verify(secret); err != nil || p.User != "admin" {
			t.Errorf("the code's session: %+v, %v", p, err)
		}
		if _, _, err := users.RedeemCode(c, "192.0.2.1"); !errors.Is(err, auth.ErrSignIn) {
			t.Errorf("a code used twice: %v; want ErrSignIn", err)
		}
		late, _ := users.SignInCode("admin")
		time.Sleep(15 * time.Minute)
		if _, _, err := users.RedeemCode(late, "192.0.2.1"); !errors.Is(err, auth.ErrSignIn) {
			t.Errorf("an expired code: %v; want ErrSignIn", err)
		}
		off, _ := users.SignInCode("admin")
		users.Disable("admin")
		if _, _, err := users.RedeemCode(off, "192.0.2.1"); !errors.Is(err, auth.ErrDisabled) {
			t.Errorf("a disabled user's code: %v; want ErrDisabled", err)
		}
		if _, err := users.SignInCode("nobody"); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("a code for nobody: %v", err)
		}
	})
}
