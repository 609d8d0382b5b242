package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

var demo = topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: "server-room"}

// acks collects the hub's events/ack messages.
type acks struct {
	mu   sync.Mutex
	got  []string
	more chan struct{}
}

func (a *acks) add(m mqttlink.Message) {
	if m.Topic != demo.EventsAck() {
		return
	}
	a.mu.Lock()
	a.got = append(a.got, string(m.Payload))
	a.mu.Unlock()
	select {
	case a.more <- struct{}{}:
	default:
	}
}

func (a *acks) has(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, g := range a.got {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}

// A hub run in a lifecycle group serves its API, stores a door's event and
// acks it over a real broker; at shutdown its watch streams end, its stores
// are closed (their file locks free) and whole, and Wait returns nil.
func TestServerRunsAndStops(t *testing.T) {
	o := openHub(t, httplimit.Limits{})
	h, s, tok, l := o.h, o.s, o.token, o.l
	ctx, cancel := context.WithCancel(context.Background())
	g := lifecycle.New(ctx, lifecycle.Options{})
	h.Start(g)
	h.Serve(g, l, "", "")
	waited := make(chan error, 1)
	go func() { waited <- g.Wait() }()

	base := "http://" + l.Addr().String()
	req, err := http.NewRequest(http.MethodGet, base+"/api/watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	watch, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Body.Close()
	if watch.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/watch: %s", watch.Status)
	}
	streamEnded := make(chan struct{})
	go func() {
		defer close(streamEnded)
		sc := bufio.NewScanner(watch.Body)
		for sc.Scan() {
		}
	}()

	storeOne(t, s.Link.Broker)

	cancel()
	if err := <-waited; err != nil {
		t.Fatalf("Wait = %v", err)
	}
	<-streamEnded
	for _, p := range []string{s.Store, s.EventsStore} {
		db, err := bolt.Open(p, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			t.Fatalf("%s after the shutdown: %v; want it closed by the hub", p, err)
		}
		if err := boltcheck.Check(db); err != nil {
			t.Error(err)
		}
		db.Close()
	}
	http.DefaultClient.CloseIdleConnections()
}

// storeOne publishes an event of the demo door over broker, again until
// the hub acks it.
func storeOne(t *testing.T, broker string) {
	t.Helper()
	storeEvents(t, broker, fmt.Sprintf(`{"id":"demo/server-room/e1/1","seq":1,"epoch":"e1","site":"demo","door":"server-room","type":"agent.started","at":%q,"clock_synced":true,"boot":"b","mono_ns":1}`,
		time.Now().UTC().Format(time.RFC3339Nano)))
}

// storeEvents publishes evs, the demo door's events of epoch e1 from seq
// 1, over broker, again until the hub acks the last of them.
func storeEvents(t *testing.T, broker string, evs ...string) {
	t.Helper()
	a := &acks{more: make(chan struct{}, 1)}
	door, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "test-door",
		Subscriptions: map[string]byte{demo.EventsAck(): 1}}, a.add)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(context.Background())
	ddone := make(chan error, 1)
	go func() { ddone <- door.Run(dctx) }()
	defer func() {
		dcancel()
		<-ddone
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	// published again until acked: the hub's session may not be up yet
	for through := fmt.Sprintf(`"through":%d`, len(evs)); !a.has(through); {
		if door.Connected() {
			for _, ev := range evs {
				door.Publish(demo.Events(), 1, false, []byte(ev))
			}
		}
		select {
		case <-a.more:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("no ack of the events within 20s; acks %v", a.got)
		}
	}
}
