package hub_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/workflow"
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
