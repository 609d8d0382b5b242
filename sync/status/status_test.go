package status_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
	"github.com/kunci-project/kunci/sync/status"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var demo = topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: "server-room"}

// fakeDoor stands for *agent.Door: Set changes the status and signals the
// watcher without ever blocking, as the door does.
type fakeDoor struct {
	mu    sync.Mutex
	st    wire.Status
	watch chan struct{}
}

func newFakeDoor() *fakeDoor {
	return &fakeDoor{watch: make(chan struct{}, 1), st: wire.Status{
		Door: "closed", Lock: "locked", Racks: map[string]string{"R1": "closed"}, Mode: "normal",
		Occupancy: []wire.Occupant{}, Secured: true, Alarms: []wire.Alarm{}, Seq: 1, ClockSynced: true, Version: "test"}}
}

func (d *fakeDoor) Status() wire.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

func (d *fakeDoor) Watch() <-chan struct{} { return d.watch }

func (d *fakeDoor) Set(seq uint64) {
	d.mu.Lock()
	d.st.Seq = seq
	d.mu.Unlock()
	select {
	case d.watch <- struct{}{}:
	default:
	}
}

// touch signals a change that changed nothing.
func (d *fakeDoor) touch() {
	select {
	case d.watch <- struct{}{}:
	default:
	}
}

// newFakeLink returns a link that is down; with auto every publish is
// acknowledged at once, otherwise the test acknowledges them with Ack.
func newFakeLink(t *testing.T, auto bool) *mqttlinktest.Link {
	l := mqttlinktest.New(t)
	l.SetAuto(auto)
	return l
}

// what reads a publish the way the tests compare them: "status 7",
// "availability online".
func what(p mqttlinktest.Publication) string {
	switch p.Topic {
	case demo.Status():
		var st wire.Status
		if err := json.Unmarshal(p.Payload, &st); err != nil {
			return "status ?" + string(p.Payload)
		}
		return fmt.Sprintf("status %d", st.Seq)
	case demo.Availability():
		return "availability " + string(p.Payload)
	}
	return p.Topic + " " + string(p.Payload)
}

// published reads what l published the way the tests compare them.
func published(l *mqttlinktest.Link) []string {
	var s []string
	for _, p := range l.Published() {
		s = append(s, what(p))
	}
	return s
}

// connected starts a publisher on a fake door and a connected fake link
// (see newFakeLink for auto) and returns once the bubble is idle.
func connected(t *testing.T, auto bool) (*fakeDoor, *mqttlinktest.Link, func() error) {
	t.Helper()
	d, l := newFakeDoor(), newFakeLink(t, auto)
	l.Connect()
	stop := start(t, d, l)
	synctest.Wait()
	return d, l, stop
}

// start runs a publisher until the test's end, returning a stop function
// that cancels it and returns Run's error.
func start(t *testing.T, d status.Door, l status.Link) (stop func() error) {
	t.Helper()
	p, err := status.New(d, l, status.Options{Topics: demo, AckTimeout: 10 * time.Second, RetryAfter: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return run(t, p)
}

// run runs p until the test's end, returning a stop function that cancels
// it and returns Run's error.
func run(t *testing.T, p *status.Publisher) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// want waits until every goroutine of the test's bubble is blocked and
// checks that l published w, in order.
func want(t *testing.T, l *mqttlinktest.Link, w ...string) {
	t.Helper()
	synctest.Wait()
	if got := published(l); !slices.Equal(got, w) {
		t.Fatalf("published:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(w, "\n  "))
	}
}

func TestWillIsOfflineRetainedQoS1(t *testing.T) {
	w := status.Will(demo)
	if w.Topic != "kunci/v1/demo/server-room/availability" || string(w.Payload) != "offline" || w.QoS != 1 || !w.Retained {
		t.Fatalf("Will = %+v; want offline, retained, QoS 1 on the availability topic", *w)
	}
}

func TestNewRefusesBadTopics(t *testing.T) {
	for _, o := range []status.Options{{}, {Topics: topic.Door{Prefix: "kunci/v1", Site: "demo"}},
		{Topics: topic.Door{Prefix: "kunci/#", Site: "demo", Door: "d"}}} {
		if _, err := status.New(newFakeDoor(), newFakeLink(t, true), o); err == nil {
			t.Errorf("New(%+v) = nil error; want a topic error", o.Topics)
		}
	}
	if _, err := status.New(nil, newFakeLink(t, true), status.Options{Topics: demo}); err == nil {
		t.Error("New(nil door) = nil error")
	}
}

// TestStatusThenOnlineAtConnect: a connection gets the status first, then
// "online", both retained QoS 1; later changes follow one by one.
func TestStatusThenOnlineAtConnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l, _ := connected(t, true)
		want(t, l, "status 1", "availability online")
		for _, p := range l.Published() {
			if p.QoS != 1 || !p.Retained {
				t.Errorf("%s: qos %d retained %v; want QoS 1 retained", what(p), p.QoS, p.Retained)
			}
		}
		var st map[string]any
		if err := json.Unmarshal(l.Published()[0].Payload, &st); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"door", "lock", "racks", "mode", "occupancy", "secured", "alarms", "seq", "clock_synced", "version"} {
			if _, ok := st[k]; !ok {
				t.Errorf("status JSON lacks %q: %s", k, l.Published()[0].Payload)
			}
		}
		d.Set(2)
		synctest.Wait()
		d.Set(3)
		want(t, l, "status 1", "availability online", "status 2", "status 3")
	})
}

// TestWaitsForConnection: nothing is published while the link is down;
// the first connection gets the status of that moment.
func TestWaitsForConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l := newFakeDoor(), newFakeLink(t, true)
		start(t, d, l)
		d.Set(2)
		synctest.Wait()
		time.Sleep(time.Minute)
		want(t, l)
		d.Set(5)
		l.Connect()
		want(t, l, "status 5", "availability online")
	})
}

// TestBurstCoalescesLatestWins: while one status publish waits for its
// acknowledgement, a hundred changes fold into one publish of the latest
// status, and the door never waits.
func TestBurstCoalescesLatestWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l, _ := connected(t, false)
		want(t, l, "status 1")
		for seq := uint64(2); seq <= 101; seq++ {
			d.Set(seq) // never blocks: the door's Watch is a one-slot signal
		}
		want(t, l, "status 1")
		l.Ack(nil)
		want(t, l, "status 1", "status 101")
		l.Ack(nil)
		want(t, l, "status 1", "status 101", "availability online")
		l.Ack(nil)
		synctest.Wait()
		d.touch() // a signal without a change publishes nothing
		want(t, l, "status 1", "status 101", "availability online")
	})
}

// TestRepublishesAtEveryConnection: a new session may have lost retained
// messages (a broker without persistence): status and "online" again.
func TestRepublishesAtEveryConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l, _ := connected(t, true)
		l.Drop(nil)
		d.Set(2)
		d.Set(3)
		synctest.Wait()
		l.Connect()
		want(t, l, "status 1", "availability online", "status 3", "availability online")
	})
}

// TestUnacknowledgedIsSentAgain: a publish without acknowledgement is sent
// again after AckTimeout, and one that failed after RetryAfter, each
// time with the status of that moment.
func TestUnacknowledgedIsSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l, _ := connected(t, false)
		want(t, l, "status 1")
		d.Set(2)
		time.Sleep(10*time.Second + time.Second) // AckTimeout, then RetryAfter
		want(t, l, "status 1", "status 2")
		l.Ack(nil) // the late acknowledgement of the first is ignored
		want(t, l, "status 1", "status 2")
		l.Ack(errors.New("broker said no"))
		want(t, l, "status 1", "status 2")
		time.Sleep(time.Second)
		want(t, l, "status 1", "status 2", "status 2")
		l.Ack(nil)
		want(t, l, "status 1", "status 2", "status 2", "availability online")
	})
}

// TestStopPublishesFinalStatusAndOffline: a clean stop publishes the
// status the broker does not have yet, then "offline".
func TestStopPublishesFinalStatusAndOffline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, l, stop := connected(t, true)
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		want(t, l, "status 1", "availability online", "availability offline")
		last := l.Published()[2]
		if last.QoS != 1 || !last.Retained {
			t.Errorf("offline: qos %d retained %v; want QoS 1 retained", last.QoS, last.Retained)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		d, l, stop := connected(t, true)
		l.SetAuto(false) // the change's publish hangs; the stop sends it anew
		d.Set(9)
		synctest.Wait()
		l.SetAuto(true)
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		want(t, l, "status 1", "availability online", "status 9", "status 9", "availability offline")
	})
}

// TestStopIsBounded: a broker that never acknowledges holds the stop for
// StopTimeout at most, and the error says so.
func TestStopIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, _, stop := connected(t, false)
		t0 := time.Now()
		err := stop()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v; want a deadline error", err)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("stop took %v; want at most StopTimeout (5s)", d)
		}
	})
}

// TestStopWhileDisconnected: no connection, nothing to publish; the will
// speaks for the agent.
func TestStopWhileDisconnected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l := newFakeDoor(), newFakeLink(t, true)
		stop := start(t, d, l)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		want(t, l)
	})
}

// TestLateWillIsAnswered: a live "offline" of the door's own, seen while
// connected, is a late will of a connection taken over; "online" follows
// after RetryAfter. A retained "offline" (the past, handed over at
// subscription) and other topics change nothing.
func TestLateWillIsAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, l := newFakeDoor(), newFakeLink(t, true)
		l.Connect()
		p, err := status.New(d, l, status.Options{Topics: demo, RetryAfter: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		run(t, p)
		want(t, l, "status 1", "availability online")

		for _, m := range []mqttlink.Message{
			{Topic: demo.Availability(), Payload: []byte("offline"), Retained: true},
			{Topic: demo.Availability(), Payload: []byte("online")},
		} {
			if !p.Handle(m) {
				t.Errorf("Handle(%s %q) = false; want true: it is the door's availability", m.Topic, m.Payload)
			}
		}
		if p.Handle(mqttlink.Message{Topic: demo.Status(), Payload: []byte("offline")}) {
			t.Error("Handle(status) = true; want false")
		}
		time.Sleep(time.Minute)
		want(t, l, "status 1", "availability online")

		p.Handle(mqttlink.Message{Topic: demo.Availability(), Payload: []byte("offline")})
		p.Handle(mqttlink.Message{Topic: demo.Availability(), Payload: []byte("offline")})
		want(t, l, "status 1", "availability online")
		time.Sleep(time.Second)
		want(t, l, "status 1", "availability online", "availability online")
	})
}
