package agentsync_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/permit"
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

// TestRoutesAndStopsInOrder runs a door's MQTT side on a real broker in a
// lifecycle group: its events reach the events topic, the hub's ack
// deletes them from the store, a garbage permit is refused and recorded by
// the downlink; at shutdown the relay is halted first, the store closed
// next, and only then the final status and "offline" go out.
func TestRoutesAndStopsInOrder(t *testing.T) {
	broker := mqtttest.StartMochi(t)
	j := newJournal()
	hub, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "test-hub",
		Subscriptions: map[string]byte{demo.Events(): 1, demo.Status(): 1, demo.Availability(): 1}}, j.message)
	if err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	hdone := make(chan error, 1)
	go func() { hdone <- hub.Run(hctx) }()
	defer func() {
		hcancel()
		if err := <-hdone; err != nil {
			t.Errorf("hub link: %v", err)
		}
	}()
	j.waitFor(t, "the hub's link", hub.Connected)

	path := filepath.Join(t.TempDir(), "agent.db")
	st, err := agent.OpenStore(path, demo.Site, demo.Door)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	keys := permit.Keyring{}
	if err := keys.Add(permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))).Public()); err != nil {
		t.Fatal(err)
	}
	door, err := agent.NewDoor(agent.Config{Site: demo.Site, Door: demo.Door, Rules: agent.DefaultRules(),
		Readers: []string{agent.ReaderEntry}, SiteKey: permit.SiteKey(bytes.Repeat([]byte{1}, permit.SiteKeySize)),
		Keys: keys, Boot: "b00t", Version: "v-test"}, st, relay{j}, agent.NewSystemClock(nil), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := agentsync.New(agentsync.Config{Link: mqttlink.Options{Broker: broker, ClientID: "test-door"},
		Topics: demo, Keys: keys, Log: log}, door, st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := lifecycle.New(ctx, lifecycle.Options{})
	g.Go(lifecycle.Input, "door", door.Run)
	g.OnStop(lifecycle.Store, "store", func(context.Context) error {
		j.add("store closed")
		return st.Close()
	})
	s.Start(g)
	waited := make(chan error, 1)
	go func() { waited <- g.Wait() }()

	j.waitFor(t, "online", func() bool { return slices.Contains(j.entries(), "availability online") })
	j.waitFor(t, "agent.started on the events topic", func() bool { return slices.Contains(j.entries(), "event 1") })
	last, err := st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	ack := fmt.Sprintf(`{"epoch":%q,"through":%d}`, st.Epoch(), last)
	if err := mqttlink.Wait(ctx, hub.Publish(demo.EventsAck(), 1, false, []byte(ack))); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "the ack applied", func() bool {
		acked, err := st.Acked()
		return err == nil && acked == last
	})
	if err := mqttlink.Wait(ctx, hub.Publish(demo.Permit("P-0001"), 1, false, []byte("not a signed record"))); err != nil {
		t.Fatal(err)
	}
	j.waitFor(t, "the refusal recorded", func() bool {
		evs, err := st.Events(last, 100)
		return err == nil && len(evs) > 0 && evs[0].Type == wire.EvPermitRejected
	})

	cancel()
	if err := <-waited; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	j.waitFor(t, "offline", func() bool { return slices.Contains(j.entries(), "availability offline") })
	got := j.entries()
	halt, closed, offline := slices.Index(got, "relay halted"), slices.Index(got, "store closed"),
		slices.Index(got, "availability offline")
	if halt < 0 || closed < halt || offline < closed {
		t.Errorf("journal %v; want the relay halted, then the store closed, then offline", got)
	}
	if s, ok := j.lastStatus(); !ok || s.Seq != door.Status().Seq {
		t.Errorf("last status on the wire %+v (%t); want the door's final one, seq %d", s, ok, door.Status().Seq)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := boltcheck.Check(db); err != nil {
		t.Error(err)
	}
}
