package mqtttest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

var probes atomic.Uint64

// Retained returns the retained payload of topic at broker, "" when it
// holds none: a probe subscribes to topic and to a topic of its own, and
// a retained message comes at subscription, before the live one the
// probe publishes after it.
func Retained(t testing.TB, broker, topic string) string {
	t.Helper()
	end := fmt.Sprintf("mqtttest/probe/%d", probes.Add(1))
	got := make(chan string, 2)
	p, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: end[len("mqtttest/"):], CleanSession: true,
		Subscriptions: map[string]byte{topic: 1, end: 1}}, func(m mqttlink.Message) {
		v := string(m.Payload)
		if m.Topic == end {
			v = ""
		}
		select {
		case got <- v:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitfor.NoError(t, 20*time.Second, func() error {
		if !p.Connected() {
			return errors.New("mqtttest: the probe is not connected to " + broker)
		}
		return nil
	})
	if err := mqttlink.Wait(ctx, p.Publish(end, 1, false, nil)); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("mqtttest: no answer from the probe at %s", broker)
		return ""
	}
}
