package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkTapToRelay/permits=10000-2         	     300	   3425641 ns/op	   1019313 max-ns	    450000 p50-ns	    900000 p99-ns	 400000 bare-p50-ns	 500000 bare-p99-ns
BenchmarkTapToRelay/permits=1000000-2         	 300	   6046787 ns/op	   4767014 max-ns	    700000 p50-ns	   4767014 p99-ns	 600000 bare-p50-ns	 4000000 bare-p99-ns
BenchmarkBareUpdate-2                       	     300	    384021 ns/op	    743389 max-ns	    400000 p50-ns	    600000 p99-ns
BenchmarkBareUpdate-2                       	     300	    384021 ns/op	    743389 max-ns	    300000 p50-ns	    600000 p99-ns
BenchmarkStartReady/permits=1000000-2         	       5	   8556384 ns/op	         8.465 cold-max-ms	         6.253 cold-ms	         2.724 warm-max-ms	         2.271 warm-ms
BenchmarkHeap/permits=1000000-2               	       5	  25519362 ns/op	         0.5649 heap-MiB	         0.1748 heap-base-MiB	       990.3 store-MiB
PASS
`

func TestTable(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, strings.NewReader(sample), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		// the median of the two baseline runs is 350 µs
		"tap to relay p50, 10000 permits  450 µs  1.29x (350 µs)  1.13x (400 µs)  <= 1.5x  PASS",
		// within the target of BenchmarkBareUpdate only: a miss
		"tap to relay p99, 10000 permits  900 µs  1.50x (600 µs)  1.80x (500 µs)  <= 1.5x  MISS",
		"tap to relay p50, 1000000 permits  700 µs  2.00x (350 µs)  1.17x (600 µs)  <= 1.5x  MISS",
		"tap to relay p99, 1000000 permits  4.77 ms  7.95x (600 µs)  1.20x (4.00 ms)  <= 1.5x  MISS",
		"start to ready, 1000000 permits, cold cache  6.3 ms  <= 300 ms  PASS",
		"Go heap, 1000000 permits  0.56 MiB  <= 32 MiB  PASS",
	} {
		if !strings.Contains(squeeze(got), squeeze(want)) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestMissing(t *testing.T) {
	var out bytes.Buffer
	err := run(nil, strings.NewReader("BenchmarkBareUpdate-2  300  1 ns/op  400000 p50-ns  600000 p99-ns\n"), &out)
	if !errors.Is(err, errMissing) {
		t.Errorf("run without the tap results: err = %v, want errMissing", err)
	}
	if !strings.Contains(out.String(), "not run") {
		t.Errorf("table does not say what did not run:\n%s", out.String())
	}
}

// squeeze folds every run of white space to one space, whatever the
// column widths.
func squeeze(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.Join(strings.Fields(l), " "))
		b.WriteByte('\n')
	}
	return b.String()
}
