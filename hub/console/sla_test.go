package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/workflow"
)

func TestServiceTimesPage(t *testing.T) {
	s, _ := withVisits(t, 2, time.Now().Add(-2*time.Hour))
	code, _, body := s.aud.get("/waktu-layanan")
	if code != 200 {
		t.Fatalf("service times: %d", code)
	}
	for _, want := range []string{"2 permohonan", "<svg", "1 Formulir", "8 Penguncian", "Total", "standar 22 menit",
		"Selesai dalam 22 menit, per bulan", `class="target"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the service-time page lacks %q", want)
		}
	}
	if strings.Count(body, `class="month"`) != 6 {
		t.Errorf("%d months charted; want the last 6", strings.Count(body, `class="month"`))
	}
	month := time.Now().Format("2006-01")
	_, _, one := s.aud.get("/waktu-layanan?dari=" + month + "&sampai=" + month)
	if strings.Count(one, `class="month"`) != 1 || !strings.Contains(one, "2 permohonan") {
		t.Errorf("one month: %d months, or not both requests", strings.Count(one, `class="month"`))
	}
	for _, q := range []string{"?dari=2026-13", "?dari=2026-05&sampai=2026-01", "?dari=2000-01&sampai=2026-01", "?pintu=x"} {
		if code, _, _ := s.aud.get("/waktu-layanan" + q); code != http.StatusBadRequest {
			t.Errorf("%s: %d; want 400", q, code)
		}
	}
}

// The page gives "notified → acted" of steps 2-4, in both languages: a
// request whose filing notification went 90 seconds before its
// classification is timed at step 2; steps 3 and 4 have none.
func TestServiceTimesPageNotifiedToActed(t *testing.T) {
	s, ids := withVisits(t, 2, time.Now().Add(-2*time.Hour))
	r, err := s.e.WF.Get(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	coordinated, ok := r.At(workflow.Coordinated)
	if !ok {
		t.Fatalf("%s has no classification: %+v", ids[0], r.History)
	}
	s.e.Hub.Handed("permit/"+ids[0]+"/filed", coordinated.Add(-90*time.Second))
	for _, c := range []struct {
		lang string
		want []string
	}{
		{"id", []string{"Diberi tahu → ditindak", "<td>2 Klasifikasi</td><td>median 1 menit 30 detik, p90 1 menit 30 detik</td><td>standar 5 menit</td><td>1</td><td>100%</td>",
			"<td>3 Persetujuan</td><td>belum ada data</td><td>standar 2 menit</td><td>0</td><td>–</td>", "<td>4 Pendamping</td>"}},
		{"en", []string{"Notified → acted", "<td>2 Classify</td><td>median 1 min 30 s, p90 1 min 30 s</td><td>standard 5 min</td><td>1</td><td>100%</td>",
			"<td>3 Approve</td><td>no data yet</td>"}},
	} {
		s.aud.do("POST", "/bahasa", url.Values{"csrf": {s.aud.csrf}, "lang": {c.lang}, "lanjut": {"/waktu-layanan"}}, nil)
		_, _, body := s.aud.get("/waktu-layanan")
		_, table, _ := strings.Cut(body, `<table class="response">`)
		table, _, _ = strings.Cut(table, "</table>")
		for _, w := range c.want {
			if !strings.Contains(body, w) && !strings.Contains(table, w) {
				t.Errorf("%s: the page lacks %q in\n%s", c.lang, w, table)
			}
		}
	}
}
