package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// stallLoads are the loads of BenchmarkTapUnderLoad, with what the table
// calls them.
var stallLoads = []struct{ name, label string }{
	{"none", "connected, idle"},
	{"backlog", "draining a 100,000-event backlog"},
	{"garbage", "1,000 malformed messages/s on the downlink"},
}

// runStall prints the table of the architecture issue's point 4: the grant
// on a door wired to Mosquitto under each load, against the bare fsync'd
// bbolt update of the same run (BenchmarkBareUpdate, and the bare updates
// paired with the visits under the same load), read from the files in args
// or from stdin (bench/stall.sh).
func runStall(args []string, stdin io.Reader, stdout io.Writer) error {
	res, err := readResults(args, stdin)
	if err != nil {
		return err
	}
	var missing []error
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "measurement\tvalue\tvs BareUpdate\tvs paired bare\ttarget\tresult")
	row := func(cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }
	get := func(name, unit string) (float64, bool) {
		v, err := res.get(name, unit)
		if err != nil {
			missing = append(missing, err)
			return 0, false
		}
		return v, true
	}
	base := map[string]float64{}
	for _, q := range []string{"p50", "p99"} {
		label := "bare fsync'd bbolt update " + q + " (BenchmarkBareUpdate)"
		if v, ok := get("BareUpdate", q+"-ns"); ok {
			base[q] = v
			row(label, dur(v), "", "", "", "baseline")
		} else {
			row(label, "-", "", "", "", "not run")
		}
	}
	ratio := func(v, b float64) (string, bool) {
		if b == 0 {
			return "-", false
		}
		return fmt.Sprintf("%.2fx (%s)", math.Ceil(v/b*100)/100, dur(b)), v/b <= maxTapRatio
	}
	target := fmt.Sprintf("<= %.1fx", maxTapRatio)
	for _, l := range stallLoads {
		name := "TapUnderLoad/load=" + l.name
		for _, q := range []string{"p50", "p99"} {
			label := fmt.Sprintf("tap to relay %s, %s", q, l.label)
			v, ok := get(name, q+"-ns")
			paired, pok := get(name, "bare-"+q+"-ns")
			if !ok || !pok || base[q] == 0 {
				row(label, "-", "", "", target, "not run")
				continue
			}
			r1, ok1 := ratio(v, base[q])
			r2, ok2 := ratio(v, paired)
			result := verdict(ok1 && ok2)
			if l.name == "none" {
				result = "reference" // the targets are the two loads
			}
			row(label, dur(v), r1, r2, target, result)
		}
	}
	for _, c := range []struct{ name, unit, label string }{
		{"TapUnderLoad/load=backlog", "backlog-left", "backlog events not yet acked after the last visit (> 0: every visit met the drain)"},
		{"TapUnderLoad/load=garbage", "garbage-per-s", "malformed messages per second published during the visits"},
		{"TapUnderLoad/load=garbage", "refused", "malformed messages refused by the door (downlink counter)"},
		{"TapUnderLoad/load=garbage", "mqtt-dropped", "messages the door's link dropped, its queue full"},
	} {
		if v, ok := get(c.name, c.unit); ok {
			row(c.label, fmt.Sprintf("%.0f", v), "", "", "", "")
		} else {
			row(c.label, "-", "", "", "", "not run")
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return errors.Join(missing...)
}
