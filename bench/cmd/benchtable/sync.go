package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Target of the "Sync over MQTT" issue: the drain with end-to-end acks at
// least half as fast as mosquitto_pub's to mosquitto_sub on the same broker.
const minDrainRatio = 0.5

// runSync prints the table of the sync benchmarks (BenchmarkSyncDrain,
// BenchmarkSyncRestart, BenchmarkSyncAgents) read from the files in args,
// or from stdin without any.
func runSync(args []string, stdin io.Reader, stdout io.Writer) error {
	res, err := readResults(args, stdin)
	if err != nil {
		return err
	}

	var missing []error
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "measurement\tvalue\tbaseline\tratio\ttarget\tresult")
	row := func(cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }
	// get returns the median of every unit asked for, or false and a
	// "not run" row when one is missing
	get := func(label, name string, units ...string) ([]float64, bool) {
		var vs []float64
		for _, u := range units {
			v, err := res.get(name, u)
			if err != nil {
				missing = append(missing, err)
				row(label, "-", "", "", "", "not run")
				return nil, false
			}
			vs = append(vs, v)
		}
		return vs, true
	}

	base, baseOK := get("drain backlog: mosquitto_pub -q 1 -l to mosquitto_sub -q 1 (no store, no end-to-end ack)",
		"SyncDrain/mosquitto_pub", "ev/s")
	if baseOK {
		row("drain backlog: mosquitto_pub -q 1 -l to mosquitto_sub -q 1 (no store, no end-to-end ack)",
			rate(base[0]), "", "", "", "baseline")
	}
	for _, c := range []struct{ name, what string }{{"kunci", "defaults"}, {"kunci-tuned", "tuned"}} {
		vs, ok := get("drain backlog with end-to-end acks, "+c.what, "SyncDrain/"+c.name,
			"ev/s", "events", "window", "ack-interval-ms", "hub-acks", "hub-commits")
		if !ok {
			continue
		}
		label := fmt.Sprintf("drain %.0f-event backlog with end-to-end acks, %s (Window %.0f, AckInterval %.0f ms: %.0f hub commits, %.0f acks)",
			vs[1], c.what, vs[2], vs[3], vs[5], vs[4])
		target := fmt.Sprintf(">= %.1fx", minDrainRatio)
		if !baseOK || base[0] == 0 {
			row(label, rate(vs[0]), "-", "-", target, "not run")
			continue
		}
		r := vs[0] / base[0]
		// rounded down, so that a miss never reads as the target itself
		row(label, rate(vs[0]), rate(base[0]), fmt.Sprintf("%.2fx", math.Floor(r*100)/100), target, verdict(r >= minDrainRatio))
	}

	// each half of the drain alone: where the time goes
	for _, c := range []struct{ name, what string }{
		{"pump-only", "the pump alone (agent store to broker PUBACK, no hub)"},
		{"hub-only", "the hub alone (a queued session to stored, acks published)"},
	} {
		vs, ok := get("drain, "+c.what, "SyncDrain/"+c.name, "ev/s")
		if !ok {
			continue
		}
		b, r := "-", "-"
		if baseOK && base[0] != 0 {
			b, r = rate(base[0]), fmt.Sprintf("%.2fx", math.Floor(vs[0]/base[0]*100)/100)
		}
		row("drain, "+c.what, rate(vs[0]), b, r, "none", "diagnostic")
	}

	const restart = "SyncRestart"
	if vs, ok := get("broker back: agent link up", restart, "agent-up-ms", "hub-up-ms", "down-s"); ok {
		row(fmt.Sprintf("broker back after %.0f s down: agent link up and subscribed (link defaults, median)", vs[2]),
			ms(vs[0]), "", "", "none", "report")
		row("broker back: hub link up and subscribed (median)", ms(vs[1]), "", "", "none", "report")
	}
	if vs, ok := get("broker back: first outage event stored", restart, "first-ms", "first-max-ms"); ok {
		row("broker back: first event appended while down stored at the hub (median, max)",
			fmt.Sprintf("%s (max %s)", ms(vs[0]), ms(vs[1])), "", "", "none", "report")
	}
	if vs, ok := get("broker back: backlog acked", restart, "acked-ms", "acked-max-ms", "backlog-ev"); ok {
		row(fmt.Sprintf("broker back: all %.0f events appended while down acked (median, max)", vs[2]),
			fmt.Sprintf("%s (max %s)", ms(vs[0]), ms(vs[1])), "", "", "none", "report")
	}

	const agents = "SyncAgents"
	if vs, ok := get("agents: connected", agents, "agents", "connect-ms", "connect-p50-ms", "connect-p99-ms"); ok {
		n := fmt.Sprintf("%.0f agents", vs[0])
		row(n+": all links connected, at once", ms(vs[1]), "", "", "none", "report")
		row(n+": connect per link p50 / p99", ms(vs[2])+" / "+ms(vs[3]), "", "", "none", "report")
	}
	if vs, ok := get("agents: memory", agents, "heap-KiB/link", "stack-KiB/link", "goroutines/link", "broker-rss-KiB/conn"); ok {
		row("agents: Go heap per link (+ goroutine stacks, goroutines)",
			fmt.Sprintf("%.1f KiB (+%.1f KiB, %.0f)", vs[0], vs[1], vs[2]), "", "", "none", "report")
		row("agents: Mosquitto RSS per connection", fmt.Sprintf("%.1f KiB", vs[3]), "", "", "none", "report")
	}
	if vs, ok := get("agents: published", agents, "puback-ms", "e2e-ms"); ok {
		row("agents: one retained status + one QoS 1 event each, all PUBACKed", ms(vs[0]), "", "", "none", "report")
		row("agents: every event stored by the hub and its ack back", ms(vs[1]), "", "", "none", "report")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return errors.Join(missing...)
}

func rate(v float64) string { return fmt.Sprintf("%.0f ev/s", v) }

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}
