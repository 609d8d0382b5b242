package hub_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/notify/notifytest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// gapChildEnv names the stores' folder of the hub that TestAlarmCrashGap
// runs as a child process and kills.
const gapChildEnv = "KUNCI_HUB_TEST_GAP_CHILD"

// killAtNotify is a failpoint between the hub's two writes of an alarm:
// the book has stored it; the hub dies by SIGKILL as it hands the
// notification on, before the notifier's queue has it.
type killAtNotify struct{}

func (killAtNotify) Notify(notify.Message) error {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal ends the process
}

// gapChild is the child's part: a hub fed a forced door, killed by
// killAtNotify.
func gapChild(t *testing.T, dir string) {
	e := hubtest.New(t, hubtest.Options{Dir: dir, Notifier: killAtNotify{}})
	e.Feed(t, wire.Event{ID: "demo/server-room/e1/1", Seq: 1, Epoch: "e1", Site: hubtest.Site, Door: hubtest.Door,
		Type: wire.EvForced, At: time.Now().UTC(), ClockSynced: true, Detail: "opened while locked"})
	select {
	case <-time.After(time.Minute):
		t.Fatal("the hub did not hand the alarm's notification on within a minute")
	case <-t.Context().Done():
	}
}

// TestAlarmCrashGap: a hub killed after its alarm book stored a forced
// door's alarm and before the notifier queued its notification (a child
// process, killed at the handing over) notifies it when it starts again:
// the webhook receiver gets it once. The next start sends nothing more,
// and the tick drops the alarm's outbox mark.
func TestAlarmCrashGap(t *testing.T) {
	if dir := os.Getenv(gapChildEnv); dir != "" {
		gapChild(t, dir)
		return
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAlarmCrashGap$", "-test.count=1")
	cmd.Env = append(os.Environ(), gapChildEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL || ctx.Err() != nil {
		t.Fatalf("the child hub ended with %v; want its own SIGKILL at the notification\n%s", err, out.String())
	}

	wh := notifytest.NewWebhook(t)
	o := hubtest.Options{Dir: dir, Notify: webhookTo(wh)}
	e := hubtest.New(t, o)
	as, _, err := e.Hub.Alarms().List(alarm.Filter{}, "", 10)
	if err != nil || len(as) != 1 || as[0].Kind != alarm.DoorForced || !as[0].Open() {
		t.Fatalf("alarms after the kill %+v, %v; want the forced door's, open", as, err)
	}
	key := "alarm/" + as[0].ID
	waitfor.Until(t, 30*time.Second, "the webhook receives the alarm stored before the kill", func() bool {
		return wh.Taken()[key] == 1
	})
	if errs := wh.Errors(); len(errs) > 0 {
		t.Errorf("webhook refused: %v", errs)
	}
	if r := wh.Received()[0]; r.Body.Topic != notify.AlarmTopic(string(alarm.DoorForced)) {
		t.Errorf("webhook body %+v; want the forced door's alarm", r.Body)
	}

	// the receiver took it; the notifier records the delivery after its
	// answer, and a restart before that would leave it queued
	waitfor.Until(t, 30*time.Second, "the notifier to record the delivery", func() bool {
		s, err := e.Notifier.Stats()
		return err == nil && s.Sent == 1
	})
	// once more: the notifier has the key, so New queues nothing
	e.Restart(t, o)
	if s, err := e.Notifier.Stats(); err != nil || s.Queued != 0 || s.Sent != 1 {
		t.Errorf("notifier after the second start %+v, %v; want none queued, 1 sent", s, err)
	}
	if err := e.Hub.Tick(); err != nil {
		t.Fatal(err)
	}
	if marked, err := e.Hub.Alarms().Unnotified(); err != nil || len(marked) != 0 {
		t.Errorf("outbox after the tick %+v, %v; want empty", marked, err)
	}
	if n := len(wh.Received()); n != 1 {
		t.Errorf("the webhook got %d requests; want 1", n)
	}
}

// TestWorkflowCrashGap: a request stored by a hub that did not queue its
// notification (a hub stopped between the two writes, as one without a
// notifier stands for here) is notified when the hub starts with one;
// the start after that sends nothing more, and a permit whose visit has
// ended is not notified again.
func TestWorkflowCrashGap(t *testing.T) {
	o := hubtest.Options{Dir: t.TempDir()}
	e := hubtest.New(t, o)
	desk := e.Client(t, e.Token(t, "desk", auth.Requester))
	issueP1(t, e, time.Now().Add(-3*time.Hour)) // its visit ended
	if _, err := desk.Request(t.Context(), api.PermitRequest{ID: "P-2", Site: hubtest.Site, Door: hubtest.Door,
		Guest: "Siti Rahma", NIK: hubtest.NIK, Organisation: "PT A", Purpose: "work", NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), CardUID: hubtest.GuestUID}); err != nil {
		t.Fatal(err)
	}

	wh := notifytest.NewWebhook(t)
	o.Notify = webhookTo(wh)
	e.Restart(t, o)
	waitfor.Until(t, 30*time.Second, "the webhook receives the request filed before", func() bool {
		return wh.Taken()["permit/P-2/filed"] == 1
	})
	waitfor.Until(t, 30*time.Second, "the notifier to record the delivery", func() bool {
		s, err := e.Notifier.Stats()
		return err == nil && s.Sent == 1 && s.Queued == 0
	})
	e.Restart(t, o)
	if s, err := e.Notifier.Stats(); err != nil || s.Queued != 0 {
		t.Errorf("notifier after the second start %+v, %v; want nothing queued", s, err)
	}
	if taken := wh.Taken(); len(taken) != 1 {
		t.Errorf("the webhook took %v; want P-2's filing alone (P-1's visit has ended)", taken)
	}
	if errs := wh.Errors(); len(errs) > 0 {
		t.Errorf("webhook refused: %v", errs)
	}
}
