package pgevents_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/hub/ingest/storetest"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// noAcks takes the acks and drops them.
type noAcks struct{}

func (noAcks) Publish(string, byte, bool, []byte) mqttlink.Token { return mqttlink.Completed(nil) }

// waitStored waits until the ingests' Stored add up to want, and fails t
// if they add up to more: each event stored once, by one of them.
func waitStored(t *testing.T, ins []*ingest.Ingest, want uint64) uint64 {
	t.Helper()
	sum := func() uint64 {
		var n uint64
		for _, in := range ins {
			n += in.Stats().Stored
		}
		return n
	}
	waitfor.Until(t, 10*time.Second, "the ingests to count what they stored", func() bool { return sum() >= want })
	if got := sum(); got != want {
		t.Errorf("the ingests stored %d events between them; want %d, each once", got, want)
	}
	return sum()
}

// startIngests runs two ingests, each on a store of its own on dsn's
// database, until stop.
func startIngests(t *testing.T, dsn string, signer *permit.Signer) (ins []*ingest.Ingest, stores []*pgevents.Store, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop = func() {
		cancel()
		wg.Wait()
		for _, st := range stores {
			st.Close()
		}
	}
	for range 2 {
		st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
		if err != nil {
			stop()
			t.Fatal(err)
		}
		stores = append(stores, st)
		in, err := ingest.New(st, ingest.Options{Signer: signer, MaxBatch: 16})
		if err != nil {
			stop()
			t.Fatal(err)
		}
		ins = append(ins, in)
		wg.Go(func() { in.Run(ctx, noAcks{}) })
	}
	return ins, stores, stop
}

// Two hub ingests on one database, each given every event of two doors
// (the worst a broker could do, where a shared subscription gives each
// message to one) and then all of them again (the doors' resends of what
// was not acked): every event is stored once and in order, the commits of
// both adding up to the events, the races lost counted as duplicates.
func TestTwoIngestsOneDatabase(t *testing.T) {
	dsn := pgtest.DB(t)
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	const n = 400
	doors := []string{"d1", "d2"}
	var payloads []mqttlink.Message
	for i := uint64(1); i <= n; i++ {
		for _, d := range doors {
			j, err := json.Marshal(storetest.Ev("demo", d, "e", i))
			if err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, mqttlink.Message{Topic: topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: d}.Events(),
				Payload: j, QoS: 1})
		}
	}
	ins, stores, stop := startIngests(t, dsn, signer)
	defer stop()
	for pass := range 2 {
		var feed sync.WaitGroup
		for _, in := range ins {
			feed.Go(func() {
				for _, m := range payloads {
					in.Handle(m)
				}
			})
		}
		feed.Wait()
		if pass == 0 {
			// the resend comes once the first pass is through the queues
			waitfor.Until(t, 30*time.Second, "both ingests took the first pass", func() bool {
				return ins[0].Stats().Received == uint64(len(payloads)) && ins[1].Stats().Received == uint64(len(payloads))
			})
		}
	}
	st := stores[0]
	waitfor.Until(t, 30*time.Second, "every event stored", func() bool {
		total, err := st.Total()
		return err == nil && total == 2*n
	})
	// an ingest counts its commit just after it: the counters may trail
	// the database by a moment, never pass it
	stored := waitStored(t, ins, 2*n)
	var dups uint64
	for _, in := range ins {
		s := in.Stats()
		dups += s.Duplicates
		if s.Malformed != 0 {
			t.Errorf("stats %+v", s)
		}
	}
	for _, d := range doors {
		var got []uint64
		if err := st.Walk("demo", d, func(e ingest.Event) error { got = append(got, e.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		var want []uint64
		for i := uint64(1); i <= n; i++ {
			want = append(want, i)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d events stored, not 1..%d once each", d, len(got), n)
		}
	}
	t.Logf("stored %d, duplicates %d, store errors %d and %d", stored, dups, ins[0].Stats().StoreErrors, ins[1].Stats().StoreErrors)
}

// Two hub ingests on one database, each given half of every door's events
// (alternately, as a shared subscription deals them out) and nothing
// again: each holds the events that follow the other's, learns from the
// database's notifications (Watch) when the other stored those before,
// and stores its own then. Every event is stored once and in order, with
// no door sending anything twice.
func TestSplitIngestsOneDatabase(t *testing.T) {
	dsn := pgtest.DB(t)
	signer := permit.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	const n = 600
	doors := []string{"d1", "d2", "d3"}
	ins, stores, stop := startIngests(t, dsn, signer)
	defer stop()
	k := 0
	for i := uint64(1); i <= n; i++ {
		for _, d := range doors {
			j, err := json.Marshal(storetest.Ev("demo", d, "e", i))
			if err != nil {
				t.Fatal(err)
			}
			ins[k%2].Handle(mqttlink.Message{Topic: topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: d}.Events(),
				Payload: j, QoS: 1})
			k++
		}
	}
	st := stores[0]
	waitfor.Until(t, 60*time.Second, "every event stored", func() bool {
		total, err := st.Total()
		return err == nil && total == uint64(len(doors)*n)
	})
	waitStored(t, ins, uint64(len(doors)*n))
	for _, d := range doors {
		var got []uint64
		if err := st.Walk("demo", d, func(e ingest.Event) error { got = append(got, e.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != n || !slices.IsSorted(got) || got[0] != 1 || got[n-1] != n {
			t.Errorf("%s: %d events stored, not 1..%d once each", d, len(got), n)
		}
	}
	t.Logf("stats %+v; %+v", ins[0].Stats(), ins[1].Stats())
}
