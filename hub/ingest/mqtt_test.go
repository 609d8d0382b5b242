package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/uplinktest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// These tests run the whole uplink against a real Mosquitto: an agent
// store, the outbox pump on its own link, the broker, and the ingest on a
// persistent session into its own store.

var door = topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: "server-room"}

// runner runs goroutines until stop, which waits for all of them.
type runner struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (r *runner) stop() {
	r.cancel()
	r.wg.Wait()
}

func goRun(t *testing.T, ctx context.Context, r *runner, name string, f func(context.Context) error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := f(ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}()
}

type hubSide struct {
	runner
	st         ingest.EventStore
	in         *ingest.Ingest
	stopIngest context.CancelFunc
}

// startHub opens the ingest store at path and runs the ingest on a
// persistent session.
func startHub(t *testing.T, broker string, path string) *hubSide {
	t.Helper()
	return startHubWith(t, broker, path, ingest.Options{})
}

// startHubWith is startHub with the ingest's options o.
func startHubWith(t *testing.T, broker string, path string, o ingest.Options) *hubSide {
	t.Helper()
	st, err := ingest.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return startHubOn(t, broker, st, o)
}

// startHubOn is startHubWith on the event store st.
func startHubOn(t *testing.T, broker string, st ingest.EventStore, o ingest.Options) *hubSide {
	t.Helper()
	return startReplica(t, broker, st, o, "hub-test", false)
}

// startReplica is startHubOn with the link's client id, and on the shared
// subscription if shared: one of several hubs on one store.
func startReplica(t *testing.T, broker string, st ingest.EventStore, o ingest.Options, id string, shared bool) *hubSide {
	t.Helper()
	in, err := ingest.New(st, signed(o))
	if err != nil {
		t.Fatal(err)
	}
	lo := ingest.LinkOptions(mqttlink.Options{Broker: broker, ClientID: id,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 250 * time.Millisecond}, "", shared)
	link, err := mqttlink.New(lo, in.Handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ingestCtx, stopIngest := context.WithCancel(ctx)
	h := &hubSide{runner: runner{cancel: cancel}, st: st, in: in, stopIngest: stopIngest}
	goRun(t, ctx, &h.runner, "hub link", link.Run)
	goRun(t, ingestCtx, &h.runner, "ingest", func(ctx context.Context) error { return in.Run(ctx, link) })
	return h
}

// crash stops the ingest but leaves its link taking messages until it has
// taken some more: what the broker hands over then is PUBACKed and lost,
// as in a hub that dies between taking a message and storing it.
func (h *hubSide) crash(t *testing.T) {
	t.Helper()
	h.stopIngest()
	taken := h.in.Stats().Received
	waitfor.Until(t, 10*time.Second, "the crashed hub's link to take events", func() bool {
		return h.in.Stats().Received >= taken+100
	})
	h.close(t)
}

// close stops the hub and closes its store.
func (h *hubSide) close(t *testing.T) {
	t.Helper()
	h.stop()
	if b, ok := h.st.(*ingest.Store); ok {
		checkDB(t, b.DB())
	}
	if err := h.st.Close(); err != nil {
		t.Error(err)
	}
}

// agentSide is the door of these tests: its store and its uplink.
type agentSide = uplinktest.Door

// startAgent opens an agent store and runs the pump on a clean-session
// link that takes the hub's acks.
func startAgent(t *testing.T, broker string) *agentSide {
	t.Helper()
	return startAgentWith(t, broker, outbox.Options{AckTimeout: time.Second})
}

// startAgentWith is startAgent with the pump's options o (their door and
// keys the tests').
func startAgentWith(t *testing.T, broker string, o outbox.Options) *agentSide {
	t.Helper()
	return uplinktest.Start(t, uplinktest.Options{Broker: broker, Door: door, Keys: hubKeys, Outbox: o})
}

// waitAllAcked waits until the hub stored and the agent deleted every
// event appended.
func waitAllAcked(t *testing.T, a *agentSide, h *hubSide, within time.Duration) {
	t.Helper()
	waitfor.NoError(t, within, func() error {
		acked, err := a.Store.Acked()
		if err != nil {
			t.Fatal(err)
		}
		through, err := h.st.Through(door.Site, door.Door, a.Store.Epoch())
		if err != nil {
			t.Fatal(err)
		}
		if n := a.Appended(); acked != n || through != n {
			return fmt.Errorf("hub through %d, agent acked %d of %d; pump %+v; ingest %+v",
				through, acked, n, a.Pump.Stats(), h.in.Stats())
		}
		return nil
	})
}

// checkHub checks that the hub holds every appended event exactly once,
// in seq order, and the agent none; it returns the stored events.
func checkHub(t *testing.T, a *agentSide, h *hubSide) []ingest.Event {
	t.Helper()
	n := a.Appended()
	var evs []ingest.Event
	ids := map[string]bool{}
	err := h.st.Walk(door.Site, door.Door, func(e ingest.Event) error {
		evs = append(evs, e)
		if ids[e.ID] {
			t.Errorf("event %s stored twice", e.ID)
		}
		ids[e.ID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(evs)) != n {
		t.Fatalf("hub holds %d events; want %d", len(evs), n)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Epoch != a.Store.Epoch() || e.Type != wire.EvTap {
			t.Fatalf("hub's event #%d is %+v; want seq %d of epoch %s", i, e, i+1, a.Store.Epoch())
		}
	}
	if left, err := a.Store.Events(0, 10); err != nil || len(left) != 0 {
		t.Fatalf("agent store still holds %d events (%v); want none: all acked", len(left), err)
	}
	if total, err := h.st.Total(); err != nil || total != n {
		t.Errorf("hub Total = %d, %v; want %d", total, err, n)
	}
	if err := a.AckError(); err != nil {
		t.Errorf("the agent refused an ack of the hub: %v", err)
	}
	return evs
}

// TestUplinkSurvivesBrokerRestarts: 10,000 events stream in while the
// broker is stopped twice and killed once mid-stream, events being stored
// all along: every one reaches the hub's store exactly once and in order,
// and the agent's log ends empty.
func TestUplinkSurvivesBrokerRestarts(t *testing.T) {
	const total, rounds = 10000, 3
	start := time.Now()
	b := mqtttest.StartMosquitto(t)
	h := startHub(t, b.URL(), filepath.Join(t.TempDir(), "hub.db"))
	defer h.close(t)
	a := startAgent(t, b.URL())
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	done := a.AppendAll(t, total)
	type span struct{ from, to uint64 }
	var down []span // events stored while the broker was down
	var unacked []uint64
	for r := uint64(1); r <= rounds; r++ {
		waitfor.Until(t, 20*time.Second, "events to stream", func() bool { return a.Appended() >= r*total/(rounds+1) })
		unacked = append(unacked, a.Outstanding(t))
		conns := a.Link.Connections()
		if r == 2 {
			b.Kill() // persistence only as of the last autosave
		} else {
			b.Stop()
		}
		// a batch under way as the broker went may have gone out live
		from := a.Appended() + 20 + 1
		waitfor.Until(t, 10*time.Second, "events stored while the broker is down", func() bool {
			return a.Appended() >= min(from+100, total)
		})
		down = append(down, span{from, a.Appended()})
		b.Start()
		waitfor.Until(t, 10*time.Second, "the agent to reconnect", func() bool { return a.Link.Connections() > conns })
	}
	<-done
	waitAllAcked(t, a, h, 25*time.Second)
	evs := checkHub(t, a, h)
	live, downN := 0, 0
	for _, sp := range down {
		for s := sp.from; s <= sp.to; s++ {
			downN++
			if !evs[s-1].Replayed {
				t.Fatalf("event %d, stored while the broker was down, arrived with replayed:false", s)
			}
		}
	}
	for _, e := range evs {
		if !e.Replayed {
			live++
		}
	}
	if live == 0 || downN == 0 {
		t.Errorf("%d events arrived live, %d were stored while the broker was down; want some of each", live, downN)
	}
	ps, is := a.Pump.Stats(), h.in.Stats()
	if is.Malformed != 0 || is.StoreErrors != 0 || ps.MalformedAcks+ps.ForeignAcks+ps.BeyondAcks != 0 {
		t.Errorf("refused input: pump %+v, ingest %+v", ps, is)
	}
	t.Logf("%d events, %d broker restarts (unacked as the broker went: %v), %v; %d stored while it was down, %d arrived live; pump %+v; ingest %+v",
		total, rounds, unacked, time.Since(start).Round(time.Millisecond), downN, live, ps, is)
}

// TestUplinkSurvivesIngestRestart: the hub's ingest (its link and its
// store) stops twice mid-stream while the agent goes on storing and
// publishing, once dropping what its link takes meanwhile; the broker
// keeps the hub's session, the agent publishes again what the hub did not
// ack: nothing is lost and nothing stored twice.
func TestUplinkSurvivesIngestRestart(t *testing.T) {
	const total, restarts = 10000, 2
	start := time.Now()
	b := mqtttest.StartMosquitto(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	h := startHub(t, b.URL(), path)
	a := startAgent(t, b.URL())
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	done := a.AppendAll(t, total)
	var unacked []uint64
	var stored, dups uint64
	for r := uint64(1); r <= restarts; r++ {
		waitfor.Until(t, 20*time.Second, "the hub to store events", func() bool {
			return stored+h.in.Stats().Stored >= r*total/(restarts+1)
		})
		unacked = append(unacked, a.Outstanding(t))
		if r == 1 {
			h.crash(t)
		} else {
			h.close(t)
		}
		s := h.in.Stats()
		stored, dups = stored+s.Stored, dups+s.Duplicates
		more := a.Appended() + 100 // stored and published while the hub is down
		waitfor.Until(t, 10*time.Second, "events stored while the hub is down", func() bool {
			return a.Appended() >= min(more, total)
		})
		h = startHub(t, b.URL(), path)
	}
	<-done
	waitAllAcked(t, a, h, 25*time.Second)
	checkHub(t, a, h)
	h.close(t)
	is := h.in.Stats()
	stored, dups = stored+is.Stored, dups+is.Duplicates
	ps := a.Pump.Stats()
	if is.Malformed != 0 || is.StoreErrors != 0 || ps.MalformedAcks+ps.ForeignAcks+ps.BeyondAcks != 0 {
		t.Errorf("refused input: pump %+v, ingest %+v", ps, is)
	}
	if stored != total {
		t.Errorf("the hubs stored %d events in all; want %d, each once", stored, total)
	}
	if ps.AckTimeouts == 0 {
		t.Errorf("pump %+v: no ack timeout, so the events the crashed hub dropped were never missed", ps)
	}
	t.Logf("%d events, %d ingest restarts (unacked as it stopped: %v), %v; duplicates dropped %d; pump %+v",
		total, restarts, unacked, time.Since(start).Round(time.Millisecond), dups, ps)
}

// TestUplinkThroughMochi: the same stream through the embedded broker of
// kunci dev; StartMochi fails the test if mochi dropped any QoS 1 message.
func TestUplinkThroughMochi(t *testing.T) {
	const total = 10000
	start := time.Now()
	url := mqtttest.StartMochi(t)
	h := startHub(t, url, filepath.Join(t.TempDir(), "hub.db"))
	defer h.close(t)
	a := startAgent(t, url)
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	<-a.AppendAll(t, total)
	waitAllAcked(t, a, h, 25*time.Second)
	checkHub(t, a, h)
	t.Logf("%d events through mochi in %v; pump %+v; ingest %+v", total, time.Since(start).Round(time.Millisecond),
		a.Pump.Stats(), h.in.Stats())
}

// TestUplinkRecoversLostStore is issue 13's last finding: the hub's event
// store is lost (deleted; a restored old backup is the same) after it
// acked a door's events, which the door then deleted. The restarted hub
// holds the door's later events, stalled, and reports the gap; the
// operator accepts the missing seqs as lost, and every event the door
// still held is stored exactly once, the door's log drained.
func TestUplinkRecoversLostStore(t *testing.T) {
	const before, total = 300, 500
	b := mqtttest.StartMosquitto(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	o := ingest.Options{StallAfter: 500 * time.Millisecond}
	h := startHubWith(t, b.URL(), path, o)
	a := startAgent(t, b.URL())
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	<-a.AppendAll(t, before)
	waitAllAcked(t, a, h, 25*time.Second)
	h.close(t)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	h = startHubWith(t, b.URL(), path, o)
	defer func() { h.close(t) }()
	<-a.AppendAll(t, total)
	waitfor.Until(t, 20*time.Second, "the hub to report the gap", func() bool { return len(h.in.Gaps()) == 1 })
	g := h.in.Gaps()[0]
	if want := (ingest.Gap{Site: door.Site, Door: door.Door, Epoch: a.Store.Epoch(), From: 1, To: before, Since: g.Since}); g != want {
		t.Fatalf("gap %+v; want %+v", g, want)
	}
	if th, err := h.st.Through(door.Site, door.Door, a.Store.Epoch()); err != nil || th != 0 || a.Outstanding(t) != total-before {
		t.Fatalf("through %d (%v), %d outstanding; want nothing stored and the door holding %d", th, err, a.Outstanding(t), total-before)
	}
	ctx := context.Background()
	r := ingest.LostRequest{Site: door.Site, Door: door.Door, Epoch: a.Store.Epoch(), Through: before + 1, By: "admin",
		Reason: "hub-events.db lost"}
	if _, err := h.in.AcceptLost(ctx, r); !errors.Is(err, ingest.ErrLostRange) {
		t.Fatalf("accepting %d, which the door still holds, as lost: %v; want ErrLostRange", r.Through, err)
	}
	r.Through = before
	l, err := h.in.AcceptLost(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if l.From != 1 || l.To != before {
		t.Errorf("lost %+v; want 1..%d", l, before)
	}
	waitAllAcked(t, a, h, 25*time.Second)
	var got []uint64
	ids := map[string]bool{}
	err = h.st.Walk(door.Site, door.Door, func(e ingest.Event) error {
		if ids[e.ID] || e.Epoch != a.Store.Epoch() {
			t.Errorf("event %s stored twice or of another epoch", e.ID)
		}
		ids[e.ID] = true
		got = append(got, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total-before || got[0] != before+1 || got[len(got)-1] != total {
		t.Errorf("hub holds %d events, %v..%v; want %d..%d", len(got), got[:min(1, len(got))], got[max(0, len(got)-1):], before+1, total)
	}
	if left, err := a.Store.Events(0, 10); err != nil || len(left) != 0 {
		t.Errorf("agent store still holds %d events (%v); want none", len(left), err)
	}
	if n, err := h.st.Total(); err != nil || n != total-before {
		t.Errorf("hub Total = %d, %v; want %d", n, err, total-before)
	}
	if runs, err := h.st.Lost(door.Site, door.Door); err != nil || len(runs) != 1 || runs[0].To != before || runs[0].By != "admin" {
		t.Errorf("lost runs %+v, %v; want 1..%d by admin", runs, err, before)
	}
	if s := h.in.Stats(); s.Gaps != 0 || s.Lost != before || s.HeldEpochs != 0 {
		t.Errorf("ingest %+v; want no gap, %d lost, nothing held", s, before)
	}
	t.Logf("pump %+v; ingest %+v", a.Pump.Stats(), h.in.Stats())
}

// TestUplinkProbesWhileHubDown is the door soak's finding (issue 12)
// against a real Mosquitto: while the hub is down and the broker queues
// the door's events for its persistent session, each ack timeout put the
// whole log into that queue again. Now it puts a probe there: what the
// hub takes from its queue when it comes back is the log once and a
// probe a timeout. Then the broker restarts without its persistence, the
// hub's session and queue gone with it: every event still reaches the
// hub, once, and is acked.
func TestUplinkProbesWhileHubDown(t *testing.T) {
	const first, down, more = 20, 3000, 500
	b := mqtttest.StartMosquitto(t)
	path := filepath.Join(t.TempDir(), "hub.db")
	h := startHub(t, b.URL(), path)
	const probe = 64
	// a hub that stopped for an ack timeout on a probe's end as it takes
	// its queue would have the log sent again: not within a second
	a := startAgentWith(t, b.URL(), outbox.Options{AckTimeout: time.Second, MaxAckTimeout: time.Second,
		ProbeSize: probe})
	<-a.AppendAll(t, first)
	waitAllAcked(t, a, h, 25*time.Second) // the hub's session holds its subscription
	h.close(t)

	before := a.Pump.Stats()
	<-a.AppendAll(t, first+down)
	waitfor.Until(t, 60*time.Second, "five ack timeouts", func() bool {
		return a.Pump.Stats().AckTimeouts >= before.AckTimeouts+5
	})
	h = startHub(t, b.URL(), path)
	waitAllAcked(t, a, h, 25*time.Second)
	ps, is := a.Pump.Stats(), h.in.Stats()
	probes := ps.Probes - before.Probes
	if probes < 5 || ps.FullResends != 0 {
		t.Errorf("pump %+v: %d probes, %d full resends; want a probe at each of the 5 ack timeouts or more, no full resend",
			ps, probes, ps.FullResends)
	}
	// a publish that failed may have reached the broker, and goes again
	// with the window open after it
	again := (ps.PublishErrors - before.PublishErrors) * 256
	if limit := down + probes*probe + again; is.Received > limit {
		t.Errorf("the hub took %d events from its queue for %d events, %d probes of %d and %d publish errors; want at most %d",
			is.Received, down, probes, probe, ps.PublishErrors-before.PublishErrors, limit)
	}
	t.Logf("hub down: %d events, %d ack timeouts, the hub took %d from its queue; pump %+v; ingest %+v",
		down, ps.AckTimeouts-before.AckTimeouts, is.Received, ps, is)

	h.close(t)
	published := a.Pump.Stats().Published
	<-a.AppendAll(t, first+down+more)
	waitfor.Until(t, 20*time.Second, "the broker to take the events stored while the hub is down", func() bool {
		return a.Pump.Stats().Published >= published+more
	})
	b.Stop()
	if err := os.Remove(filepath.Join(b.Dir, "mosquitto.db")); err != nil {
		t.Fatal(err)
	}
	b.Start()
	h = startHub(t, b.URL(), path)
	defer func() { h.close(t) }()
	waitAllAcked(t, a, h, 25*time.Second)
	checkHub(t, a, h)
	if ps := a.Pump.Stats(); ps.FullResends == 0 {
		t.Errorf("pump %+v: no full resend after the broker lost the hub's session", ps)
	}
	t.Logf("broker restarted without persistence: pump %+v; ingest %+v", a.Pump.Stats(), h.in.Stats())
}
