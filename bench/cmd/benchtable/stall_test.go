package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const stallSample = `BenchmarkBareUpdate-2  1000  400000 ns/op  700000 max-ns  400000 p50-ns  800000 p99-ns
BenchmarkTapUnderLoad/load=none-2  1000  3000000 ns/op  1 max-ns  0 mqtt-dropped  480000 p50-ns  900000 p99-ns  400000 bare-p50-ns  800000 bare-p99-ns  1 bare-max-ns
BenchmarkTapUnderLoad/load=backlog-2  1000  3000000 ns/op  0.70 door-cores  1.15 central-cores  97 machine-busy-pct  1 max-ns  640 draining-visits  360 after-drain-visits  19500 drain-ev-per-s  0 mqtt-dropped  560000 p50-ns  1300000 p99-ns  450000 bare-p50-ns  1000000 bare-p99-ns  1 bare-max-ns
BenchmarkTapUnderLoad/load=garbage-2  1000  3000000 ns/op  1 max-ns  998 garbage-per-s  0 mqtt-dropped  3000 refused  500000 p50-ns  2000000 p99-ns  420000 bare-p50-ns  900000 bare-p99-ns  1 bare-max-ns
`

func TestStallTable(t *testing.T) {
	var out bytes.Buffer
	if err := runStall(nil, strings.NewReader(stallSample), &out); err != nil {
		t.Fatal(err)
	}
	got := squeeze(out.String())
	for _, want := range []string{
		"tap to relay p50, connected, idle 480 µs 1.20x (400 µs) 1.20x (400 µs) <= 1.5x reference",
		"tap to relay p50, draining a 100,000-event backlog 560 µs 1.40x (400 µs) 1.25x (450 µs) <= 1.5x PASS",
		// within the paired bare's target, not BenchmarkBareUpdate's: a miss
		"tap to relay p99, draining a 100,000-event backlog 1.30 ms 1.63x (800 µs) 1.30x (1.00 ms) <= 1.5x MISS",
		"tap to relay p99, 1,000 malformed messages/s on the downlink 2.00 ms 2.50x (800 µs) 2.23x (900 µs) <= 1.5x MISS",
		"visits counted under the backlog: they ended before the hub acked all of it 640",
		"visits after the backlog was acked, not counted 360",
		"backlog events acked per second during the counted visits 19500",
		"malformed messages per second published during the visits 998",
		"CPUs busy: door's process + broker and hub; machine, draining a 100,000-event backlog 0.70 + 1.15; 97%",
	} {
		if !strings.Contains(got, squeeze(want)) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runStall(nil, strings.NewReader("BenchmarkBareUpdate-2  1  1 ns/op  1 p50-ns  1 p99-ns\n"), &out); !errors.Is(err, errMissing) {
		t.Errorf("without TapUnderLoad: %v; want errMissing", err)
	}
}
