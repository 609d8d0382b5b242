package hub_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/notify/notifytest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// storedServiceTimes is the batch report over the store: every permit of
// the workflow store and every stored event of the door.
func storedServiceTimes(t *testing.T, e *hubtest.Env) []workflow.ServiceTime {
	t.Helper()
	recs, err := e.WF.List()
	if err != nil {
		t.Fatal(err)
	}
	var walkErr error
	stop := errors.New("stop")
	sts := workflow.ServiceTimes(recs, func(yield func(wire.Event) bool) {
		walkErr = e.Events.Walk(hubtest.Site, hubtest.Door, func(ev wire.Event) error {
			if !yield(ev) {
				return stop
			}
			return nil
		})
	})
	if walkErr != nil && !errors.Is(walkErr, stop) {
		t.Fatal(walkErr)
	}
	return sts
}

// TestServiceTimesKept: the hub's service times, kept as events are stored
// and permits change, are the batch report over the stored events, and
// stay so when the hub starts again and builds them from the store.
func TestServiceTimesKept(t *testing.T) {
	now := time.Now().UTC()
	e := hubtest.New(t, hubtest.Options{})
	issueP1(t, e, now)
	same := func(what string) {
		t.Helper()
		got, want := e.Hub.ServiceTimes(workflow.Filter{}), storedServiceTimes(t, e)
		if len(got) != 1 || len(got) != len(want) || got[0] != want[0] {
			t.Fatalf("%s: the hub's service times\n%+v\nthe stored events'\n%+v", what, got, want)
		}
		if !got[0].Step[4].Known {
			t.Errorf("%s: step 4 (escort assigned) unknown: %+v", what, got[0])
		}
	}
	same("issued")
	visit := hubtest.Visit("P-1", now.Add(time.Minute), 1)
	e.Feed(t, visit[:6]...) // inside
	same("inside")
	e.Feed(t, visit[6:]...)
	same("secured")
	if st := e.Hub.ServiceTimes(workflow.Filter{})[0]; !st.Total.Known || !st.Step[5].Known || !st.Step[8].Known {
		t.Errorf("the whole visit is not timed: %+v", st)
	}
	e.Restart(t, hubtest.Options{})
	same("restarted")
}

// TestNotifiedToActed: each of SOP steps 2-4 is timed from when its
// notification was handed to the webhook until the step was taken, in
// the hub's service times and the API's report, and again after a
// restart, from the notifier's store.
func TestNotifiedToActed(t *testing.T) {
	wh := notifytest.NewWebhook(t)
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	wh.Now = c.Now
	o := hubtest.Options{Now: c.Now, Notify: webhookTo(wh)}
	e := hubtest.New(t, o)
	ctx := t.Context()
	if _, err := e.Client(t, e.Admin).PutStaff(ctx, api.StaffRequest{ID: "S-004", Name: "Budi", Site: hubtest.Site,
		CardUIDs: []string{"04E5F6A1B2C3D4"}, Escort: true}); err != nil {
		t.Fatal(err)
	}
	// handed waits until the notifier stored key's hand-off, before the
	// clock moves on
	handed := func(key string) {
		t.Helper()
		waitfor.Until(t, 10*time.Second, key+" handed to the webhook", func() bool {
			found := false
			if err := e.Notifier.Handed(func(k string, _ time.Time) { found = found || k == key }); err != nil {
				t.Fatal(err)
			}
			return found
		})
	}
	desk := e.Client(t, e.Token(t, "desk", auth.Requester))
	head := e.Client(t, e.Token(t, "kasi-infra", auth.Approver, auth.Coordinator))
	if _, err := desk.Request(ctx, api.PermitRequest{ID: "P-1", Site: hubtest.Site, Door: hubtest.Door, Guest: "Siti Rahma",
		NIK: hubtest.NIK, Organisation: "PT A", Purpose: "work", NotBefore: c.Now(), NotAfter: c.Now().Add(time.Hour),
		CardUID: hubtest.GuestUID}); err != nil {
		t.Fatal(err)
	}
	handed("permit/P-1/filed")
	c.Add(3 * time.Minute) // the coordinator, told, classifies 3 minutes later
	if _, err := head.Coordinate(ctx, "P-1", permit.Server); err != nil {
		t.Fatal(err)
	}
	handed("permit/P-1/classified")
	c.Add(90 * time.Second)
	if _, err := head.Approve(ctx, "P-1"); err != nil {
		t.Fatal(err)
	}
	c.Add(3 * time.Minute) // past step 4's 2 minutes: the reminder
	if err := e.Hub.Tick(); err != nil {
		t.Fatal(err)
	}
	handed("permit/P-1/waiting-escort")
	c.Add(time.Minute)
	if _, err := head.Escort(ctx, "P-1", "S-004"); err != nil {
		t.Fatal(err)
	}
	want := map[int]time.Duration{2: 3 * time.Minute, 3: 90 * time.Second, 4: time.Minute}
	check := func(what string) {
		t.Helper()
		sts := e.Hub.ServiceTimes(workflow.Filter{Permit: "P-1"})
		if len(sts) != 1 {
			t.Fatalf("%s: %d service times; want P-1's", what, len(sts))
		}
		for n, d := range want {
			if got := sts[0].Response[n]; got != (workflow.StepTime{Known: true, Duration: d, Within: true}) {
				t.Errorf("%s: step %d notified -> acted %+v; want %v, within the standard", what, n, got, d)
			}
		}
		rep, err := e.Client(t, e.Token(t, "auditor", auth.Viewer)).SLA(ctx, workflow.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Response) != 3 || len(rep.Permits) != 1 || len(rep.Permits[0].Response) != 3 {
			t.Fatalf("%s: the API's report %+v; want notified -> acted of steps 2-4", what, rep)
		}
		for i, n := range []int{2, 3, 4} {
			s, p := rep.Response[i], rep.Permits[0].Response[i]
			if s.Step != fmt.Sprint(n) || s.Count != 1 || time.Duration(s.Median) != want[n] || s.Within != 1 ||
				p.Step != s.Step || !p.Known || time.Duration(p.Duration) != want[n] {
				t.Errorf("%s: the API's step %d: summary %+v, permit %+v; want %v", what, n, s, p, want[n])
			}
		}
	}
	check("running")
	e.Restart(t, o)
	check("restarted")
}
