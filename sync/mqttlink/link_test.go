package mqttlink_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(t *testing.T, l interface{ Run(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

func waitConnected(t *testing.T, l *mqttlink.Link, n uint64) {
	t.Helper()
	waitfor.NoError(t, 20*time.Second, func() error {
		if !l.Connected() || l.Connections() < n {
			return fmt.Errorf("link not connected (%d connections, want %d)", l.Connections(), n)
		}
		return nil
	})
}

// publisher returns a connected link to broker, for a test's messages.
func publisher(t *testing.T, broker string) *mqttlink.Link {
	t.Helper()
	pub, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "pub", CleanSession: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, pub)
	waitConnected(t, pub, 1)
	return pub
}

func TestLinkResubscribesAfterBrokerRestart(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	got := make(chan mqttlink.Message, 16)
	sub, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "sub", CleanSession: true,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Subscriptions: map[string]byte{"kunci/v1/+/+/cmd": 1}}, func(m mqttlink.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	pub, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "pub", CleanSession: true,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mqttlink.Wait(context.Background(), pub.Publish("x", 1, false, nil)); err != mqttlink.ErrNotConnected {
		t.Fatalf("Publish before Run = %v; want ErrNotConnected", err)
	}
	run(t, sub)
	run(t, pub)
	waitConnected(t, sub, 1)
	waitConnected(t, pub, 1)
	send := func(payload string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := mqttlink.Wait(ctx, pub.Publish("kunci/v1/demo/door/cmd", 1, false, []byte(payload))); err != nil {
			t.Fatalf("Publish = %v", err)
		}
		select {
		case m := <-got:
			if string(m.Payload) != payload || m.Retained {
				t.Fatalf("got %q retained=%v; want %q", m.Payload, m.Retained, payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %q not received", payload)
		}
	}
	send("one")
	b.Restart()
	waitConnected(t, sub, 2)
	waitConnected(t, pub, 2)
	// a clean session lost its subscription with the restart: only a
	// resubscription on connect brings messages again
	send("two")
}

func TestLinkWillOnKill(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	got := make(chan mqttlink.Message, 16)
	watch, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "watch", CleanSession: true,
		Subscriptions: map[string]byte{"avail": 1}}, func(m mqttlink.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	run(t, watch)
	waitConnected(t, watch, 1)
	agent, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "agent", CleanSession: true,
		KeepAlive: time.Second, Will: &mqttlink.Will{Topic: "avail", Payload: []byte("offline"), QoS: 1, Retained: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	waitConnected(t, agent, 1)
	// a clean Disconnect sends no will; an agent that vanishes does. Cut
	// the agent off by stopping its Run without a DISCONNECT is not
	// possible through the API, so kill the broker's view of it instead:
	// a second client with the same id takes the session over, and the
	// broker publishes the first one's will.
	taker, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "agent", CleanSession: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, taker)
	select {
	case m := <-got:
		if string(m.Payload) != "offline" {
			t.Fatalf("will payload %q; want offline", m.Payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no will published")
	}
	cancel()
	<-done
}

// TestLinkNeverBlocksPaho: a handler that is behind never holds paho's
// reader: the link's own publishes are still acknowledged, what the queue
// cannot hold is dropped and counted, and once the queue has drained the
// link subscribes again, so the retained messages come anew.
func TestLinkNeverBlocksPaho(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	pub := publisher(t, b.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := mqttlink.Wait(ctx, pub.Publish("kunci/v1/demo/door/permits/P-1", 1, true, []byte("record"))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mqttlink.Wait(context.Background(), pub.Publish("kunci/v1/demo/door/permits/P-1", 1, true, nil))
	})

	gate := make(chan struct{})
	retained := make(chan struct{}, 16)
	var drops atomic.Int64
	sub, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "sub", CleanSession: true, QueueDepth: 4,
		Subscriptions: map[string]byte{"kunci/v1/demo/door/#": 1},
		OnDrop:        func(mqttlink.Message) { drops.Add(1) }},
		func(m mqttlink.Message) {
			if m.Retained {
				retained <- struct{}{}
			}
			<-gate // behind until the test lets it go
		})
	if err != nil {
		t.Fatal(err)
	}
	run(t, sub)
	waitConnected(t, sub, 1)
	select {
	case <-retained: // the handler now holds the retained record
	case <-ctx.Done():
		t.Fatal("the retained record never came")
	}
	for i := range 200 {
		if err := mqttlink.Wait(ctx, pub.Publish("kunci/v1/demo/door/cmd", 1, false, []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	// the flood is through the broker; paho's reader must still take the
	// acknowledgement of the subscriber's own publish
	if err := mqttlink.Wait(ctx, sub.Publish("kunci/v1/demo/door/status", 1, false, []byte("{}"))); err != nil {
		t.Fatalf("the subscriber's publish while its handler is behind: %v", err)
	}
	waitfor.Until(t, 20*time.Second, "the subscriber's link to drop a message", func() bool { return sub.Dropped() > 0 })
	if sub.Dropped() == 0 || drops.Load() != int64(sub.Dropped()) {
		t.Fatalf("dropped %d, OnDrop told %d; want both the same and more than 0", sub.Dropped(), drops.Load())
	}
	close(gate)
	select {
	case <-retained: // subscribed again: the record came anew
	case <-ctx.Done():
		t.Fatal("after the queue drained the retained record did not come again")
	}
}

// TestLinkUrgentQueue floods a link whose handler is behind with messages
// on one topic, then sends three on an urgent one: none of the three is
// dropped, and once the handler goes on they come before the flood's
// queued messages, in their order.
func TestLinkUrgentQueue(t *testing.T) {
	b := mqtttest.StartMosquitto(t)
	pub := publisher(t, b.URL())
	const flood, cmd = "kunci/v1/demo/door/permits/P-1", "kunci/v1/demo/door/cmd"
	gate := make(chan struct{})
	got := make(chan mqttlink.Message, 64)
	var urgentDrops atomic.Int64
	sub, err := mqttlink.New(mqttlink.Options{Broker: b.URL(), ClientID: "sub", CleanSession: true, QueueDepth: 4,
		Subscriptions: map[string]byte{"kunci/v1/demo/door/#": 1},
		Urgent:        func(topic string) bool { return topic == cmd },
		OnDrop: func(m mqttlink.Message) {
			if m.Topic == cmd {
				urgentDrops.Add(1)
			}
		}},
		func(m mqttlink.Message) {
			got <- m
			<-gate // behind until the test lets it go
		})
	if err != nil {
		t.Fatal(err)
	}
	run(t, sub)
	waitConnected(t, sub, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 200 {
		if err := mqttlink.Wait(ctx, pub.Publish(flood, 1, false, []byte{byte(i)})); err != nil {
			t.Fatal(err)
		}
	}
	waitfor.Until(t, 20*time.Second, "the flood to fill the queue", func() bool { return sub.Dropped() > 0 })
	for i := range 3 {
		if err := mqttlink.Wait(ctx, pub.Publish(cmd, 1, false, []byte{'c', byte('0' + i)})); err != nil {
			t.Fatal(err)
		}
	}
	// the three are through the broker and on paho's side once the
	// subscriber's own publish is acknowledged behind them
	if err := mqttlink.Wait(ctx, sub.Publish("kunci/v1/demo/door/status", 1, false, []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	first := <-got // the message the handler held while the rest came
	if first.Topic != flood {
		t.Fatalf("first message on %s, want the flood's", first.Topic)
	}
	// the broker may hold the last behind its in-flight window a moment
	// after the acknowledgement above: the three queued, the handler still
	// held, before it goes on
	waitfor.Until(t, 10*time.Second, "the three urgent messages queued", func() bool {
		urgent, _ := sub.Queued()
		return urgent == 3
	})
	close(gate)
	var order []string
	for len(order) < 3 {
		select {
		case m := <-got:
			order = append(order, m.Topic+" "+string(m.Payload))
		case <-ctx.Done():
			t.Fatalf("handled %q, want the three urgent messages first", order)
		}
	}
	want := []string{cmd + " c0", cmd + " c1", cmd + " c2"}
	if !slices.Equal(order, want) {
		t.Fatalf("after the handler went on: %q, want %q first", order, want)
	}
	if n := urgentDrops.Load(); n != 0 {
		t.Fatalf("%d urgent messages dropped, want none (flood dropped %d)", n, sub.Dropped())
	}
}
