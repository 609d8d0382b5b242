package outbox_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
	"github.com/kunci-project/kunci/sync/outbox"
)

// fakeHub is the hub behind the broker, as the pump's tests see it: the
// broker queues every publish for the hub's session while the hub is
// away, and hands it over when the hub takes them; the hub keeps what
// reaches it and acks through the highest seq it holds without a gap, as
// hub/ingest does.
type fakeHub struct {
	pub *mqttlinktest.Link
	// lost says whether the i-th publish never reached the hub: lost
	// between broker and hub, or with the hub's session
	lost    func(i int, seq uint64) bool
	taken   int // publishes handed to the hub so far
	has     map[uint64]bool
	through uint64
}

func newFakeHub(pub *mqttlinktest.Link, lost func(i int, seq uint64) bool) *fakeHub {
	if lost == nil {
		lost = func(int, uint64) bool { return false }
	}
	return &fakeHub{pub: pub, lost: lost, has: map[uint64]bool{}}
}

// take hands the hub what the broker queued for it since the last take,
// and returns how many publishes that was.
func (h *fakeHub) take(t *testing.T) int {
	t.Helper()
	pubs := h.pub.Published()[h.taken:]
	for i, m := range pubs {
		var e agent.Event
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatalf("publish to %s is no event: %v", m.Topic, err)
		}
		if !h.lost(h.taken+i, e.Seq) {
			h.has[e.Seq] = true
		}
	}
	n := len(pubs)
	h.taken += n
	for h.has[h.through+1] {
		h.through++
	}
	return n
}

// ack has the pump take the hub's ack, if it holds anything.
func (h *fakeHub) ack(t *testing.T, p *outbox.Pump, st *agent.Store) {
	t.Helper()
	if h.through == 0 {
		return
	}
	if err := p.HandleAck(ack(st.Epoch(), h.through)); err != nil {
		t.Fatal(err)
	}
}

// serve is the hub up: every step it takes what the broker has for it
// and acks, until the pump's log is empty or steps ran out; it returns
// the steps it took.
func (h *fakeHub) serve(t *testing.T, p *outbox.Pump, st *agent.Store, step time.Duration, steps int) int {
	t.Helper()
	for i := range steps {
		synctest.Wait()
		h.take(t)
		h.ack(t, p, st)
		synctest.Wait()
		if evs, err := st.Events(0, 1); err != nil || len(evs) == 0 {
			return i
		}
		time.Sleep(step)
	}
	t.Fatalf("the hub holds 1..%d after %d steps; pump %+v", h.through, steps, p.Stats())
	return steps
}

// probing runs a pump with o on a log of backlog events and a link that
// is up and completes every publish at once, until the test ends; it
// returns once the pump published the log. Call it in a synctest bubble.
func probing(t *testing.T, backlog int, o outbox.Options) (*agent.Store, *mqttlinktest.Link, *outbox.Pump, chan struct{}) {
	t.Helper()
	st := openLog(t)
	appendN(t, st, backlog)
	pub := newFakePub(t)
	pub.SetAuto(true)
	pub.Connect()
	notify := make(chan struct{}, 1)
	p, stop := start(t, st, pub, notify, o)
	t.Cleanup(stop)
	synctest.Wait() // the log is out
	return st, pub, p, notify
}

// probeOpts are the options of the probe tests: a probe (the window) of
// 16 events, acks timing out after 1 s, doubling up to 4 s.
var probeOpts = outbox.Options{Window: 16, AckTimeout: time.Second, MaxAckTimeout: 4 * time.Second}

// TestPumpProbesWhileHubDown is the door soak's finding: with the hub
// down and the broker up, each ack timeout published the whole log again
// into the broker's queue for the hub (941,544 messages for 159,425
// events in 10 minutes). Now an ack timeout publishes a probe, the 16
// events after the hub's ack: 8 timeouts cost the broker the log once, 8
// probes and the live events once; the hub, back with its queue, acks
// everything, and nothing is published again.
func TestPumpProbesWhileHubDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const backlog = 1000
		st, pub, p, notify := probing(t, backlog, probeOpts)
		time.Sleep(10 * time.Second) // timeouts at 1, 3, 7
		appendN(t, st, 5)            // live, while the hub is down
		poke(notify)
		time.Sleep(20 * time.Second) // 11, 15, 19, 23, 27
		synctest.Wait()
		s := p.Stats()
		if s.AckTimeouts != 8 || s.Probes != 8 || s.FullResends != 0 {
			t.Fatalf("stats %+v; want 8 ack timeouts, each a probe, no full resend", s)
		}
		sent, _ := published(t, pub)
		if limit := backlog + 5 + 8*16; len(sent) > limit {
			t.Fatalf("%d publishes for %d events and 8 ack timeouts; want at most the log and 8 probes of 16, %d",
				len(sent), backlog+5, limit)
		}
		checkFirstOrder(t, sent, 1, backlog+5)
		// every probe is the 16 events after the hub's ack, 0
		var probes []uint64
		for i, s := range sent {
			if i >= backlog && s <= 16 {
				probes = append(probes, s)
			}
		}
		if want := slices.Concat(slices.Repeat([][]uint64{seqs(1, 16)}, 8)...); !slices.Equal(probes, want) {
			t.Errorf("probes %v; want 1..16 eight times", probes)
		}
		hub := newFakeHub(pub, nil)
		if n := hub.take(t); n != len(sent) {
			t.Fatalf("the hub took %d publishes from the queue; want %d", n, len(sent))
		}
		hub.serve(t, p, st, 100*time.Millisecond, 100)
		if again, _ := published(t, pub); len(again) != len(sent) {
			t.Errorf("published %v after the hub acked its queue; want nothing", again[len(sent):])
		}
	})
}

// TestPumpProbeFindsLostSession: the hub's session is lost while it is
// away (a session expired; the broker up all along): what the broker
// queued for it is gone. The pump's next probe reaches the hub, whose ack
// then stays within it: one ack timeout later the pump publishes the rest
// in full, and the hub holds every event, all acked, two ack timeouts
// after it came back.
func TestPumpProbeFindsLostSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const backlog = 1000
		st, pub, p, _ := probing(t, backlog, probeOpts)
		time.Sleep(10 * time.Second) // timeouts at 1, 3, 7; the next at 11
		synctest.Wait()
		sent, _ := published(t, pub)
		if limit := backlog + 3*16; len(sent) > limit {
			t.Fatalf("%d publishes while the hub is down; want at most the log and 3 probes, %d", len(sent), limit)
		}
		before := p.Stats()
		lostWith := len(sent) // what the broker had queued for the hub
		hub := newFakeHub(pub, func(i int, _ uint64) bool { return i < lostWith })
		hub.take(t)
		steps := hub.serve(t, p, st, 100*time.Millisecond, 200)
		s := p.Stats()
		if timeouts := s.AckTimeouts - before.AckTimeouts; timeouts != 2 || s.FullResends != 1 {
			t.Errorf("after the hub came back: %d ack timeouts, %d full resends; want 2 (the probe, the full resend), 1",
				timeouts, s.FullResends)
		}
		// the probe at 11 s, the full resend at 12 s
		if took := time.Duration(steps) * 100 * time.Millisecond; took > 3*time.Second {
			t.Errorf("the hub held everything %v after it came back; want the probe's timeout and one more", took)
		}
		if hub.through != backlog {
			t.Errorf("the hub holds 1..%d; want 1..%d", hub.through, backlog)
		}
	})
}

// TestPumpProbeFillsHeldGap: the hub lost events 1..10 between broker
// and hub and holds the rest, beyond the gap, or the rest up to 500 only
// (it drops what it holds past a bound). The probe fills the gap and the
// hub's ack jumps past it: no full resend of what the hub held, only of
// what it lacks, found by the next probe.
func TestPumpProbeFillsHeldGap(t *testing.T) {
	for _, tc := range []struct {
		name        string
		held        uint64 // the hub held 11..held
		publishes   int
		fullResends uint64
	}{
		{"held everything", 1000, 1000 + 16, 0},
		// the probe from 0, the probe from 500, the rest from 516 in full
		{"held up to 500", 500, 1000 + 16 + 16 + 484, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const backlog = 1000
				st, pub, p, _ := probing(t, backlog, probeOpts)
				hub := newFakeHub(pub, func(i int, seq uint64) bool { return i < backlog && (seq <= 10 || seq > tc.held) })
				hub.serve(t, p, st, 100*time.Millisecond, 200)
				sent, _ := published(t, pub)
				if len(sent) != tc.publishes {
					t.Errorf("%d publishes; want %d", len(sent), tc.publishes)
				}
				if s := p.Stats(); s.FullResends != tc.fullResends {
					t.Errorf("stats %+v; want %d full resends", s, tc.fullResends)
				}
				if hub.through != backlog {
					t.Errorf("the hub holds 1..%d; want 1..%d", hub.through, backlog)
				}
			})
		})
	}
}

// TestPumpReconnectProbes: a reconnection while the hub is down publishes
// a probe and goes on after what the broker acknowledged, not the whole
// log again; after a broker restart that lost the hub's session, the
// probe shows it at the next ack timeout and the rest goes out in full.
func TestPumpReconnectProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const backlog = 1000
		o := probeOpts
		o.AckTimeout, o.MaxAckTimeout = time.Hour, time.Hour // reconnections only
		st, pub, p, notify := probing(t, backlog, o)
		for range 3 {
			synctest.Wait()
			pub.Drop(errLost)
			appendN(t, st, 2) // while the link is down
			poke(notify)
			synctest.Wait()
			pub.Connect()
		}
		synctest.Wait()
		sent, replayed := published(t, pub)
		if want := backlog + 6 + 3*16; len(sent) != want {
			t.Fatalf("%d publishes for %d events and 3 reconnections; want the log and 3 probes of 16, %d",
				len(sent), backlog+6, want)
		}
		checkFirstOrder(t, sent, 1, backlog+6)
		if slices.Contains(replayed, false) {
			t.Errorf("an event stored before its connection went out with replayed:false")
		}
		if s := p.Stats(); s.Probes != 3 || s.Resends != 3 {
			t.Errorf("stats %+v; want 3 probes, 3 resends (the reconnections)", s)
		}
		// the broker restarts without its persistence: the hub's queue is gone
		pub.Drop(errLost)
		lostWith := len(sent)
		hub := newFakeHub(pub, func(i int, _ uint64) bool { return i < lostWith })
		pub.Connect()
		synctest.Wait()
		hub.take(t)
		hub.ack(t, p, st)
		if hub.through != 16 {
			t.Fatalf("after the restart the hub holds 1..%d; want the probe, 1..16", hub.through)
		}
		time.Sleep(time.Hour) // the probe's ack stays within it for an ack timeout
		hub.serve(t, p, st, 100*time.Millisecond, 100)
		if s := p.Stats(); s.FullResends != 1 {
			t.Errorf("stats %+v; want 1 full resend", s)
		}
		if hub.through != backlog+6 {
			t.Errorf("the hub holds 1..%d; want 1..%d", hub.through, backlog+6)
		}
	})
}

// TestPumpProbeAckInsideIsNoLoss: a hub taking its queue that stops for
// an ack timeout inside a probe, not on its end, gets another probe from
// there, not the log again; it then acks everything.
func TestPumpProbeAckInsideIsNoLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const backlog = 1000
		st, pub, p, _ := probing(t, backlog, probeOpts)
		time.Sleep(10 * time.Second) // probes at 1, 3, 7
		if err := p.HandleAck(ack(st.Epoch(), 8)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(probeOpts.AckTimeout)
		synctest.Wait()
		sent, _ := published(t, pub)
		if want := append(seqs(1, backlog), slices.Concat(seqs(1, 16), seqs(1, 16), seqs(1, 16), seqs(9, 24))...); !slices.Equal(sent, want) {
			t.Fatalf("published %d: %v...; want the log, 3 probes from 0 and one from 8", len(sent), sent[backlog:])
		}
		hub := newFakeHub(pub, nil)
		hub.serve(t, p, st, 100*time.Millisecond, 100)
		if s := p.Stats(); s.Probes != 4 || s.FullResends != 0 {
			t.Errorf("stats %+v; want 4 probes, no full resend", s)
		}
		if again, _ := published(t, pub); len(again) != len(sent) {
			t.Errorf("published %v after the hub acked its queue; want nothing", again[len(sent):])
		}
	})
}

// brokersLink is the fake link on one of several brokers, as a link with
// a list of brokers says (Broker).
type brokersLink struct {
	*mqttlinktest.Link
	mu     sync.Mutex
	broker string
}

func (l *brokersLink) Broker() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broker
}

// connect brings the link up on broker.
func (l *brokersLink) connect(broker string) {
	l.mu.Lock()
	l.broker = broker
	l.mu.Unlock()
	l.Connect()
}

// TestPumpFailoverResendsInFull: a reconnection to the same broker
// probes; one to another broker (a failover) publishes everything after
// the hub's ack again, which the first broker holds and the second does
// not.
func TestPumpFailoverResendsInFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const backlog = 100
		st := openLog(t)
		appendN(t, st, backlog)
		pub := &brokersLink{Link: newFakePub(t)}
		pub.SetAuto(true)
		pub.connect("tcp://broker-1:8883")
		o := probeOpts
		o.AckTimeout, o.MaxAckTimeout = time.Hour, time.Hour // reconnections only
		p, stop := start(t, st, pub, nil, o)
		defer stop()
		for _, b := range []string{"tcp://broker-1:8883", "tcp://broker-2:8883", "tcp://broker-2:8883"} {
			synctest.Wait()
			pub.Drop(errLost)
			pub.connect(b)
		}
		synctest.Wait()
		sent, _ := published(t, pub.Link)
		// the log; a probe (broker 1 again); the log (broker 2); a probe
		want := slices.Concat(seqs(1, backlog), seqs(1, 16), seqs(1, backlog), seqs(1, 16))
		if !slices.Equal(sent, want) {
			t.Fatalf("published %d: %v; want the log, a probe, the log, a probe", len(sent), sent)
		}
		if s := p.Stats(); s.Probes != 2 || s.Resends != 3 {
			t.Errorf("stats %+v; want 2 probes, 3 resends (the reconnections)", s)
		}
	})
}
