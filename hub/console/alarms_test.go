package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/wire"
)

// forced opens a forced-door alarm at the test's door with detail and
// returns its id.
func forced(t *testing.T, s *sop, detail string) string {
	t.Helper()
	if err := s.e.Hub.Alarms().Event(wire.Event{Type: wire.EvForced, Site: hubtest.Site, Door: hubtest.Door,
		At: time.Now().Add(-time.Minute), Detail: detail}); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.e.Hub.Alarms().List(alarm.Filter{}, "", 1)
	if err != nil || len(list) != 1 {
		t.Fatalf("the alarm opened: %v, %v", list, err)
	}
	return list[0].ID
}

// badge returns the count the nav's alarm badge shows ("" when none).
func badge(body string) string {
	_, rest, ok := strings.Cut(body, `<span class="badge"`)
	if !ok {
		return ""
	}
	_, rest, _ = strings.Cut(rest, ">")
	n, _, _ := strings.Cut(rest, "<")
	return n
}

func TestAlarmListAckBadge(t *testing.T) {
	s := newSOP(t)
	_, _, body := s.aud.get("/permohonan")
	if badge(body) != "" || strings.Contains(body, `class="banner"`) {
		t.Fatal("a badge or banner without an alarm")
	}
	id := forced(t, s, `<script>alert(1)</script> pintu depan`)

	// every page shows the badge and the banner to every role
	for _, b := range []*browser{s.desk, s.netadmin, s.head, s.aud, s.admin} {
		_, _, body := b.get("/buku-tamu")
		if got := badge(body); got != "1" {
			t.Errorf("the badge on the guest book: %q; want 1", got)
		}
		if !strings.Contains(body, `<p class="banner" role="alert"><a href="/alarm?terbuka=1">Ada 1 alarm yang belum diakui.`) {
			t.Errorf("no banner on the guest book\n%s", body)
		}
	}

	// the list: the forced door, named in the reader's language, escaped
	code, _, body := s.aud.get("/alarm")
	for _, want := range []string{id, hubtest.Site + "/" + hubtest.Door, "Pintu dibuka paksa", "Masih berlangsung", "Belum diakui",
		"&lt;script&gt;alert(1)&lt;/script&gt; pintu depan"} {
		if !strings.Contains(body, want) {
			t.Errorf("the auditor's list lacks %q", want)
		}
	}
	if code != http.StatusOK || strings.Contains(body, "<script>alert") {
		t.Errorf("the list: %d, or the detail unescaped", code)
	}
	if strings.Contains(body, "/akui") || strings.Contains(body, `name="note"`) {
		t.Error("a viewer is offered the acknowledge form")
	}
	// a viewer's POST, with a valid token, is refused and changes nothing
	for _, b := range []*browser{s.aud, s.head, s.desk} {
		if code, _, _ := b.do("POST", "/alarm/"+id+"/akui", url.Values{"csrf": {b.csrf}, "note": {"x"}}, nil); code != http.StatusForbidden {
			t.Errorf("a non-admin's acknowledgement: %d; want 403", code)
		}
	}
	if a, _ := s.e.Hub.Alarms().Get(id); a.Acked != nil {
		t.Fatal("a refused acknowledgement was stored")
	}

	// an admin sees the form, and acknowledges with a note
	back := "/alarm?terbuka=1"
	_, _, body = s.admin.get(back)
	if !strings.Contains(body, `action="/alarm/`+id+`/akui"`) || !strings.Contains(body, `name="csrf" value="`+s.admin.csrf+`"`) {
		t.Fatalf("the admin's list has no acknowledge form\n%s", body)
	}
	if code, _, _ := s.admin.do("POST", "/alarm/"+id+"/akui", url.Values{"note": {"no token"}}, nil); code != http.StatusForbidden {
		t.Errorf("an acknowledgement without the CSRF token: %d; want 403", code)
	}
	code, h, _ := s.admin.do("POST", "/alarm/"+id+"/akui", url.Values{"csrf": {s.admin.csrf}, "lanjut": {back},
		"note": {"Dicek satpam, <b>pintu</b> ditutup"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != back {
		t.Fatalf("the acknowledgement: %d to %q; want 303 to %q", code, h.Get("Location"), back)
	}
	a, err := s.e.Hub.Alarms().Get(id)
	if err != nil || a.Acked == nil || a.Acked.By != "Admin TIK" || a.Acked.Note != "Dicek satpam, <b>pintu</b> ditutup" {
		t.Fatalf("the record: %+v, %v", a.Acked, err)
	}
	if code, _, _ := s.admin.do("POST", "/alarm/"+id+"/akui", url.Values{"csrf": {s.admin.csrf}, "note": {"again"}}, nil); code != http.StatusConflict {
		t.Errorf("a second acknowledgement: %d; want 409", code)
	}

	// the badge and banner go; the list shows who, when and the note
	_, _, body = s.aud.get("/permohonan")
	if badge(body) != "" || strings.Contains(body, `class="banner"`) {
		t.Error("the badge or banner stays after the acknowledgement")
	}
	_, _, body = s.aud.get("/alarm")
	for _, want := range []string{"Diakui Admin TIK", "Dicek satpam, &lt;b&gt;pintu&lt;/b&gt; ditutup"} {
		if !strings.Contains(body, want) {
			t.Errorf("the list after the acknowledgement lacks %q", want)
		}
	}
	if _, _, body = s.aud.get("/alarm?terbuka=1"); strings.Contains(body, id) {
		t.Error("an acknowledged alarm in the open-only list")
	}
}

// rowIDs returns the alarm ids of a list's rows, in order.
func rowIDs(body string) []string {
	var out []string
	for _, part := range strings.Split(body, `<tr id="`)[1:] {
		id, _, _ := strings.Cut(part, `"`)
		out = append(out, id)
	}
	return out
}

// nextLink returns the list's link to its next page ("" none).
func nextLink(body string) string {
	_, after, ok := strings.Cut(body, `rel="next"`)
	if !ok {
		return ""
	}
	before := body[:len(body)-len(after)]
	i := strings.LastIndex(before, `href="`)
	link, _, _ := strings.Cut(before[i+len(`href="`):], `"`)
	return strings.ReplaceAll(link, "&amp;", "&")
}

func TestAlarmListFiltersAndPages(t *testing.T) {
	s := newSOP(t)
	forced(t, s, "")
	// an unescorted guest is its own occurrence: 60 alarms
	for i := range 60 {
		if err := s.e.Hub.Alarms().Event(wire.Event{Type: wire.EvUnescorted, Site: hubtest.Site, Door: hubtest.Door,
			Permit: "P-000001", At: time.Now().Add(time.Duration(i-60) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// pages of 50, newest first; the next page goes on from the last shown
	_, _, body := s.aud.get("/alarm")
	ids := rowIDs(body)
	if len(ids) != 50 || ids[0] != "A-000061" || ids[49] != "A-000012" {
		t.Fatalf("the first page: %d rows, %v", len(ids), ids)
	}
	link := nextLink(body)
	if link != "/alarm?setelah=A-000012" {
		t.Fatalf("the next page's link: %q", link)
	}
	_, _, body = s.aud.get(link)
	if ids := rowIDs(body); len(ids) != 11 || ids[0] != "A-000011" || ids[10] != "A-000001" || nextLink(body) != "" ||
		!strings.Contains(body, `href="/alarm" rel="first"`) {
		t.Errorf("the last page: %v, next %q", ids, nextLink(body))
	}
	// filters: the kind (named in the reader's language), the door, open only; pages keep them
	_, _, body = s.aud.get("/alarm?jenis=" + string(alarm.DoorForced))
	if ids := rowIDs(body); len(ids) != 1 || ids[0] != "A-000001" || !strings.Contains(body, "Pintu dibuka paksa") {
		t.Errorf("the forced-door filter: %v", ids)
	}
	_, _, body = s.aud.get("/alarm?terbuka=1&jenis=" + string(alarm.Unescorted))
	if n := len(rowIDs(body)); n != 50 || nextLink(body) != "/alarm?jenis="+string(alarm.Unescorted)+"&setelah=A-000012&terbuka=1" {
		t.Errorf("the open unescorted filter: %d rows, next %q", n, nextLink(body))
	}
	if _, _, body := s.aud.get("/alarm?pintu=other/door"); !strings.Contains(body, "Tidak ada alarm.") || len(rowIDs(body)) != 0 {
		t.Error("another door's filter shows alarms")
	}
	for _, bad := range []string{"jenis=bogus", "pintu=nodoor", "setelah=zzz"} {
		if code, _, body := s.aud.get("/alarm?" + bad); code != http.StatusBadRequest || !strings.Contains(body, `class="error"`) {
			t.Errorf("GET /alarm?%s: %d; want 400 with a message", bad, code)
		}
	}
	// in English the kinds are named in English
	s.aud.do("POST", "/bahasa", url.Values{"csrf": {s.aud.csrf}, "lang": {"en"}, "lanjut": {"/alarm"}}, nil)
	if _, _, body := s.aud.get("/alarm?jenis=" + string(alarm.DoorForced)); !strings.Contains(body, "Door forced") ||
		!strings.Contains(body, ">Alarms") {
		t.Error("the English list does not name the kind in English")
	}
}
