package hadiscovery_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/sync/hadiscovery"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
	"github.com/kunci-project/kunci/wire"
)

// newFakeLink returns a link that takes only retained QoS 1 publishes and
// acknowledges each at once.
func newFakeLink(t *testing.T) *mqttlinktest.Link {
	l := mqttlinktest.New(t)
	l.Expect(1, true)
	return l
}

// rounds counts the complete sets of configs sent.
func rounds(t *testing.T, l *mqttlinktest.Link, n int) int {
	t.Helper()
	sent := len(l.Published())
	if sent%n != 0 {
		t.Fatalf("%d configs sent; want whole rounds of %d", sent, n)
	}
	return sent / n
}

// wantRounds waits until the bubble is idle and checks that l got want
// whole rounds of n configs.
func wantRounds(t *testing.T, l *mqttlinktest.Link, n, want int, when string) {
	t.Helper()
	synctest.Wait()
	if r := rounds(t, l, n); r != want {
		t.Fatalf("%d rounds %s; want %d", r, when, want)
	}
}

// TestRunSendsAtConnectionAndBirth: the configs go out at every
// connection and whenever Home Assistant's birth message says online; a
// retained "online", an "offline" and other topics send nothing.
func TestRunSendsAtConnectionAndBirth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDemo(t)
		n := len(d.Configs())
		l := newFakeLink(t)
		background(t, "Run", func(ctx context.Context) error { return d.Run(ctx, l) })
		wantRounds(t, l, n, 0, "before any connection")
		l.Connect()
		wantRounds(t, l, n, 1, "after the connection")
		if d.Subscriptions()["homeassistant/status"] != 1 || d.StatusTopic() != "homeassistant/status" {
			t.Fatalf("Subscriptions = %v", d.Subscriptions())
		}
		for _, m := range []mqttlink.Message{
			{Topic: "homeassistant/status", Payload: []byte("online"), Retained: true},
			{Topic: "homeassistant/status", Payload: []byte("offline")},
		} {
			if !d.Handle(m) {
				t.Errorf("Handle(%s) = false", m.Payload)
			}
		}
		if d.Handle(mqttlink.Message{Topic: "kunci/v1/demo/server-room/cmd", Payload: []byte("online")}) {
			t.Error("Handle(cmd) = true")
		}
		wantRounds(t, l, n, 1, "after a retained online, an offline and a command")
		d.Handle(mqttlink.Message{Topic: "homeassistant/status", Payload: []byte("online")})
		wantRounds(t, l, n, 2, "after Home Assistant's birth")
		l.Connect()
		wantRounds(t, l, n, 3, "after a new connection")
	})
}

// TestRunRetriesRefusedConfigs: a refused config sends the round again
// after RetryAfter.
func TestRunRetriesRefusedConfigs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDemo(t)
		n := len(d.Configs())
		l := newFakeLink(t)
		l.Refuse(errors.New("refused"))
		l.Connect()
		background(t, "Run", func(ctx context.Context) error { return d.Run(ctx, l) })
		wantRounds(t, l, n, 0, "after a refusal, before RetryAfter")
		time.Sleep(time.Second)
		wantRounds(t, l, n, 1, "after RetryAfter")
	})
}

// TestDiscoveryOnTheWire: against real brokers, a Home Assistant that
// subscribes finds every config retained, and when it announces itself
// online it is sent them again; an access event arrives as a live
// message.
func TestDiscoveryOnTheWire(t *testing.T) {
	t.Run("mosquitto", func(t *testing.T) { discoveryWire(t, mqtttest.StartMosquitto(t).URL()) })
	t.Run("mochi", func(t *testing.T) { discoveryWire(t, mqtttest.StartMochi(t)) })
}

func discoveryWire(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := newDemo(t)
	n := len(d.Configs())

	agentLink := link(t, mqttlink.Options{Broker: url, ClientID: "kunci.demo.server-room", CleanSession: true,
		Subscriptions: d.Subscriptions()}, func(m mqttlink.Message) { d.Handle(m) })
	background(t, "Run", func(ctx context.Context) error { return d.Run(ctx, agentLink) })

	subscribe := func(id string) (*mqttlink.Link, chan mqttlink.Message) {
		got := make(chan mqttlink.Message, 4*n)
		l := link(t, mqttlink.Options{Broker: url, ClientID: id, CleanSession: true,
			Subscriptions: map[string]byte{"homeassistant/+/+/config": 1, hadiscovery.EventTopic(demo): 1}},
			func(m mqttlink.Message) { got <- m })
		waitUp(ctx, t, l)
		return l, got
	}
	// receive waits for every config; retained: only those handed over at
	// subscription count, false: only live ones
	receive := func(got chan mqttlink.Message, retained *bool) {
		t.Helper()
		seen := map[string]bool{}
		for len(seen) < n {
			select {
			case m := <-got:
				if retained == nil || m.Retained == *retained {
					seen[m.Topic] = true
				}
			case <-ctx.Done():
				t.Fatalf("%d of %d configs arrived", len(seen), n)
			}
		}
	}
	yes, no := true, false

	ha, got := subscribe("homeassistant")
	receive(got, nil) // live or retained: the agent may be done before Home Assistant subscribes
	_, got2 := subscribe("homeassistant-restarted")
	receive(got2, &yes)

	if err := mqttlink.Wait(ctx, ha.Publish("homeassistant/status", 1, false, []byte("online"))); err != nil {
		t.Fatal(err)
	}
	receive(got, &no)

	m, _ := hadiscovery.EventMessage(demo, agent.Event{ID: "demo/server-room/6f1c2a/42", Seq: 42,
		Type: wire.EvGranted, At: time.Now(), Reader: "entry", Permit: "P-0012", Escort: "S-004"})
	if err := mqttlink.Wait(ctx, agentLink.Publish(m.Topic, hadiscovery.QoS, false, m.Payload)); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-got:
			if e.Topic == m.Topic {
				if e.Retained || !strings.Contains(string(e.Payload), `"event_type":"access.granted"`) {
					t.Fatalf("event %s retained=%v", e.Payload, e.Retained)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the access event did not arrive")
		}
	}
}

func link(t *testing.T, o mqttlink.Options, h func(mqttlink.Message)) *mqttlink.Link {
	t.Helper()
	o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	l, err := mqttlink.New(o, h)
	if err != nil {
		t.Fatal(err)
	}
	background(t, "link Run", l.Run)
	return l
}

// background runs f until the test ends, then cancels its context and
// checks that it returned nil. Cleanups run last first: what starts later
// stops sooner.
func background(t *testing.T, what string, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s = %v; want nil once its context ends", what, err)
		}
	})
}

func waitUp(ctx context.Context, t *testing.T, l *mqttlink.Link) {
	t.Helper()
	for {
		next := l.NextConnection()
		if l.Connected() {
			return
		}
		select {
		case <-next:
		case <-ctx.Done():
			t.Fatal("link did not connect")
		}
	}
}
