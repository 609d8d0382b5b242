package agentsync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/permittest"
	"github.com/kunci-project/kunci/sync/agentsync"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
	bolt "go.etcd.io/bbolt"
)

var demo = topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: "server-room"}

// journal records what happened, in order, from any goroutine.
type journal struct {
	mu   sync.Mutex
	log  []string
	msgs []mqttlink.Message
	more chan struct{}
}

func newJournal() *journal { return &journal{more: make(chan struct{}, 1)} }

func (j *journal) add(s string) {
	j.mu.Lock()
	j.log = append(j.log, s)
	j.mu.Unlock()
	select {
	case j.more <- struct{}{}:
	default:
	}
}

func (j *journal) message(m mqttlink.Message) {
	j.mu.Lock()
	j.msgs = append(j.msgs, m)
	j.mu.Unlock()
	switch {
	case m.Topic == demo.Availability() && !m.Retained:
		j.add("availability " + string(m.Payload))
	case m.Topic == demo.Events():
		var e wire.Event
		_ = json.Unmarshal(m.Payload, &e)
		j.add(fmt.Sprintf("event %d", e.Seq))
	default:
		j.add("message " + m.Topic)
	}
}

func (j *journal) entries() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.log)
}

// lastStatus returns the last status published live.
func (j *journal) lastStatus() (wire.Status, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, m := range slices.Backward(j.msgs) {
		if m.Topic == demo.Status() {
			var s wire.Status
			return s, json.Unmarshal(m.Payload, &s) == nil
		}
	}
	return wire.Status{}, false
}

// waitFor waits until cond holds, checking after every journal entry and
// every 20 ms, for at most 20 s.
func (j *journal) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-j.more:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s: timed out; journal %v", what, j.entries())
		}
	}
}

// relay is a fake relay that journals its halt.
type relay struct{ j *journal }

func (r relay) Lock() error    { return nil }
func (r relay) Unlock() error  { return nil }
func (r relay) Halt() error    { r.j.add("relay halted"); return nil }
func (r relay) String() string { return "test-relay" }

// rig is a door's MQTT side run on a broker in a lifecycle group, with a
// hub's link on the same broker that journals the door's events, status
// and availability.
type rig struct {
	j      *journal
	hub    *mqttlink.Link
	path   string
	st     *agent.Store
	door   *agent.Door
	reg    *metrics.Registry
	cancel context.CancelFunc
	waited chan error
}

// hubKey is the hub's signing key the rig's door trusts.
var hubKey = permittest.Signer(1)

// startRig starts a rig on broker; its hub link stops when the test ends,
// the door when stop is called.
func startRig(t *testing.T, broker string) *rig {
	t.Helper()
	r := &rig{j: newJournal(), reg: metrics.NewRegistry(), waited: make(chan error, 1)}
	var err error
	r.hub, err = mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "test-hub",
		Subscriptions: map[string]byte{demo.Events(): 1, demo.Status(): 1, demo.Availability(): 1}}, r.j.message)
	if err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	hdone := make(chan error, 1)
	go func() { hdone <- r.hub.Run(hctx) }()
	t.Cleanup(func() {
		hcancel()
		if err := <-hdone; err != nil {
			t.Errorf("hub link: %v", err)
		}
	})
	r.j.waitFor(t, "the hub's link", r.hub.Connected)

	r.path = filepath.Join(t.TempDir(), "agent.db")
	if r.st, err = agent.OpenStore(r.path, demo.Site, demo.Door); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	keys := permittest.Keyring(hubKey)
	r.door, err = agent.NewDoor(agent.Config{Site: demo.Site, Door: demo.Door, Rules: agent.DefaultRules(),
		Readers: []string{agent.ReaderEntry}, SiteKey: permit.SiteKey(bytes.Repeat([]byte{1}, permit.SiteKeySize)),
		Keys: keys, Boot: "b00t", Version: "v-test"}, r.st, relay{r.j}, agent.NewSystemClock(nil), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := agentsync.New(agentsync.Config{Link: mqttlink.Options{Broker: broker, ClientID: "test-door"},
		Topics: demo, Keys: keys, Metrics: r.reg, Log: log}, r.door, r.st)
	if err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	g := lifecycle.New(ctx, lifecycle.Options{})
	g.Go(lifecycle.Input, "door", r.door.Run)
	g.OnStop(lifecycle.Store, "store", func(context.Context) error {
		r.j.add("store closed")
		return r.st.Close()
	})
	s.Start(g)
	go func() { r.waited <- g.Wait() }()
	r.j.waitFor(t, "online", func() bool { return slices.Contains(r.j.entries(), "availability online") })
	r.j.waitFor(t, "agent.started on the events topic", func() bool { return slices.Contains(r.j.entries(), "event 1") })
	return r
}

// stop ends the door's side and waits for it.
func (r *rig) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.waited; err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

// publishAck publishes payload on the door's events/ack as the hub would.
func (r *rig) publishAck(t *testing.T, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mqttlink.Wait(ctx, r.hub.Publish(demo.EventsAck(), 1, false, payload)); err != nil {
		t.Fatal(err)
	}
}

// TestRoutesAndStopsInOrder runs a door's MQTT side on a real broker in a
// lifecycle group: its events reach the events topic, the hub's ack
// deletes them from the store, a garbage permit is refused and recorded by
// the downlink; at shutdown the relay is halted first, the store closed
// next, and only then the final status and "offline" go out.
func TestRoutesAndStopsInOrder(t *testing.T) {
	r := startRig(t, mqtttest.StartMochi(t))
	j, st := r.j, r.st
	last, err := st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	r.publishAck(t, permittest.Ack(t, hubKey, demo.Site, demo.Door, st.Epoch(), last))
	j.waitFor(t, "the ack applied", func() bool {
		acked, err := st.Acked()
		return err == nil && acked == last
	})
	ctx := context.Background()
	if err := mqttlink.Wait(ctx, r.hub.Publish(demo.Permit("P-0001"), 1, false, []byte("not a signed record"))); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "the refusal recorded", func() bool {
		evs, err := st.Events(last, 100)
		return err == nil && len(evs) > 0 && evs[0].Type == wire.EvPermitRejected
	})

	r.stop(t)
	j.waitFor(t, "offline", func() bool { return slices.Contains(j.entries(), "availability offline") })
	got := j.entries()
	halt, closed, offline := slices.Index(got, "relay halted"), slices.Index(got, "store closed"),
		slices.Index(got, "availability offline")
	if halt < 0 || closed < halt || offline < closed {
		t.Errorf("journal %v; want the relay halted, then the store closed, then offline", got)
	}
	if s, ok := j.lastStatus(); !ok || s.Seq != r.door.Status().Seq {
		t.Errorf("last status on the wire %+v (%t); want the door's final one, seq %d", s, ok, r.door.Status().Seq)
	}
	db, err := bolt.Open(r.path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := boltcheck.Check(db); err != nil {
		t.Error(err)
	}
}

// TestForgedAcksDeleteNothing publishes, through a real Mosquitto, acks
// that the hub did not sign for this door's events: unsigned (issue 12:
// {"epoch":"<the door's>","through":N} deleted N events the hub never
// stored), signed by an untrusted key, tampered, of another door, of
// another epoch and beyond the log. Then a genuine ack through 1: the
// broker delivers them in order, so once it is applied the others have
// been handled. Each was refused and counted; only seq 1 is deleted.
func TestForgedAcksDeleteNothing(t *testing.T) {
	r := startRig(t, mqtttest.StartMosquitto(t).URL())
	defer r.stop(t)
	ctx := context.Background()
	for range 3 {
		if err := r.door.Record(ctx, agent.Event{Type: wire.EvTap, Reader: agent.ReaderEntry}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := r.st.LastSeq()
	if err != nil || last < 4 {
		t.Fatalf("LastSeq = %d, %v; want at least 4", last, err)
	}
	epoch := r.st.Epoch()
	genuine := func(through uint64) []byte {
		return permittest.Ack(t, hubKey, demo.Site, demo.Door, epoch, through)
	}
	tamperedThrough := bytes.Replace(genuine(2), []byte(`"through":2`), []byte(fmt.Sprintf(`"through":%d`, last)), 1)
	forged := []struct{ reason, payload string }{
		{"unsigned", fmt.Sprintf(`{"epoch":%q,"through":%d}`, epoch, last)},
		{"untrusted_key", string(permittest.Ack(t, permittest.Signer(2), demo.Site, demo.Door, epoch, last))},
		{"bad_signature", string(tamperedThrough)},
		{"other_door", string(permittest.Ack(t, hubKey, demo.Site, "lab", epoch, last))},
		{"other_epoch", string(permittest.Ack(t, hubKey, demo.Site, demo.Door, "e0ld", last))},
		{"beyond_log", string(genuine(last + 1))},
	}
	for _, f := range forged {
		r.publishAck(t, []byte(f.payload))
	}
	r.publishAck(t, genuine(1))
	r.j.waitFor(t, "the genuine ack", func() bool {
		acked, err := r.st.Acked()
		return err == nil && acked > 0
	})
	if acked, err := r.st.Acked(); err != nil || acked != 1 {
		t.Errorf("the store's ack is %d, %v; want 1: a forged ack deleted events", acked, err)
	}
	evs, err := r.st.Events(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Seq != 2 || evs[len(evs)-1].Seq < last {
		t.Errorf("the store holds %d events, from %v; want 2..%d", len(evs), evs, last)
	}
	text := string(r.reg.Text())
	var missing []string
	for _, f := range forged {
		if want := `kunci_agent_outbox_acks_refused_total{reason="` + f.reason + `"} 1`; !strings.Contains(text, want) {
			missing = append(missing, want)
		}
	}
	if missing != nil {
		t.Errorf("metrics lack %q:\n%s", missing, text)
	}
}
