package hub_test

import (
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/hubtest"
)

// TestSilence: with Options.Silent (hub.yaml's alarms.silence) a door
// whose last status is older than that opens door.offline at the next
// tick, not before, and its next status clears it; without it, a door
// quiet for a day opens nothing.
func TestSilence(t *testing.T) {
	offline := func(t *testing.T, e *hubtest.Env) []alarm.Alarm {
		t.Helper()
		out, _, err := e.Hub.Alarms().List(alarm.Filter{Kind: alarm.DoorOffline}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tick := func(t *testing.T, e *hubtest.Env) {
		t.Helper()
		if err := e.Hub.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("set", func(t *testing.T) {
		c := &clock{t: time.Now().UTC()}
		e := hubtest.New(t, hubtest.Options{Now: c.Now, Silent: 10 * time.Minute})
		sendStatus(t, e)
		c.Add(9 * time.Minute)
		tick(t, e)
		if a := offline(t, e); len(a) != 0 {
			t.Fatalf("silent 9 minutes: %+v; want no door.offline (alarms.silence is 10m)", a)
		}
		c.Add(2 * time.Minute)
		tick(t, e)
		a := offline(t, e)
		if len(a) != 1 || a[0].Site != hubtest.Site || a[0].Door != hubtest.Door || !a[0].Active() {
			t.Fatalf("silent 11 minutes: %+v; want one active door.offline at %s/%s", a, hubtest.Site, hubtest.Door)
		}
		tick(t, e)
		if a := offline(t, e); len(a) != 1 {
			t.Fatalf("a second tick: %d door.offline; want still the one", len(a))
		}
		sendStatus(t, e)
		if a := offline(t, e); len(a) != 1 || a[0].Active() {
			t.Fatalf("after the door's status: %+v; want the door.offline cleared", a)
		}
	})
	t.Run("unset", func(t *testing.T) {
		c := &clock{t: time.Now().UTC()}
		e := hubtest.New(t, hubtest.Options{Now: c.Now})
		sendStatus(t, e)
		c.Add(24 * time.Hour)
		tick(t, e)
		if a := offline(t, e); len(a) != 0 {
			t.Fatalf("no alarms.silence, silent a day: %+v; want no door.offline", a)
		}
	})
}
