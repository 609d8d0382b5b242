package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/hub/hubtest"
)

func TestStaffPages(t *testing.T) {
	s := newSOP(t)
	a := s.admin
	a.get("/pegawai/baru")
	code, h, body := a.do("POST", "/pegawai", url.Values{"csrf": {a.csrf}, "id": {"S-010"}, "name": {"Wati Teknisi"},
		"site": {hubtest.Site}, "solo": {"1"}, "card_uid": {"04:AA:BB:CC:DD:EE:01"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/pegawai" {
		t.Fatalf("adding staff: %d\n%s", code, body)
	}
	_, _, body = a.get("/pegawai")
	if !strings.Contains(body, "Wati Teknisi") || !strings.Contains(body, "masuk sendiri") || strings.Contains(strings.ToLower(body), "04aabbccddee01") {
		t.Errorf("the staff list:\n%s", body)
	}
	m, err := s.e.WF.Staff("S-010")
	if err != nil || len(m.Cards) != 1 || !m.Solo || m.Escort || m.By != "Admin TIK" {
		t.Fatalf("stored: %+v, %v", m, err)
	}
	first := m.Cards[0].Short()
	// a second card enrolled, the first withdrawn, made an escort
	_, _, body = a.get("/pegawai/S-010")
	if !strings.Contains(body, "Kartu "+first) {
		t.Errorf("the edit form does not show the enrolled card %s", first)
	}
	code, _, body = a.do("POST", "/pegawai/S-010", url.Values{"csrf": {a.csrf}, "name": {"Wati Teknisi"}, "site": {hubtest.Site},
		"escort": {"1"}, "card_uid": {"04aabbccddee02"}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("editing: %d\n%s", code, body)
	}
	m, _ = s.e.WF.Staff("S-010")
	if len(m.Cards) != 1 || m.Cards[0].Short() == first || !m.Escort || m.Solo || m.Version != 2 {
		t.Errorf("after the edit: %+v; want the new card only, escort, version 2", m)
	}
	for _, c := range []struct {
		form url.Values
		says []string
	}{
		{url.Values{"id": {"S-010"}, "name": {"X"}, "site": {hubtest.Site}, "card_uid": {"04aabbccddee03"}}, []string{"sudah dipakai"}},
		{url.Values{"id": {"bad id"}, "name": {""}, "site": {"elsewhere"}}, []string{"huruf, angka", "Wajib diisi.", "Pilih lokasi.", "setidaknya satu kartu"}},
		{url.Values{"id": {"S-011"}, "name": {"Y"}, "site": {hubtest.Site}, "card_uid": {"zz"}}, []string{"Tempelkan kartu"}},
	} {
		a.get("/pegawai/baru")
		c.form.Set("csrf", a.csrf)
		code, _, body := a.do("POST", "/pegawai", c.form, nil)
		if code != http.StatusUnprocessableEntity {
			t.Errorf("%v: %d; want 422", c.form, code)
		}
		for _, w := range c.says {
			if !strings.Contains(body, w) {
				t.Errorf("%v: the form lacks %q", c.form, w)
			}
		}
	}
	for _, b := range []*browser{s.desk, s.head, s.aud} {
		if code, _, _ := b.get("/pegawai"); code != http.StatusForbidden {
			t.Errorf("a non-admin opens the staff register: %d", code)
		}
		if _, _, body := b.get("/"); strings.Contains(body, `href="/pegawai"`) {
			t.Error("a non-admin's menu links the staff register")
		}
		b.get("/")
		if code, _, _ := b.do("POST", "/pegawai/S-010", url.Values{"csrf": {b.csrf}, "name": {"Z"}, "site": {hubtest.Site}}, nil); code != http.StatusForbidden {
			t.Errorf("a non-admin's forced edit: %d; want 403", code)
		}
	}
}
