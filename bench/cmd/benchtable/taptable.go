package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// tapTable is a table of grants (tap to relay) against the bare fsync'd
// update: the BenchmarkBareUpdate rows first, then each grant's p50 and
// p99 against it and against the bare updates paired with its visits.
type tapTable struct {
	*table
	base map[string]float64 // BenchmarkBareUpdate's p50 and p99
}

func newTapTable(res results, stdout io.Writer) *tapTable {
	t := &tapTable{table: newTable(res, stdout, "measurement", "value", "vs BareUpdate", "vs paired bare", "target", "result"),
		base: map[string]float64{}}
	for _, q := range []string{"p50", "p99"} {
		label := "bare fsync'd bbolt update " + q + " (BenchmarkBareUpdate)"
		if v, ok := t.get("BareUpdate", q+"-ns"); ok {
			t.base[q] = v
			t.row(label, dur(v), "", "", "", "baseline")
		} else {
			t.row(label, "-", "", "", "", "not run")
		}
	}
	return t
}

// table writes the rows of a table in aligned columns and notes the
// metrics it needed and did not find.
type table struct {
	res     results
	w       *tabwriter.Writer
	missing []error
}

// newTable starts a table of res on stdout with the header cells.
func newTable(res results, stdout io.Writer, header ...string) *table {
	t := &table{res: res, w: tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.w, strings.Join(cells, "\t")) }

// get returns the median of a metric, noting it missing when it is.
func (t *table) get(name, unit string) (float64, bool) {
	v, err := t.res.get(name, unit)
	if err != nil {
		t.missing = append(t.missing, err)
		return 0, false
	}
	return v, true
}

// grants writes the p50 and p99 rows of benchmark name, labelled by
// label(q). A grant passes when it is within the target of both
// baselines: the separate benchmark, and the bare updates timed between
// its visits; result, when set, replaces the verdict.
func (t *tapTable) grants(name string, label func(q string) string, result string) {
	ratio := func(v, b float64) (string, bool) {
		if b == 0 {
			return "-", false
		}
		// rounded up, so that a miss never reads as the target itself
		return fmt.Sprintf("%.2fx (%s)", math.Ceil(v/b*100)/100, dur(b)), v/b <= maxTapRatio
	}
	target := fmt.Sprintf("<= %.1fx", maxTapRatio)
	for _, q := range []string{"p50", "p99"} {
		v, ok := t.get(name, q+"-ns")
		paired, pok := t.get(name, "bare-"+q+"-ns")
		if !ok || !pok || t.base[q] == 0 {
			t.row(label(q), "-", "", "", target, "not run")
			continue
		}
		r1, ok1 := ratio(v, t.base[q])
		r2, ok2 := ratio(v, paired)
		res := verdict(ok1 && ok2)
		if result != "" {
			res = result
		}
		t.row(label(q), dur(v), r1, r2, target, res)
	}
}

// end flushes the table and returns what was missing.
func (t *table) end() error {
	if err := t.w.Flush(); err != nil {
		return err
	}
	return errors.Join(t.missing...)
}
