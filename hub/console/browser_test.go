package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/browsertest"
	"github.com/kunci-project/kunci/wire"
)

// signInTab signs login in through the sign-in page, as a person does.
func signInTab(t *testing.T, tab *browsertest.Tab, base, login string) {
	t.Helper()
	tab.Do(
		chromedp.Navigate(base+"/masuk"),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), hubtest.Password),
		chromedp.Click(chromedp.CSS(".signin button")),
		chromedp.WaitVisible(chromedp.CSS("header .who")),
	)
}

// TestBrowserHostileNames: a guest named as markup shows as text on every
// page, and no script of it runs (the CSP would stop it too).
func TestBrowserHostileNames(t *testing.T) {
	br := browsertest.New(t)
	s := newSOP(t)
	base := s.e.Server.URL
	var ids []string
	for _, name := range []string{`<script>window.pwned=1</script>`, `"><img src=x onerror="window.pwned=2">`} {
		f := requestForm("")
		f.Set("guest", name)
		ids = append(ids, s.file(t, f))
	}
	tab := br.Tab(browsertest.Desk)
	signInTab(t, tab, base, "admin")
	for _, path := range []string{"/permohonan", "/permohonan/" + ids[0], "/permohonan/" + ids[1]} {
		tab.Do(chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		pwned := browsertest.Get(tab, chromedp.Evaluate[any]("window.pwned"))
		imgs := browsertest.Get(tab, chromedp.Evaluate[float64](`document.querySelectorAll('main img').length`))
		text := tab.Text("main")
		if pwned != nil || imgs != 0 {
			t.Errorf("%s: a guest's name ran as markup (window.pwned %v, %v img)", path, pwned, imgs)
		}
		if path == "/permohonan" && (!strings.Contains(text, "<script>window.pwned=1</script>") || !strings.Contains(text, `"><img src=x`)) {
			t.Errorf("%s: the names are not shown as text:\n%s", path, text)
		}
	}
}

// TestBrowserCrossSitePost: a page of another origin that posts a form to
// the console, with the person signed in there, is refused.
func TestBrowserCrossSitePost(t *testing.T) {
	br := browsertest.New(t)
	s := newSOP(t)
	base := s.e.Server.URL
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id=f method=post action="%s/token"><input name=name value=evil><input name=role value=admin><input name=csrf value=guess></form>
<script>document.getElementById('f').submit()</script>`, base)
	}))
	defer evil.Close()
	tab := br.Tab(browsertest.Desk)
	signInTab(t, tab, base, "admin")
	tab.Do(chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.CSS("main")))
	if text := tab.Text("main"); !strings.Contains(text, "Permintaan ditolak") {
		t.Errorf("the cross-site post was not refused:\n%s", text)
	}
	infos, err := s.e.Tokens.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range infos {
		if i.Name == "evil" {
			t.Fatal("a cross-site post issued a token")
		}
	}
	tab.Do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("header .who")))
}

// TestBrowserRolesAndForcedActions: the buttons of other roles are absent,
// and a step forced from the page (fetch with the session's token) is
// refused.
func TestBrowserRolesAndForcedActions(t *testing.T) {
	br := browsertest.New(t)
	s := newSOP(t)
	base := s.e.Server.URL
	id := s.file(t, requestForm(""))
	tab := br.Tab(browsertest.Phone)
	signInTab(t, tab, base, "kasi")
	tab.Do(chromedp.Navigate(base+"/permohonan/"+id), chromedp.WaitVisible(chromedp.CSS("main h1")))
	forms := browsertest.Get(tab, chromedp.Evaluate[float64](`document.querySelectorAll('form.step').length`))
	if forms != 0 {
		t.Errorf("the head sees %v step forms on a request not yet classified; want none", forms)
	}
	status := browsertest.Get(tab, chromedp.Evaluate[float64](`(async () => {
		const h = JSON.parse(document.body.getAttribute('hx-headers'));
		const r = await fetch('/permohonan/`+id+`/klasifikasi', {method: 'POST', headers: h, body: new URLSearchParams({category: 'server'})});
		return r.status; })()`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Errorf("a forced classify by the head: %v; want 403", status)
	}
	if rec, _ := s.e.WF.Get(id); rec.State != workflow.Requested {
		t.Errorf("after the forced step the permit is %s", rec.State)
	}
	if n := browsertest.Get(tab, chromedp.Evaluate[float64](`document.querySelectorAll('a[href="/pegawai"], a[href="/pengguna"]').length`)); n != 0 {
		t.Error("the head's menu links the admin pages")
	}
}

// TestBrowserLiveAndCutOff: the dashboard changes without a reload when
// the door's status does, and the moment the user is disabled it says the
// session ended.
func TestBrowserLiveAndCutOff(t *testing.T) {
	br := browsertest.New(t)
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "budi", "Budi Santoso", auth.Viewer)
	tab := br.Tab(browsertest.Desk)
	signInTab(t, tab, e.Server.URL, "budi")
	tab.Do(chromedp.WaitVisible(chromedp.CSS(".door")))
	browsertest.Get(tab, chromedp.Evaluate[any](`window.loaded = performance.timeOrigin`))
	e.Status(t, wire.Status{Door: wire.Open, Lock: wire.Unlocked, Mode: wire.ModeNormal})
	tab.Until(`document.querySelector('.door').textContent.includes('Tidak terkunci')`)
	if reloaded := browsertest.Get(tab, chromedp.Evaluate[bool](`window.loaded !== performance.timeOrigin`)); reloaded {
		t.Error("the page reloaded to show the change")
	}
	if _, err := e.Users.Disable("budi"); err != nil {
		t.Fatal(err)
	}
	tab.Until(`document.getElementById('ended').textContent.includes('Sesi Anda telah berakhir')`)
	tab.Do(chromedp.Navigate(e.Server.URL+"/"), chromedp.WaitVisible(chromedp.CSS(".signin")))
}

// TestBrowserScreenshots renders the main pages on a desk's screen and a
// phone's, and writes them under docs/ when KUNCI_SCREENSHOTS=1 (the
// README shows them).
func TestBrowserScreenshots(t *testing.T) {
	br := browsertest.New(t)
	start := time.Now().Add(-3 * time.Hour)
	s, ids := withVisits(t, 3, start)
	s.e.Status(t, wire.Status{Door: wire.Closed, Lock: wire.Locked, Mode: wire.ModeNormal, Secured: true,
		Racks: map[string]string{"R1": wire.Closed, "R2": wire.Closed}})
	base := s.e.Server.URL
	desk := br.Tab(browsertest.Desk)
	signInTab(t, desk, base, "admin")
	phone := br.Tab(browsertest.Phone)
	signInTab(t, phone, base, "kasi")
	pending := s.file(t, requestForm(""))
	step(t, s.netadmin, pending, "klasifikasi", map[string][]string{"category": {"network"}})
	dir := filepath.Join("..", "..", "docs", "screenshots")
	for _, c := range []struct {
		tab  *browsertest.Tab
		path string
		file string
	}{
		{desk, "/", "beranda.png"},
		{desk, "/permohonan/" + ids[0], "permohonan.png"},
		{desk, "/buku-tamu", "buku-tamu.png"},
		{desk, "/waktu-layanan", "waktu-layanan.png"},
		{phone, "/permohonan/" + pending, "persetujuan-ponsel.png"},
		{phone, "/", ""}, {phone, "/permohonan", ""}, {phone, "/buku-tamu", ""}, {phone, "/waktu-layanan", ""},
		{phone, "/pintu/demo/server-room", ""},
	} {
		c.tab.Do(chromedp.Navigate(base+c.path), chromedp.WaitVisible(chromedp.CSS("main h1")))
		width := browsertest.Get(c.tab, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
		inner := browsertest.Get(c.tab, chromedp.Evaluate[float64](`window.innerWidth`))
		if c.tab == phone && width > inner+1 {
			t.Errorf("%s is %v px wide on a phone of %v px: it scrolls sideways", c.path, width, inner)
		}
		if c.file != "" && os.Getenv("KUNCI_SCREENSHOTS") == "1" {
			c.tab.Screenshot(filepath.Join(dir, c.file))
		}
	}
}

// TestBrowserAcknowledgeAlarm: a forced door shows as the badge and the
// banner; the admin follows the banner, acknowledges with a note, and
// both go; the record has who and the note.
func TestBrowserAcknowledgeAlarm(t *testing.T) {
	br := browsertest.New(t)
	s := newSOP(t)
	base := s.e.Server.URL
	id := forced(t, s, "")
	tab := br.Tab(browsertest.Desk)
	signInTab(t, tab, base, "admin")
	if got := tab.Text("header nav .badge"); got != "1" {
		t.Fatalf("the badge: %q; want 1", got)
	}
	tab.Do(
		chromedp.Click(chromedp.CSS(".banner a")),
		chromedp.WaitVisible(chromedp.CSS("form.ack textarea")),
		chromedp.SendKeys(chromedp.CSS("form.ack textarea"), "Dicek satpam, pintu ditutup"),
		chromedp.Click(chromedp.CSS("form.ack button")),
		chromedp.WaitVisible(chromedp.CSS("main p.empty")),
	)
	if n := browsertest.Get(tab, chromedp.Evaluate[float64](`document.querySelectorAll('header .badge, .banner').length`)); n != 0 {
		t.Errorf("the badge or banner stays after the acknowledgement (%v)", n)
	}
	a, err := s.e.Hub.Alarms().Get(id)
	if err != nil || a.Acked == nil || a.Acked.By != "Admin TIK" || a.Acked.Note != "Dicek satpam, pintu ditutup" {
		t.Fatalf("the record: %+v, %v", a.Acked, err)
	}
}

// TestBrowserLiveAlarmBadge: on the dashboard, an alarm opened brings the
// badge and the banner without a reload, a second one counts 2, and the
// acknowledgements take them away again.
func TestBrowserLiveAlarmBadge(t *testing.T) {
	br := browsertest.New(t)
	s := newSOP(t)
	tab := br.Tab(browsertest.Desk)
	signInTab(t, tab, s.e.Server.URL, "admin")
	tab.Do(chromedp.WaitVisible(chromedp.CSS(".door")))
	if n := browsertest.Get(tab, chromedp.Evaluate[float64](`document.querySelectorAll('header .badge, .banner').length`)); n != 0 {
		t.Fatalf("a badge or banner without an alarm (%v)", n)
	}
	browsertest.Get(tab, chromedp.Evaluate[any](`window.loaded = performance.timeOrigin`))
	first := forced(t, s, "")
	tab.Until(`document.querySelector('header nav .badge')?.textContent === '1' && ` +
		`document.querySelector('.banner a')?.textContent.includes('Ada 1 alarm')`)
	// another door's alarm, one not on the page's grid
	if err := s.e.Hub.Alarms().Event(wire.Event{Type: wire.EvHeldOpen, Site: hubtest.Site, Door: "lab",
		At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tab.Until(`document.querySelector('header nav .badge')?.textContent === '2'`)
	list, _, err := s.e.Hub.Alarms().List(alarm.Filter{}, "", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("the alarms: %v, %v", list, err)
	}
	for _, a := range list {
		if _, err := s.e.Hub.AckAlarm(a.ID, "Admin TIK", "Dicek"); err != nil {
			t.Fatal(err)
		}
	}
	tab.Until(`document.querySelectorAll('header .badge, .banner').length === 0`)
	if reloaded := browsertest.Get(tab, chromedp.Evaluate[bool](`window.loaded !== performance.timeOrigin`)); reloaded {
		t.Errorf("the page reloaded to show the alarms (the first %s)", first)
	}
}
