package notify_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/notify/notifytest"
)

// BenchmarkNotifyToWebhook measures a message from Notify (the caller's
// side: the alarm stored) to the webhook receiver's handler, through Run
// on the real clock and a store that syncs every commit, and reports the
// p50 and p99 (issue 10's target: p99 at most 2 s).
func BenchmarkNotifyToWebhook(b *testing.B) {
	e := newEnv(b, rule([]string{"alarm.*"}, rHook))
	e.fsync, e.now, e.hook.Now = true, time.Now, time.Now
	e.restart()
	var mu sync.Mutex
	sent := map[string]time.Time{}
	lat := make([]time.Duration, 0, b.N)
	done := make(chan struct{}, 1)
	e.hook.OnTaken = func(r notifytest.Received) {
		mu.Lock()
		lat = append(lat, time.Since(sent[r.Key]))
		mu.Unlock()
		done <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := make(chan error, 1)
	go func() { run <- e.n.Run(ctx) }()
	b.ResetTimer()
	for i := range b.N {
		m := forced(fmt.Sprintf("alarm/%d", i), fmt.Sprintf("door-%d", i), time.Now())
		mu.Lock()
		sent[m.Key] = time.Now()
		mu.Unlock()
		if err := e.n.Notify(m); err != nil {
			b.Fatal(err)
		}
		<-done
	}
	b.StopTimer()
	cancel()
	if err := <-run; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkCoalesceBurst notifies 1,000 door.forced at one door within a
// minute and reports how many messages reached the receiver (run it with
// -benchtime 1x: each burst takes a third of a second on a synced store).
func BenchmarkCoalesceBurst(b *testing.B) {
	for range b.N {
		e := newEnv(b, rule([]string{"alarm.*"}, rHook))
		e.fsync = true
		e.restart()
		start := e.clock.Now()
		for i := range 1000 {
			if err := e.n.Notify(forced(fmt.Sprintf("alarm/%d", i), "server-room", e.clock.Now())); err != nil {
				b.Fatal(err)
			}
			e.clock.Add(60 * time.Millisecond)
			if i%50 == 0 {
				e.deliver()
			}
		}
		e.clock.Add(start.Add(time.Minute).Sub(e.clock.Now()))
		e.deliver()
		b.ReportMetric(float64(len(e.hook.Received())), "messages/1000-events")
		e.close()
	}
}
