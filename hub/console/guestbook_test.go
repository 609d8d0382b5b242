package console_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/hubtest"
)

// issue takes a request through steps 2 to 4 as the office's people.
func (s *sop) issue(t *testing.T, form url.Values) string {
	t.Helper()
	id := s.file(t, form)
	for _, st := range []struct {
		b      *browser
		action string
		form   url.Values
	}{
		{s.netadmin, "klasifikasi", url.Values{"category": {"server"}}},
		{s.head, "setujui", nil},
		{s.head, "pendamping", url.Values{"staff": {"S-004"}}},
	} {
		if code, body := step(t, st.b, id, st.action, st.form); code != http.StatusSeeOther {
			t.Fatalf("%s of %s: %d\n%s", st.action, id, code, body)
		}
	}
	return id
}

// withVisits issues n permits, one guest each (the odd ones from "Dinas
// Kominfo"), and feeds one visit of each, an hour apart from start.
func withVisits(t *testing.T, n int, start time.Time) (*sop, []string) {
	s := newSOP(t)
	var ids []string
	for i := range n {
		f := requestForm("")
		f.Set("guest", fmt.Sprintf("Tamu %02d", i))
		if i%2 == 1 {
			f.Set("organisation", "Dinas Kominfo")
		}
		id := s.issue(t, f)
		ids = append(ids, id)
		s.e.Feed(t, hubtest.Visit(id, start.Add(time.Duration(i)*time.Hour), uint64(i*14+1))...)
	}
	return s, ids
}

func TestGuestBookPages(t *testing.T) {
	start := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC) // 08.00 WIB
	s, ids := withVisits(t, 3, start)
	_, _, body := s.aud.get("/buku-tamu")
	for _, want := range []string{"3 kunjungan", "Tamu 00", "Tamu 02", "Budi Pendamping", "2 Nov 2026", "08.02", "08.05", "Halaman 1 dari 1",
		`href="/permohonan/` + ids[2] + `"`, "3201**********23"} {
		if !strings.Contains(body, want) {
			t.Errorf("the guest book lacks %q", want)
		}
	}
	if strings.Index(body, "Tamu 02") > strings.Index(body, "Tamu 00") {
		t.Error("the guest book is not newest first")
	}
	if strings.Contains(body, "3201234567890123") {
		t.Error("the auditor sees a NIK in clear")
	}
	if _, _, body := s.admin.get("/buku-tamu"); !strings.Contains(body, "3201234567890123") {
		t.Error("the admin does not see the NIK")
	}
	for _, c := range []struct {
		query string
		want  []string
		not   []string
	}{
		{"?instansi=kominfo", []string{"1 kunjungan", "Tamu 01"}, []string{"Tamu 00", "Tamu 02"}},
		{"?izin=" + ids[0], []string{"1 kunjungan", "Tamu 00"}, []string{"Tamu 01"}},
		{"?dari=2026-11-02&sampai=2026-11-02", []string{"3 kunjungan"}, nil},
		{"?dari=2026-11-03", []string{"0 kunjungan", "Tidak ada kunjungan"}, []string{"Tamu 00"}},
		{"?pintu=" + url.QueryEscape(hubtest.Site+"/"+hubtest.Door), []string{"3 kunjungan"}, nil},
	} {
		_, _, body := s.aud.get("/buku-tamu" + c.query)
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: lacks %q", c.query, w)
			}
		}
		for _, w := range c.not {
			if strings.Contains(body, w) {
				t.Errorf("%s: shows %q", c.query, w)
			}
		}
	}
	for _, q := range []string{"?dari=kemarin", "?dari=2026-11-05&sampai=2026-11-01", "?pintu=nowhere"} {
		if code, _, _ := s.aud.get("/buku-tamu" + q); code != http.StatusBadRequest {
			t.Errorf("%s: %d; want 400", q, code)
		}
	}
}

func TestGuestBookPaging(t *testing.T) {
	s := newSOP(t)
	id := s.issue(t, requestForm(""))
	start := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)
	for i := range 120 { // 120 visits of one permit: three pages of 50
		s.e.Feed(t, hubtest.Visit(id, start.Add(time.Duration(i)*10*time.Minute), uint64(i*14+1))...)
	}
	_, _, body := s.aud.get("/buku-tamu")
	if !strings.Contains(body, "120 kunjungan") || !strings.Contains(body, "Halaman 1 dari 3") || !strings.Contains(body, "<td>120</td>") ||
		strings.Contains(body, "<td>70</td>") || !strings.Contains(body, `rel="next"`) || strings.Contains(body, `rel="prev"`) {
		t.Errorf("page 1 of 120 visits:\n%s", body)
	}
	_, _, body = s.aud.get("/buku-tamu?hal=3")
	if !strings.Contains(body, "Halaman 3 dari 3") || !strings.Contains(body, "<td>1</td>") || !strings.Contains(body, "<td>20</td>") ||
		strings.Contains(body, "<td>21</td>") || strings.Contains(body, `rel="next"`) {
		t.Errorf("page 3:\n%s", body)
	}
}

func TestGuestBookCSVAndPrint(t *testing.T) {
	start := time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC)
	s, _ := withVisits(t, 2, start)
	code, h, body := s.aud.get("/buku-tamu.csv?instansi=kominfo")
	if code != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(h.Get("Content-Disposition"), "buku-tamu.csv") {
		t.Fatalf("CSV: %d %v", code, h)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 2 || recs[1][1] != "Tamu 01" || strings.Contains(body, "3201234567890123") {
		t.Errorf("CSV: %v, %v", recs, err)
	}
	code, _, body = s.aud.get("/buku-tamu/cetak")
	for _, want := range []string{"Buku Tamu Ruang Server", "Paraf Masuk", "Paraf Keluar", `class="sign"`, "Kasi Infrastruktur TIK", "data-print", "Tamu 00", "Tamu 01"} {
		if !strings.Contains(body, want) {
			t.Errorf("the print view lacks %q", want)
		}
	}
	if code != 200 || strings.Index(body, "Tamu 00") > strings.Index(body, "Tamu 01") {
		t.Errorf("the print view: %d, or not in order of entry as the paper book", code)
	}
	if strings.Contains(body, `aria-label="Menu"`) {
		t.Error("the print view has the menu")
	}
}
