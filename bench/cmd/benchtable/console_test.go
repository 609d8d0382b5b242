package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const consoleSample = `BenchmarkConsolePages/dashboard-2  200  500000 ns/op  900000 max-ns  420000 p50-ns  800000 p99-ns  100000 visits
BenchmarkConsolePages/guestbook-2  200  1500000 ns/op  2600000 max-ns  1250000 p50-ns  2600000 p99-ns  100000 visits
BenchmarkConsolePages/servicetimes-2  200  60000000 ns/op  79000000 max-ns  62000000 p50-ns  79000000 p99-ns  100000 visits
BenchmarkConsoleLive-2  200  700000 ns/op  830000 max-ns  650000 p50-ns  830000 p99-ns  100000 visits
BenchmarkConsoleStreams-2  1  1000000000 ns/op  14.9 heap-base-MiB  20.2 heap-open-MiB  48.0 heap-updated-MiB  54.1 per-stream-KiB  338.0 per-stream-updated-KiB  100 streams
`

func TestConsoleTable(t *testing.T) {
	var out bytes.Buffer
	if err := runConsole(nil, strings.NewReader(consoleSample), &out); err != nil {
		t.Fatal(err)
	}
	got := squeeze(out.String())
	for _, want := range []string{
		"dashboard (GET /), 100000 visits stored, server time p50 420 µs report",
		"dashboard (GET /), 100000 visits stored, server time p99 800 µs <= 50 ms PASS",
		"service times, last 6 months (GET /waktu-layanan), 100000 visits stored, server time p99 79.00 ms <= 50 ms MISS",
		"door event to the dashboard's stream client p99 830 µs <= 1000 ms PASS",
		"hub heap, 100 dashboards open 20.2 MiB report",
		"hub heap per open dashboard, after 1000 events went to them 338 KiB <= 512 KiB PASS",
	} {
		if !strings.Contains(got, squeeze(want)) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runConsole(nil, strings.NewReader("BenchmarkConsoleLive-2  1  1 ns/op  1 p50-ns  1 p99-ns\n"), &out); !errors.Is(err, errMissing) {
		t.Errorf("without the pages: %v; want errMissing", err)
	}
}
