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

// startReplicas runs n hubs on the shared subscription, hub-0 to hub-n-1,
// each with a store of its own on dsn's database.
func startReplicas(t *testing.T, broker, dsn string, n int) []*hubSide {
	t.Helper()
	var hubs []*hubSide
	for i := range n {
		st, err := pgevents.Open(context.Background(), dsn, pgevents.Options{})
		if err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, startReplica(t, broker, st, ingest.Options{}, fmt.Sprintf("hub-%d", i), true))
	}
	return hubs
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
	hubs := startReplicas(t, b.URL(), dsn, 2)
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

// TestUplinkSharedReplicaLost: of two hubs on one PostgreSQL database
// taking a door's events through the shared subscription, one stops for
// good mid-stream, as a replica SIGKILLed and not restarted. Mosquitto
// deals a shared subscription's messages in turn to every member's
// session, a disconnected persistent one too: had the dead one's session
// outlived it, it would take every other event, resends included, and the
// survivor would hold the rest behind gaps that only luck filled. The
// replicas' sessions end with their connections (LinkOptions), so the
// broker deals everything to the survivor, and the door's resend of what
// the dead one took and never stored, at its next ack timeout, fills the
// gap: 4,000 events stored exactly once, in order, and acked.
func TestUplinkSharedReplicaLost(t *testing.T) {
	const total = 4000
	dsn := pgtest.DB(t)
	b := mqtttest.StartMosquitto(t)
	hubs := startReplicas(t, b.URL(), dsn, 2)
	defer hubs[1].close(t)
	a := startAgent(t, b.URL())
	waitfor.Until(t, 10*time.Second, "the agent's link", a.Link.Connected)
	done := a.AppendAll(t, total)
	waitfor.Until(t, 30*time.Second, "a quarter stored, by both", func() bool {
		a, b := hubs[0].in.Stats().Stored, hubs[1].in.Stats().Stored
		return a > 0 && b > 0 && a+b >= total/4
	})
	hubs[0].close(t)
	lost := time.Now()
	<-done
	// the door's ack timeout is a second, doubling while the hub's ack
	// does not move (up to outbox's 5 min): a bound of a few of them
	waitAllAcked(t, a, hubs[1], 30*time.Second)
	checkHub(t, a, hubs[1])
	t.Logf("hub-0 stopped at %d of %d stored by it; all acked %v after; survivor %+v; pump %+v", hubs[0].in.Stats().Stored, total,
		time.Since(lost).Round(time.Millisecond), hubs[1].in.Stats(), a.Pump.Stats())
}
