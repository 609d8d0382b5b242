package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/hub/auth"
)

var newToken = regexp.MustCompile(`<code>(kunci_[0-9a-f]{16}_[A-Za-z0-9_-]{43})</code>`)

func TestUsersPage(t *testing.T) {
	s := newSOP(t)
	a := s.admin
	a.get("/pengguna")
	code, _, body := a.do("POST", "/pengguna", url.Values{"csrf": {a.csrf}, "login": {"tono"}, "name": {"Tono Baru"},
		"role": {"viewer", "bogus"}, "lang": {"en"}, "password": {"kata-sandi-tono"}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("adding a user: %d\n%s", code, body)
	}
	_, _, body = a.get("/pengguna")
	if !strings.Contains(body, "Tono Baru") || !strings.Contains(body, "Auditor (membaca)") || strings.Contains(body, "kata-sandi-tono") || strings.Contains(body, "argon2") {
		t.Errorf("the users' list:\n%s", body)
	}
	tono := newBrowser(t, s.e)
	tono.get("/masuk")
	tono.do("POST", "/masuk", url.Values{"csrf": {tono.csrf}, "login": {"tono"}, "password": {"kata-sandi-tono"}}, nil)
	if _, _, body := tono.get("/"); !strings.Contains(body, "Signed in as Tono Baru") {
		t.Errorf("a user who chose English gets:\n%s", body)
	}
	// the admin disables tono: his session ends at once
	a.get("/pengguna/tono")
	if code, _, body := a.do("POST", "/pengguna/tono", url.Values{"csrf": {a.csrf}, "name": {"Tono Baru"}, "role": {"viewer"}, "lang": {"en"}, "disabled": {"1"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("disabling: %d\n%s", code, body)
	}
	if code, _, _ := tono.get("/"); code != http.StatusSeeOther {
		t.Errorf("a disabled user's next request: %d; want the sign-in", code)
	}
	a.get("/pengguna")
	if code, _, body := a.do("POST", "/pengguna", url.Values{"csrf": {a.csrf}, "login": {"tono"}, "name": {"Lain"}, "role": {"viewer"}, "password": {"kata-sandi-lain"}}, nil); code != http.StatusUnprocessableEntity || !strings.Contains(body, "taken") {
		t.Errorf("a taken login: %d", code)
	}
	// a token, shown once, then revoked
	a.get("/pengguna")
	code, _, body = a.do("POST", "/token", url.Values{"csrf": {a.csrf}, "name": {"Skrip Cadangan"}, "role": {"viewer"}, "days": {"30"}}, nil)
	m := newToken.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("issuing a token: %d\n%s", code, body)
	}
	p, err := s.e.Tokens.Verify(m[1])
	if err != nil || p.Name != "Skrip Cadangan" || !p.Has(auth.Viewer) {
		t.Fatalf("the issued token: %+v, %v", p, err)
	}
	if _, _, again := a.get("/pengguna"); strings.Contains(again, m[1]) {
		t.Error("the token's secret is shown again")
	}
	id := m[1][len("kunci_") : len("kunci_")+16]
	if code, _, _ := a.do("POST", "/token/"+id+"/cabut", url.Values{"csrf": {a.csrf}}, nil); code != http.StatusSeeOther {
		t.Errorf("revoking: %d", code)
	}
	if _, err := s.e.Tokens.Verify(m[1]); err == nil {
		t.Error("the revoked token still holds")
	}
	for _, b := range []*browser{s.desk, s.head, s.aud} {
		if code, _, _ := b.get("/pengguna"); code != http.StatusForbidden {
			t.Errorf("a non-admin opens the users' page: %d", code)
		}
		b.get("/")
		if code, _, _ := b.do("POST", "/token", url.Values{"csrf": {b.csrf}, "name": {"x"}, "role": {"admin"}}, nil); code != http.StatusForbidden {
			t.Errorf("a non-admin issues a token: %d", code)
		}
	}
}
