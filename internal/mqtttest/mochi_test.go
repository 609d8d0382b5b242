package mqtttest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMochiCarriesRetainedQoS1: the embedded broker listens on loopback,
// keeps a retained QoS 1 message and hands it to a later subscriber; its
// cleanup then finds no dropped message and closes without leaking.
func TestMochiCarriesRetainedQoS1(t *testing.T) {
	url := mqtttest.StartMochi(t)
	if !strings.HasPrefix(url, "tcp://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("StartMochi = %q; want tcp://127.0.0.1:PORT", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	pub := startLink(t, mqttlink.Options{Broker: url, ClientID: "pub", CleanSession: true}, nil)
	waitConnected(ctx, t, pub)
	if err := mqttlink.Wait(ctx, pub.Publish("kunci/v1/demo/door/status", 1, true, []byte(`{"seq":1}`))); err != nil {
		t.Fatalf("Publish = %v", err)
	}

	got := make(chan mqttlink.Message, 4)
	sub := startLink(t, mqttlink.Options{Broker: url, ClientID: "sub", CleanSession: true,
		Subscriptions: map[string]byte{"kunci/v1/+/+/status": 1}}, func(m mqttlink.Message) { got <- m })
	waitConnected(ctx, t, sub)
	select {
	case m := <-got:
		if string(m.Payload) != `{"seq":1}` || !m.Retained || m.QoS != 1 {
			t.Fatalf("got %q retained=%v qos=%d; want the retained QoS 1 status", m.Payload, m.Retained, m.QoS)
		}
	case <-ctx.Done():
		t.Fatal("the retained status did not arrive")
	}
}

func startLink(t *testing.T, o mqttlink.Options, h func(mqttlink.Message)) *mqttlink.Link {
	t.Helper()
	o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	l, err := mqttlink.New(o, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return l
}

func waitConnected(ctx context.Context, t *testing.T, l *mqttlink.Link) {
	t.Helper()
	for {
		next := l.NextConnection() // before Connected: a connection in between closes it
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
