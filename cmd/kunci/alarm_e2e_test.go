//go:build unix

package main

import (
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/console"
	"github.com/kunci-project/kunci/hub/notify/notifytest"
	"github.com/kunci-project/kunci/internal/browsertest"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// The personal data of the alarm test's request, which no notification
// may carry.
const (
	alarmGuest = "Rina Kusumawati"
	alarmNIK   = "3201234567890777"
	alarmPhone = "081234567890"
	alarmCard  = "04A1B2C3D4E5A7"
)

// personalData matches what may be a NIK (16 digits) or a phone number
// (10 to 13), and hex words that may be a card UID (checked further:
// letters and digits).
var personalData = regexp.MustCompile(`\d{10,}|\b[0-9A-Fa-f]{8,}\b`)

// mailText is a mail's subject and body, decoded.
func mailText(t *testing.T, m notifytest.Mail) string {
	t.Helper()
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("the mail's subject %q: %v", m.Header.Get("Subject"), err)
	}
	body := m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		if err != nil {
			t.Fatalf("the mail's body: %v", err)
		}
		body = string(b)
	}
	return subject + "\n" + body
}

// checkNoPersonalData fails the test if text carries the alarm test's
// personal data or anything shaped like a NIK, a phone number or a card
// UID.
func checkNoPersonalData(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{alarmGuest, alarmNIK, alarmPhone, alarmCard, strings.ToLower(alarmCard), "Kusumawati"} {
		if strings.Contains(text, s) {
			t.Errorf("%s carries %q:\n%s", what, s, text)
		}
	}
	for _, m := range personalData.FindAllString(text, -1) {
		if onlyDigits := strings.Trim(m, "0123456789") == ""; !strings.ContainsAny(m, "0123456789") || onlyDigits && len(m) < 10 {
			continue // a hex word of digits only (shorter than a phone's) or of letters only
		}
		t.Errorf("%s carries %q, shaped like a NIK, phone or card UID:\n%s", what, m, text)
	}
}

// TestAlarmEndToEnd drives an alarm through the real binary: `kunci hub`
// with hub.yaml's notify section routing every topic to an email
// recipient at a local SMTP server (STARTTLS, AUTH), `kunci agent` on a
// simulated door, a real Mosquitto and a real browser. The door opened
// with no grant is a door.forced alarm, in the console's badge, banner
// and list and in an email that carries no NIK, card UID, phone or
// guest's name (nor does the request's, filed before with all of them).
// The door closes: the alarm clears and stays open. An admin acknowledges
// it in the console with a note: the API's record and the page show who
// and when.
func TestAlarmEndToEnd(t *testing.T) {
	br := browsertest.New(t)
	smtp := notifytest.NewSMTPServer(t)
	x := newE2EWith(t, e2eHub{extra: fmt.Sprintf(`notify:
  email: {host: %q, port: %d, username: %q, password_file: %q, from: "Kunci <kunci@example.go.id>", ca_file: %q}
  recipients:
    - {name: kepala-infrastruktur, email: kepala.infrastruktur@example.go.id}
  rules:
    - topics: ["*"]
      steps:
        - to: [kepala-infrastruktur]
`, smtp.Host, smtp.Port, smtp.User, smtp.PasswordFile, smtp.CAFile)})
	x.tokens["desk"] = mustJSON[api.NewToken](x, "", "token", "add", "--name", "desk", "--role", "requester").Token
	now := time.Now()
	p := mustJSON[api.Permit](x, "desk", "permit", "request", "--site", "demo", "--door", "server-room",
		"--guest", alarmGuest, "--nik", alarmNIK, "--phone", alarmPhone, "--org", "PT Contoh", "--purpose", "maintenance",
		"--from", now.Format(time.RFC3339), "--until", now.Add(2*time.Hour).Format(time.RFC3339), "--card", alarmCard)
	const login, name, password = "sari", "Sari Wulandari", "kata-sandi-konsol-1"
	pwFile := filepath.Join(x.dir, "sari.pass")
	writeFile(t, pwFile, password+"\n")
	x.must("", "user", "add", "--login", login, "--name", name, "--role", "admin", "--password-file", pwFile)

	// the door opened with no grant
	x.post("/sim/door", `{"open":true}`)
	admin := x.api(x.admin)
	var forced api.AlarmRecord
	waitfor.NoError(t, 30*time.Second, func() error {
		as, err := admin.Alarms(t.Context(), client.AlarmQuery{Kind: alarm.DoorForced})
		if err != nil || len(as) != 1 {
			return fmt.Errorf("door.forced alarms %+v, %v; want one", as, err)
		}
		forced = as[0]
		return nil
	})
	if forced.Site != "demo" || forced.Door != "server-room" || !forced.Open() {
		t.Fatalf("the forced door's alarm %+v; want an open one at demo/server-room", forced)
	}
	row := "#" + forced.ID

	// the console: badge and banner on every page, the alarm in the list
	tab := br.Tab(browsertest.Desk)
	base := "http://" + x.hub.addr
	tab.Do(
		chromedp.Navigate(base+"/masuk"),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(".signin button")),
		chromedp.WaitVisible(chromedp.CSS("header .who")),
	)
	if badge := strings.TrimSpace(tab.Text("nav .badge")); badge == "" || badge == "0" {
		t.Errorf("the badge says %q; want the open alarms' count", badge)
	}
	if banner := tab.Text(".banner"); !strings.Contains(banner, "belum diakui") {
		t.Errorf("the banner says %q; want the alarms not acknowledged", banner)
	}
	tab.Do(chromedp.Navigate(base+"/alarm"), chromedp.WaitVisible(chromedp.CSS(row)))
	if text := tab.Text(row); !strings.Contains(text, "demo/server-room") || !strings.Contains(strings.ToLower(text), "dibuka paksa") {
		t.Errorf("the list's row of %s:\n%s", forced.ID, text)
	}

	// the email, by STARTTLS; it and the request's carry no personal data
	var mails []notifytest.Mail
	waitfor.Until(t, 60*time.Second, "the alarm's and the request's emails at the SMTP server", func() bool {
		mails = smtp.Mails()
		keys := map[string]bool{}
		for _, m := range mails {
			keys[m.Header.Get("X-Kunci-Idempotency-Key")] = true
		}
		return keys["alarm/"+forced.ID] && keys["permit/"+p.ID+"/filed"]
	})
	for _, m := range mails {
		key := m.Header.Get("X-Kunci-Idempotency-Key")
		text := mailText(t, m)
		if !m.TLS || len(m.To) != 1 || m.To[0] != "kepala.infrastruktur@example.go.id" {
			t.Errorf("mail %s: TLS %v, to %v; want STARTTLS, to kepala.infrastruktur@example.go.id", key, m.TLS, m.To)
		}
		checkNoPersonalData(t, "the mail "+key, text)
		if key == "alarm/"+forced.ID && (!strings.Contains(text, forced.ID) || !strings.Contains(text, "Jenis: pintu dibuka paksa") ||
			!strings.Contains(text, "Kind: door forced") || !strings.Contains(text, "demo/server-room")) {
			t.Errorf("the alarm's mail lacks its id, kind in both languages or door:\n%s", text)
		}
	}

	// the door closes: the alarm clears and stays open until acknowledged
	x.post("/sim/door", `{"open":false}`)
	waitfor.NoError(t, 30*time.Second, func() error {
		a, err := admin.Alarm(t.Context(), forced.ID)
		if err != nil || a.Active() {
			return fmt.Errorf("alarm %+v, %v; want it cleared", a, err)
		}
		forced = *a
		return nil
	})
	if !forced.Open() {
		t.Fatalf("the alarm after the door closed %+v; want it still open", forced)
	}

	// the admin acknowledges it in the console, with a note
	const note = "Dicek di CCTV: teknisi salah pintu, sudah ditutup"
	tab.Do(chromedp.Navigate(base+"/alarm"), chromedp.WaitVisible(chromedp.CSS(row+" form.ack")))
	clicked := time.Now()
	tab.Do(
		chromedp.SendKeys(chromedp.CSS(row+" textarea[name=note]"), note),
		chromedp.Click(chromedp.CSS(row+" form.ack button")),
		chromedp.WaitVisible(chromedp.CSS(row+" small.note")),
	)
	answered := time.Now()
	acked, err := admin.Alarm(t.Context(), forced.ID)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case acked.Open() || acked.Acked.By != name || acked.Acked.Note != note:
		t.Fatalf("GET /api/alarms/%s: acknowledged %+v; want by %q with the note", forced.ID, acked.Acked, name)
	case acked.Acked.At.Before(clicked.Add(-time.Second)) || acked.Acked.At.After(answered.Add(time.Second)):
		t.Errorf("acknowledged at %v; want between the click %v and the page's answer %v", acked.Acked.At, clicked, answered)
	}
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	wantWhen := console.L{Lang: "id", Loc: loc}.Time(acked.Acked.At)
	if text := tab.Text(row); !strings.Contains(text, "Diakui "+name+", "+wantWhen) || !strings.Contains(text, note) {
		t.Errorf("the list's row after the acknowledgement:\n%s\nwant \"Diakui %s, %s\" and the note", text, name, wantWhen)
	}
}

// TestHubSIGKILLWithQueuedNotifications: `kunci hub`, its notify section
// in hub.yaml, has 100 notifications queued (one request filed at each
// of 100 doors, to a webhook receiver that answers 503, each tried at
// least once) when it is SIGKILLed. Started again, with the receiver
// taking them, it delivers every one, with a good signature, none twice
// per idempotency key, and its queue is empty.
func TestHubSIGKILLWithQueuedNotifications(t *testing.T) {
	wh := notifytest.NewWebhook(t)
	wh.Answer(func(int) int { return http.StatusServiceUnavailable })
	var doors []string
	for i := range 100 {
		doors = append(doors, fmt.Sprintf("demo/d%02d", i))
	}
	x := newE2EWith(t, e2eHub{noAgent: true, doors: "[" + strings.Join(doors, ", ") + "]", extra: fmt.Sprintf(`notify:
  max_backoff: 1s
  recipients:
    - {name: soc, webhook: %q, secret_file: %q}
  rules:
    - topics: [request.filed]
      steps:
        - to: [soc]
`, wh.URL, wh.SecretFile)})
	tok := mustJSON[api.NewToken](x, "", "token", "add", "--name", "desk", "--role", "requester").Token
	desk := x.api(tok)
	now := time.Now()
	keys := map[string]bool{}
	for i, d := range doors {
		p, err := desk.Request(t.Context(), api.PermitRequest{Site: "demo", Door: strings.TrimPrefix(d, "demo/"),
			Guest: "Tamu Uji", NIK: fmt.Sprintf("32010101010101%02d", i), Organisation: "PT Contoh", Purpose: "maintenance",
			NotBefore: now, NotAfter: now.Add(time.Hour), CardUID: fmt.Sprintf("04A1B2C3D4E5%02X", i)})
		if err != nil {
			t.Fatal(err)
		}
		keys["permit/"+p.ID+"/filed"] = true
	}
	waitfor.NoError(t, 2*time.Minute, func() error {
		tried := map[string]bool{}
		for _, r := range wh.Received() {
			tried[r.Key] = true
		}
		m, err := desk.Metrics(t.Context())
		if err != nil {
			return err
		}
		if q := m["kunci_hub_notify_queue_deliveries"]; len(tried) != len(keys) || q != float64(len(keys)) {
			return fmt.Errorf("%d of %d notifications tried at the receiver that answers 503, %v deliveries queued; want all", len(tried), len(keys), q)
		}
		return nil
	})
	x.stopHub(syscall.SIGKILL)
	if len(wh.Taken()) != 0 {
		t.Fatalf("the receiver took %d before the kill; want none", len(wh.Taken()))
	}

	wh.Answer(func(int) int { return http.StatusOK })
	x.startHub()
	admin := x.api(x.admin)
	waitfor.NoError(t, 2*time.Minute, func() error {
		m, err := admin.Metrics(t.Context())
		if err != nil {
			return err
		}
		if q := m["kunci_hub_notify_queue_deliveries"]; q != 0 || len(wh.Taken()) < len(keys) {
			return fmt.Errorf("%v deliveries queued, %d of %d taken", q, len(wh.Taken()), len(keys))
		}
		return nil
	})
	taken := wh.Taken()
	for k := range keys {
		if taken[k] != 1 {
			t.Errorf("%s taken %d times; want once", k, taken[k])
		}
	}
	if len(taken) != len(keys) {
		t.Errorf("the receiver took %d keys; want the %d requests'", len(taken), len(keys))
	}
	if errs := wh.Errors(); len(errs) > 0 {
		t.Errorf("the receiver refused (bad signature, path or body): %v", errs)
	}
	for _, r := range wh.Received() {
		checkNoPersonalData(t, "the webhook "+r.Key, r.Body.Subject.ID+"\n"+r.Body.Body.ID+"\n"+r.Body.Subject.EN+"\n"+r.Body.Body.EN)
	}
}
