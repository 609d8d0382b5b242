package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
)

// sop is the office: one person per SOP role, each in their own browser,
// and an escort on the staff register.
type sop struct {
	e                         *hubtest.Env
	desk, netadmin, head, aud *browser
	admin                     *browser
}

func newSOP(t *testing.T) *sop {
	e := hubtest.New(t, hubtest.Options{})
	e.User(t, "meja", "Rina Meja", auth.Requester)
	e.User(t, "jaringan", "Andi Jaringan", auth.Coordinator)
	e.User(t, "kasi", "Sari Kasi", auth.Approver)
	e.User(t, "auditor", "Dewi Auditor", auth.Viewer)
	e.User(t, "admin", "Admin TIK", auth.Admin)
	uid := "04a1b2c3d4e5f6"
	fp, err := e.WF.Fingerprint(hubtest.Site, uid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Hub.PutStaff(workflow.StaffMember{ID: "S-004", Name: "Budi Pendamping", Site: hubtest.Site,
		Cards: []permit.Fingerprint{fp}, Escort: true}, "admin"); err != nil {
		t.Fatal(err)
	}
	s := &sop{e: e}
	for _, b := range []struct {
		b     **browser
		login string
	}{{&s.desk, "meja"}, {&s.netadmin, "jaringan"}, {&s.head, "kasi"}, {&s.aud, "auditor"}, {&s.admin, "admin"}} {
		*b.b = newBrowser(t, e)
		(*b.b).signIn(b.login)
	}
	return s
}

func requestForm(csrf string) url.Values {
	from := time.Now().In(jakarta).Add(time.Hour).Format("2006-01-02T15:04")
	until := time.Now().In(jakarta).Add(3 * time.Hour).Format("2006-01-02T15:04")
	return url.Values{"csrf": {csrf}, "door": {hubtest.Site + "/" + hubtest.Door}, "guest": {"Joko Widodo"},
		"nik": {"3201234567890123"}, "organisation": {"PT Jaringan Nusantara"}, "phone": {"081234567890"},
		"purpose": {"Ganti switch inti"}, "equipment": {"laptop, switch"}, "from": {from}, "until": {until},
		"card_uid": {"04:11:22:33:44:55:66"}}
}

var jakarta = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		return time.FixedZone("WIB", 7*3600)
	}
	return loc
}()

var permitLink = regexp.MustCompile(`^/permohonan/(P-\d+)$`)

// file has the desk file the request and returns its id.
func (s *sop) file(t *testing.T, form url.Values) string {
	t.Helper()
	s.desk.get("/permohonan/baru")
	form.Set("csrf", s.desk.csrf)
	code, h, body := s.desk.do("POST", "/permohonan", form, nil)
	m := permitLink.FindStringSubmatch(h.Get("Location"))
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("filing: %d to %q\n%s", code, h.Get("Location"), body)
	}
	return m[1]
}

// step posts a step's form on the permit's page as b and returns the
// status and the page it leads to.
func step(t *testing.T, b *browser, id, action string, form url.Values) (int, string) {
	t.Helper()
	b.get("/permohonan/" + id)
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", b.csrf)
	code, h, body := b.do("POST", "/permohonan/"+id+"/"+action, form, nil)
	if code == http.StatusSeeOther {
		_, _, body = b.get(h.Get("Location"))
	}
	return code, body
}

// TestSOPThroughConsole: steps 1 to 4 by four people, each seeing the
// forms of their role only; the permit ends issued with its timeline.
func TestSOPThroughConsole(t *testing.T) {
	s := newSOP(t)
	_, _, body := s.desk.get("/permohonan")
	if !strings.Contains(body, `href="/permohonan/baru"`) {
		t.Error("the desk has no link to the form")
	}
	id := s.file(t, requestForm(""))
	_, _, body = s.netadmin.get("/permohonan")
	if !strings.Contains(body, "Menunggu klasifikasi") || !strings.Contains(body, id) || strings.Contains(body, `href="/permohonan/baru"`) {
		t.Errorf("the network administrator's queue:\n%s", body)
	}
	if _, _, body = s.head.get("/permohonan/" + id); strings.Contains(body, "/setujui") || strings.Contains(body, "/klasifikasi") {
		t.Error("the head sees a step before its turn")
	}
	if code, body := step(t, s.netadmin, id, "klasifikasi", url.Values{"category": {"network"}}); code != http.StatusSeeOther || !strings.Contains(body, "Diklasifikasi") {
		t.Fatalf("classifying: %d\n%s", code, body)
	}
	_, _, body = s.head.get("/permohonan")
	if !strings.Contains(body, "Menunggu persetujuan") || !strings.Contains(body, id) {
		t.Errorf("the head's queue lacks %s", id)
	}
	if code, body := step(t, s.head, id, "setujui", nil); code != http.StatusSeeOther || !strings.Contains(body, "Disetujui") || !strings.Contains(body, "Budi Pendamping (S-004)") {
		t.Fatalf("approving: %d\n%s", code, body)
	}
	code, body := step(t, s.head, id, "pendamping", url.Values{"staff": {"S-004"}})
	if code != http.StatusSeeOther || !strings.Contains(body, "Izin terbit") {
		t.Fatalf("appointing the escort: %d\n%s", code, body)
	}
	for _, want := range []string{"Langkah 1: Diajukan", "Langkah 2: Diklasifikasi", "Langkah 3: Disetujui", "Langkah 4: Pendamping ditunjuk",
		"Rina Meja", "Andi Jaringan", "Sari Kasi", "standar 5 menit", "<em>Jaringan</em>", "/cabut"} {
		if !strings.Contains(body, want) {
			t.Errorf("the issued permit's page lacks %q", want)
		}
	}
	rec, err := s.e.WF.Get(id)
	if err != nil || rec.State != workflow.Issued || rec.Requester != "Rina Meja" || rec.Approver != "Sari Kasi" || rec.Escort != "S-004" {
		t.Errorf("the stored permit: %+v, %v; want issued, by the people signed in", rec, err)
	}
	if code, body := step(t, s.head, id, "cabut", url.Values{"reason": {""}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "Tuliskan alasannya") {
		t.Errorf("revoking without a reason: %d", code)
	}
	if code, body := step(t, s.head, id, "cabut", url.Values{"reason": {"Pekerjaan dibatalkan"}}); code != http.StatusSeeOther || !strings.Contains(body, "Dicabut") || !strings.Contains(body, "Pekerjaan dibatalkan") {
		t.Errorf("revoking: %d\n%s", code, body)
	}
}

// TestStepsRefusedWhenForced: a role that may not take a step gets 403
// and nothing changes; the hub's own rules (no approval by the requester)
// hold through the console too.
func TestStepsRefusedWhenForced(t *testing.T) {
	s := newSOP(t)
	id := s.file(t, requestForm(""))
	for _, c := range []struct {
		who    *browser
		action string
		form   url.Values
	}{
		{s.desk, "klasifikasi", url.Values{"category": {"server"}}},
		{s.aud, "klasifikasi", url.Values{"category": {"server"}}},
		{s.head, "klasifikasi", url.Values{"category": {"server"}}},
		{s.netadmin, "setujui", nil},
		{s.aud, "tolak", url.Values{"reason": {"x"}}},
		{s.desk, "cabut", url.Values{"reason": {"x"}}},
	} {
		if code, _ := step(t, c.who, id, c.action, c.form); code != http.StatusForbidden {
			t.Errorf("%s by a role that may not: %d; want 403", c.action, code)
		}
	}
	if code, _, _ := s.aud.get("/permohonan/baru"); code != http.StatusForbidden {
		t.Errorf("the form for an auditor: %d; want 403", code)
	}
	if rec, _ := s.e.WF.Get(id); rec.State != workflow.Requested {
		t.Errorf("after the refused steps the permit is %s", rec.State)
	}
	// an approver who filed the request may not approve it
	s.e.User(t, "both", "Tono Dua Peran", auth.Requester, auth.Approver)
	both := newBrowser(t, s.e)
	both.signIn("both")
	both.get("/permohonan/baru")
	f := requestForm(both.csrf)
	_, h, _ := both.do("POST", "/permohonan", f, nil)
	own := permitLink.FindStringSubmatch(h.Get("Location"))[1]
	step(t, s.netadmin, own, "klasifikasi", url.Values{"category": {"server"}})
	if _, _, body := both.get("/permohonan/" + own); strings.Contains(body, "/setujui") {
		t.Error("the requester is offered to approve their own request")
	}
	if code, body := step(t, both, own, "setujui", nil); code != http.StatusForbidden || !strings.Contains(body, "tidak boleh disetujui oleh pengajunya") {
		t.Errorf("approving one's own request: %d", code)
	}
}

// TestRequestFormErrors: every field's error at once, the values typed
// kept but the card's UID never shown back.
func TestRequestFormErrors(t *testing.T) {
	s := newSOP(t)
	s.desk.get("/permohonan/baru")
	f := url.Values{"csrf": {s.desk.csrf}, "guest": {""}, "nik": {"12345"}, "organisation": {"PT Contoh"}, "phone": {"08-abc"},
		"purpose": {""}, "from": {"2026-12-03T10:00"}, "until": {"2026-12-03T09:00"}, "entries": {"-1"}, "card_uid": {"04zz99"}, "door": {"other/door"}}
	code, _, body := s.desk.do("POST", "/permohonan", f, nil)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a bad form: %d; want 422", code)
	}
	for _, want := range []string{"Pilih pintu.", "Wajib diisi.", "NIK harus 16 angka.", "Nomor telepon hanya angka", "Waktu selesai harus setelah",
		"Jumlah masuk 0 sampai 100.", "Tempelkan kartu pada pembaca", `value="PT Contoh"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the form shown again lacks %q", want)
		}
	}
	if strings.Contains(body, "04zz99") {
		t.Error("the card's UID is shown back")
	}
	if n := strings.Count(body, `aria-invalid="true"`); n != 8 {
		t.Errorf("%d fields marked invalid; want 8", n)
	}
	if list, _ := s.e.WF.List(); len(list) != 0 {
		t.Errorf("a bad form stored %d permits", len(list))
	}
}

// TestPermitPrivacy: the NIK and phone in clear for an admin only, the
// guest's name to the roles that handle requests only; no page shows the
// card's UID; a guest's name is text, never markup.
func TestPermitPrivacy(t *testing.T) {
	s := newSOP(t)
	f := requestForm("")
	f.Set("guest", `<script>alert(1)</script>"><img src=x onerror=alert(1)>`)
	id := s.file(t, f)
	for _, b := range []*browser{s.desk, s.netadmin, s.head, s.aud} {
		for _, path := range []string{"/permohonan", "/permohonan/" + id} {
			_, _, body := b.get(path)
			if strings.Contains(body, "3201234567890123") || strings.Contains(body, "081234567890") {
				t.Errorf("%s shows the NIK or phone in clear to a non-admin", path)
			}
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
				t.Errorf("%s renders the guest's name as markup", path)
			}
			switch {
			case b == s.aud && strings.Contains(body, "alert(1)"):
				t.Errorf("%s shows the guest's name to the auditor, who sees names in the guest book only", path)
			case b != s.aud && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;"):
				t.Errorf("%s does not show the guest's name as text", path)
			}
		}
	}
	_, _, body := s.admin.get("/permohonan/" + id)
	if !strings.Contains(body, "3201234567890123") || !strings.Contains(body, "081234567890") {
		t.Error("the admin does not see the NIK and phone")
	}
	for _, b := range []*browser{s.desk, s.admin} {
		_, _, body := b.get("/permohonan/" + id)
		if strings.Contains(strings.ToLower(body), "04112233445566") {
			t.Error("a page shows the card's UID")
		}
	}
}

// TestEveryPageEveryRole: each page answers each role as the roles say:
// 200 where it may read, 403 where it may not; none fails.
func TestEveryPageEveryRole(t *testing.T) {
	s := newSOP(t)
	id := s.file(t, requestForm(""))
	pages := []struct {
		path  string
		admin bool // admins only
		desk  bool // the desk only (and admins)
	}{
		{"/", false, false}, {"/permohonan", false, false}, {"/permohonan/" + id, false, false},
		{"/permohonan/baru", false, true}, {"/buku-tamu", false, false}, {"/buku-tamu/cetak", false, false},
		{"/buku-tamu.csv", false, false}, {"/waktu-layanan", false, false}, {doorPath, false, false}, {"/alarm", false, false},
		{"/pegawai", true, false}, {"/pegawai/baru", true, false}, {"/pegawai/S-004", true, false},
		{"/pengguna", true, false}, {"/pengguna/meja", true, false},
	}
	people := map[string]*browser{"desk": s.desk, "netadmin": s.netadmin, "head": s.head, "auditor": s.aud, "admin": s.admin}
	for who, b := range people {
		for _, pg := range pages {
			want := http.StatusOK
			if (pg.admin && who != "admin") || (pg.desk && who != "desk" && who != "admin") {
				want = http.StatusForbidden
			}
			if code, _, body := b.get(pg.path); code != want {
				t.Errorf("%s GET %s: %d; want %d\n%.300s", who, pg.path, code, want, body)
			}
		}
	}
	for _, path := range []string{"/permohonan/P-999999", "/pegawai/S-999", "/pengguna/nobody", "/pintu/x/y", "/tidak-ada"} {
		if code, _, body := s.admin.get(path); code != http.StatusNotFound || !strings.Contains(body, "Halaman tidak ditemukan") {
			t.Errorf("GET %s: %d; want 404 with its page", path, code)
		}
	}
}

// TestRequestFormRefusesHostileText: the form takes the workflow's rule
// and limits (permit.CheckText, permit's table) and says so in the
// reader's language; a purpose may have lines, typed as a textarea sends
// them (CRLF).
func TestRequestFormRefusesHostileText(t *testing.T) {
	s := newSOP(t)
	s.desk.get("/permohonan/baru")
	for _, c := range []struct{ field, value, says string }{
		{"guest", "Rina\u001b[2J\u001b]0;pwn\u0007", "karakter kontrol"},
		{"guest", "Rina\u202eanaS", "karakter kontrol"},
		{"organisation", "Org\nP-9999,fake row", "karakter kontrol"},
		{"guest", strings.Repeat("A", 101), "paling banyak 100 karakter"},
		{"purpose", strings.Repeat("p", 501), "paling banyak 500 karakter"},
	} {
		f := requestForm(s.desk.csrf)
		f.Set(c.field, c.value)
		code, _, body := s.desk.do("POST", "/permohonan", f, nil)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, c.says) {
			t.Errorf("%s %.20q: %d; want 422 saying %q", c.field, c.value, code, c.says)
		}
	}
	if list, _ := s.e.WF.List(); len(list) != 0 {
		t.Errorf("refused forms stored %d permits", len(list))
	}
	f := requestForm(s.desk.csrf)
	f.Set("purpose", "Ganti PSU\r\nCek kipas")
	s.file(t, f)
	if list, _ := s.e.WF.List(); len(list) != 1 || list[0].Purpose != "Ganti PSU\nCek kipas" {
		t.Errorf("a purpose of two lines: %+v", list)
	}
}
