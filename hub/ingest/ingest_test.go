package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/permittest"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openStore opens an ingest store at path and checks the file's integrity
// when the test ends.
func openStore(t *testing.T, path string) *ingest.Store {
	t.Helper()
	st, err := ingest.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkDB(t, st.DB())
		st.Close()
	})
	return st
}

func checkDB(t *testing.T, db *bolt.DB) {
	t.Helper()
	err := boltcheck.Check(db)
	if err != nil {
		t.Errorf("ingest store inconsistent: %v", err)
	}
}

type sentAck struct {
	Topic   string
	Epoch   string
	Through uint64
}

// hubKey signs the tests' acks; hubKeys trusts it, as a door would.
var (
	hubKey  = permittest.Signer(1)
	hubKeys = permittest.Keyring(hubKey)
)

// signed returns o with the tests' signer.
func signed(o ingest.Options) ingest.Options {
	o.Signer = hubKey
	return o
}

// newFakePub returns a link, up, that takes only QoS 1 publishes not
// retained (the acks) and succeeds at each at once.
func newFakePub(t testing.TB) *mqttlinktest.Link {
	l := mqttlinktest.New(t)
	l.Expect(1, false)
	l.Connect()
	return l
}

// sent returns the acks published so far, in order, each checked as a
// door checks it: signed by the hub's key, for the door of its topic, its
// clear epoch and through those signed.
func sent(t testing.TB, l *mqttlinktest.Link) []sentAck {
	t.Helper()
	var acks []sentAck
	for _, p := range l.Published() {
		acks = append(acks, openAck(t, p.Topic, p.Payload))
	}
	return acks
}

// openAck checks an ack published to topic as sent does.
func openAck(t testing.TB, topic string, payload []byte) sentAck {
	t.Helper()
	var clear permit.AckPayload
	if err := json.Unmarshal(payload, &clear); err != nil {
		t.Fatalf("publish to %s is no ack: %v", topic, err)
	}
	a, err := hubKeys.DecodeAck(clear.Signed)
	if err != nil {
		t.Fatalf("ack %s to %s does not verify: %v", payload, topic, err)
	}
	if want := "kunci/v1/" + a.Site + "/" + a.Door + "/events/ack"; topic != want {
		t.Fatalf("ack of %s/%s published to %s", a.Site, a.Door, topic)
	}
	if clear.Epoch != a.Epoch || clear.Through != a.Through {
		t.Fatalf("ack %s says epoch %q through %d in the clear, %q %d signed", payload, clear.Epoch, clear.Through,
			a.Epoch, a.Through)
	}
	return sentAck{Topic: topic, Epoch: a.Epoch, Through: a.Through}
}

func msg(site, door, epoch string, seq uint64) mqttlink.Message {
	p := fmt.Sprintf(`{"id":"%s/%s/%s/%d","seq":%d,"epoch":%q,"site":%q,"door":%q,"type":"tap","at":"2026-01-02T03:04:05Z"}`,
		site, door, epoch, seq, seq, epoch, site, door)
	return mqttlink.Message{Topic: "kunci/v1/" + site + "/" + door + "/events", Payload: []byte(p), QoS: 1}
}

// run starts in's Run with a fake publisher until stop.
// settle waits, in a synctest bubble, until the ingest has taken what
// arrived and the flow has counted as paused (AckLinger, 5 ms, with
// nothing arriving): the acks owed are then sent.
func settle() {
	synctest.Wait()
	time.Sleep(10 * time.Millisecond)
	synctest.Wait()
}

func run(t *testing.T, in *ingest.Ingest) (*mqttlinktest.Link, func()) {
	t.Helper()
	pub := newFakePub(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, pub) }()
	return pub, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// stored returns the stored seqs of a stream, checking that the file holds
// exactly 1..through.
func stored(t *testing.T, st *ingest.Store, site, door, epoch string) []uint64 {
	t.Helper()
	evs, err := st.Events(site, door, epoch, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.ID != fmt.Sprintf("%s/%s/%s/%d", site, door, epoch, e.Seq) {
			t.Fatalf("stored event #%d is %s", i, e.ID)
		}
		seqs = append(seqs, e.Seq)
	}
	through, err := st.Through(site, door, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if through != uint64(len(seqs)) {
		t.Fatalf("through %d, %d events stored", through, len(seqs))
	}
	return seqs
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestIngestOrder: whatever order and repetition the events arrive in,
// they are stored once each, in seq order, and acked through what is
// stored.
func TestIngestOrder(t *testing.T) {
	for _, tc := range []struct {
		name               string
		rounds             [][]uint64 // each round arrives, then settles
		maxHeld            int
		through            uint64
		dup, held, dropped uint64
	}{
		{"in order", [][]uint64{{1, 2, 3, 4, 5}}, 0, 5, 0, 0, 0},
		{"gap fills later", [][]uint64{{3, 1, 2, 5}, {4}}, 0, 5, 0, 2, 0},
		{"gap open", [][]uint64{{2, 3, 4}}, 0, 0, 0, 3, 0},
		{"duplicates", [][]uint64{{1, 2, 2, 1, 3}, {2}}, 0, 3, 3, 0, 0},
		{"held twice", [][]uint64{{3, 3, 1, 2}}, 0, 3, 1, 1, 0},
		{"go-back-N resend", [][]uint64{{1, 2, 4, 5}, {3, 4, 5, 6}}, 0, 6, 2, 2, 0},
		{"held overflow keeps the lowest", [][]uint64{{5, 6, 7, 8}, {2}, {1}, {3, 4}, {7, 8}}, 3, 8, 0, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
				in, err := ingest.New(st, signed(ingest.Options{MaxHeld: tc.maxHeld}))
				if err != nil {
					t.Fatal(err)
				}
				pub, stop := run(t, in)
				defer stop()
				for _, r := range tc.rounds {
					for _, s := range r {
						in.Handle(msg("demo", "server-room", "e1", s))
					}
					settle()
				}
				if got := stored(t, st, "demo", "server-room", "e1"); !slices.Equal(got, seqs(1, tc.through)) {
					t.Fatalf("stored %v; want 1..%d", got, tc.through)
				}
				s := in.Stats()
				if s.Stored != tc.through || s.Duplicates != tc.dup || s.Held != tc.held || s.Dropped != tc.dropped {
					t.Errorf("stats %+v; want stored %d, duplicates %d, held %d, dropped %d", s, tc.through, tc.dup, tc.held, tc.dropped)
				}
				acks := sent(t, pub)
				if tc.through == 0 {
					if len(acks) != 0 {
						t.Errorf("acks %v with nothing stored", acks)
					}
					return
				}
				last := acks[len(acks)-1]
				want := sentAck{Topic: "kunci/v1/demo/server-room/events/ack", Epoch: "e1", Through: tc.through}
				if last != want {
					t.Errorf("last ack %+v; want %+v", last, want)
				}
				for i := 1; i < len(acks); i++ {
					if acks[i].Through < acks[i-1].Through {
						t.Errorf("acks go back: %v", acks)
					}
				}
			})
		})
	}
}

// TestIngestDuplicateAckedAgain: a duplicate gets an ack, so an agent whose
// ack was lost learns that the hub has the event.
func TestIngestDuplicateAckedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		pub, stop := run(t, in)
		defer stop()
		in.Handle(msg("demo", "server-room", "e1", 1))
		settle()
		in.Handle(msg("demo", "server-room", "e1", 1))
		settle()
		if acks := sent(t, pub); len(acks) != 2 || acks[1].Through != 1 {
			t.Fatalf("acks %+v; want two acks through 1", acks)
		}
	})
}

// TestIngestAckRetried: an ack the link refuses at once (not up yet while
// the broker already hands over the session's queue) is tried again.
func TestIngestAckRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		pub := newFakePub(t) // the next acks refused as on a link not up
		pub.Refuse(mqttlink.ErrNotConnected, mqttlink.ErrNotConnected)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go in.Run(ctx, pub)
		in.Handle(msg("demo", "server-room", "e1", 1))
		synctest.Wait()
		if len(sent(t, pub)) != 0 {
			t.Fatalf("acks %v; want the first refused", sent(t, pub))
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if acks := sent(t, pub); len(acks) != 1 || acks[0].Through != 1 {
			t.Fatalf("acks %+v; want one through 1 after two refusals", acks)
		}
		if s := in.Stats(); s.AckErrors != 2 || s.Acks != 1 {
			t.Errorf("stats %+v; want 2 ack errors, 1 ack", s)
		}
		cancel()
		synctest.Wait()
	})
}

// TestIngestEpochs: a door's new epoch starts at seq 1 beside the old one;
// the door reads back epoch after epoch.
func TestIngestEpochs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		pub, stop := run(t, in)
		defer stop()
		for _, m := range []mqttlink.Message{
			msg("demo", "server-room", "aa", 1), msg("demo", "server-room", "aa", 2),
			msg("demo", "server-room", "bb", 2), msg("demo", "server-room", "aa", 3),
			msg("demo", "server-room", "bb", 1), msg("demo", "lab", "cc", 1),
		} {
			in.Handle(m)
		}
		settle()
		d, err := st.Door("demo", "server-room")
		if err != nil {
			t.Fatal(err)
		}
		if want := []ingest.Epoch{{Epoch: "aa", Through: 3}, {Epoch: "bb", Through: 2}}; !slices.Equal(d.Epochs, want) || d.Count() != 5 {
			t.Fatalf("door epochs %+v count %d; want %+v, 5", d.Epochs, d.Count(), want)
		}
		var ids []string
		if err := st.Walk("demo", "server-room", func(e ingest.Event) error { ids = append(ids, e.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		want := []string{"demo/server-room/aa/1", "demo/server-room/aa/2", "demo/server-room/aa/3",
			"demo/server-room/bb/1", "demo/server-room/bb/2"}
		if !slices.Equal(ids, want) {
			t.Errorf("Walk = %v; want %v", ids, want)
		}
		doors, err := st.Doors()
		if err != nil {
			t.Fatal(err)
		}
		if len(doors) != 2 || doors[0].Door != "lab" || doors[1].Door != "server-room" {
			t.Errorf("Doors = %+v; want lab and server-room", doors)
		}
		if n, err := st.Total(); err != nil || n != 6 {
			t.Errorf("Total = %d, %v; want 6", n, err)
		}
		final := map[string]uint64{}
		for _, a := range sent(t, pub) {
			final[a.Topic+" "+a.Epoch] = a.Through
		}
		if want := map[string]uint64{
			"kunci/v1/demo/server-room/events/ack aa": 3, "kunci/v1/demo/server-room/events/ack bb": 2,
			"kunci/v1/demo/lab/events/ack cc": 1,
		}; !maps.Equal(final, want) {
			t.Errorf("last acks %v; want %v", final, want)
		}
	})
}

// TestIngestMalformed: bad messages are counted and dropped; the good ones
// around them are stored.
func TestIngestMalformed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		_, stop := run(t, in)
		defer stop()
		in.Handle(msg("demo", "server-room", "e1", 1))
		for _, tc := range decodeCases {
			if tc.want != nil {
				in.Handle(mqttlink.Message{Topic: tc.topic, Payload: []byte(tc.payload)})
			}
		}
		in.Handle(mqttlink.Message{Topic: evTopic, Payload: []byte{0xff, 0xfe, '{'}})
		in.Handle(msg("demo", "server-room", "e1", 2))
		synctest.Wait()
		if got := stored(t, st, "demo", "server-room", "e1"); !slices.Equal(got, []uint64{1, 2}) {
			t.Errorf("stored %v; want [1 2]", got)
		}
		bad := 0
		for _, tc := range decodeCases {
			if tc.want != nil {
				bad++
			}
		}
		if s := in.Stats(); s.Malformed != uint64(bad+1) || s.Received != 2 {
			t.Errorf("stats %+v; want %d malformed, 2 received", s, bad+1)
		}
	})
}

// TestIngestBatchesAndCoalescesAcks: events that arrive together are
// stored in one transaction each MaxBatch; while they keep coming a door
// gets at most one ack per AckInterval, and one when they stop (nothing
// arrived for AckLinger).
func TestIngestBatchesAndCoalescesAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{MaxBatch: 100}))
		for s := range uint64(500) {
			in.Handle(msg("demo", "server-room", "e1", s+1))
		}
		pub, stop := run(t, in)
		defer stop()
		synctest.Wait()
		throughs := func() []uint64 {
			var ts []uint64
			for _, a := range sent(t, pub) {
				ts = append(ts, a.Through)
			}
			return ts
		}
		// time stands still in the bubble: the first batch acks at once,
		// the next four within AckInterval do not, even the last one that
		// emptied the queue
		if got := throughs(); !slices.Equal(got, []uint64{100}) {
			t.Errorf("acks through %v at once; want [100]", got)
		}
		// nothing arrives for AckLinger: the flow paused, the ack goes
		time.Sleep(5 * time.Millisecond)
		synctest.Wait()
		if got := throughs(); !slices.Equal(got, []uint64{100, 500}) {
			t.Errorf("acks through %v after the linger; want [100 500]", got)
		}
		if s := in.Stats(); s.Commits != 5 || s.Stored != 500 {
			t.Errorf("stats %+v; want 5 commits, 500 stored", s)
		}
	})
}

// TestIngestAckLinger: events that keep coming closer together than
// AckLinger get one ack per AckInterval, not one per commit, and the last
// one is acked once they stop.
func TestIngestAckLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{})) // AckInterval 50 ms, AckLinger 5 ms
		pub, stop := run(t, in)
		defer stop()
		for s := range uint64(200) { // one every 2 ms: 400 ms
			in.Handle(msg("demo", "server-room", "e1", s+1))
			synctest.Wait()
			time.Sleep(2 * time.Millisecond)
		}
		synctest.Wait()
		acks := sent(t, pub)
		if len(acks) > 400/50+1 {
			t.Errorf("%d acks for 200 commits in 400 ms; want at most one per 50 ms: %v", len(acks), acks)
		}
		if s := in.Stats(); s.Commits != 200 {
			t.Errorf("stats %+v; want 200 commits", s)
		}
		time.Sleep(5 * time.Millisecond)
		synctest.Wait()
		if acks := sent(t, pub); acks[len(acks)-1].Through != 200 {
			t.Errorf("last ack %+v after the flow stopped; want through 200", acks[len(acks)-1])
		}
	})
}

// TestIngestRestart: through survives a restart; events sent again are
// duplicates, acked, and the stream goes on where it stopped.
func TestIngestRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hub.db")
		st, err := ingest.OpenStore(path)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := ingest.New(st, signed(ingest.Options{}))
		_, stop := run(t, in)
		for s := range uint64(5) {
			in.Handle(msg("demo", "server-room", "e1", s+1))
		}
		in.Handle(msg("demo", "server-room", "e1", 9)) // held: lost with the process
		synctest.Wait()
		stop()
		checkDB(t, st.DB())
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}

		st = openStore(t, path)
		if th, err := st.Through("demo", "server-room", "e1"); err != nil || th != 5 {
			t.Fatalf("through after restart = %d, %v; want 5", th, err)
		}
		in, _ = ingest.New(st, signed(ingest.Options{}))
		pub, stop := run(t, in)
		defer stop()
		for s := uint64(3); s <= 9; s++ {
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		if got := stored(t, st, "demo", "server-room", "e1"); !slices.Equal(got, seqs(1, 9)) {
			t.Errorf("stored %v; want 1..9", got)
		}
		if s := in.Stats(); s.Duplicates != 3 || s.Stored != 4 {
			t.Errorf("stats %+v; want 3 duplicates, 4 stored", s)
		}
		acks := sent(t, pub)
		if acks[len(acks)-1].Through != 9 {
			t.Errorf("acks %+v; want the last through 9", acks)
		}
	})
}

// TestHandleAfterStop: a handler call after Run ended returns (the link's
// reader must not hang on a stopped ingest).
func TestHandleAfterStop(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
	in, _ := ingest.New(st, signed(ingest.Options{QueueDepth: 1}))
	_, stop := run(t, in)
	stop()
	for s := range uint64(10) {
		in.Handle(msg("demo", "server-room", "e1", s+1))
	}
}

func TestLinkOptions(t *testing.T) {
	base := mqttlink.Options{Broker: "tcp://127.0.0.1:1883", CleanSession: true,
		Subscriptions: map[string]byte{"kunci/v1/+/+/availability": 1}}
	o := ingest.LinkOptions(base, "", false)
	if o.CleanSession || o.ClientID != ingest.DefaultClientID || o.MaxBackoff != ingest.HubMaxBackoff {
		t.Errorf("options %+v; want a persistent session as %s, backoff at most %s", o, ingest.DefaultClientID, ingest.HubMaxBackoff)
	}
	want := map[string]byte{"kunci/v1/+/+/availability": 1, "kunci/v1/+/+/events": 1}
	if len(o.Subscriptions) != 2 || o.Subscriptions["kunci/v1/+/+/events"] != 1 || len(base.Subscriptions) != 1 {
		t.Errorf("subscriptions %v (base %v); want %v and the base unchanged", o.Subscriptions, base.Subscriptions, want)
	}
	base.ClientID, base.MaxBackoff = "hub-2", time.Minute
	o = ingest.LinkOptions(base, "site/v2", true)
	if o.ClientID != "hub-2" || o.MaxBackoff != time.Minute || o.Subscriptions["$share/kunci-hub/site/v2/+/+/events"] != 1 ||
		!o.CleanSession {
		t.Errorf("shared options %+v; want a clean session (a replica's session ends with its connection)", o)
	}
}

// TestIngestOnStored: OnStored sees every stored event once, in each door's
// seq order, and never a duplicate or an event still held before a gap.
func TestIngestOnStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		var mu sync.Mutex
		got := map[string][]uint64{}
		in, err := ingest.New(st, signed(ingest.Options{OnStored: func(evs []ingest.Event) {
			mu.Lock()
			defer mu.Unlock()
			for _, e := range evs {
				got[e.Door] = append(got[e.Door], e.Seq)
			}
		}}))

		if err != nil {
			t.Fatal(err)
		}
		_, stop := run(t, in)
		defer stop()
		for _, s := range []uint64{2, 1, 1, 4} {
			in.Handle(msg("demo", "a", "e1", s))
			in.Handle(msg("demo", "b", "e1", s))
		}
		settle()
		in.Handle(msg("demo", "a", "e1", 3))
		settle()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got["a"], seqs(1, 4)) || !slices.Equal(got["b"], seqs(1, 2)) {
			t.Errorf("OnStored saw %v; want a 1..4 and b 1..2", got)
		}
	})
}

// TestWalkTypes: WalkTypes yields exactly the events of Walk whose type is
// asked for, in the same order, over pages and epochs.
func TestWalkTypes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, filepath.Join(t.TempDir(), "hub.db"))
		in, _ := ingest.New(st, signed(ingest.Options{}))
		_, stop := run(t, in)
		defer stop()
		types := []string{"tap", "visit.entered", "door.opened", "room.secured", "visit.exited"}
		for _, epoch := range []string{"e1", "e2"} {
			for seq := uint64(1); seq <= 2500; seq++ {
				m := msg("demo", "server-room", epoch, seq)
				// a detail naming another type must not confuse the filter
				typ := types[seq%uint64(len(types))]
				m.Payload = bytes.Replace(m.Payload, []byte(`"type":"tap"`),
					[]byte(`"type":"`+typ+`","detail":"after \"type\":\"room.secured\""`), 1)
				in.Handle(m)
			}
			settle()
		}
		var all, some []ingest.Event
		if err := st.Walk("demo", "server-room", func(e ingest.Event) error { all = append(all, e); return nil }); err != nil {
			t.Fatal(err)
		}
		want := []ingest.Event{}
		for _, e := range all {
			if e.Type == "visit.entered" || e.Type == "room.secured" {
				want = append(want, e)
			}
		}
		err := st.WalkTypes("demo", "server-room", []wire.EventType{"visit.entered", "room.secured"}, func(e ingest.Event) error {
			some = append(some, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 5000 || len(some) != len(want) || len(want) != 2000 {
			t.Fatalf("walked %d, %d of the types; want 5000 and 2000 (%d)", len(all), len(some), len(want))
		}
		for i := range want {
			if some[i].ID != want[i].ID {
				t.Fatalf("event #%d: %s; want %s", i, some[i].ID, want[i].ID)
			}
		}
	})
}

// TestNewRequiresSigner: an ingest without the hub's key would send acks
// that no door takes.
func TestNewRequiresSigner(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "events.db"))
	if _, err := ingest.New(st, ingest.Options{}); err == nil {
		t.Error("New without a Signer succeeded; want an error")
	}
}

// downStore is a Store whose reads of through fail while down is set, as
// a database that went away.
type downStore struct {
	*ingest.Store
	down   atomic.Bool
	tries  atomic.Int32
	reason error
}

func (s *downStore) Through(site, door, epoch string) (uint64, error) {
	if s.down.Load() {
		s.tries.Add(1)
		return 0, s.reason
	}
	return s.Store.Through(site, door, epoch)
}

// TestIngestStoreDown: with the store's reads failing, a batch costs one
// read and one error a stream, not one an event; nothing is acked, and
// once the store is back the events sent again are stored.
func TestIngestStoreDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &downStore{Store: openStore(t, filepath.Join(t.TempDir(), "hub.db")), reason: errors.New("connection refused")}
		st.down.Store(true)
		var log bytes.Buffer
		in, err := ingest.New(st, signed(ingest.Options{Log: slog.New(slog.NewTextHandler(&log, nil))}))
		if err != nil {
			t.Fatal(err)
		}
		// queued before Run: one batch of 100 events of 2 doors
		for s := uint64(1); s <= 50; s++ {
			in.Handle(msg("demo", "server-room", "e1", s))
			in.Handle(msg("demo", "rack-room", "e1", s))
		}
		pub, stop := run(t, in)
		defer stop()
		settle()
		batches := in.Stats().Commits // none: nothing could be staged
		// one a door: each event cost a read and a line before
		if n := in.Stats().StoreErrors; n != 2 || st.tries.Load() != 2 {
			t.Errorf("%d store errors, %d reads tried, for a batch of %d events of 2 doors; want 2",
				n, st.tries.Load(), in.Stats().Received)
		}
		if lines := strings.Count(log.String(), "ingest: read through"); uint64(lines) != in.Stats().StoreErrors {
			t.Errorf("%d log lines for %d store errors; want one each", lines, in.Stats().StoreErrors)
		}
		if acks := sent(t, pub); len(acks) != 0 || batches != 0 {
			t.Fatalf("acks %v, %d commits with the store down; want none", acks, batches)
		}
		st.down.Store(false)
		for s := uint64(1); s <= 50; s++ {
			in.Handle(msg("demo", "server-room", "e1", s))
		}
		settle()
		if got := stored(t, st.Store, "demo", "server-room", "e1"); !slices.Equal(got, seqs(1, 50)) {
			t.Fatalf("stored %v once the store was back; want 1..50", got)
		}
	})
}
