package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const syncSample = `goos: linux
BenchmarkSyncDrain/mosquitto_pub-2   1   4000000000 ns/op   100000 events   20000 ev/s
BenchmarkSyncDrain/mosquitto_pub-2   1   4000000000 ns/op   100000 events   24000 ev/s
BenchmarkSyncDrain/kunci-2           1   9000000000 ns/op   50.00 ack-interval-ms   100000 events   9000 ev/s   600 hub-acks   1000 hub-commits   0 hub-dups   0 pump-resends   256.0 window
BenchmarkSyncDrain/kunci-2           1   9000000000 ns/op   50.00 ack-interval-ms   100000 events   11000 ev/s   600 hub-acks   1000 hub-commits   0 hub-dups   0 pump-resends   256.0 window
BenchmarkSyncDrain/kunci-tuned-2     1   9000000000 ns/op   20.00 ack-interval-ms   100000 events   12000 ev/s   600 hub-acks   1000 hub-commits   0 hub-dups   0 pump-resends   1024 window
BenchmarkSyncDrain/pump-only-2     1   9000000000 ns/op   100000 events   26000 ev/s
BenchmarkSyncDrain/hub-only-2      1   9000000000 ns/op   100000 events   23000 ev/s
BenchmarkSyncRestart-2   5   14000000000 ns/op   6187 acked-max-ms   4211 acked-ms   1541 agent-up-ms   1523 backlog-ev   10.00 down-s   3535 first-max-ms   2140 first-ms   2337 hub-up-ms
BenchmarkSyncAgents-2   1   530494031 ns/op   1000 agents   20000 broker-nofile   5.124 broker-rss-KiB/conn   140.4 connect-ms   108.4 connect-p50-ms   120.6 connect-p99-ms   119.1 e2e-ms   12.00 goroutines/link   63.02 heap-KiB/link   53.04 puback-ms   36.03 stack-KiB/link
PASS
`

func TestSyncTable(t *testing.T) {
	var out bytes.Buffer
	if err := runSync(nil, strings.NewReader(syncSample), &out); err != nil {
		t.Fatal(err)
	}
	got := squeeze(out.String())
	for _, want := range []string{
		"mosquitto_sub -q 1 (no store, no end-to-end ack) 22000 ev/s baseline",
		// the median of two runs is 10000 ev/s, of the baseline 22000: 0.4545 rounds down
		"drain 100000-event backlog with end-to-end acks, defaults (Window 256, AckInterval 50 ms: 1000 hub commits, 600 acks) 10000 ev/s 22000 ev/s 0.45x >= 0.5x MISS",
		"tuned (Window 1024, AckInterval 20 ms: 1000 hub commits, 600 acks) 12000 ev/s 22000 ev/s 0.54x >= 0.5x PASS",
		"drain, the pump alone (agent store to broker PUBACK, no hub) 26000 ev/s 22000 ev/s 1.18x none diagnostic",
		"drain, the hub alone (a queued session to stored, acks published) 23000 ev/s 22000 ev/s 1.04x none diagnostic",
		"broker back after 10 s down: agent link up and subscribed (link defaults, median) 1.54 s none report",
		"all 1523 events appended while down acked (median, max) 4.21 s (max 6.19 s) none report",
		"1000 agents: connect per link p50 / p99 108 ms / 121 ms none report",
		"agents: Go heap per link (+ goroutine stacks, goroutines) 63.0 KiB (+36.0 KiB, 12) none report",
		"agents: Mosquitto RSS per connection 5.1 KiB none report",
	} {
		if !strings.Contains(got, squeeze(want)) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSyncMissing(t *testing.T) {
	var out bytes.Buffer
	in := "BenchmarkSyncDrain/kunci-2  1  1 ns/op  100000 events  9000 ev/s  256 window  50 ack-interval-ms  9 hub-acks  9 hub-commits\n" +
		"BenchmarkSyncDrain/pump-only-2  1  1 ns/op  100000 events  26000 ev/s\n"
	err := runSync(nil, strings.NewReader(in), &out)
	if !errors.Is(err, errMissing) {
		t.Errorf("run without the baseline: err = %v, want errMissing", err)
	}
	if !strings.Contains(out.String(), "not run") {
		t.Errorf("table does not say what did not run:\n%s", out.String())
	}
}
