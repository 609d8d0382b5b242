package console

import (
	"fmt"
	"slices"
	"time"
)

// msg is one string of the console in both its languages: Bahasa
// Indonesia, in the SOP's own terms, and English.
type msg struct{ id, en string }

// catalog is every string the console shows; templates ask for them with
// {{.L.T "key"}} and Go code with L.T. TestCatalog checks that every key
// a template uses is here and has both languages.
var catalog = map[string]msg{
	"app.name":               {"Konsol Kunci", "Kunci Console"},
	"app.tagline":            {"Akses ruang server", "Server room access"},
	"nav.menu":               {"Menu", "Menu"},
	"nav.dashboard":          {"Beranda", "Dashboard"},
	"nav.signout":            {"Keluar", "Sign out"},
	"nav.signedin":           {"Masuk sebagai %s", "Signed in as %s"},
	"signin.title":           {"Masuk", "Sign in"},
	"signin.login":           {"Nama pengguna", "Login"},
	"signin.password":        {"Kata sandi", "Password"},
	"signin.submit":          {"Masuk", "Sign in"},
	"signin.wrong":           {"Nama pengguna atau kata sandi salah.", "Wrong login or password."},
	"signin.disabled":        {"Akun ini dinonaktifkan. Hubungi admin.", "This account is disabled. Ask an admin."},
	"signin.limited":         {"Terlalu banyak percobaan gagal. Coba lagi dalam 15 menit.", "Too many failed tries. Try again in 15 minutes."},
	"signin.ended":           {"Sesi Anda telah berakhir. Silakan masuk lagi.", "Your session has ended. Please sign in again."},
	"error.title":            {"Terjadi kesalahan", "Something went wrong"},
	"error.csrf":             {"Permintaan ditolak: formulir kedaluwarsa atau berasal dari situs lain. Muat ulang halaman.", "Request refused: the form expired or came from another site. Reload the page."},
	"error.forbidden":        {"Anda tidak berhak melakukan ini.", "You may not do this."},
	"error.notfound":         {"Halaman tidak ditemukan.", "Page not found."},
	"error.internal":         {"Kesalahan server. Kejadian ini sudah dicatat.", "Server error. It has been logged."},
	"error.back":             {"Kembali ke Beranda", "Back to the dashboard"},
	"dash.title":             {"Beranda", "Dashboard"},
	"dash.nodoors":           {"Belum ada pintu yang melapor ke hub.", "No door has reported to the hub yet."},
	"dash.live":              {"Langsung", "Live"},
	"card.online":            {"Daring", "Online"},
	"card.offline":           {"Luring", "Offline"},
	"card.unknown":           {"Belum melapor", "Not reported yet"},
	"card.lastseen":          {"Terakhir terlihat %s", "Last seen %s"},
	"card.lock":              {"Kunci", "Lock"},
	"card.locked":            {"Terkunci", "Locked"},
	"card.unlocked":          {"Tidak terkunci", "Unlocked"},
	"card.door":              {"Pintu", "Door"},
	"card.closed":            {"Tertutup", "Closed"},
	"card.open":              {"Terbuka", "Open"},
	"card.racks":             {"Rak", "Racks"},
	"card.rack.locked":       {"terkunci", "locked"},
	"card.rack.open":         {"terbuka", "open"},
	"card.mode":              {"Mode", "Mode"},
	"card.mode.normal":       {"Normal", "Normal"},
	"card.mode.lockdown":     {"Penguncian total", "Lockdown"},
	"card.secured":           {"Ruangan aman", "Room secured"},
	"card.notsecured":        {"Ruangan belum aman", "Room not secured"},
	"card.inside":            {"Di dalam", "Inside"},
	"card.nobody":            {"Tidak ada orang di dalam", "Nobody inside"},
	"card.guest":             {"Tamu %s (izin %s), pendamping %s, sejak %s", "Guest %s (permit %s), escort %s, since %s"},
	"card.staff":             {"Pegawai %s, sendiri, sejak %s", "Staff %s, alone, since %s"},
	"card.alarms":            {"Alarm", "Alarms"},
	"card.noalarms":          {"Tidak ada alarm", "No alarms"},
	"card.nostatus":          {"Status belum diterima", "No status received yet"},
	"card.lastevent":         {"Kejadian terakhir: %s, %s", "Last event: %s, %s"},
	"alarm.door_forced":      {"Pintu dibuka paksa", "Door forced open"},
	"alarm.door_held_open":   {"Pintu terbuka terlalu lama", "Door held open"},
	"alarm.room_not_secured": {"Ruangan belum diamankan", "Room not secured"},
	"alarm.rack_tampered":    {"Rak %s dibuka tanpa izin", "Rack %s tampered"},
	"alarm.lockdown":         {"Penguncian total aktif", "Lockdown on"},
	"alarm.relay_fault":      {"Relai kunci bermasalah", "Lock relay fault"},
	"lang.id":                {"Bahasa Indonesia", "Bahasa Indonesia"},
	"lang.en":                {"English", "English"},
}

// monthsID are the months' short names in Bahasa Indonesia.
var monthsID = [12]string{"Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"}

// L is one request's language and zone: the strings, times and numbers
// a page shows go through it.
type L struct {
	Lang string // "id" or "en"
	Loc  *time.Location
}

// newL returns the L of lang (anything but "en" is Bahasa Indonesia) in
// loc.
func newL(lang string, loc *time.Location) L {
	if lang != "en" {
		lang = "id"
	}
	return L{Lang: lang, Loc: loc}
}

// T returns the string of key in l's language, with args put in as
// fmt.Sprintf does. An unknown key shows as itself, bracketed, so that a
// page with a missing string still renders and the test finds it.
func (l L) T(key string, args ...any) string {
	m, ok := catalog[key]
	if !ok {
		return "[" + key + "]"
	}
	s := m.id
	if l.Lang == "en" {
		s = m.en
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Time returns t in l's zone as the office writes it: "2 Des 2026 09.40
// WIB" in Bahasa Indonesia (the time with a period, as PUEBI has it),
// "2 Dec 2026 09:40 WIB" in English. The zero time is a dash.
func (l L) Time(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	t = t.In(l.Loc)
	if l.Lang == "en" {
		return t.Format("2 Jan 2006 15:04 MST")
	}
	return fmt.Sprintf("%d %s %d %s", t.Day(), monthsID[t.Month()-1], t.Year(), t.Format("15.04 MST"))
}

// Clock returns t's time of day in l's zone: 09.40 or 09:40.
func (l L) Clock(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	if l.Lang == "en" {
		return t.In(l.Loc).Format("15:04")
	}
	return t.In(l.Loc).Format("15.04")
}

// keys returns the catalogue's keys, sorted.
func keys() []string {
	out := make([]string, 0, len(catalog))
	for k := range catalog {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
