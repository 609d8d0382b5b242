package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/agent/agenttest"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/agentsync"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// twoBrokers is a site that runs two Mosquittos: a hub with a link to
// each (server.Setup's Brokers) and one door, an agent.Door on a real
// store with its MQTT side (agentsync) on both, the first preferred.
type twoBrokers struct {
	brokers [2]*mqtttest.Mosquitto
	hub     *server.Server
	api     string // the hub API's base URL
	admin   string
	door    *agent.Door
	st      *agent.Store
	link    *mqttlink.Link // the door's
	stop    func()
}

// siteKey and hubSeed are the rig's keys: the hub's site key for demo,
// which the door shares, and the hub's signing key, which the door trusts.
var (
	siteKey = permit.SiteKey(bytes.Repeat([]byte{2}, permit.SiteKeySize))
	hubSeed = bytes.Repeat([]byte{1}, ed25519.SeedSize)
)

func startTwoBrokers(t testing.TB) *twoBrokers {
	t.Helper()
	x := &twoBrokers{brokers: [2]*mqtttest.Mosquitto{mqtttest.StartMosquitto(t), mqtttest.StartMosquitto(t)}}
	urls := []string{x.brokers[0].URL(), x.brokers[1].URL()}
	dir := t.TempDir()
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(hubSeed))
	s := server.Setup{Store: filepath.Join(dir, "hub.db"), EventsStore: filepath.Join(dir, "hub-events.db"),
		Signer: signer, SiteKeys: map[string]permit.SiteKey{demo.Site: siteKey},
		Doors: []hub.DoorName{{Site: demo.Site, Door: demo.Door}},
		Link:  mqttlink.Options{Brokers: urls, ClientID: "kunci-hub-ingest"}}
	log := slog.New(slog.DiscardHandler)
	var err error
	if x.hub, err = server.Open(s, log); err != nil {
		t.Fatal(err)
	}
	if x.admin, _, err = x.hub.Tokens().Issue("admin", []auth.Role{auth.Admin}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	x.api = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	hg := lifecycle.New(ctx, lifecycle.Options{})
	x.hub.Start(hg)
	x.hub.Serve(hg, l, "", "")

	if x.st, err = agent.OpenStore(filepath.Join(dir, "agent.db"), demo.Site, demo.Door); err != nil {
		t.Fatal(err)
	}
	keys := permit.Keyring{}
	if err := keys.Add(signer.Public()); err != nil {
		t.Fatal(err)
	}
	if x.door, err = agent.NewDoor(agent.Config{Site: demo.Site, Door: demo.Door, Rules: agent.DefaultRules(),
		Readers: []string{agent.ReaderEntry}, SiteKey: siteKey, Keys: keys, Boot: "b00t", Version: "v-test"},
		x.st, &agenttest.Relay{}, agent.NewSystemClock(nil), log, nil); err != nil {
		t.Fatal(err)
	}
	sy, err := agentsync.New(agentsync.Config{Link: mqttlink.Options{Brokers: urls, ClientID: "demo.server-room"},
		Topics: demo, Keys: keys, Log: log}, x.door, x.st)
	if err != nil {
		t.Fatal(err)
	}
	x.link = sy.Link()
	dg := lifecycle.New(ctx, lifecycle.Options{})
	dg.Go(lifecycle.Input, "door", x.door.Run)
	dg.OnStop(lifecycle.Store, "store", func(context.Context) error { return x.st.Close() })
	sy.Start(dg)
	var once sync.Once
	x.stop = func() {
		once.Do(func() {
			cancel()
			if err := errors.Join(dg.Wait(), hg.Wait()); err != nil {
				t.Errorf("Wait = %v", err)
			}
		})
	}
	t.Cleanup(x.stop)
	waitfor.NoError(t, 20*time.Second, func() error {
		if !x.link.Connected() || x.link.Broker() != urls[0] {
			return fmt.Errorf("the door is not on the first broker (%s, connected %v)", x.link.Broker(), x.link.Connected())
		}
		for i, l := range x.hubLinks() {
			if !l.Connected() {
				return fmt.Errorf("the hub's link to broker %d is down", i)
			}
		}
		return nil
	})
	return x
}

func (x *twoBrokers) hubLinks() []*mqttlink.Link { return x.hub.Link().Links() }

// client is the hub's API with a new token of roles, or the admin's.
func (x *twoBrokers) client(t testing.TB, roles ...auth.Role) *client.Client {
	t.Helper()
	tok := x.admin
	if len(roles) > 0 {
		var err error
		if tok, _, err = x.hub.Tokens().Issue(fmt.Sprintf("%s-%d", roles[0], len(roles)), roles, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(x.api, tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// through returns how far the hub has stored the door's events, in seq
// order from 1 with no gap.
func (x *twoBrokers) through(t testing.TB) uint64 {
	t.Helper()
	n, err := x.hub.Hub().Events().Through(demo.Site, demo.Door, x.st.Epoch())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// failover kills the broker the door is on and returns how long it took,
// from the kill, for the door to be connected to the other; the killed one
// is started again.
func (x *twoBrokers) failover(t testing.TB) time.Duration {
	t.Helper()
	on := slices.IndexFunc(x.brokers[:], func(m *mqtttest.Mosquitto) bool { return m.URL() == x.link.Broker() })
	if on < 0 || !x.link.Connected() {
		t.Fatalf("the door is not connected (%s)", x.link.Broker())
	}
	next := x.link.NextConnection()
	start := time.Now()
	x.brokers[on].Kill()
	select {
	case <-next:
	case <-time.After(30 * time.Second):
		t.Fatalf("the door did not connect to another broker within 30 s of the kill of %s", x.brokers[on].URL())
	}
	took := time.Since(start)
	if other := x.brokers[1-on].URL(); x.link.Broker() != other {
		t.Fatalf("the door moved to %s; want %s", x.link.Broker(), other)
	}
	return took
}

// A door sending events when its broker is killed moves to the second;
// the hub, on both, stores every event once and in order,
// and a permit issued while the first is down reaches the door through
// the second and opens it, as a command does. The door's retained status and "online" are
// on the second broker, the hub shows it online, and when the first comes
// back the hub puts the records there too.
func TestDoorFailsOverBetweenBrokers(t *testing.T) {
	x := startTwoBrokers(t)
	ctx := t.Context()
	// a stream of taps of unknown cards: two events each (tap, denied)
	tapping, stopTaps := context.WithCancel(ctx)
	tapped := make(chan int, 1)
	go func() {
		n := 0
		defer func() { tapped <- n }()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tapping.Done():
				return
			case <-tick.C:
			}
			uid := fmt.Appendf(nil, "\x04\x99%05d", n)
			if err := x.door.Tap(tapping, agent.ReaderEntry, uid); err != nil {
				return
			}
			n++
		}
	}()
	waitfor.NoError(t, 20*time.Second, func() error {
		if n := x.through(t); n < 40 {
			return fmt.Errorf("the hub stored %d events; want 40 before the kill", n)
		}
		return nil
	})
	took := x.failover(t)
	// how long it takes is BenchmarkBrokerFailover's to say
	t.Logf("broker killed -> door connected to the second: %v", took)
	before := x.through(t)
	waitfor.NoError(t, 20*time.Second, func() error {
		if n := x.through(t); n < before+40 {
			return fmt.Errorf("the hub stored %d events, %d at the move; want 40 more through the second broker", n, before)
		}
		return nil
	})

	// a permit issued while the first broker is down
	c := x.client(t)
	now := time.Now()
	const guest, escort = hubtest.GuestUID, hubtest.EscortUID
	desk, head := x.client(t, auth.Requester), x.client(t, auth.Approver, auth.Coordinator)
	hubtest.Issue(t, c, desk, head, now.Add(-time.Minute))
	stopTaps()
	n := <-tapped
	uid := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var granted wire.Event
	waitfor.NoError(t, 20*time.Second, func() error {
		if err := x.door.Tap(ctx, agent.ReaderEntry, uid(guest)); err != nil {
			return err
		}
		if err := x.door.Tap(ctx, agent.ReaderEntry, uid(escort)); err != nil {
			return err
		}
		evs, err := x.hub.Hub().Events().Events(demo.Site, demo.Door, x.st.Epoch(), 0, 1_000_000)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Type == wire.EvGranted && e.Permit == "P-1" {
				granted = e
				return nil
			}
		}
		return errors.New("no access.granted for P-1 at the hub yet")
	})
	t.Logf("%d taps before, P-1 granted at seq %d", n, granted.Seq)

	// a command goes to every broker connected; the door obeys it once,
	// from the one it is on
	if _, err := c.Command(ctx, demo.Site, demo.Door, wire.CmdResync); err != nil {
		t.Fatalf("command: %v", err)
	}
	waitfor.NoError(t, 20*time.Second, func() error {
		evs, err := x.hub.Hub().Events().Events(demo.Site, demo.Door, x.st.Epoch(), granted.Seq, 1_000_000)
		if err != nil {
			return err
		}
		var executed int
		for _, e := range evs {
			if e.Type == wire.EvCmdExecuted && e.Command == wire.CmdResync {
				executed++
			}
		}
		if executed != 1 {
			return fmt.Errorf("%d command.executed of resync at the hub; want 1", executed)
		}
		return nil
	})

	// every event once, in order: the hub's store holds seqs 1..last of
	// the door's epoch with no gap, and the door holds none unacked
	last, err := x.st.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	waitfor.NoError(t, 20*time.Second, func() error {
		last, err = x.st.LastSeq()
		if err != nil {
			return err
		}
		acked, err := x.st.Acked()
		if err != nil {
			return err
		}
		if got := x.through(t); got != last || acked != last {
			return fmt.Errorf("the hub stored through %d, the door acked %d; want both at the door's last, %d", got, acked, last)
		}
		return nil
	})
	evs, err := x.hub.Hub().Events().Events(demo.Site, demo.Door, x.st.Epoch(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(evs)) != last {
		t.Fatalf("the hub holds %d events of the epoch; want %d, each once", len(evs), last)
	}
	for i, e := range evs {
		if want := fmt.Sprintf("%s/%s/%s/%d", demo.Site, demo.Door, x.st.Epoch(), i+1); e.Seq != uint64(i+1) || e.ID != want {
			t.Fatalf("the hub's event %d is %s (seq %d); want %s", i, e.ID, e.Seq, want)
		}
	}
	st := x.hub.Hub().Stats()
	t.Logf("hub: %d stored, %d duplicates (the door's resend from its last ack on the second broker)", st.Ingest.Stored,
		st.Ingest.Duplicates)

	// the door's retained status and availability are on the second broker
	second := x.brokers[1].URL()
	waitfor.NoError(t, 20*time.Second, func() error {
		var s wire.Status
		if err := json.Unmarshal([]byte(mqtttest.Retained(t, second, demo.Status())), &s); err != nil {
			return fmt.Errorf("retained status on the second broker: %w", err)
		}
		if want := x.door.Status().Seq; s.Seq != want {
			return fmt.Errorf("retained status at seq %d; want the door's, %d", s.Seq, want)
		}
		if a := mqtttest.Retained(t, second, demo.Availability()); a != wire.Online {
			return fmt.Errorf("retained availability %q; want online", a)
		}
		for _, d := range x.hub.Hub().Doors() {
			if d.Site == demo.Site && d.Door == demo.Door && d.Availability != wire.Online {
				return fmt.Errorf("the hub shows the door %s", d.Availability)
			}
		}
		return nil
	})

	// the first broker back: the hub's link there connects again and puts
	// the records issued meanwhile on it; the door stays on the second
	x.brokers[0].Start()
	waitfor.NoError(t, 20*time.Second, func() error {
		if mqtttest.Retained(t, x.brokers[0].URL(), demo.Permit("P-1")) == "" {
			return errors.New("P-1 is not retained on the first broker")
		}
		return nil
	})
	if x.link.Broker() != second {
		t.Errorf("with the first broker back the door is on %s; want it to stay on %s", x.link.Broker(), second)
	}
}

// BenchmarkBrokerFailover measures, b.N times, the kill of the broker a
// door is on to the door's connection to the other (the killed one is
// started again after each), while the hub is on both: p50-ms and
// max-ms. TestDoorFailsOverBetweenBrokers is its short version.
func BenchmarkBrokerFailover(b *testing.B) {
	x := startTwoBrokers(b)
	var ds []time.Duration
	for b.Loop() {
		ds = append(ds, x.failover(b))
		b.StopTimer()
		for _, m := range x.brokers {
			if m.Pid() == 0 {
				m.Start()
			}
		}
		// the hub back on both before the next kill
		waitfor.NoError(b, 20*time.Second, func() error {
			for i, l := range x.hubLinks() {
				if !l.Connected() {
					return fmt.Errorf("the hub's link to broker %d is down", i)
				}
			}
			return nil
		})
		b.StartTimer()
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, "max-ms")
}
