package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/status"
	"github.com/kunci-project/kunci/wire"
)

// TestAvailabilityOnTheWire runs the publisher against real brokers: a
// subscriber finds the retained status and "online"; a killed connection
// and a connection taken over by a new one with the same client id both
// turn availability "offline" through the will; the agent that comes back
// publishes its status and "online" again; a clean stop says "offline"
// itself.
func TestAvailabilityOnTheWire(t *testing.T) {
	t.Run("mosquitto", func(t *testing.T) { wireTest(t, mqtttest.StartMosquitto(t).URL()) })
	t.Run("mochi", func(t *testing.T) { wireTest(t, mqtttest.StartMochi(t)) })
}

const clientID = "kunci.demo.server-room"

// agentUnderTest is one agent process: a link with the will and a
// publisher, stopped in the right order.
type agentUnderTest struct {
	link *mqttlink.Link
	stop func() error // stops the publisher, then the link
}

func startAgent(t *testing.T, url string, d status.Door, stopTimeout time.Duration) *agentUnderTest {
	t.Helper()
	var p *status.Publisher
	l, err := mqttlink.New(mqttlink.Options{Broker: url, ClientID: clientID, Will: status.Will(demo),
		Subscriptions: status.Subscriptions(demo),
		MinBackoff:    20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, KeepAlive: time.Minute},
		func(m mqttlink.Message) { p.Handle(m) })
	if err != nil {
		t.Fatal(err)
	}
	p, err = status.New(d, l, status.Options{Topics: demo, StopTimeout: stopTimeout})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	pctx, pcancel := context.WithCancel(context.Background())
	ldone, pdone := make(chan error, 1), make(chan error, 1)
	go func() { ldone <- l.Run(lctx) }()
	go func() { pdone <- p.Run(pctx) }()
	var once sync.Once
	var perr error
	a := &agentUnderTest{link: l, stop: func() error {
		once.Do(func() {
			pcancel()
			perr = <-pdone
			lcancel()
			if err := <-ldone; err != nil && perr == nil {
				perr = err
			}
		})
		return perr
	}}
	t.Cleanup(func() { _ = a.stop() })
	return a
}

// watcher records what a subscriber to the door's status and
// availability receives, in order.
type watcher struct {
	mu   sync.Mutex
	msgs []mqttlink.Message
	more chan struct{}
	stop func()
}

func watch(t *testing.T, url, id string) *watcher {
	t.Helper()
	w := &watcher{more: make(chan struct{}, 1)}
	l, err := mqttlink.New(mqttlink.Options{Broker: url, ClientID: id, CleanSession: true,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Subscriptions: map[string]byte{demo.Status(): 1, demo.Availability(): 1}},
		func(m mqttlink.Message) {
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()

			select {
			case w.more <- struct{}{}:
			default:
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	w.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(w.stop)
	return w
}

// availability returns the availability payloads received from index i on.
func (w *watcher) availability(from int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s []string
	for _, m := range w.msgs[min(from, len(w.msgs)):] {
		if m.Topic == demo.Availability() {
			s = append(s, string(m.Payload))
		}
	}
	return s
}

func (w *watcher) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// waitFor waits until the availability payloads since from end with want.
func (w *watcher) waitFor(t *testing.T, from int, want ...string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		got := w.availability(from)
		if len(got) >= len(want) && strings.Join(got[len(got)-len(want):], " ") == strings.Join(want, " ") {
			return
		}
		select {
		case <-w.more:
		case <-deadline:
			t.Fatalf("availability since mark: %q; want it to end with %q", got, want)
		}
	}
}

// retained connects a fresh subscriber and returns the retained status
// seq and availability it is handed.
func retained(t *testing.T, url string) (seq uint64, avail string) {
	t.Helper()
	w := watch(t, url, fmt.Sprintf("retained-%d", time.Now().UnixNano()))
	defer w.stop()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		var gotStatus, gotAvail bool
		for _, m := range w.msgs {
			if !m.Retained {
				continue
			}
			switch m.Topic {
			case demo.Status():
				var st wire.Status
				if err := json.Unmarshal(m.Payload, &st); err != nil {
					t.Errorf("retained status %q: %v", m.Payload, err)
				}
				seq, gotStatus = st.Seq, true
				if m.QoS != 1 {
					t.Errorf("retained status delivered at QoS %d; want 1", m.QoS)
				}
			case demo.Availability():
				avail, gotAvail = string(m.Payload), true
			}
		}
		w.mu.Unlock()
		if gotStatus && gotAvail {
			return seq, avail
		}
		select {
		case <-w.more:
		case <-deadline:
			t.Fatalf("no retained status and availability (status %v, availability %v)", gotStatus, gotAvail)
		}
	}
}

func wireTest(t *testing.T, url string) {
	proxy := mqtttest.StartProxy(t, url)
	w := watch(t, url, "watcher")
	door := newFakeDoor()
	first := startAgent(t, proxy.URL(), door, 300*time.Millisecond)

	w.waitFor(t, 0, "online")
	if seq, avail := retained(t, url); seq != 1 || avail != "online" {
		t.Fatalf("retained: status seq %d, %q; want 1, online", seq, avail)
	}

	// killed: the broker sees a dead peer and publishes the will
	mark := w.len()
	proxy.Down()
	w.waitFor(t, mark, "offline")
	if _, avail := retained(t, url); avail != "offline" {
		t.Fatalf("retained availability after the kill = %q; want offline (the will)", avail)
	}
	door.Set(2)
	mark = w.len()
	proxy.Up()
	w.waitFor(t, mark, "online")
	if seq, avail := retained(t, url); seq != 2 || avail != "online" {
		t.Fatalf("retained after the reconnect: status seq %d, %q; want 2, online", seq, avail)
	}

	// taken over: the first agent's connection is half-open (a power cut),
	// and the agent restarted elsewhere connects with the same client id
	mark = w.len()
	proxy.Freeze()
	door2 := newFakeDoor()
	door2.Set(3)
	second := startAgent(t, url, door2, 5*time.Second)
	w.waitFor(t, mark, "online")
	waitfor.NoError(t, 10*time.Second, func() error {
		if seq, avail := retained(t, url); seq != 3 || avail != "online" {
			return fmt.Errorf("retained after the takeover: status seq %d, %q; want 3, online", seq, avail)
		}
		return nil
	})
	// Mosquitto 2.0 drops the will of a connection taken over; mochi
	// publishes it, sometimes after the new connection's "online" (and to
	// each subscriber in its own order): the publisher then says "online"
	// again (Handle), so the last word is "online" either way
	t.Logf("availability after the takeover: %q", w.availability(mark))
	w.waitFor(t, mark, "online")

	// a clean stop says "offline" itself; the link then leaves without its will
	mark = w.len()
	if err := second.stop(); err != nil {
		t.Fatalf("stop = %v", err)
	}
	w.waitFor(t, mark, "offline")
	if _, avail := retained(t, url); avail != "offline" {
		t.Fatalf("retained availability after a clean stop = %q; want offline", avail)
	}
	_ = first.stop() // into the frozen proxy: nothing reaches the broker
}
