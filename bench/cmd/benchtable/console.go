package main

import (
	"fmt"
	"io"
)

// Targets of the console issue: each page's server time at p99, the tap's
// update on the dashboard at p99, and the hub's heap per open dashboard
// once updates went to it (the issue says "bounded"; the bound is ours: a
// watcher queues at most 256 updates, hub.Watch, and a stream keeps one
// grid's state).
const (
	maxPageP99MS     = 50
	maxLiveP99MS     = 1000
	maxStreamHeapKiB = 512
)

// consolePages are the pages of BenchmarkConsolePages, with what the
// table calls them.
var consolePages = []struct{ name, label string }{
	{"dashboard", "dashboard (GET /)"},
	{"guestbook", "guest book, first page (GET /buku-tamu)"},
	{"servicetimes", "service times, last 6 months (GET /waktu-layanan)"},
}

// runConsole prints the table of the console's benchmarks
// (BenchmarkConsolePages, BenchmarkConsoleLive, BenchmarkConsoleStreams;
// bench/console.sh) read from the files in args, or from stdin.
func runConsole(args []string, stdin io.Reader, stdout io.Writer) error {
	res, err := readResults(args, stdin)
	if err != nil {
		return err
	}
	t := newTable(res, stdout, "measurement", "value", "target", "result")
	visits, _ := t.get("ConsolePages/dashboard", "visits")
	latency := func(name, label string, maxMS float64) {
		for _, q := range []string{"p50", "p99"} {
			target, res := "", "report"
			if q == "p99" {
				target = fmt.Sprintf("<= %.0f ms", maxMS)
			}
			v, ok := t.get(name, q+"-ns")
			if !ok {
				t.row(label+" "+q, "-", target, "not run")
				continue
			}
			if q == "p99" {
				res = verdict(v <= maxMS*1e6)
			}
			t.row(label+" "+q, dur(v), target, res)
		}
	}
	for _, p := range consolePages {
		latency("ConsolePages/"+p.name, fmt.Sprintf("%s, %.0f visits stored, server time", p.label, visits), maxPageP99MS)
	}
	latency("ConsoleLive", "door event to the dashboard's stream client", maxLiveP99MS)

	const s = "ConsoleStreams"
	n, _ := t.get(s, "streams")
	for _, c := range []struct{ unit, label string }{
		{"heap-base-MiB", "hub heap, no dashboard open"},
		{"heap-open-MiB", fmt.Sprintf("hub heap, %.0f dashboards open", n)},
		{"heap-updated-MiB", fmt.Sprintf("hub heap, %.0f dashboards open, after 1000 events went to them", n)},
	} {
		if v, ok := t.get(s, c.unit); ok {
			t.row(c.label, fmt.Sprintf("%.1f MiB", v), "", "report")
		} else {
			t.row(c.label, "-", "", "not run")
		}
	}
	for _, c := range []struct {
		unit, label string
		target      bool
	}{
		{"per-stream-KiB", "hub heap per open dashboard", false},
		{"per-stream-updated-KiB", "hub heap per open dashboard, after 1000 events went to them", true},
	} {
		target, result := "", "report"
		if c.target {
			target = fmt.Sprintf("<= %d KiB", maxStreamHeapKiB)
		}
		v, ok := t.get(s, c.unit)
		if !ok {
			t.row(c.label, "-", target, "not run")
			continue
		}
		if c.target {
			result = verdict(v <= maxStreamHeapKiB)
		}
		t.row(c.label, fmt.Sprintf("%.0f KiB", v), target, result)
	}
	return t.end()
}
