package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// browser is a person's browser: its own cookies, the console's origin
// on every request, as a browser sends them.
type browser struct {
	t    *testing.T
	e    *hubtest.Env
	http *http.Client
	csrf string // the last page's token
}

func newBrowser(t *testing.T, e *hubtest.Env) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := *e.Server.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, e: e, http: &c}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request as the console's pages would (Sec-Fetch-Site
// same-origin, Origin of the hub) and returns the status, headers and
// body; header adds or overrides headers ("" deletes one).
func (b *browser) do(method, path string, form url.Values, header map[string]string) (int, http.Header, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.Server.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.e.Server.URL)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if m := csrfInput.FindStringSubmatch(string(raw)); m != nil {
		b.csrf = m[1]
	}
	return resp.StatusCode, resp.Header, string(raw)
}

func (b *browser) get(path string) (int, http.Header, string) { return b.do("GET", path, nil, nil) }

// signIn signs in as login with hubtest.Password, as a person does: the
// sign-in page, then its form.
func (b *browser) signIn(login string) {
	b.t.Helper()
	b.get("/masuk")
	code, h, body := b.do("POST", "/masuk", url.Values{"csrf": {b.csrf}, "login": {login}, "password": {hubtest.Password}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		b.t.Fatalf("signing in as %s: %d to %q; want 303 to /\n%s", login, code, h.Get("Location"), body)
	}
	b.get("/") // the dashboard, for its CSRF token
}

func TestSignInAndOut(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "sari", "Sari Dewi", auth.Approver)
	b := newBrowser(t, e)

	code, h, _ := b.get("/")
	if code != http.StatusSeeOther || h.Get("Location") != "/masuk" {
		t.Fatalf("the dashboard without a session: %d to %q; want 303 to /masuk", code, h.Get("Location"))
	}
	code, h, body := b.get("/masuk")
	if code != 200 || !strings.Contains(body, "Kata sandi") || b.csrf == "" {
		t.Fatalf("sign-in page: %d, csrf %q\n%s", code, b.csrf, body)
	}
	ck := cookieOf(t, h, "kunci_masuk")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure {
		t.Errorf("sign-in cookie %+v; want HttpOnly, SameSite=Strict, not Secure without TLS", ck)
	}
	code, h, _ = b.do("POST", "/masuk", url.Values{"csrf": {b.csrf}, "login": {" Sari "}, "password": {hubtest.Password}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("sign-in: %d to %q; want 303 to /", code, h.Get("Location"))
	}
	ck = cookieOf(t, h, "kunci_sesi")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != int(auth.SessionLifetime.Seconds()) {
		t.Errorf("session cookie %+v; want HttpOnly, SameSite=Strict, for the session's lifetime", ck)
	}
	code, _, body = b.get("/")
	if code != 200 || !strings.Contains(body, "Masuk sebagai Sari Dewi") || !strings.Contains(body, "Beranda") {
		t.Fatalf("dashboard after sign-in: %d\n%s", code, body)
	}
	code, h, _ = b.do("POST", "/keluar", url.Values{"csrf": {b.csrf}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/masuk" {
		t.Fatalf("sign-out: %d to %q; want 303 to /masuk", code, h.Get("Location"))
	}
	if code, h, _ = b.get("/"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/masuk") {
		t.Errorf("the dashboard after signing out: %d to %q; want the sign-in", code, h.Get("Location"))
	}
}

func cookieOf(t *testing.T, h http.Header, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s in %v", name, h.Values("Set-Cookie"))
	return nil
}

// TestSignInRefused: each way a sign-in fails, its status and its message
// in the page's language.
func TestSignInRefused(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "sari", "Sari Dewi", auth.Approver)
	e.User(t, "budi", "Budi Santoso", auth.Requester)
	if _, err := e.Users.Disable("budi"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, login, pw string
		header          map[string]string
		badToken        bool
		code            int
		says            string
	}{
		{"wrong password", "sari", "salah-salah-salah", nil, false, 401, "Nama pengguna atau kata sandi salah."},
		{"unknown login", "nobody", hubtest.Password, nil, false, 401, "Nama pengguna atau kata sandi salah."},
		{"disabled", "budi", hubtest.Password, nil, false, 403, "Akun ini dinonaktifkan."},
		{"in English", "sari", "wrong-wrong-wrong", map[string]string{"Accept-Language": "en-GB,en;q=0.9"}, false, 401, "Wrong login or password."},
		{"cross-site", "sari", hubtest.Password, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false, 403, "berasal dari situs lain"},
		{"no fetch metadata, other origin", "sari", hubtest.Password, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}, false, 403, "berasal dari situs lain"},
		{"forged token", "sari", hubtest.Password, nil, true, 403, "berasal dari situs lain"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t, e)
			b.do("GET", "/masuk", nil, c.header)
			tok := b.csrf
			if c.badToken {
				tok = strings.Repeat("A", len(tok))
			}
			code, h, body := b.do("POST", "/masuk", url.Values{"csrf": {tok}, "login": {c.login}, "password": {c.pw}}, c.header)
			if code != c.code || !strings.Contains(body, c.says) {
				t.Errorf("%d; want %d saying %q\n%s", code, c.code, c.says, body)
			}
			if strings.Contains(h.Get("Set-Cookie"), "kunci_sesi=") && !strings.Contains(h.Get("Set-Cookie"), "kunci_sesi=;") {
				t.Errorf("a refused sign-in set a session cookie: %v", h.Values("Set-Cookie"))
			}
			if strings.Contains(body, c.pw) && c.pw != "" {
				t.Error("the page shows the password back")
			}
		})
	}
}

// TestActionsNeedCSRF: a POST of a signed-in browser without the
// session's token, with another session's, or from another site is
// refused and changes nothing.
func TestActionsNeedCSRF(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "sari", "Sari Dewi", auth.Approver)
	e.User(t, "dewi", "Dewi Lestari", auth.Viewer)
	b, other := newBrowser(t, e), newBrowser(t, e)
	b.signIn("sari")
	other.signIn("dewi")
	for _, c := range []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"another session's token", url.Values{"csrf": {other.csrf}}, nil},
		{"cross-site with the token", url.Values{"csrf": {b.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site (other port) with the token", url.Values{"csrf": {b.csrf}}, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"no origin at all", url.Values{"csrf": {b.csrf}}, map[string]string{"Sec-Fetch-Site": "", "Origin": ""}},
	} {
		code, _, body := b.do("POST", "/keluar", c.form, c.header)
		if code != http.StatusForbidden || !strings.Contains(body, "Permintaan ditolak") {
			t.Errorf("%s: %d; want 403\n%s", c.name, code, body)
		}
	}
	if code, _, _ := b.get("/"); code != 200 {
		t.Errorf("after the refused sign-outs the session is gone: %d", code)
	}
	// htmx sends the token in a header
	if code, _, _ := b.do("POST", "/keluar", url.Values{}, map[string]string{"X-CSRF-Token": b.csrf, "HX-Request": "true"}); code != http.StatusSeeOther {
		t.Errorf("sign-out with the token in X-CSRF-Token: %d; want 303", code)
	}
}

// TestSecurityHeaders: every answer carries the CSP and its company,
// pages are not cached, and the vendored scripts are served from the hub.
func TestSecurityHeaders(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "sari", "Sari Dewi", auth.Approver)
	b := newBrowser(t, e)
	check := func(path string, wantCode int) (http.Header, string) {
		code, h, body := b.get(path)
		if code != wantCode {
			t.Errorf("GET %s: %d; want %d", path, code, wantCode)
		}
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows something unsafe", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, h)
		}
		return h, body
	}
	if h, _ := check("/masuk", 200); h.Get("Cache-Control") != "no-store" {
		t.Errorf("the sign-in page may be cached: %q", h.Get("Cache-Control"))
	}
	check("/tidak-ada", 404)
	_, js := check("/static/vendor/htmx.org@2.0.11/htmx.min.js", 200)
	if !strings.Contains(js, "htmx") {
		t.Error("htmx is not served")
	}
	check("/static/vendor/htmx-ext-sse@2.2.4/sse.min.js", 200)
	check("/static/console.css", 200)
	b.signIn("sari")
	_, page := check("/", 200)
	for _, bad := range []string{"<script>", "style=", "onclick", "javascript:"} {
		if strings.Contains(page, bad) {
			t.Errorf("the dashboard has inline %q, which the CSP would block", bad)
		}
	}
}

// TestHTMXWithoutSession: an htmx request or a stream without a session
// is told to sign in, not given the sign-in page in place of a fragment.
func TestHTMXWithoutSession(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	b := newBrowser(t, e)
	code, h, _ := b.do("GET", "/", nil, map[string]string{"HX-Request": "true"})
	if code != http.StatusUnauthorized || h.Get("HX-Redirect") != "/masuk" {
		t.Errorf("htmx without a session: %d, HX-Redirect %q; want 401 to /masuk", code, h.Get("HX-Redirect"))
	}
	code, _, _ = b.do("GET", "/beranda/aliran", nil, map[string]string{"Accept": "text/event-stream"})
	if code != http.StatusUnauthorized {
		t.Errorf("the stream without a session: %d; want 401", code)
	}
}

func TestSignInRedirectsOnlyWithinConsole(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "sari", "Sari Dewi", auth.Approver)
	for _, c := range []struct{ next, want string }{
		{"/buku-tamu?pintu=a", "/buku-tamu?pintu=a"},
		{"https://evil.example/", "/"},
		{"//evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"", "/"},
	} {
		b := newBrowser(t, e)
		b.get("/masuk?lanjut=" + url.QueryEscape(c.next))
		_, h, _ := b.do("POST", "/masuk", url.Values{"csrf": {b.csrf}, "login": {"sari"}, "password": {hubtest.Password}, "lanjut": {c.next}}, nil)
		if got := h.Get("Location"); got != c.want {
			t.Errorf("sign-in with lanjut=%q goes to %q; want %q", c.next, got, c.want)
		}
	}
}

// stream reads the dashboard's Server-Sent Events.
type stream struct {
	events chan sseEvent
	cancel func()
}

type sseEvent struct{ name, data string }

func (b *browser) stream() *stream {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", b.e.Server.URL+"/beranda/aliran", nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.t.Fatalf("stream: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{events: make(chan sseEvent, 100), cancel: cancel}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		for ev := range hubtest.SSEEvents(resp.Body) {
			s.events <- sseEvent{ev.Name, ev.Data}
		}
	}()
	b.t.Cleanup(cancel)
	return s
}

// next returns the next event named name, skipping others.
func (s *stream) next(t *testing.T, name string) (sseEvent, bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.name == name || strings.HasPrefix(ev.name, name) {
				return ev, true
			}
		case <-timeout:
			t.Fatalf("no %q event within 10 s", name)
		}
	}
}

// TestDashboardLive: the stream sends the grid at once, then a door's
// card when its status changes; a guest's name is text, never markup.
func TestDashboardLive(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "sari", "Sari Dewi", auth.Viewer)
	b := newBrowser(t, e)
	b.signIn("sari")
	s := b.stream()
	if ev, _ := s.next(t, "grid"); !strings.Contains(ev.data, "demo/server-room") || !strings.Contains(ev.data, "Belum melapor") ||
		!strings.Contains(ev.data, `sse-swap="pintu-64656d6f2f7365727665722d726f6f6d"`) {
		t.Errorf("the first grid:\n%s", ev.data)
	}
	e.Status(t, wire.Status{Door: wire.Closed, Lock: wire.Unlocked, Mode: wire.ModeNormal,
		Racks:     map[string]string{"R1": wire.Open, "R2": wire.Closed},
		Occupancy: []wire.Occupant{{Staff: "S-001", Since: time.Now()}},
		Alarms:    []wire.Alarm{wire.RackTamperedAlarm("R1")}})
	ev, _ := s.next(t, "pintu-")
	for _, want := range []string{"Tidak terkunci", "Tertutup", "R1: terbuka", "R2: terkunci", "Pegawai S-001, sendiri", "Rak R1 dibuka tanpa izin"} {
		if !strings.Contains(ev.data, want) {
			t.Errorf("the door's card lacks %q:\n%s", want, ev.data)
		}
	}
	e.Status(t, wire.Status{Door: wire.Closed, Lock: wire.Locked, Mode: wire.ModeNormal,
		Occupancy: []wire.Occupant{{Staff: `<script>alert(1)</script>`, Since: time.Now()}, {Staff: `"><img src=x onerror=alert(1)>`}}})
	ev, _ = s.next(t, "pintu-")
	if strings.Contains(ev.data, "<script>") || strings.Contains(ev.data, "<img") {
		t.Errorf("a name is markup on the dashboard:\n%s", ev.data)
	}
	if !strings.Contains(ev.data, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the name is not shown as text:\n%s", ev.data)
	}
}

// TestDisableCutsStream: disabling a user ends their open stream at once
// (the page is told) and refuses their next request.
func TestDisableCutsStream(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "budi", "Budi Santoso", auth.Viewer)
	b := newBrowser(t, e)
	b.signIn("budi")
	s := b.stream()
	s.next(t, "grid")
	if _, err := e.Users.Disable("budi"); err != nil {
		t.Fatal(err)
	}
	if ev, ok := s.next(t, "ended"); !ok || !strings.Contains(ev.data, "Sesi Anda telah berakhir") {
		t.Errorf("the stream after Disable: %q, %v; want the ended notice", ev.data, ok)
	}
	if _, ok := <-s.events; ok {
		t.Error("the stream goes on after the session ended")
	}
	if code, h, _ := b.get("/"); code != http.StatusSeeOther || h.Get("Location") != "/masuk?berakhir=1" {
		t.Errorf("the next request: %d to %q; want 303 to /masuk?berakhir=1", code, h.Get("Location"))
	}
}

func TestSignInWithCode(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "admin", "Admin TIK", auth.Admin)
	code, err := e.Users.SignInCode("admin")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	if c, h, _ := b.get("/masuk/kode/" + code); c != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("the code: %d to %q", c, h.Get("Location"))
	}
	if c, _, body := b.get("/"); c != 200 || !strings.Contains(body, "Admin TIK") {
		t.Errorf("after the code: %d", c)
	}
	other := newBrowser(t, e)
	if c, _, body := other.get("/masuk/kode/" + code); c != http.StatusUnauthorized || !strings.Contains(body, "sudah dipakai") {
		t.Errorf("the code again: %d", c)
	}
}

// TestSwitchLanguage: a person switches the console's language for
// themselves, stays signed in and comes back to the page they were on.
func TestSwitchLanguage(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "dewi", "Dewi Lestari", auth.Viewer)
	b := newBrowser(t, e)
	b.signIn("dewi")
	if _, _, body := b.get("/buku-tamu"); !strings.Contains(body, `name="lanjut" value="/buku-tamu"`) || !strings.Contains(body, ">English</button>") {
		t.Fatalf("the page offers no switch to English:\n%s", body)
	}
	code, h, _ := b.do("POST", "/bahasa", url.Values{"csrf": {b.csrf}, "lang": {"en"}, "lanjut": {"/buku-tamu"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/buku-tamu" {
		t.Fatalf("switching: %d to %q", code, h.Get("Location"))
	}
	if _, _, body := b.get("/buku-tamu"); !strings.Contains(body, "Guest book") || !strings.Contains(body, "Signed in as Dewi Lestari") {
		t.Errorf("after switching, the guest book is not in English")
	}
	if code, _, _ := b.do("POST", "/bahasa", url.Values{"csrf": {b.csrf}, "lang": {"fr"}}, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("an unknown language: %d", code)
	}
	if code, _, _ := b.do("POST", "/bahasa", url.Values{"lang": {"id"}}, nil); code != http.StatusForbidden {
		t.Errorf("a switch without the CSRF token: %d", code)
	}
}

// TestStreamsCapped: a dashboard beyond the hub's max_watchers is told,
// in the user's language, to try again (503 and Retry-After), and the
// stream opens once a place is free.
func TestStreamsCapped(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{MaxWatchers: 1})
	e.User(t, "sari", "Sari Dewi", auth.Approver)
	b := newBrowser(t, e)
	b.signIn("sari")
	first := b.stream()
	b.http.Timeout = 10 * time.Second // a hub without the cap answers a stream: fail, not hang
	code, h, page := b.do("GET", "/beranda/aliran", nil, map[string]string{"Accept": "text/event-stream"})
	b.http.Timeout = 0
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(page, "Terlalu banyak tampilan langsung terbuka") {
		t.Errorf("a second stream = %d, Retry-After %q, %.200q; want 503 saying why in Bahasa Indonesia", code, h.Get("Retry-After"), page)
	}
	first.cancel()
	for range first.events { // until the first stream has ended
	}
	waitfor.Until(t, 10*time.Second, "the first stream's place free", func() bool {
		return strings.Contains(string(e.Hub.Metrics().Text()), "kunci_hub_watchers 0\n")
	})
	b.stream()
}
