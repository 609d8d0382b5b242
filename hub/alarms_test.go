package hub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/notify/notifytest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// webhookTo routes every topic to one webhook receiver.
func webhookTo(wh *notifytest.Webhook) *notify.Config {
	return &notify.Config{
		Recipients: []notify.Recipient{{Name: "soc", Webhook: wh.URL, SecretFile: wh.SecretFile}},
		Rules:      []notify.Rule{{Topics: []string{"*"}, Steps: []notify.Step{{To: []string{"soc"}}}}},
	}
}

func sendStatus(t *testing.T, e *hubtest.Env, alarms ...wire.Alarm) {
	t.Helper()
	j, err := json.Marshal(wire.Status{Door: wire.Closed, Lock: wire.Locked, Alarms: alarms})
	if err != nil {
		t.Fatal(err)
	}
	e.Hub.Handle(mqttlink.Message{Topic: "kunci/v1/" + hubtest.Site + "/" + hubtest.Door + "/status", Payload: j, Retained: true})
}

// TestForcedDoorAlarm: a door.forced event through the ingest opens an
// alarm, which the watchers see and a webhook receives; the door's
// status without the alarm clears it, and it stays open until an admin
// acknowledges it with a note through the API.
func TestForcedDoorAlarm(t *testing.T) {
	wh := notifytest.NewWebhook(t)
	e := hubtest.New(t, hubtest.Options{Notify: webhookTo(wh)})
	updates, err := e.Hub.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	e.Feed(t, wire.Event{ID: "demo/server-room/e1/1", Seq: 1, Epoch: "e1", Site: hubtest.Site, Door: hubtest.Door,
		Type: wire.EvForced, At: at, ClockSynced: true, Detail: "opened while locked"})
	sendStatus(t, e, wire.AlarmDoorForced)

	got := nextAlarm(t, updates, alarm.Opened)
	if got.Kind != alarm.DoorForced || got.Site != hubtest.Site || got.Door != hubtest.Door || !got.Active() || !got.Open() {
		t.Fatalf("alarm update %+v; want an open, active door.forced at demo/server-room", got)
	}
	waitfor.Until(t, 10*time.Second, "the webhook receives the alarm", func() bool {
		return wh.Taken()["alarm/"+got.ID] == 1
	})
	r := wh.Received()[0]
	if r.Body.Topic != notify.AlarmTopic(string(alarm.DoorForced)) || !strings.Contains(r.Body.Subject.ID, "pintu dibuka paksa") ||
		!strings.Contains(r.Body.Subject.EN, "door forced") || !strings.Contains(r.Body.Body.EN, "opened while locked") {
		t.Errorf("webhook body %+v; want the alarm's topic, kind in both languages and the door's detail", r.Body)
	}
	if !strings.Contains(r.Body.Body.ID, "Jenis: pintu dibuka paksa\n") || !strings.Contains(r.Body.Body.EN, "Kind: door forced\n") ||
		strings.Contains(r.Body.Body.EN, "pintu") {
		t.Errorf("webhook text:\n%s\n--\n%s\nwant the kind in Bahasa Indonesia, then in English", r.Body.Body.ID, r.Body.Body.EN)
	}
	if errs := wh.Errors(); len(errs) > 0 {
		t.Errorf("webhook refused: %v", errs)
	}

	sendStatus(t, e) // the door closed: the condition ended
	if c := nextAlarm(t, updates, alarm.Cleared); c.ID != got.ID {
		t.Fatalf("cleared %s; want %s", c.ID, got.ID)
	}
	if n := e.Hub.Alarms().Unacked(); n != 1 {
		t.Fatalf("unacked %d after the clear; want 1 (a forced door stays an alarm until acknowledged)", n)
	}
	status, body := e.Do(t, e.Admin, "GET", "/api/alarms?open=1", nil)
	var open []api.AlarmRecord
	if err := json.Unmarshal(body, &open); status != http.StatusOK || err != nil || len(open) != 1 || open[0].ID != got.ID ||
		open[0].Cleared.IsZero() {
		t.Fatalf("GET /api/alarms?open=1 = %d %s; want the cleared, unacknowledged alarm", status, body)
	}

	viewer := e.Token(t, "auditor", auth.Viewer)
	if status, body := e.Do(t, viewer, "POST", "/api/alarms/"+got.ID+"/ack", api.AckRequest{Note: "seen"}); status != http.StatusForbidden {
		t.Errorf("ack by a viewer = %d %s; want 403", status, body)
	}
	if status, body := e.Do(t, e.Admin, "POST", "/api/alarms/"+got.ID+"/ack", []byte(`{"note":"ok","extra":1}`)); status != http.StatusBadRequest {
		t.Errorf("ack with an unknown field = %d %s; want 400", status, body)
	}
	status, body = e.Do(t, e.Admin, "POST", "/api/alarms/"+got.ID+"/ack", api.AckRequest{Note: "Dicek petugas, pintu aman"})
	var acked api.AlarmRecord
	if err := json.Unmarshal(body, &acked); status != http.StatusOK || err != nil || acked.Acked == nil ||
		acked.Acked.By != "admin" || acked.Acked.Note != "Dicek petugas, pintu aman" {
		t.Fatalf("ack = %d %s; want the alarm acknowledged by admin with the note", status, body)
	}
	if status, body := e.Do(t, e.Admin, "POST", "/api/alarms/"+got.ID+"/ack", api.AckRequest{Note: "again"}); status != http.StatusConflict {
		t.Errorf("second ack = %d %s; want 409", status, body)
	}
	if status, body := e.Do(t, e.Admin, "POST", "/api/alarms/A-999999/ack", api.AckRequest{Note: "x"}); status != http.StatusNotFound {
		t.Errorf("ack of an unknown alarm = %d %s; want 404", status, body)
	}
	if !e.Hub.Acked("alarm/"+got.ID) || e.Hub.Alarms().Unacked() != 0 {
		t.Errorf("after the ack: Acked %v, unacked %d; want true, 0", e.Hub.Acked("alarm/"+got.ID), e.Hub.Alarms().Unacked())
	}
	if status, body := e.Do(t, viewer, "GET", "/api/alarms?open=1", nil); status != http.StatusOK || string(body) != "[]\n" && string(body) != "[]" {
		t.Errorf("open alarms after the ack = %d %s; want []", status, body)
	}
}

// clock is a fake clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestRequestWaiting: a request not classified within step 2's standard
// five minutes opens request.waiting at the next tick, not before; the
// classification clears it, and step 3 is timed from there. The new
// request notified the coordinators, without the guest's name.
func TestRequestWaiting(t *testing.T) {
	wh := notifytest.NewWebhook(t)
	c := &clock{t: time.Now().UTC()}
	wh.Now = c.Now
	e := hubtest.New(t, hubtest.Options{Now: c.Now, Notify: webhookTo(wh)})
	desk := e.Client(t, e.Token(t, "desk", auth.Requester))
	if _, err := desk.Request(t.Context(), api.PermitRequest{ID: "P-1", Site: hubtest.Site, Door: hubtest.Door, Guest: "Siti Rahma",
		NIK: hubtest.NIK, Organisation: "PT A", Purpose: "work", NotBefore: c.Now(), NotAfter: c.Now().Add(time.Hour),
		CardUID: hubtest.GuestUID}); err != nil {
		t.Fatal(err)
	}
	// taken before the clock moves: the receiver checks the signature's
	// time against the same clock
	waitfor.Until(t, 10*time.Second, "the webhook receives the filed request", func() bool {
		return wh.Taken()["permit/P-1/filed"] == 1
	})
	waiting := func() []alarm.Alarm {
		t.Helper()
		out, _, err := e.Hub.Alarms().List(alarm.Filter{Kind: alarm.RequestWaiting}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	c.Add(4 * time.Minute)
	if err := e.Hub.Tick(); err != nil {
		t.Fatal(err)
	}
	if w := waiting(); len(w) != 0 {
		t.Fatalf("at 4 minutes: %+v; want no waiting alarm (step 2's standard is 5)", w)
	}
	c.Add(2 * time.Minute)
	if err := e.Hub.Tick(); err != nil {
		t.Fatal(err)
	}
	w := waiting()
	if len(w) != 1 || w[0].Permit != "P-1" || !w[0].Active() || !strings.Contains(w[0].Detail, "step 2") {
		t.Fatalf("at 6 minutes: %+v; want one active request.waiting of P-1 at step 2", w)
	}
	head := e.Client(t, e.Token(t, "kasi-infra", auth.Approver, auth.Coordinator))
	if _, err := head.Coordinate(t.Context(), "P-1", permit.Server); err != nil {
		t.Fatal(err)
	}
	if w := waiting(); len(w) != 1 || w[0].Active() {
		t.Fatalf("after the classification: %+v; want the waiting alarm cleared", w)
	}
	if err := e.Hub.Tick(); err != nil { // step 3 started now: not late
		t.Fatal(err)
	}
	if w := waiting(); len(w) != 1 {
		t.Fatalf("right after the classification: %+v; want no new waiting alarm", w)
	}
	for _, r := range wh.Received() {
		for _, s := range []string{r.Body.Subject.ID, r.Body.Subject.EN, r.Body.Body.ID, r.Body.Body.EN} {
			if strings.Contains(s, "Siti") || strings.Contains(s, hubtest.NIK) {
				t.Errorf("notification %s carries the guest's name or NIK: %q", r.Key, s)
			}
		}
	}
	if !e.Hub.Acked("permit/P-1/filed") || e.Hub.Acked("permit/P-1/classified") {
		t.Errorf("Acked filed %v, classified %v; want true (classified), false (waiting for approval)",
			e.Hub.Acked("permit/P-1/filed"), e.Hub.Acked("permit/P-1/classified"))
	}
}

// nextAlarm reads updates until an alarm update of change c.
func nextAlarm(t *testing.T, updates <-chan hub.Update, c alarm.Change) *alarm.Alarm {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case u := <-updates:
			if u.Kind == "alarm" && u.Change == c {
				return u.Alarm
			}
		case <-timeout:
			t.Fatalf("no alarm update %q", c)
		}
	}
}
