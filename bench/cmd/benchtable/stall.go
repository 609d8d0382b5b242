package main

import (
	"fmt"
	"io"
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
	t := newTapTable(res, stdout)
	for _, l := range stallLoads {
		result := ""
		if l.name == "none" {
			result = "reference" // the targets are the two loads
		}
		t.grants("TapUnderLoad/load="+l.name, func(q string) string { return fmt.Sprintf("tap to relay %s, %s", q, l.label) }, result)
	}
	for _, c := range []struct{ name, unit, label string }{
		{"TapUnderLoad/load=backlog", "draining-visits", "visits counted under the backlog: they ended before the hub acked all of it"},
		{"TapUnderLoad/load=backlog", "after-drain-visits", "visits after the backlog was acked, not counted"},
		{"TapUnderLoad/load=backlog", "drain-ev-per-s", "backlog events acked per second during the counted visits"},
		{"TapUnderLoad/load=garbage", "garbage-per-s", "malformed messages per second published during the visits"},
		{"TapUnderLoad/load=garbage", "refused", "malformed messages refused by the door (downlink counter)"},
		{"TapUnderLoad/load=garbage", "mqtt-dropped", "messages the door's link dropped, its queue full"},
	} {
		if v, ok := t.get(c.name, c.unit); ok {
			t.row(c.label, fmt.Sprintf("%.0f", v), "", "", "", "")
		} else {
			t.row(c.label, "-", "", "", "", "not run")
		}
	}
	// where the CPUs went: the door shares them with the broker and the
	// hub on the bench, not in the field
	for _, l := range stallLoads {
		name := "TapUnderLoad/load=" + l.name
		// optional: not measured where /proc is not at hand
		door, err1 := t.res.get(name, "door-cores")
		central, err2 := t.res.get(name, "central-cores")
		busy, err3 := t.res.get(name, "machine-busy-pct")
		if err1 == nil && err2 == nil && err3 == nil {
			t.row("CPUs busy: door's process + broker and hub; machine, "+l.label,
				fmt.Sprintf("%.2f + %.2f; %.0f%%", door, central, busy), "", "", "", "")
		}
	}
	return t.end()
}
