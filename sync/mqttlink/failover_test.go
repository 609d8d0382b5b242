package mqttlink_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

func TestBrokerList(t *testing.T) {
	for _, tc := range []struct {
		o    mqttlink.Options
		want string // in the error; "" for none
	}{
		{mqttlink.Options{ClientID: "c"}, "a broker is required"},
		{mqttlink.Options{ClientID: "c", Broker: "tcp://127.0.0.1:1"}, ""},
		{mqttlink.Options{ClientID: "c", Brokers: []string{"tcp://127.0.0.1:1", "tcp://127.0.0.1:2"}}, ""},
		{mqttlink.Options{ClientID: "c", Broker: "tcp://127.0.0.1:1", Brokers: []string{"tcp://127.0.0.1:1", "tcp://127.0.0.1:2"}}, ""},
		{mqttlink.Options{ClientID: "c", Broker: "tcp://127.0.0.1:3", Brokers: []string{"tcp://127.0.0.1:1"}}, "set one of them"},
		{mqttlink.Options{ClientID: "c", Brokers: []string{"tcp://127.0.0.1:1", "tcp://127.0.0.1:1"}}, "listed twice"},
		{mqttlink.Options{ClientID: "c", Brokers: []string{"tcp://127.0.0.1:1", ""}}, "empty"},
	} {
		_, err := mqttlink.New(tc.o, nil)
		_, serr := mqttlink.NewSet(tc.o, nil)
		for _, err := range []error{err, serr} {
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New(%q, %q) = %v; want no error", tc.o.Broker, tc.o.Brokers, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, mqttlink.ErrBrokers)):
				t.Errorf("New(%q, %q) = %v; want ErrBrokers saying %q", tc.o.Broker, tc.o.Brokers, err, tc.want)
			}
		}
	}
	// a link refused registers nothing: the process's registry takes the
	// next one
	reg := metrics.NewRegistry()
	if _, err := mqttlink.New(mqttlink.Options{Broker: "tcp://127.0.0.1:1", Metrics: reg}, nil); err == nil {
		t.Error("New without a client id: no error")
	}
	if _, err := mqttlink.New(mqttlink.Options{Broker: "tcp://127.0.0.1:1", ClientID: "c", Metrics: reg}, nil); err != nil {
		t.Errorf("New after a refused one on the same registry: %v", err)
	}
}

// A link on two brokers stays on the first while it works, moves to the
// second when the first is killed, and stays there when the first comes
// back; a retained message published after the move is on the second.
func TestLinkFailsOver(t *testing.T) {
	a, b := mqtttest.StartMosquitto(t), mqtttest.StartMosquitto(t)
	reg := metrics.NewRegistry()
	got := make(chan mqttlink.Message, 16)
	l, err := mqttlink.New(mqttlink.Options{Brokers: []string{a.URL(), b.URL()}, ClientID: "door", CleanSession: true,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, KeepAlive: time.Second, Metrics: reg,
		Will:          &mqttlink.Will{Topic: "door/availability", Payload: []byte("offline"), QoS: 1, Retained: true},
		Subscriptions: map[string]byte{"door/cmd": 1}}, func(m mqttlink.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	run(t, l)
	waitConnected(t, l, 1)
	if l.Broker() != a.URL() {
		t.Fatalf("Broker() = %s; want the first, %s", l.Broker(), a.URL())
	}
	next := l.NextConnection()
	a.Kill()
	select {
	case <-next:
	case <-time.After(20 * time.Second):
		t.Fatal("no connection to the second broker within 20 s of the first's kill")
	}
	if l.Broker() != b.URL() || !l.Connected() {
		t.Fatalf("after the kill: Broker() = %s, connected %v; want %s", l.Broker(), l.Connected(), b.URL())
	}
	// the subscriptions were made on the second broker
	pubB := publisher(t, b.URL())
	if err := mqttlink.Wait(context.Background(), pubB.Publish("door/cmd", 1, false, []byte("on b"))); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Payload) != "on b" || m.Broker != 1 {
			t.Errorf("message %q from broker %d; want \"on b\" from 1", m.Payload, m.Broker)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message through the second broker")
	}
	text := string(reg.Text())
	for _, want := range []string{"kunci_mqtt_failovers_total 1\n", "kunci_mqtt_broker 1\n", "kunci_mqtt_connected 1\n",
		"kunci_mqtt_connections_total 2\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	// the first broker back: the link stays where it is
	a.Start()
	pubA := publisher(t, a.URL())
	if err := mqttlink.Wait(context.Background(), pubA.Publish("probe", 1, false, nil)); err != nil {
		t.Fatal(err)
	}
	if err := mqttlink.Wait(context.Background(), l.Publish("door/status", 1, true, []byte("s1"))); err != nil {
		t.Fatal(err)
	}
	if l.Broker() != b.URL() || l.Connections() != 2 {
		t.Errorf("with the first back: Broker() = %s, %d connections; want to stay on %s, 2", l.Broker(), l.Connections(), b.URL())
	}
	if got := mqtttest.Retained(t, b.URL(), "door/status"); got != "s1" {
		t.Errorf("retained status on the second broker = %q; want s1", got)
	}
	if got := mqtttest.Retained(t, a.URL(), "door/status"); got != "" {
		t.Errorf("retained status on the first broker = %q; want none (the link is on the second)", got)
	}
	// the second killed: back to the first
	next = l.NextConnection()
	b.Kill()
	select {
	case <-next:
	case <-time.After(20 * time.Second):
		t.Fatal("no connection back to the first broker within 20 s of the second's kill")
	}
	if l.Broker() != a.URL() {
		t.Errorf("after the second's kill: Broker() = %s; want %s", l.Broker(), a.URL())
	}
}

// A set keeps a link on each broker: it takes messages from both, says
// which, and publishes to every one connected.
func TestSetTakesAndPublishesOnEveryBroker(t *testing.T) {
	a, b := mqtttest.StartMosquitto(t), mqtttest.StartMosquitto(t)
	got := make(chan mqttlink.Message, 16)
	connects := make(chan struct{}, 16)
	reg := metrics.NewRegistry()
	s, err := mqttlink.NewSet(mqttlink.Options{Brokers: []string{a.URL(), b.URL()}, ClientID: "hub", Metrics: reg,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Subscriptions: map[string]byte{"+/events": 1}, OnConnect: func() { connects <- struct{}{} }},
		func(m mqttlink.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	if err := mqttlink.Wait(context.Background(), s.Publish("x", 1, false, nil)); !errors.Is(err, mqttlink.ErrNotConnected) {
		t.Fatalf("Publish before Run = %v; want ErrNotConnected", err)
	}
	run(t, s)
	for _, l := range s.Links() {
		waitConnected(t, l, 1)
	}
	if !strings.Contains(string(reg.Text()), "kunci_mqtt_connected 2\n") {
		t.Errorf("metrics: want kunci_mqtt_connected 2:\n%s", reg.Text())
	}
	for i, url := range []string{a.URL(), b.URL()} {
		p := publisher(t, url)
		if err := mqttlink.Wait(context.Background(), p.Publish("d/events", 1, false, []byte(url))); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if string(m.Payload) != url || m.Broker != i {
				t.Errorf("message %q from broker %d; want %q from %d", m.Payload, m.Broker, url, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message through broker %d", i)
		}
	}
	if err := mqttlink.Wait(context.Background(), s.Publish("d/permits/P-1", 1, true, []byte("p1"))); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{a.URL(), b.URL()} {
		if got := mqtttest.Retained(t, url, "d/permits/P-1"); got != "p1" {
			t.Errorf("retained at %s = %q; want p1", url, got)
		}
	}
	// one broker down: publishing goes on through the other; at its
	// return its link connects again (OnConnect, for the records)
	a.Kill()
	waitfor.NoError(t, 20*time.Second, func() error {
		if s.Links()[0].Connected() {
			return errors.New("the link to the killed broker is still up")
		}
		return nil
	})
	if err := mqttlink.Wait(context.Background(), s.Publish("d/permits/P-2", 1, true, []byte("p2"))); err != nil {
		t.Errorf("Publish with one broker down = %v; want the other's success", err)
	}
	if got := mqtttest.Retained(t, b.URL(), "d/permits/P-2"); got != "p2" {
		t.Errorf("retained at the broker up = %q; want p2", got)
	}
	n := len(connects)
	a.Start()
	waitConnected(t, s.Links()[0], 2)
	// OnConnect runs after the connection is counted
	waitfor.NoError(t, 20*time.Second, func() error {
		if len(connects) <= n {
			return errors.New("no OnConnect at the broker's return")
		}
		return nil
	})
	b.Kill()
	waitfor.NoError(t, 20*time.Second, func() error {
		if s.Links()[1].Connected() {
			return errors.New("the link to the killed broker is still up")
		}
		return nil
	})
	a.Kill()
	waitfor.NoError(t, 20*time.Second, func() error {
		if s.Connected() {
			return errors.New("a link is still up")
		}
		return nil
	})
	if err := mqttlink.Wait(context.Background(), s.Publish("x", 1, false, nil)); !errors.Is(err, mqttlink.ErrNotConnected) {
		t.Errorf("Publish with every broker down = %v; want ErrNotConnected", err)
	}
}
