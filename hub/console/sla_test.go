package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
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
