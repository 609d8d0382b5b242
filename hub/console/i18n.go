package console

import (
	"fmt"
	"time"
)

// msg is one string of the console in both its languages: Bahasa
// Indonesia, in the SOP's own terms, and English.
type msg struct{ id, en string }

// catalog is every string the console shows; templates ask for them with
// {{.L.T "key"}} and Go code with L.T. TestCatalog checks that every key
// a template uses is here and has both languages.
var catalog = map[string]msg{
	"app.name":                  {"Konsol Kunci", "Kunci Console"},
	"app.tagline":               {"Akses ruang server", "Server room access"},
	"nav.menu":                  {"Menu", "Menu"},
	"nav.dashboard":             {"Beranda", "Dashboard"},
	"nav.signout":               {"Keluar", "Sign out"},
	"nav.signedin":              {"Masuk sebagai %s", "Signed in as %s"},
	"signin.title":              {"Masuk", "Sign in"},
	"signin.login":              {"Nama pengguna", "Login"},
	"signin.password":           {"Kata sandi", "Password"},
	"signin.submit":             {"Masuk", "Sign in"},
	"signin.wrong":              {"Nama pengguna atau kata sandi salah.", "Wrong login or password."},
	"signin.disabled":           {"Akun ini dinonaktifkan. Hubungi admin.", "This account is disabled. Ask an admin."},
	"signin.limited":            {"Terlalu banyak percobaan gagal. Coba lagi dalam 15 menit.", "Too many failed tries. Try again in 15 minutes."},
	"signin.ended":              {"Sesi Anda telah berakhir. Silakan masuk lagi.", "Your session has ended. Please sign in again."},
	"signin.code":               {"Tautan masuk ini sudah dipakai atau kedaluwarsa. Masuk dengan kata sandi.", "This sign-in link was used or has expired. Sign in with the password."},
	"error.lang":                {"Bahasa tidak dikenal.", "Unknown language."},
	"nav.otherlang":             {"English", "Bahasa Indonesia"},
	"error.title":               {"Terjadi kesalahan", "Something went wrong"},
	"error.csrf":                {"Permintaan ditolak: formulir kedaluwarsa atau berasal dari situs lain. Muat ulang halaman.", "Request refused: the form expired or came from another site. Reload the page."},
	"error.forbidden":           {"Anda tidak berhak melakukan ini.", "You may not do this."},
	"error.notfound":            {"Halaman tidak ditemukan.", "Page not found."},
	"error.internal":            {"Kesalahan server. Kejadian ini sudah dicatat.", "Server error. It has been logged."},
	"error.busy":                {"Terlalu banyak tampilan langsung terbuka. Coba lagi sebentar lagi.", "Too many live views are open. Try again shortly."},
	"error.back":                {"Kembali ke Beranda", "Back to the dashboard"},
	"dash.title":                {"Beranda", "Dashboard"},
	"dash.nodoors":              {"Belum ada pintu yang melapor ke hub.", "No door has reported to the hub yet."},
	"dash.live":                 {"Langsung", "Live"},
	"card.online":               {"Daring", "Online"},
	"card.offline":              {"Luring", "Offline"},
	"card.unknown":              {"Belum melapor", "Not reported yet"},
	"card.lastseen":             {"Terakhir terlihat %s", "Last seen %s"},
	"card.lock":                 {"Kunci", "Lock"},
	"card.locked":               {"Terkunci", "Locked"},
	"card.unlocked":             {"Tidak terkunci", "Unlocked"},
	"card.door":                 {"Pintu", "Door"},
	"card.closed":               {"Tertutup", "Closed"},
	"card.open":                 {"Terbuka", "Open"},
	"card.racks":                {"Rak", "Racks"},
	"card.rack.locked":          {"terkunci", "locked"},
	"card.rack.open":            {"terbuka", "open"},
	"card.mode":                 {"Mode", "Mode"},
	"card.mode.normal":          {"Normal", "Normal"},
	"card.mode.lockdown":        {"Penguncian total", "Lockdown"},
	"card.secured":              {"Ruangan aman", "Room secured"},
	"card.notsecured":           {"Ruangan belum aman", "Room not secured"},
	"card.inside":               {"Di dalam", "Inside"},
	"card.nobody":               {"Tidak ada orang di dalam", "Nobody inside"},
	"card.guest":                {"Tamu %s (izin %s), pendamping %s, sejak %s", "Guest %s (permit %s), escort %s, since %s"},
	"card.staff":                {"Pegawai %s, sendiri, sejak %s", "Staff %s, alone, since %s"},
	"card.alarms":               {"Alarm", "Alarms"},
	"card.noalarms":             {"Tidak ada alarm", "No alarms"},
	"card.nostatus":             {"Status belum diterima", "No status received yet"},
	"card.lastevent":            {"Kejadian terakhir: %s, %s", "Last event: %s, %s"},
	"alarm.door_forced":         {"Pintu dibuka paksa", "Door forced open"},
	"alarm.door_held_open":      {"Pintu terbuka terlalu lama", "Door held open"},
	"alarm.room_not_secured":    {"Ruangan belum diamankan", "Room not secured"},
	"alarm.rack_tampered":       {"Rak %s dibuka tanpa izin", "Rack %s tampered"},
	"alarm.lockdown":            {"Penguncian total aktif", "Lockdown on"},
	"alarm.relay_fault":         {"Relai kunci bermasalah", "Lock relay fault"},
	"alarm.low_space":           {"Penyimpanan pintu hampir penuh", "Door storage nearly full"},
	"alarm.store_failed":        {"Penyimpanan pintu gagal menulis: kejadian ditahan di memori", "Door storage failing: events held in memory"},
	"alarm.gap":                 {"Kejadian epoch %s seq %d–%d belum diterima hub (kunci door gap)", "Events of epoch %s, seqs %d–%d, not received by the hub (kunci door gap)"},
	"nav.permits":               {"Permohonan", "Requests"},
	"permits.title":             {"Permohonan Akses", "Access requests"},
	"permits.new":               {"Ajukan permohonan baru", "File a new request"},
	"permits.list":              {"Semua permohonan", "All requests"},
	"permits.all":               {"Semua", "All"},
	"permits.state":             {"Status", "State"},
	"permits.filter":            {"Tampilkan", "Show"},
	"permits.none":              {"Tidak ada permohonan.", "No requests."},
	"permits.queue.coordinate":  {"Menunggu klasifikasi (langkah 2)", "Waiting to be classified (step 2)"},
	"permits.queue.approve":     {"Menunggu persetujuan (langkah 3)", "Waiting for approval (step 3)"},
	"permits.queue.escort":      {"Menunggu penunjukan pendamping (langkah 4)", "Waiting for an escort (step 4)"},
	"state.requested":           {"Diajukan", "Requested"},
	"state.coordinated":         {"Diklasifikasi", "Classified"},
	"state.approved":            {"Disetujui", "Approved"},
	"state.escorted":            {"Pendamping ditunjuk", "Escort appointed"},
	"state.issued":              {"Izin terbit", "Permit issued"},
	"state.rejected":            {"Ditolak", "Rejected"},
	"state.revoked":             {"Dicabut", "Revoked"},
	"category.network":          {"Jaringan", "Network"},
	"category.server":           {"Server", "Server"},
	"permit.title":              {"Permohonan %s", "Request %s"},
	"permit.id":                 {"Nomor", "Number"},
	"permit.guest":              {"Nama tamu", "Guest's name"},
	"permit.nik":                {"NIK", "NIK (national id)"},
	"permit.organisation":       {"Instansi/perusahaan", "Organisation"},
	"permit.phone":              {"Nomor telepon", "Phone"},
	"permit.purpose":            {"Keperluan", "Purpose"},
	"permit.equipment":          {"Peralatan yang dibawa (pisahkan dengan koma)", "Equipment brought in (comma-separated)"},
	"permit.door":               {"Pintu", "Door"},
	"permit.window":             {"Waktu kunjungan", "Visit window"},
	"permit.from":               {"Mulai", "From"},
	"permit.until":              {"Sampai", "Until"},
	"permit.entries":            {"Jumlah masuk (kosong: bebas dalam waktu kunjungan)", "Entries (empty: any within the window)"},
	"permit.card":               {"Kartu tamu (e-KTP)", "Guest's card (e-KTP)"},
	"permit.category":           {"Klasifikasi", "Category"},
	"permit.escort":             {"Pendamping", "Escort"},
	"permit.err.reason":         {"Tuliskan alasannya (paling banyak 500 karakter, tanpa karakter kontrol).", "Give a reason (500 characters at most, no control characters)."},
	"permit.err.self":           {"Permohonan tidak boleh disetujui oleh pengajunya sendiri.", "A request may not be approved by the person who filed it."},
	"permit.err.refused":        {"Hub menolak langkah ini: %s", "The hub refused this step: %s"},
	"request.title":             {"Formulir Permohonan Akses (langkah 1)", "Access request form (step 1)"},
	"request.hint":              {"Isi sesuai formulir khusus tamu. Tempelkan e-KTP tamu pada pembaca kartu di meja untuk mengisi kartu.", "Fill in as the guest's special form says. Tap the guest's e-KTP on the desk reader to fill in the card."},
	"request.submit":            {"Ajukan", "File the request"},
	"request.card.hint":         {"Tidak ditampilkan dan tidak disimpan; hanya sidik kartunya yang disimpan.", "Not shown and not stored; only the card's fingerprint is kept."},
	"request.err.required":      {"Wajib diisi.", "Required."},
	"request.err.long":          {"Terlalu panjang (paling banyak %d karakter).", "Too long (%d characters at most)."},
	"request.err.chars":         {"Berisi karakter kontrol atau tak terlihat (atau baris baru); hapus karakter itu.", "Has a control or invisible character (or a line break); remove it."},
	"request.err.nik":           {"NIK harus 16 angka.", "The NIK is 16 digits."},
	"request.err.phone":         {"Nomor telepon hanya angka, spasi, + dan -.", "A phone number has digits, spaces, + and - only."},
	"request.err.time":          {"Isi tanggal dan jam.", "Give a date and time."},
	"request.err.window":        {"Waktu selesai harus setelah waktu mulai.", "The end must come after the start."},
	"request.err.entries":       {"Jumlah masuk 0 sampai %d.", "Entries from 0 to %d."},
	"request.err.card":          {"Tempelkan kartu pada pembaca di meja (UID heksadesimal, 8 sampai 20 digit).", "Tap the card on the desk reader (a hex UID of 8 to 20 digits)."},
	"request.err.door":          {"Pilih pintu.", "Choose a door."},
	"form.choose":               {"— pilih —", "— choose —"},
	"step.coordinate":           {"Klasifikasi permohonan (langkah 2)", "Classify the request (step 2)"},
	"step.coordinate.submit":    {"Simpan klasifikasi", "Save the category"},
	"step.approve":              {"Setujui permohonan (langkah 3)", "Approve the request (step 3)"},
	"step.escort":               {"Tunjuk pendamping (langkah 4)", "Appoint the escort (step 4)"},
	"step.escort.submit":        {"Tunjuk dan terbitkan izin", "Appoint and issue the permit"},
	"step.escort.none":          {"Tidak ada pegawai yang boleh mendampingi di pintu ini.", "No staff member may escort at this door."},
	"step.reject":               {"Tolak permohonan", "Reject the request"},
	"step.reject.reason":        {"Alasan penolakan", "Reason for rejecting"},
	"step.revoke":               {"Cabut izin", "Revoke the permit"},
	"step.revoke.reason":        {"Alasan pencabutan", "Reason for revoking"},
	"timeline.title":            {"Riwayat", "Timeline"},
	"timeline.step":             {"Langkah %d: %s", "Step %d: %s"},
	"timeline.standard":         {"standar %.0f menit", "standard %.0f min"},
	"timeline.took":             {"butuh %s", "took %s"},
	"duration.seconds":          {"%d detik", "%d s"},
	"duration.wholeminutes":     {"%d menit", "%d min"},
	"duration.minutes":          {"%d menit %d detik", "%d min %d s"},
	"duration.hours":            {"%d jam %d menit", "%d h %d min"},
	"visits.title":              {"Kunjungan", "Visits"},
	"visits.entered":            {"Jam Masuk", "Entered"},
	"visits.exited":             {"Jam Keluar", "Exited"},
	"visits.secured":            {"Ruangan diamankan", "Room secured"},
	"nav.book":                  {"Buku Tamu", "Guest book"},
	"book.title":                {"Buku Tamu", "Guest book"},
	"book.door":                 {"Pintu", "Door"},
	"book.alldoors":             {"Semua pintu", "Every door"},
	"book.from":                 {"Dari tanggal", "From"},
	"book.until":                {"Sampai tanggal", "Until"},
	"book.permit":               {"Nomor izin", "Permit"},
	"book.organisation":         {"Instansi", "Organisation"},
	"book.show":                 {"Tampilkan", "Show"},
	"book.reset":                {"Hapus saringan", "Clear the filter"},
	"book.csv":                  {"Unduh CSV", "Download CSV"},
	"book.print":                {"Tampilan cetak (A4)", "Print view (A4)"},
	"book.count":                {"%d kunjungan", "%d visits"},
	"book.pageof":               {"Halaman %d dari %d", "Page %d of %d"},
	"book.prev":                 {"‹ Sebelumnya", "‹ Previous"},
	"book.next":                 {"Berikutnya ›", "Next ›"},
	"book.none":                 {"Tidak ada kunjungan untuk saringan ini.", "No visits for this filter."},
	"book.no":                   {"No", "No"},
	"book.date":                 {"Tanggal", "Date"},
	"book.guest":                {"Nama", "Name"},
	"book.nik":                  {"NIK", "NIK"},
	"book.purpose":              {"Keperluan", "Purpose"},
	"book.category":             {"Kategori", "Category"},
	"book.escort":               {"Pendamping", "Escort"},
	"book.in":                   {"Jam Masuk", "Time in"},
	"book.out":                  {"Jam Keluar", "Time out"},
	"book.secured":              {"Ruang terkunci", "Room locked"},
	"book.notsecured":           {"belum aman", "not secured"},
	"book.inside":               {"masih di dalam", "still inside"},
	"book.alarms":               {"Alarm", "Alarms"},
	"book.alarm":                {"%s pukul %s", "%s at %s"},
	"book.sign.in":              {"Paraf Masuk", "Initials in"},
	"book.sign.out":             {"Paraf Keluar", "Initials out"},
	"book.print.title":          {"Buku Tamu Ruang Server", "Server room guest book"},
	"book.print.button":         {"Cetak", "Print"},
	"book.print.printed":        {"Dicetak %s dari Konsol Kunci", "Printed %s from the Kunci console"},
	"book.print.truncated":      {"Hanya %d kunjungan pertama yang dicetak; persempit saringan.", "Only the first %d visits are printed; narrow the filter."},
	"book.print.known":          {"Diketahui,", "Acknowledged,"},
	"book.print.head":           {"Kasi Infrastruktur TIK", "Head of ICT infrastructure"},
	"book.err.door":             {"Pintu tidak dikenal.", "Unknown door."},
	"book.err.date":             {"Tanggal ditulis TTTT-BB-HH.", "Dates are written YYYY-MM-DD."},
	"book.err.range":            {"Tanggal akhir sebelum tanggal awal.", "The end date is before the start date."},
	"book.err.filter":           {"Saringan buku tamu tidak valid.", "The guest book's filter is not valid."},
	"nav.sla":                   {"Waktu Layanan", "Service times"},
	"sla.title":                 {"Waktu Layanan", "Service times"},
	"sla.from":                  {"Dari bulan", "From month"},
	"sla.until":                 {"Sampai bulan", "Until month"},
	"sla.count":                 {"%d permohonan dalam rentang ini.", "%d requests in this range."},
	"sla.steps":                 {"Waktu tiap langkah terhadap standar SOP", "Each step's time against the SOP's standard"},
	"sla.steps.hint":            {"Batang tebal: median; batang tipis: persentil ke-90; garis: standar.", "Thick bar: median; thin bar: 90th percentile; line: the standard."},
	"sla.months":                {"Selesai dalam 22 menit, per bulan", "Done within 22 minutes, per month"},
	"sla.months.hint":           {"Bagian kunjungan yang seluruh langkahnya selesai dalam standar; garis: sasaran 80%.", "Share of visits with every step within its standard; line: the 80% target."},
	"sla.step":                  {"Langkah", "Step"},
	"sla.step1":                 {"1 Formulir", "1 Form"},
	"sla.step2":                 {"2 Klasifikasi", "2 Classify"},
	"sla.step3":                 {"3 Persetujuan", "3 Approve"},
	"sla.step4":                 {"4 Pendamping", "4 Escort"},
	"sla.step5":                 {"5 Masuk", "5 Entry"},
	"sla.step7":                 {"7 Keluar", "7 Exit"},
	"sla.step8":                 {"8 Penguncian", "8 Securing"},
	"sla.total":                 {"Total", "Total"},
	"sla.value":                 {"median %s, p90 %s", "median %s, p90 %s"},
	"sla.nodata":                {"belum ada data", "no data yet"},
	"sla.standard":              {"standar %s", "standard %s"},
	"sla.standard.col":          {"Standar", "Standard"},
	"sla.median.p90":            {"Median dan p90", "Median and p90"},
	"sla.month":                 {"Bulan", "Month"},
	"sla.permits":               {"Permohonan", "Requests"},
	"sla.total.median":          {"Median total", "Total median"},
	"sla.total.p90":             {"p90 total", "Total p90"},
	"sla.within":                {"Dalam 22 menit", "Within 22 minutes"},
	"sla.err.month":             {"Bulan ditulis TTTT-BB.", "Months are written YYYY-MM."},
	"sla.err.range":             {"Rentang bulan tidak valid (paling lama 5 tahun).", "The range of months is not valid (5 years at most)."},
	"nav.staff":                 {"Pegawai", "Staff"},
	"staff.title":               {"Pegawai", "Staff"},
	"staff.new":                 {"Tambah pegawai", "Add a staff member"},
	"staff.edit":                {"Ubah pegawai", "Edit a staff member"},
	"staff.editlink":            {"Ubah", "Edit"},
	"staff.none":                {"Belum ada pegawai terdaftar.", "No staff registered yet."},
	"staff.id":                  {"NIP/Nomor pegawai", "Staff id"},
	"staff.name":                {"Nama", "Name"},
	"staff.site":                {"Lokasi", "Site"},
	"staff.doors":               {"Pintu", "Doors"},
	"staff.doors.hint":          {"Pintu (pisahkan dengan koma; kosong: semua pintu lokasi)", "Doors (comma-separated; empty: every door of the site)"},
	"staff.alldoors":            {"semua pintu", "every door"},
	"staff.rights":              {"Hak", "Rights"},
	"staff.escort":              {"pendamping", "escort"},
	"staff.solo":                {"masuk sendiri", "alone"},
	"staff.escort.long":         {"Boleh menjadi pendamping tamu", "May escort guests"},
	"staff.solo.long":           {"Boleh masuk sendiri", "May enter alone"},
	"staff.disabled":            {"nonaktif", "disabled"},
	"staff.disabled.long":       {"Nonaktif (kartunya ditolak di pintu)", "Disabled (their cards are refused at the door)"},
	"staff.cards":               {"Kartu", "Cards"},
	"staff.cards.enrolled":      {"Kartu terdaftar (hapus centang untuk mencabut)", "Enrolled cards (untick to withdraw)"},
	"staff.card":                {"Kartu %s", "Card %s"},
	"staff.card.new":            {"Daftarkan kartu baru (tempelkan pada pembaca di meja)", "Enrol a new card (tap it on the desk reader)"},
	"staff.save":                {"Simpan", "Save"},
	"staff.err.id":              {"Nomor pegawai: huruf, angka, - dan _ saja.", "Staff id: letters, digits, - and _ only."},
	"staff.err.taken":           {"Nomor pegawai ini sudah dipakai.", "This staff id is taken."},
	"staff.err.site":            {"Pilih lokasi.", "Choose a site."},
	"staff.err.nocard":          {"Pegawai perlu setidaknya satu kartu.", "A staff member needs at least one card."},
	"nav.users":                 {"Pengguna", "Users"},
	"role.requester":            {"Petugas meja (pengaju)", "Desk (requester)"},
	"role.coordinator":          {"Administrator jaringan (klasifikasi)", "Network administrator (classifies)"},
	"role.approver":             {"Kasi Infrastruktur TIK (persetujuan)", "Head of ICT infrastructure (approves)"},
	"role.viewer":               {"Auditor (membaca)", "Auditor (reads)"},
	"role.admin":                {"Admin", "Admin"},
	"users.title":               {"Pengguna dan token", "Users and tokens"},
	"users.list":                {"Pengguna konsol", "Console users"},
	"users.login":               {"Nama pengguna", "Login"},
	"users.name":                {"Nama lengkap (tercatat sebagai pelaku)", "Full name (recorded as the actor)"},
	"users.roles":               {"Peran", "Roles"},
	"users.lang":                {"Bahasa", "Language"},
	"users.password":            {"Kata sandi (paling sedikit 10 karakter)", "Password (10 characters at least)"},
	"users.password.keep":       {"Kata sandi baru (kosong: tidak diubah)", "New password (empty: unchanged)"},
	"users.disabled":            {"Nonaktif (sesinya langsung berakhir)", "Disabled (their sessions end at once)"},
	"users.add":                 {"Tambah pengguna", "Add a user"},
	"users.save":                {"Simpan", "Save"},
	"users.edit":                {"Ubah pengguna %s", "Edit user %s"},
	"users.editlink":            {"Ubah", "Edit"},
	"users.err":                 {"Tidak disimpan: %s", "Not saved: %s"},
	"tokens.title":              {"Token API (untuk skrip)", "API tokens (for scripts)"},
	"tokens.name":               {"Nama pemilik", "Owner's name"},
	"tokens.days":               {"Berlaku (hari; kosong: sampai dicabut)", "Valid for (days; empty: until revoked)"},
	"tokens.issue":              {"Terbitkan token", "Issue a token"},
	"tokens.new":                {"Token baru, hanya ditampilkan sekali ini. Salin sekarang:", "The new token, shown this once only. Copy it now:"},
	"tokens.id":                 {"ID", "Id"},
	"tokens.created":            {"Dibuat", "Created"},
	"tokens.expires":            {"Kedaluwarsa", "Expires"},
	"tokens.never":              {"tidak pernah", "never"},
	"tokens.revoke":             {"Cabut", "Revoke"},
	"tokens.inactive":           {"tidak berlaku", "inactive"},
	"door.title":                {"Pintu %s", "Door %s"},
	"door.sent":                 {"Perintah terkirim ke pintu. Kejadian pintu mencatat kapan dijalankan.", "The command went to the door. The door's events record when it ran."},
	"door.commands":             {"Perintah (admin)", "Commands (admin)"},
	"door.sentcommands":         {"Perintah yang dikirim", "Commands sent"},
	"door.at":                   {"Waktu", "Time"},
	"door.command":              {"Perintah", "Command"},
	"door.by":                   {"Oleh", "By"},
	"door.reason":               {"Alasan", "Reason"},
	"door.events":               {"Kejadian pintu", "The door's events"},
	"door.epochs":               {"Rangkaian", "Epoch"},
	"door.epoch":                {"%s (%d kejadian)", "%s (%d events)"},
	"door.event":                {"Kejadian", "Event"},
	"door.permit":               {"Izin", "Permit"},
	"door.person":               {"Pegawai", "Staff"},
	"door.what":                 {"Keterangan", "Details"},
	"door.card":                 {"kartu %s", "card %s"},
	"door.noevents":             {"Belum ada kejadian tersimpan.", "No events stored yet."},
	"door.count":                {"%d kali", "%d times"},
	"door.err.command":          {"Perintah tidak dikenal.", "Unknown command."},
	"door.err.nolink":           {"Hub tidak terhubung ke broker; perintah tidak dapat dikirim.", "The hub has no broker link; commands cannot be sent."},
	"door.err.send":             {"Perintah tidak terkirim: %s", "The command was not sent: %s"},
	"cmd.lockdown":              {"Kunci total", "Lockdown"},
	"cmd.release":               {"Akhiri kunci total", "Release"},
	"cmd.unlock-once":           {"Buka sekali", "Unlock once"},
	"cmd.resync":                {"Sinkronkan ulang", "Resync"},
	"cmd.confirm.title":         {"Konfirmasi perintah", "Confirm the command"},
	"cmd.confirm.lockdown":      {"Kunci total pintu %s? Tidak ada yang bisa masuk sampai kunci total diakhiri.", "Lock down door %s? Nobody can enter until it is released."},
	"cmd.confirm.release":       {"Akhiri kunci total pintu %s?", "Release the lockdown of door %s?"},
	"cmd.confirm.unlock-once":   {"Buka pintu %s sekali tanpa izin? Tindakan ini tercatat atas nama Anda beserta alasannya.", "Unlock door %s once without a permit? It is recorded in your name with your reason."},
	"cmd.confirm.resync":        {"Minta pintu %s menyinkronkan ulang catatannya?", "Ask door %s to resync its records?"},
	"cmd.confirm.yes":           {"Ya, kirim perintah", "Yes, send the command"},
	"cmd.confirm.no":            {"Batal", "Cancel"},
	"cmd.typed":                 {"Ketik nama pintu (%s) untuk memastikan", "Type the door's name (%s) to confirm"},
	"cmd.err.typed":             {"Nama pintu yang diketik tidak sama dengan %s.", "The name typed is not %s."},
	"event.agent.started":       {"Agen pintu mulai", "Door agent started"},
	"event.tap":                 {"Kartu ditempelkan", "Card tapped"},
	"event.escort.awaited":      {"Menunggu pendamping", "Waiting for the escort"},
	"event.access.granted":      {"Akses diberikan", "Access granted"},
	"event.access.denied":       {"Akses ditolak", "Access denied"},
	"event.door.unlocked":       {"Kunci dibuka", "Lock released"},
	"event.door.locked":         {"Pintu dikunci", "Door locked"},
	"event.door.opened":         {"Pintu dibuka", "Door opened"},
	"event.door.closed":         {"Pintu ditutup", "Door closed"},
	"event.door.forced":         {"Pintu dibuka paksa", "Door forced"},
	"event.door.held_open":      {"Pintu terbuka terlalu lama", "Door held open"},
	"event.exit.requested":      {"Tombol keluar ditekan", "Exit button pressed"},
	"event.rack.opened":         {"Rak dibuka", "Rack opened"},
	"event.rack.closed":         {"Rak ditutup", "Rack closed"},
	"event.rack.tampered":       {"Rak dibuka tanpa izin", "Rack tampered"},
	"event.visit.entered":       {"Tamu masuk", "Guest entered"},
	"event.visit.exited":        {"Tamu keluar", "Guest exited"},
	"event.visit.unescorted":    {"Tamu tanpa pendamping", "Guest unescorted"},
	"event.room.secured":        {"Ruangan aman", "Room secured"},
	"event.room.not_secured":    {"Ruangan belum aman", "Room not secured"},
	"event.permit.rejected":     {"Catatan izin ditolak pintu", "Record refused by the door"},
	"event.command.executed":    {"Perintah dijalankan", "Command executed"},
	"event.command.rejected":    {"Perintah ditolak pintu", "Command refused by the door"},
	"event.clock.unsynced":      {"Jam pintu tidak sinkron", "Door clock not synchronised"},
	"event.reader.fault":        {"Pembaca kartu bermasalah", "Card reader fault"},
	"event.relay.fault":         {"Relai kunci bermasalah", "Lock relay fault"},
	"event.store.low_space":     {"Penyimpanan hampir penuh", "Storage nearly full"},
	"event.store.failed":        {"Penyimpanan sempat gagal menulis", "Storage failed to write for a while"},
	"reason.unknown_card":       {"kartu tidak dikenal", "unknown card"},
	"reason.no_permit":          {"tidak ada izin", "no permit"},
	"reason.not_yet_valid":      {"izin belum berlaku", "permit not yet valid"},
	"reason.expired":            {"izin kedaluwarsa", "permit expired"},
	"reason.revoked":            {"izin dicabut", "permit revoked"},
	"reason.entries_used":       {"jatah masuk habis", "entries used up"},
	"reason.escort_timeout":     {"pendamping tidak datang", "escort did not come"},
	"reason.wrong_escort":       {"bukan pendamping yang ditunjuk", "not the appointed escort"},
	"reason.escort_not_allowed": {"tidak berhak mendampingi", "may not escort"},
	"reason.lockdown":           {"penguncian total", "lockdown"},
	"reason.clock_untrusted":    {"jam pintu tidak dipercaya", "door clock untrusted"},
	"reason.wrong_topic":        {"topik salah", "wrong topic"},
	"reason.too_large":          {"terlalu besar", "too large"},
	"reason.retained":           {"perintah tersimpan (retained)", "retained command"},
	"reason.malformed":          {"tidak terbaca", "malformed"},
	"reason.untrusted_key":      {"kunci tanda tangan tidak dipercaya", "untrusted signing key"},
	"reason.bad_signature":      {"tanda tangan tidak cocok", "bad signature"},
	"reason.invalid":            {"tidak valid", "invalid"},
	"reason.wrong_kind":         {"jenis catatan salah", "wrong kind of record"},
	"reason.id_mismatch":        {"nomor tidak cocok", "id mismatch"},
	"reason.wrong_door":         {"untuk pintu lain", "for another door"},
	"reason.rollback":           {"versi lama", "older version"},
	"reason.replayed":           {"diputar ulang", "replayed"},
	"reason.unknown":            {"perintah tidak dikenal", "unknown command"},
	"lang.id":                   {"Bahasa Indonesia", "Bahasa Indonesia"},
	"lang.en":                   {"English", "English"},
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

// Date returns t's day in l's zone: "2 Des 2026", "2 Dec 2026".
func (l L) Date(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	t = t.In(l.Loc)
	if l.Lang == "en" {
		return t.Format("2 Jan 2006")
	}
	return fmt.Sprintf("%d %s %d", t.Day(), monthsID[t.Month()-1], t.Year())
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
