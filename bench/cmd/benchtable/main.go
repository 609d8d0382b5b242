// Command benchtable reads the output of `go test -bench ./bench` and
// prints the performance targets as a table: each measured number, its
// ratio to the bare-update baseline of the same run where there is one,
// the target and PASS or MISS. With several runs of a benchmark (-count),
// it takes the median of each metric.
//
// With -sync first it prints the table of the sync benchmarks instead
// (BenchmarkSyncDrain against its mosquitto_pub baseline, BenchmarkSyncRestart,
// BenchmarkSyncAgents; bench/sync.sh), with -stall the table of the grant
// under load (BenchmarkTapUnderLoad; bench/stall.sh), with -console the
// table of the console's pages, live updates and open dashboards
// (bench/console.sh).
//
// It only reports: the exit status is 0 whatever the verdicts, and 1 only
// when a number the table needs is missing from the input.
//
//	go test ./bench -run '^$' -bench . | go run ./bench/cmd/benchtable
//	go run ./bench/cmd/benchtable out1.txt out2.txt
//	go run ./bench/cmd/benchtable -sync sync.txt
//	go run ./bench/cmd/benchtable -stall stall.txt
//	go run ./bench/cmd/benchtable -console console.txt
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	args, table := os.Args[1:], run
	if len(args) > 0 && args[0] == "-sync" {
		args, table = args[1:], runSync
	}
	if len(args) > 0 && args[0] == "-stall" {
		args, table = args[1:], runStall
	}
	if len(args) > 0 && args[0] == "-console" {
		args, table = args[1:], runConsole
	}
	if err := table(args, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// results holds every value of every metric by benchmark name, without the
// -GOMAXPROCS suffix: results["TapToRelay/permits=10000"]["p50-ns"].
type results map[string]map[string][]float64

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse adds the benchmark lines of r to res. A line is the name, the
// iteration count, then value and unit pairs.
func (res results) parse(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("%s: %s is not a number", f[0], f[i])
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return sc.Err()
}

var errMissing = errors.New("missing")

// get returns the median of a metric.
func (res results) get(name, unit string) (float64, error) {
	vs := slices.Clone(res[name][unit])
	if len(vs) == 0 {
		return 0, fmt.Errorf("%w: %s %s", errMissing, name, unit)
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2, nil
	}
	return vs[len(vs)/2], nil
}

// Targets of the issue.
const (
	maxTapRatio = 1.5
	maxStartMS  = 300
	maxHeapMiB  = 32
)

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	}
}

// readResults parses the go test -bench output in the files of args, or in
// stdin without any.
func readResults(args []string, stdin io.Reader) (results, error) {
	res := results{}
	if len(args) == 0 {
		return res, res.parse(stdin)
	}
	for _, a := range args {
		f, err := os.Open(a)
		if err != nil {
			return nil, err
		}
		err = res.parse(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
	}
	return res, nil
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	res, err := readResults(args, stdin)
	if err != nil {
		return err
	}

	t := newTapTable(res, stdout)
	row, get := t.row, t.get
	for _, n := range []string{"10000", "1000000"} {
		t.grants("TapToRelay/permits="+n, func(q string) string { return fmt.Sprintf("tap to relay %s, %s permits", q, n) }, "")
	}
	for _, c := range []struct{ unit, label string }{
		{"cold-ms", "start to ready, 1000000 permits, cold cache"},
		{"warm-ms", "start to ready, 1000000 permits, warm cache"},
	} {
		v, ok := get("StartReady/permits=1000000", c.unit)
		if !ok {
			row(c.label, "-", "", "", fmt.Sprintf("<= %d ms", maxStartMS), "not run")
			continue
		}
		row(c.label, fmt.Sprintf("%.1f ms", v), "", "", fmt.Sprintf("<= %d ms", maxStartMS), verdict(v <= maxStartMS))
	}
	if v, ok := get("Heap/permits=1000000", "heap-MiB"); !ok {
		row("Go heap, 1000000 permits", "-", "", "", fmt.Sprintf("<= %d MiB", maxHeapMiB), "not run")
	} else {
		row("Go heap, 1000000 permits", fmt.Sprintf("%.2f MiB", v), "", "", fmt.Sprintf("<= %d MiB", maxHeapMiB),
			verdict(v <= maxHeapMiB))
	}
	return t.end()
}
