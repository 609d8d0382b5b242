package downlink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// runLink runs l until the test ends.
func runLink(t *testing.T, l *mqttlink.Link) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("link Run = %v", err)
		}
	})
}

func publish(t *testing.T, l *mqttlink.Link, topic string, retained bool, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mqttlink.Wait(ctx, l.Publish(topic, 1, retained, payload)); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func waitConnected(t *testing.T, l *mqttlink.Link) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !l.Connected() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatal("link not connected")
		}
	}
}

// TestMosquitto runs the downlink behind a real mqttlink.Link on a real
// Mosquitto: a retained permit published before the agent connects is
// applied on connect, a retained command is refused, a forged permit is
// refused and the agent keeps running, a 1 MiB payload is refused.
func TestMosquitto(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	td := doorTopics(t)

	hubLink, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "hub", CleanSession: true,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runLink(t, hubLink)
	waitConnected(t, hubLink)

	// before the agent connects: a good permit, a forged one and a
	// command, all retained
	now := time.Now().UTC()
	forged := tampered(t, signed(t, hub, guestPermit("P-0666", 1, testDoor)), `"entries":0`, `"entries":99`)
	publish(t, hubLink, td.Permit("P-0001"), true, signed(t, hub, guestPermit("P-0001", 1, testDoor)))
	publish(t, hubLink, td.Permit("P-0666"), true, forged)
	publish(t, hubLink, td.Cmd(), true, signed(t, hub, command("C-RET", wire.CmdLockdown, now)))

	r := newRig(t, agent.NewSystemClock(nil))
	r.start()
	ctx, cancel := context.WithCancel(context.Background())
	agentLink, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "agent-demo-server-room", CleanSession: true,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Subscriptions: r.h.Subscriptions()},
		r.h.Func(ctx))
	if err != nil {
		t.Fatal(err)
	}
	linkDone := make(chan error, 1)
	go func() { linkDone <- agentLink.Run(ctx) }()
	// the link ends before the door: its handler calls the door
	t.Cleanup(func() {
		cancel()
		if err := <-linkDone; err != nil {
			t.Errorf("agent link Run = %v", err)
		}
	})

	events := func() []agent.Event {
		evs, err := r.st.Events(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	has := func(typ wire.EventType, reason wire.Reason, detail string) bool {
		for _, e := range events() {
			if e.Type == typ && e.Reason == reason && strings.Contains(e.Detail, detail) {
				return true
			}
		}
		return false
	}
	waitfor.Until(t, 20*time.Second, "the retained permit applied", func() bool {
		n, _, err := r.st.Counts()
		return err == nil && n == 1
	})
	waitfor.Until(t, 20*time.Second, "the retained command refused", func() bool { return has(wire.EvCmdRejected, "retained", td.Cmd()) })
	waitfor.Until(t, 20*time.Second, "the forged permit refused", func() bool {
		return has(wire.EvPermitRejected, wire.ReasonBadSignature, td.Permit("P-0666")+": ")
	})
	if st := r.door.Status(); st.Mode != wire.ModeNormal {
		t.Errorf("after the retained lockdown: mode %s; want normal", st.Mode)
	}
	info, err := r.st.Card(siteKey.Fingerprint(uidOf(1)))
	if err != nil || len(info.Permits) != 1 || info.Permits[0].ID != "P-0001" {
		t.Errorf("guest card: %+v, %v; want permit P-0001 only", info, err)
	}

	// 1 MiB on a permit topic, live
	publish(t, hubLink, td.Permit("P-0002"), false, []byte(strings.Repeat("x", 1<<20)))
	waitfor.Until(t, 20*time.Second, "the 1 MiB payload refused", func() bool {
		return has(wire.EvPermitRejected, wire.ReasonTooLarge, td.Permit("P-0002")+": ")
	})

	// the agent kept running: a fresh command is obeyed
	publish(t, hubLink, td.Cmd(), false, signed(t, hub, command("C-LIVE", wire.CmdLockdown, time.Now().UTC())))
	waitfor.Until(t, 20*time.Second, "the live lockdown obeyed", func() bool { return r.door.Status().Mode == wire.ModeLockdown })

	for _, c := range []struct {
		name string
		ctr  *metrics.Counter
		want uint64
	}{
		{"rejected retained", r.ctr.Rejected.With(wire.ReasonRetained), 1},
		{"rejected bad_signature", r.ctr.Rejected.With(wire.ReasonBadSignature), 1},
		{"rejected too_large", r.ctr.Rejected.With(wire.ReasonTooLarge), 1},
		{"door_errors", r.ctr.DoorErrors, 0},
	} {
		if got := c.ctr.Value(); got != c.want {
			t.Errorf("counter %s = %d; want %d", c.name, got, c.want)
		}
	}
	// counted once the door answered, a moment after its status changed
	waitfor.Until(t, 20*time.Second, "the permit and the live lockdown counted as taken", func() bool { return r.ctr.Taken.Value() == 2 })
	if got := r.relay.Calls(); len(got) != 1 || got[0] != "lock" {
		t.Errorf("relay calls %v; want only the safe state at start", got)
	}
	// clear the retained topics, as the hub does: ignored, counted
	publish(t, hubLink, td.Cmd(), true, nil)
	publish(t, hubLink, td.Permit("P-0666"), true, nil)
	waitfor.Until(t, 20*time.Second, "the cleared topics ignored", func() bool { return r.ctr.Cleared.Value() == 2 })
}
