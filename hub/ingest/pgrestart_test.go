package ingest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/ingest/pgevents"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// TestUplinkSurvivesPostgresRestart: 20,000 events stream from a door to a
// hub whose events are in PostgreSQL, and the server is restarted twice
// mid-stream (pg_ctl's fast mode: connections ended, transactions rolled
// back), down for a second each time. The hub's commits fail meanwhile and
// nothing is acked; the door keeps its backlog and publishes it again;
// once the server is back every event is stored exactly once and in
// order, and the door's log ends empty.
func TestUplinkSurvivesPostgresRestart(t *testing.T) {
	const total, restarts = 20000, 2
	start := time.Now()
	pg := pgtest.NewCluster(t)
	st, err := pgevents.Open(context.Background(), pg.DSN(), pgevents.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := mqtttest.StartMosquitto(t)
	h := startHubOn(t, b.URL(), st, ingest.Options{})
	defer h.close(t)
	a := startAgent(t, b.URL())
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	done := a.AppendAll(t, total)
	var failed uint64
	for r := uint64(1); r <= restarts; r++ {
		waitfor.Until(t, 30*time.Second, "events to stream", func() bool {
			return a.Appended() >= r*total/(restarts+1)
		})
		errs := h.in.Stats().StoreErrors
		pg.Stop()
		waitfor.Until(t, 30*time.Second, "a commit to fail", func() bool { return h.in.Stats().StoreErrors > errs })
		time.Sleep(time.Second) // down a while: the door's events pile up unacked
		pg.Start()
		failed = h.in.Stats().StoreErrors
	}
	<-done
	waitAllAcked(t, a, h, 60*time.Second)
	checkHub(t, a, h)
	if failed == 0 {
		t.Error("no commit failed while the server was down")
	}
	t.Logf("%d events, %d restarts of PostgreSQL, %v; %d failed store calls; pump %+v; ingest %+v",
		total, restarts, time.Since(start).Round(time.Millisecond), failed, a.Pump.Stats(), h.in.Stats())
}

// TestUplinkSharedByReplicas: two hubs on one PostgreSQL database take a
// door's events through Mosquitto's shared subscription, each event to
// one of them: 4,000 events are stored exactly once and in order, acked,
// and each hub stored some. One door's events alternate between the two,
// so each commit waits for the other's (about 400 events a second here):
// a door's stream is a chain through the database, the doors side by side.
func TestUplinkSharedByReplicas(t *testing.T) {
	const total = 4000
	start := time.Now()
	dsn := pgtest.DB(t)
	b := mqtttest.StartMosquitto(t)
	var hubs []*hubSide
	for i := range 2 {
		st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
		if err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, startReplica(t, b.URL(), st, ingest.Options{}, fmt.Sprintf("hub-%d", i), true))
	}
	defer func() {
		for _, h := range hubs {
			h.close(t)
		}
	}()
	a := startAgent(t, b.URL())
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	<-a.AppendAll(t, total)
	waitAllAcked(t, a, hubs[0], 60*time.Second)
	checkHub(t, a, hubs[0])
	for i, h := range hubs {
		if s := h.in.Stats(); s.Stored == 0 || s.Malformed != 0 {
			t.Errorf("hub %d: %+v; want some events stored by each", i, s)
		}
	}
	t.Logf("%d events through 2 replicas in %v; ingests %+v; %+v; pump %+v", total, time.Since(start).Round(time.Millisecond),
		hubs[0].in.Stats(), hubs[1].in.Stats(), a.Pump.Stats())
}
