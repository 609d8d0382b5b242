package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// TestOnPostgres runs the queue's tests again on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	kvtest.RunOnPostgres(t, TestDeliversByEveryChannel, TestRetriesAfterAPeersFailure, TestGivesUpIntoDeadLetters,
		TestRestartMidQueueDeliversEachOnce, TestCoalescesABurst, TestHandedTimes, TestLongBurstSendsOneSummaryPerWindow,
		TestEscalation, TestReceiverDownFiveMinutes, TestRefusesPersonalData, TestTelegramTokenNeverLogged,
		TestRunDeliversAndStops, TestRunSendsBurstSummary, TestTelegramLongestMessage)
}

// One alarm reaches every channel once: a mail over STARTTLS with the
// Message-ID of its key, a Telegram message to the chat, a signed webhook
// with its idempotency key; and a second pass sends nothing again.
func TestDeliversByEveryChannel(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rEmail, rTG, rHook))
	m := forced("alarm/42", "server-room", e.clock.Now())
	e.notify(m)
	if got := e.stats().Queued; got != 3 {
		t.Fatalf("queued %d deliveries before any try; want 3 (one per recipient)", got)
	}
	e.deliver()
	e.deliver()
	e.peersClean()

	mails := e.smtp.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails; want 1", len(mails))
	}
	mail := mails[0]
	wantID := "<" + notify.MessageID("alarm/42", rEmail, 0, "example.go.id") + ">"
	switch {
	case !mail.TLS:
		t.Error("the mail was taken without STARTTLS")
	case len(mail.To) != 1 || mail.To[0] != "ict@example.go.id" || mail.From != "kunci@example.go.id":
		t.Errorf("mail from %q to %q; want kunci@example.go.id to ict@example.go.id", mail.From, mail.To)
	case mail.Header.Get("Message-Id") != wantID:
		t.Errorf("Message-ID %q; want %q, derived from the key", mail.Header.Get("Message-Id"), wantID)
	case mail.Header.Get("X-Kunci-Idempotency-Key") != "alarm/42":
		t.Errorf("X-Kunci-Idempotency-Key %q; want alarm/42", mail.Header.Get("X-Kunci-Idempotency-Key"))
	}
	if id, en := strings.Index(mail.Body, "dibuka paksa"), strings.Index(mail.Body, "forced open"); id < 0 || en < id {
		t.Errorf("mail body does not have Bahasa Indonesia first, then English:\n%s", mail.Body)
	}

	msgs := e.tg.Messages()
	if len(msgs) != 1 || msgs[0].ChatID != "-1001234567890" || !strings.HasPrefix(msgs[0].Text, m.Subject.ID) {
		t.Errorf("Telegram got %+v; want one message to -1001234567890 starting with %q", msgs, m.Subject.ID)
	}

	got := e.hook.Received()
	if len(got) != 1 {
		t.Fatalf("webhook got %d requests; want 1", len(got))
	}
	b := got[0].Body
	if got[0].Key != "alarm/42" || b.Topic != "alarm.door.forced" || b.Site != "diskominfo" || b.Door != "server-room" ||
		b.Count != 1 || b.Step != 0 || b.Recipient != rHook || b.Subject != m.Subject || !b.At.Equal(m.At) {
		t.Errorf("webhook got %+v; want the message's fields", got[0])
	}
	for _, c := range []string{"email", "telegram", "webhook"} {
		if v := e.metric(`kunci_hub_notify_sent_total{channel="` + c + `"}`); v != 1 {
			t.Errorf("sent{%s} = %v; want 1", c, v)
		}
	}
	if s := e.stats(); s.Queued != 0 || s.Sent != 3 {
		t.Errorf("stats %+v; want none queued, 3 sent", s)
	}
	if v := e.metric("kunci_hub_notify_queue_deliveries"); v != 0 {
		t.Errorf("queue gauge %v; want 0", v)
	}
}

// A peer that fails is tried again after a backoff, not before, and what
// it finally takes it takes once: the webhook answers 503 then 200,
// Telegram 502 then 200, the SMTP server 451 then 250.
func TestRetriesAfterAPeersFailure(t *testing.T) {
	e := newEnv(t, rule([]string{"*"}, rEmail, rTG, rHook))
	e.hook.Answer(func(n int) int {
		if n == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.tg.Fail(http.StatusBadGateway)
	e.smtp.Fail(451)
	e.notify(forced("alarm/1", "server-room", e.clock.Now()))
	next := e.deliver()
	if got := len(e.hook.Received()); got != 1 {
		t.Fatalf("webhook got %d requests; want 1 (the 503)", got)
	}
	if s := e.stats(); s.Queued != 3 {
		t.Fatalf("after three failures %d queued; want all 3 kept", s.Queued)
	}
	if d := next.Sub(e.clock.Now()); d < 5*time.Second || d > 10*time.Second {
		t.Errorf("next try in %v; want the first backoff, 5s to 10s", d)
	}
	e.tg.Fail(0)
	e.smtp.Fail(0)
	e.deliver() // not yet due: nothing tried
	if got := len(e.hook.Received()); got != 1 || len(e.tg.Messages()) != 0 || len(e.smtp.Mails()) != 0 {
		t.Fatalf("a pass before the backoff tried again (webhook %d requests)", got)
	}
	e.clock.Add(10 * time.Second)
	e.deliver()
	e.peersClean()
	if taken := e.hook.Taken(); taken["alarm/1"] != 1 || len(e.hook.Received()) != 2 {
		t.Errorf("webhook took %v in %d requests; want alarm/1 once, after one 503", taken, len(e.hook.Received()))
	}
	if len(e.tg.Messages()) != 1 || len(e.smtp.Mails()) != 1 {
		t.Errorf("Telegram %d, mail %d after the retry; want 1 each", len(e.tg.Messages()), len(e.smtp.Mails()))
	}
	for _, c := range []string{"email", "telegram", "webhook"} {
		if v := e.metric(`kunci_hub_notify_failed_attempts_total{channel="` + c + `"}`); v != 1 {
			t.Errorf("failed_attempts{%s} = %v; want 1", c, v)
		}
	}
	if s := e.stats(); s.Queued != 0 || s.Sent != 3 {
		t.Errorf("stats %+v; want none queued, 3 sent", s)
	}
}

// A refusal no retry can change (a webhook's 400, an SMTP 550) goes to the
// dead letters at once; a peer down for longer than max_age too, counted.
func TestGivesUpIntoDeadLetters(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rEmail, rHook))
	e.hook.Answer(func(int) int { return http.StatusBadRequest })
	e.smtp.Fail(550)
	e.notify(forced("alarm/1", "server-room", e.clock.Now()))
	e.deliver()
	if s := e.stats(); s.Queued != 0 || s.Dead != 2 {
		t.Fatalf("stats %+v after a 400 and a 550; want both dead at once", s)
	}
	dl, err := e.n.DeadLetters(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 2 || dl[0].Key != "alarm/1" || dl[0].Attempts != 1 || !strings.Contains(dl[0].LastError+dl[1].LastError, "400") {
		t.Errorf("dead letters %+v; want both, after one try, with the peer's answer", dl)
	}

	e.hook.Answer(func(int) int { return http.StatusServiceUnavailable })
	e.notify(forced("alarm/2", "noc", e.clock.Now()))
	e.runFor(25*time.Hour, nil)
	if s := e.stats(); s.Queued != 0 || s.Dead != 4 {
		t.Errorf("stats %+v after a day of 503s and 550s; want every delivery dead", s)
	}
	if v := e.metric(`kunci_hub_notify_dead_total{channel="webhook"}`); v != 2 {
		t.Errorf("dead{webhook} = %v; want 2", v)
	}
	tries := len(e.hook.Received())
	// capped at 10m with the random half: a wait of 5m to 10m, so 144 to
	// 288 tries in the day after the first hour's doubling waits
	if tries < 140 || tries > 300 {
		t.Errorf("%d webhook tries in a day; want backoff capped at 10m (5m to 10m apart: 144 to 288), not a storm", tries)
	}
}

// The hub stopped with 100 deliveries queued, 40 of them sent: after the
// restart the other 60 go, none of the 40 again, and the callers'
// Notify again after the restart sends nothing twice.
func TestRestartMidQueueDeliversEachOnce(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rHook))
	e.hook.Answer(func(n int) int {
		if n < 40 {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	var ms []notify.Message
	for i := range 100 {
		m := forced(fmt.Sprintf("alarm/%d", i), fmt.Sprintf("door-%d", i), e.clock.Now())
		ms = append(ms, m)
		e.notify(m)
	}
	e.deliver()
	if got := len(e.hook.Taken()); got != 40 {
		t.Fatalf("before the restart %d taken; want 40", got)
	}
	e.restart()
	e.hook.Answer(func(int) int { return http.StatusOK })
	for _, m := range ms {
		e.notify(m) // a caller that notifies again after its own restart
	}
	e.clock.Add(time.Minute)
	e.deliver()
	e.clock.Add(time.Minute)
	e.deliver()
	e.peersClean()
	taken := e.hook.Taken()
	for _, m := range ms {
		if taken[m.Key] != 1 {
			t.Errorf("%s taken %d times; want exactly once", m.Key, taken[m.Key])
		}
	}
	if s := e.stats(); s.Queued != 0 || s.Sent != 100 {
		t.Errorf("stats %+v; want none queued, 100 sent", s)
	}
}

// 1,000 door.forced at one door in a minute send two messages: the first
// at once, and one summary of the 999 others when the window ends. The
// counts are in the store: a restart in the middle of the burst keeps them.
func TestCoalescesABurst(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rHook))
	start := e.clock.Now()
	for i := range 1000 {
		if i == 500 {
			e.restart()
		}
		e.notify(forced(fmt.Sprintf("alarm/%d", i), "server-room", e.clock.Now()))
		if i%100 == 0 {
			e.deliver()
		}
		e.clock.Add(50 * time.Millisecond)
	}
	e.clock.Add(start.Add(time.Minute).Sub(e.clock.Now()))
	e.deliver()
	e.deliver()
	e.peersClean()
	got := e.hook.Received()
	if len(got) != 2 {
		t.Fatalf("the burst sent %d messages; want 2 (the first, one summary)", len(got))
	}
	first, sum := got[0].Body, got[1].Body
	if first.Key != "alarm/0" || first.Count != 1 {
		t.Errorf("first message %s count %d; want alarm/0 alone", first.Key, first.Count)
	}
	if sum.Count != 999 || !strings.Contains(sum.Subject.ID, "dan 998 lainnya") || !strings.Contains(sum.Body.EN, "and 998 more") ||
		!strings.Contains(sum.Subject.EN, "Door server-room forced open") {
		t.Errorf("summary count %d, subject %+v, body %+v; want 999 occurrences: the latest and 998 more", sum.Count, sum.Subject, sum.Body)
	}
	if e.metric("kunci_hub_notify_summaries_total") != 1 {
		t.Error("summaries_total is not 1")
	}
	// after a quiet window the next one goes at once again
	e.clock.Add(2 * time.Minute)
	e.deliver()
	e.notify(forced("alarm/1000", "server-room", e.clock.Now()))
	e.deliver()
	if got := e.hook.Received(); len(got) != 3 || got[2].Key != "alarm/1000" {
		t.Errorf("after a quiet window: %d messages; want the new one at once", len(got))
	}
}

// The first time a message is handed to a channel is stored and told
// once, however many recipients and steps take it; a burst's summary
// stands for its latest occurrence too. The times survive a restart and
// are forgotten after a year.
func TestHandedTimes(t *testing.T) {
	e := newEnv(t, escalating(rHook, 10*time.Minute, rTG))
	e.cfg.Rules = append(e.cfg.Rules, rule([]string{"alarm.*"}, rEmail))
	e.restart()
	t0 := e.clock.Now()
	e.notify(forced("alarm/1", "server-room", t0))
	e.deliver()
	e.clock.Add(10 * time.Minute)
	e.deliver() // the escalation step
	if n := len(e.hook.Received()) + len(e.tg.Messages()) + len(e.smtp.Mails()); n != 3 {
		t.Fatalf("%d deliveries; want 3 (webhook, email, the escalation by Telegram)", n)
	}
	want := []string{fmt.Sprintf("alarm/1@%d", t0.UnixNano())}
	if got := e.handedCalls(); !slices.Equal(got, want) {
		t.Errorf("OnHanded %v; want %v, once", got, want)
	}
	// a new window: alarm/2 goes, alarm/3 is counted into its summary
	// (alarm/3+1), which stands for alarm/3
	e.notify(forced("alarm/2", "server-room", e.clock.Now()))
	e.notify(forced("alarm/3", "server-room", e.clock.Now()))
	e.clock.Add(time.Minute)
	t1 := e.clock.Now()
	e.deliver()
	e.restart()
	for _, k := range []string{"alarm/2", "alarm/3", "alarm/3+1"} {
		want = append(want, fmt.Sprintf("%s@%d", k, t1.UnixNano()))
	}
	if got := e.listHanded(); !slices.Equal(got, want) {
		t.Errorf("Handed after a restart %v; want %v", got, want)
	}
	e.clock.Add(367 * 24 * time.Hour)
	e.deliver()
	if got := e.listHanded(); len(got) != 0 {
		t.Errorf("Handed after a year %v; want none", got)
	}
}

// A burst that goes on sends one summary per window, and other doors and
// topics are not held up by it.
func TestLongBurstSendsOneSummaryPerWindow(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rHook))
	for i := range 1000 { // 1,000 over 3m20s
		e.notify(forced(fmt.Sprintf("alarm/%d", i), "server-room", e.clock.Now()))
		if i == 10 {
			e.notify(forced("noc/1", "noc", e.clock.Now()))
		}
		e.deliver()
		e.clock.Add(200 * time.Millisecond)
	}
	e.clock.Add(time.Minute)
	e.deliver()
	got := e.hook.Received()
	total := 0
	for _, r := range got {
		if r.Body.Door == "server-room" {
			total += r.Body.Count
		}
	}
	if len(got) < 4 || len(got) > 6 || total != 1000 {
		t.Errorf("%d messages standing for %d occurrences; want 1 + a summary a minute (4 or 5) and 1 for noc, for all 1,000", len(got), total)
	}
	if len(got) > 0 && got[1].Key != "noc/1" {
		t.Errorf("second message %s; want noc/1 at once, not held by the burst at server-room", got[1].Key)
	}
}

// Not acknowledged within the step's time, the alarm goes to the next
// step; acknowledged, it does not.
func TestEscalation(t *testing.T) {
	for _, acked := range []bool{false, true} {
		t.Run(fmt.Sprintf("acked=%v", acked), func(t *testing.T) {
			e := newEnv(t, escalating(rHook, 5*time.Minute, rHead))
			e.notify(forced("alarm/7", "server-room", e.clock.Now()))
			e.deliver()
			e.clock.Add(4*time.Minute + 59*time.Second)
			if next := e.deliver(); next.Sub(e.clock.Now()) != time.Second {
				t.Errorf("next pass in %v; want 1s, at the escalation", next.Sub(e.clock.Now()))
			}
			if len(e.smtp.Mails()) != 0 {
				t.Fatal("escalated before its 5 minutes")
			}
			if acked {
				e.ack("alarm/7")
			}
			e.clock.Add(time.Second)
			e.deliver()
			mails := e.smtp.Mails()
			switch {
			case acked && (len(mails) != 0 || e.metric("kunci_hub_notify_escalations_stopped_total") != 1):
				t.Errorf("acknowledged: %d mails to the next step, %v stopped; want none and 1", len(mails), e.metric("kunci_hub_notify_escalations_stopped_total"))
			case !acked && (len(mails) != 1 || mails[0].To[0] != "kepala@example.go.id"):
				t.Errorf("not acknowledged: mails %+v; want one to kepala@example.go.id", mails)
			}
			if s := e.stats(); s.Queued != 0 {
				t.Errorf("%d still queued; want none", s.Queued)
			}
		})
	}
}

// The webhook receiver is down for 5 minutes, then back: the alarm reaches
// it once it is back, and the head, not acknowledged, gets it at 3
// minutes, while the receiver is still down.
func TestReceiverDownFiveMinutes(t *testing.T) {
	e := newEnv(t, escalating(rHook, 3*time.Minute, rHead))
	start := e.clock.Now()
	e.hook.Answer(func(int) int {
		if e.clock.Now().Sub(start) < 5*time.Minute {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	e.notify(forced("alarm/9", "server-room", start))
	var escalatedAt time.Duration
	e.runFor(30*time.Minute, func() {
		if escalatedAt == 0 && len(e.smtp.Mails()) > 0 {
			escalatedAt = e.clock.Now().Sub(start)
		}
	})
	e.peersClean()
	if escalatedAt != 3*time.Minute {
		t.Errorf("escalated at %v; want at 3m", escalatedAt)
	}
	taken := e.hook.Taken()
	if taken["alarm/9"] != 1 {
		t.Errorf("webhook took alarm/9 %d times; want once, after it came back", taken["alarm/9"])
	}
	last := e.hook.Received()
	if len(last) < 3 {
		t.Errorf("%d tries; want several during the 5 minutes", len(last))
	}
	if s := e.stats(); s.Queued != 0 || s.Dead != 0 {
		t.Errorf("stats %+v; want nothing queued or lost", s)
	}
}

// Notify refuses text that looks like a NIK, a phone number or a card UID,
// counts it, and queues nothing; masked text and ordinary ids pass.
func TestRefusesPersonalData(t *testing.T) {
	e := newEnv(t, rule([]string{"*"}, rHook))
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"Tamu NIK 3201012345670001 masuk", false},
		{"Telepon tamu 0812-3456-7890", false},
		{"Telepon tamu +62 812 3456 7890", false},
		{"Telepon tamu 081234567890", false},
		{"Kartu 04A1B2C3D4E5F6 ditolak", false},
		{"Kartu 04a1b2c3 ditolak", false},
		{"Tamu NIK ************0001 masuk pada 27-11-2026 10:02 WIB", true},
		{"Izin P-0012, pendamping S-004, epoch 6f1c2a, rak R1", true},
		{"Pintu server-room terbuka 2026-11-27 03:02:03", true},
		{"Telepon tamu 0812-****-7890", true},
	} {
		m := forced("k/"+fmt.Sprint(len(tc.text)), "server-room", e.clock.Now())
		m.Body.ID = tc.text
		err := e.n.Notify(m)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, notify.ErrPersonalData)) {
			t.Errorf("Notify(%q) = %v; want ok %v", tc.text, err, tc.ok)
		}
	}
	if v := e.metric(`kunci_hub_notify_refused_total{reason="personal_data"}`); v != 6 {
		t.Errorf("refused{personal_data} = %v; want 6", v)
	}
	m := forced("alarm/uid", "server-room", e.clock.Now())
	m.Key = "card/04A1B2C3D4E5F6/3201012345670001"
	if err := e.n.Notify(m); !errors.Is(err, notify.ErrPersonalData) {
		t.Errorf("Notify with a NIK in the key = %v; want ErrPersonalData", err)
	}
}

// The bot token is in the API's path only: a failure names the API without
// it, in the log and in the dead letter.
func TestTelegramTokenNeverLogged(t *testing.T) {
	e := newEnv(t, rule([]string{"*"}, rTG))
	e.cfg.Telegram.BaseURL = "http://127.0.0.1:1" // nothing listens there
	e.cfg.MaxAge = 0
	e.restart()
	e.notify(forced("alarm/1", "server-room", e.clock.Now()))
	e.deliver()
	if !strings.Contains(e.logs.String(), "bot<token>/sendMessage") {
		t.Fatalf("the failure is not logged with the API's path:\n%s", e.logs.String())
	}
	e.clock.Add(25 * time.Hour)
	e.deliver()
	dl, err := e.n.DeadLetters(1)
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters %v, %v; want the one given up", dl, err)
	}
	for what, s := range map[string]string{"log": e.logs.String(), "dead letter": dl[0].LastError} {
		if strings.Contains(s, e.tg.Token) || strings.Contains(s, "ABC-uji") {
			t.Errorf("the %s holds the bot token:\n%s", what, s)
		}
	}
}

// Run delivers what Notify queued at once, on the real clock, and stops
// with its context.
func TestRunDeliversAndStops(t *testing.T) {
	e := newEnv(t, rule([]string{"request.*"}, rHook))
	e.now, e.hook.Now = time.Now, time.Now
	e.restart()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.n.Run(ctx) }()
	m := notify.Message{Key: "request/R-7/filed", Topic: notify.TopicRequestFiled, Site: "diskominfo",
		Subject: notify.Text{ID: "Permohonan baru R-7", EN: "New request R-7"},
		Body:    notify.Text{ID: "Permohonan R-7 menunggu koordinasi.", EN: "Request R-7 awaits coordination."}, At: time.Now()}
	e.notify(m)
	waitfor.Until(t, 10*time.Second, "the webhook takes the request", func() bool { return e.hook.Taken()[m.Key] == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel; want nil", err)
	}
	e.peersClean()
}

// Run sends a burst's summary when its window ends, with nothing else to
// wake it: the messages counted into the burst tell it when that is.
func TestRunSendsBurstSummary(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rHook))
	e.now, e.hook.Now = time.Now, time.Now
	e.cfg.Coalesce = wire.Duration(time.Second)
	e.restart()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.n.Run(ctx) }()
	e.notify(forced("alarm/1", "server-room", time.Now()))
	// the first goes at once; Run then has nothing due
	waitfor.Until(t, 10*time.Second, "the webhook takes the first", func() bool { return e.hook.Taken()["alarm/1"] == 1 })
	e.notify(forced("alarm/2", "server-room", time.Now()))
	e.notify(forced("alarm/3", "server-room", time.Now()))
	waitfor.Until(t, 10*time.Second, "the webhook takes the summary of the other two", func() bool { return len(e.hook.Received()) == 2 })
	if got := e.hook.Received()[1].Body; got.Count != 2 || !strings.Contains(got.Subject.EN, "(and 1 more)") {
		t.Errorf("the summary %+v; want a count of 2, the latest and 1 more", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel; want nil", err)
	}
	e.peersClean()
}

// The longest message Notify takes fits Telegram's 4,096 characters.
func TestTelegramLongestMessage(t *testing.T) {
	e := newEnv(t, rule([]string{"*"}, rTG))
	m := forced("alarm/long", "server-room", e.clock.Now())
	m.Subject = notify.Text{ID: strings.Repeat("a", notify.MaxSubject), EN: strings.Repeat("b", notify.MaxSubject)}
	m.Body = notify.Text{ID: strings.Repeat("c", notify.MaxBody/2), EN: strings.Repeat("d", notify.MaxBody/2)}
	e.notify(m)
	e.deliver()
	e.peersClean()
	if got := e.tg.Messages(); len(got) != 1 || !strings.HasSuffix(got[0].Text, "…") {
		t.Errorf("Telegram got %d messages; want the one, cut to fit", len(got))
	}
}
