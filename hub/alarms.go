package hub

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hub/kv"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/workflow"
)

// Notifier is where the hub hands its notifications (hub/notify's
// Notifier): Notify only queues, it never waits for a peer.
type Notifier interface {
	Notify(notify.Message) error
}

var _ Notifier = (*notify.Notifier)(nil)

// TickEvery is how often Run checks what nobody reports: doors silent
// longer than Options.Silent and requests past their SOP step's standard
// time.
const TickEvery = time.Minute

// The keys of the hub's notifications: one per alarm opened, one per
// workflow step of a permit. Acked answers for each.
const (
	keyAlarm          = "alarm/"
	keyFiled          = "/filed"
	keyClassified     = "/classified"
	keyWaitingEscort  = "/waiting-escort"
	keyIssued         = "/issued"
	keyPermitPrefix   = "permit/"
	stepCoordinate    = 2
	stepApprove       = 3
	stepAssignEscort  = 4
	defaultLocation   = "Asia/Jakarta"
	notifyTimeLayout  = "2006-01-02 15:04 MST"
	waitingStepFormat = "SOP step %d"
)

// pending is a request not yet issued (requested, coordinated or
// approved): what Tick times against its SOP step's standard.
type pending struct {
	site, door string
	state      workflow.State
	since      time.Time // when it came to state
	raised     bool      // its waiting alarm (and reminder) are out
}

// waits follows the pending requests. It is this process's: a request
// filed or moved by another hub process sharing a PostgreSQL store is
// not in it until this one starts again.
type waits struct {
	mu sync.Mutex
	m  map[string]*pending
}

// stepOf returns the SOP step a request in st waits for (0: none).
func stepOf(st workflow.State) int {
	switch st {
	case workflow.Requested:
		return stepCoordinate
	case workflow.Coordinated:
		return stepApprove
	case workflow.Approved:
		return stepAssignEscort
	}
	return 0
}

// follow records r's state: pending or no longer. It returns whether r
// left a pending state it was in.
func (w *waits) follow(r *workflow.Record) (left bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.m[r.ID]
	if cur != nil && cur.state == r.State {
		return false
	}
	if stepOf(r.State) == 0 {
		delete(w.m, r.ID)
		return cur != nil
	}
	since := time.Time{}
	if n := len(r.History); n > 0 {
		since = r.History[n-1].At
	}
	w.m[r.ID] = &pending{site: r.Site, door: r.Door, state: r.State, since: since}
	return cur != nil
}

// openBook opens the alarm book on the workflow store.
func (h *Hub) openBook() error {
	var err error
	h.alarms, err = alarm.New(h.wf.KV(), alarm.Options{OnChange: h.alarmChanged, Log: h.log, Silent: h.o.Silent,
		Outbox: h.o.Notifier != nil})
	if err != nil {
		return err
	}
	h.o.Metrics.GaugeFunc("kunci_hub_alarms_unacked", "Alarms no one has acknowledged.",
		func() float64 { return float64(h.alarms.Unacked()) })
	h.notifyFailed = h.o.Metrics.Counter("kunci_hub_notify_handoff_failed_total",
		"Notifications the hub could not hand to the notifier (refused or not queued); each is logged.")
	h.alarmFailed = h.o.Metrics.Counter("kunci_hub_alarm_errors_total",
		"Alarm records the hub could not write (store errors); each is logged.")
	return nil
}

// Alarms returns the alarm records: the API's and the console's list,
// Unacked for the badge.
func (h *Hub) Alarms() *alarm.Book { return h.alarms }

// FollowedAlarms takes the alarms another hub replica sharing the store
// opened, cleared or acknowledged (ids; none: the alarms' state alone):
// the book reads its state again (the console's count of alarms not
// acknowledged), and the watchers see each alarm as they would have on
// the replica that wrote it. Nobody is notified: that replica did.
func (h *Hub) FollowedAlarms(ids []string) error {
	as, cs, err := h.alarms.Follow(ids)
	if err != nil {
		return err
	}
	h.live.mu.Lock()
	defer h.live.mu.Unlock()
	for i := range as {
		al := as[i]
		h.live.send(Update{Kind: "alarm", Site: al.Site, Door: al.Door, Alarm: &al, Change: cs[i]})
	}
	return nil
}

// AckAlarm acknowledges alarm id for by with note, at the hub's time.
func (h *Hub) AckAlarm(id, by, note string) (alarm.Alarm, error) {
	return h.alarms.Acknowledge(id, by, note, h.o.Now())
}

// alarmErr logs and counts an alarm record the hub could not write.
func (h *Hub) alarmErr(what string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, kv.ErrClosed):
		// the hub is stopping: its stores closed before the link's last
		// messages (a door's last will as the broker sees it go)
		h.log.Debug("hub: alarm "+what+" after the store closed", "err", err)
	default:
		h.alarmFailed.Inc()
		h.log.Error("hub: alarm "+what, "err", err)
	}
}

// alarmChanged is the book's OnChange: the watchers see every change;
// only an opening notifies (a clear or an acknowledgement tells nobody:
// the person told acts on the opening, and escalation asks Acked).
func (h *Hub) alarmChanged(a alarm.Alarm, c alarm.Change) {
	h.live.mu.Lock()
	al := a
	h.live.send(Update{Kind: "alarm", Site: a.Site, Door: a.Door, Alarm: &al, Change: c})
	h.live.mu.Unlock()
	if c != alarm.Opened || h.o.Notifier == nil {
		return
	}
	if h.notifyAlarm(a) {
		h.handed.add(a.ID)
	}
}

// notifyAlarm hands a's notification to the notifier and reports whether
// it is done with: queued (or a no-op, notified before) or refused for
// good. A store error leaves it to the next renotify.
func (h *Hub) notifyAlarm(a alarm.Alarm) bool {
	m := h.alarmMessage(a)
	err := h.o.Notifier.Notify(m)
	if errors.Is(err, notify.ErrPersonalData) && a.Detail != "" {
		// the door's detail text looked like personal data: the
		// notification goes without it (the record keeps it)
		a.Detail = ""
		err = h.o.Notifier.Notify(h.alarmMessage(a))
	}
	h.notified(m.Key, err)
	return err == nil || errors.Is(err, notify.ErrMessage) || errors.Is(err, notify.ErrPersonalData)
}

// handed are the alarms whose notification the notifier has since the
// last renotify, whose outbox marks it drops in one write.
type handed struct {
	mu  sync.Mutex
	ids []string
}

func (hd *handed) add(id string) {
	hd.mu.Lock()
	hd.ids = append(hd.ids, id)
	hd.mu.Unlock()
}

func (hd *handed) take() []string {
	hd.mu.Lock()
	defer hd.mu.Unlock()
	ids := hd.ids
	hd.ids = nil
	return ids
}

// renotify closes the gap between an alarm's record and its
// notification, two writes: the book marks an alarm in the transaction
// that opens it (alarm.Options.Outbox), and the marks left are of alarms
// whose notification the notifier may not have, the hub having stopped
// (or the notifier's write having failed) between the two. New notifies
// them at start and Tick the ones of a failed write; a notification the
// notifier has is a no-op by its key, so none goes twice. The marks of
// the alarms notified since go in the same write.
func (h *Hub) renotify() error {
	if h.o.Notifier == nil {
		return nil
	}
	done := h.handed.take()
	marked, err := h.alarms.Unnotified()
	if err != nil {
		return err
	}
	had := map[string]bool{}
	for _, id := range done {
		had[id] = true
	}
	again := 0
	for _, a := range marked {
		if had[a.ID] {
			continue
		}
		again++
		if h.notifyAlarm(a) {
			done = append(done, a.ID)
		}
	}
	if again > 0 {
		h.log.Info("hub: alarms notified again, their notification not known to be queued", "alarms", again)
	}
	if len(marked) == 0 {
		return nil
	}
	return h.alarms.Notified(done...)
}

func (h *Hub) notified(key string, err error) {
	if err != nil {
		h.notifyFailed.Inc()
		h.log.Error("hub: notification not queued", "key", key, "err", err)
	}
}

// kindText names each kind of alarm in both languages.
var kindText = map[alarm.Kind]notify.Text{
	alarm.DoorForced:     {ID: "pintu dibuka paksa", EN: "door forced"},
	alarm.DoorHeldOpen:   {ID: "pintu terbuka terlalu lama", EN: "door held open"},
	alarm.RoomNotSecured: {ID: "ruangan tidak diamankan", EN: "room not secured"},
	alarm.RackTampered:   {ID: "rak dibuka tanpa izin", EN: "rack tampered"},
	alarm.Unescorted:     {ID: "tamu tanpa pendamping", EN: "guest unescorted"},
	alarm.RelayFault:     {ID: "gangguan relai", EN: "relay fault"},
	alarm.ReaderFault:    {ID: "gangguan pembaca kartu", EN: "card reader fault"},
	alarm.ClockUnsynced:  {ID: "jam pintu tidak tersinkron", EN: "door clock not synchronised"},
	alarm.LowSpace:       {ID: "penyimpanan pintu hampir penuh", EN: "door store low on space"},
	alarm.StoreFailed:    {ID: "penyimpanan pintu gagal", EN: "door store failed"},
	alarm.DoorOffline:    {ID: "pintu luring", EN: "door offline"},
	alarm.RequestWaiting: {ID: "permohonan menunggu melewati waktu standar", EN: "request waiting past its standard time"},
}

// KindText returns the name of an alarm's kind in both languages (the
// kind itself for one the hub does not know).
func KindText(k alarm.Kind) notify.Text {
	if t, ok := kindText[k]; ok {
		return t
	}
	return notify.Text{ID: string(k), EN: string(k)}
}

// alarmMessage is a's notification: door, kind, rack, permit id and the
// door's detail text, no personal data (a record has none).
func (h *Hub) alarmMessage(a alarm.Alarm) notify.Message {
	kt := KindText(a.Kind)
	where := a.Site + "/" + a.Door
	var id, en strings.Builder
	line := func(b *strings.Builder, label, v string) {
		if v != "" {
			fmt.Fprintf(b, "%s: %s\n", label, v)
		}
	}
	// label and value in Bahasa Indonesia, then in English
	for _, r := range [][4]string{{"Alarm", a.ID + " (" + string(a.Kind) + ")", "Alarm", a.ID + " (" + string(a.Kind) + ")"},
		{"Jenis", kt.ID, "Kind", kt.EN}, {"Pintu", where, "Door", where}, {"Rak", a.Rack, "Rack", a.Rack},
		{"Izin", a.Permit, "Permit", a.Permit}, {"Keterangan", a.Detail, "Detail", a.Detail},
		{"Dibuka", h.when(a.Opened), "Opened", h.when(a.Opened)}} {
		line(&id, r[0], r[1])
		line(&en, r[2], r[3])
	}
	id.WriteString("Akui di konsol: kunci alarm ack " + a.ID + " --note …")
	en.WriteString("Acknowledge in the console: kunci alarm ack " + a.ID + " --note …")
	return notify.Message{Key: keyAlarm + a.ID, Topic: notify.AlarmTopic(string(a.Kind)), Site: a.Site, Door: a.Door,
		Subject: notify.Text{ID: "Alarm " + a.ID + ": " + kt.ID + " di " + where, EN: "Alarm " + a.ID + ": " + kt.EN + " at " + where},
		Body:    notify.Text{ID: id.String(), EN: en.String()}, At: a.Opened}
}

// when is t in the site's zone, for a notification's text.
func (h *Hub) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(h.o.Location).Format(notifyTimeLayout)
}

// Acked answers the notifier (notify.Options.Acked) for the hub's keys:
// an alarm's is acknowledged once a person acknowledged it; a workflow
// step's once the request moved on (or ended), so escalation stops when
// the step is taken; an issued permit's is for information and never
// escalates.
func (h *Hub) Acked(key string) bool {
	if id, ok := strings.CutPrefix(key, keyAlarm); ok {
		a, err := h.alarms.Get(id)
		return err == nil && !a.Open()
	}
	rest, ok := strings.CutPrefix(key, keyPermitPrefix)
	if !ok {
		return false
	}
	id, step, _ := strings.Cut(rest, "/")
	want := map[string]workflow.State{keyFiled: workflow.Requested, keyClassified: workflow.Coordinated,
		keyWaitingEscort: workflow.Approved}["/"+step]
	if want == "" {
		return true // issued: nothing to act on
	}
	r, err := h.wf.Get(id)
	return err == nil && r.State != want
}

// workflowStep notifies a transition of r and keeps its waits: the step
// r left is done (its waiting alarm clears), the one it came to is timed.
func (h *Hub) workflowStep(r *workflow.Record) {
	if h.waits.follow(r) {
		h.alarmErr("done", h.alarms.Done(r.Site, r.Door, r.ID, h.o.Now()))
	}
	h.notifyState(r)
}

// notifyState sends the notification of the step r is at, if it has one.
func (h *Hub) notifyState(r *workflow.Record) {
	switch r.State {
	case workflow.Requested:
		h.notifyStep(r, keyFiled, notify.TopicRequestFiled,
			notify.Text{ID: "menunggu klasifikasi (langkah 2 SOP)", EN: "awaits classification (SOP step 2)"})
	case workflow.Coordinated:
		h.notifyStep(r, keyClassified, notify.TopicRequestClassified,
			notify.Text{ID: "menunggu persetujuan (langkah 3 SOP)", EN: "awaits approval (SOP step 3)"})
	case workflow.Issued:
		h.notifyStep(r, keyIssued, notify.TopicPermitIssued,
			notify.Text{ID: "terbit; pendamping " + r.Escort, EN: "issued; escort " + r.Escort})
	}
}

// notifyPending hands on again, at start, the notification of each
// request's current step that may still matter: a request waiting for
// classification or approval, a permit issued whose visit has not
// ended. The workflow's store and the notifier's queue are two writes,
// and a hub stopped between them lost the second; one the notifier has
// is a no-op by its key, so nothing goes twice.
func (h *Hub) notifyPending(recs []workflow.Record) {
	if h.o.Notifier == nil {
		return
	}
	now := h.o.Now()
	for i := range recs {
		r := &recs[i]
		if r.State == workflow.Issued && !r.NotAfter.After(now) {
			continue
		}
		h.notifyState(r)
	}
}

// notifyStep sends r's notification at a workflow step: the permit id,
// the door, the category and the times; never the guest's name, NIK,
// phone or card (the recipients' roles differ; the permit id leads them
// to the console, which shows what their role may see).
func (h *Hub) notifyStep(r *workflow.Record, key string, t notify.Topic, what notify.Text) {
	if h.o.Notifier == nil {
		return
	}
	where := r.Site + "/" + r.Door
	at := h.o.Now()
	if n := len(r.History); n > 0 {
		at = r.History[n-1].At
	}
	cat := string(r.Category)
	if cat == "" {
		cat = "-"
	}
	window := h.when(r.NotBefore) + " – " + h.when(r.NotAfter)
	body := notify.Text{
		ID: fmt.Sprintf("Izin: %s\nPintu: %s\nKategori: %s\nWaktu kunjungan: %s\nStatus: %s sejak %s\n", r.ID, where, cat,
			window, what.ID, h.when(at)),
		EN: fmt.Sprintf("Permit: %s\nDoor: %s\nCategory: %s\nVisit: %s\nState: %s since %s\n", r.ID, where, cat,
			window, what.EN, h.when(at)),
	}
	m := notify.Message{Key: keyPermitPrefix + r.ID + key, Topic: t, Site: r.Site, Door: r.Door,
		Subject: notify.Text{ID: "Izin " + r.ID + " untuk " + where + " " + what.ID, EN: "Permit " + r.ID + " for " + where + " " + what.EN},
		Body:    body, At: at}
	h.notified(m.Key, h.o.Notifier.Notify(m))
}

// Tick checks, at the hub's time, what nobody reports: a door silent
// longer than Options.Silent opens door.offline (when Silent is set),
// a request past its SOP step's standard time opens request.waiting
// and, approved and still without its escort, reminds the approver.
// Run calls it every TickEvery; a test with a fake clock calls it.
func (h *Hub) Tick() error {
	now := h.o.Now()
	errs := []error{h.renotify()}
	if h.o.Silent > 0 {
		seen := map[[2]string]time.Time{}
		for _, d := range h.live.list() {
			if d.Availability != "offline" {
				seen[[2]string{d.Site, d.Door}] = d.LastSeen
			}
		}
		errs = append(errs, h.alarms.Silence(seen, now))
	}
	type late struct {
		id string
		p  pending
	}
	var due []late
	h.waits.mu.Lock()
	for id, p := range h.waits.m {
		if step := stepOf(p.state); !p.raised && !p.since.IsZero() && now.Sub(p.since) > workflow.Standard[step] {
			p.raised = true
			due = append(due, late{id, *p})
		}
	}
	h.waits.mu.Unlock()
	for _, l := range due {
		step := stepOf(l.p.state)
		errs = append(errs, h.alarms.Waiting(l.p.site, l.p.door, l.id, fmt.Sprintf(waitingStepFormat, step), l.p.since, now))
		if l.p.state == workflow.Approved {
			if r, err := h.wf.Get(l.id); err == nil && r.State == workflow.Approved {
				h.notifyStep(&r, keyWaitingEscort, notify.TopicRequestWaitingEscort,
					notify.Text{ID: "disetujui, menunggu penetapan pendamping (langkah 4 SOP)",
						EN: "approved, awaits its escort (SOP step 4)"})
			}
		}
	}
	return errors.Join(errs...)
}
