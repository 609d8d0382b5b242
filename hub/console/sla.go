package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
)

// Waktu Layanan: the SOP's service times, each step's median and 90th
// percentile against its standard, and the share of visits done within
// the 22 minutes, per month, as bar charts drawn on the server in SVG (no
// chart library in the browser).

// months is how far back the report looks by default.
const months = 6

type slaFilter struct {
	Door, From, Until string // YYYY-MM
	Doors             []option
	Error             string
}

// bar is one bar of a chart: its geometry in the SVG's units, and its
// label and value as text.
type bar struct {
	Y, W, Y2, W2, Std      float64 // median, p90 and the standard's mark
	Label, Value, Standard string
	Late                   bool
}

// column is one month's bar of the share within the standard.
type column struct {
	X, H, Y       float64
	Label, Value  string
	Count         int
	Within, Empty bool
}

type monthRow struct {
	Month, Count, Median, P90, Within string
}

// responseRow is one notified step's "notified → acted".
type responseRow struct {
	Label, Value, Standard, Count, Within string
	Late                                  bool
}

type slaData struct {
	Filter       slaFilter
	Steps        []bar
	Response     []responseRow
	StepsHeight  float64
	Months       []column
	Table        []monthRow
	Permits      int
	StandardLine float64 // y of the 80 % target line
}

// stepKeys name the timed SOP steps, 1-8 (6 is not timed).
var stepKeys = [workflow.Steps + 1]string{1: "sla.step1", 2: "sla.step2", 3: "sla.step3", 4: "sla.step4", 5: "sla.step5",
	7: "sla.step7", 8: "sla.step8"}

func (c *Console) slaFilter(l L, r *http.Request) (slaFilter, workflow.Filter) {
	q := r.URL.Query()
	now := time.Now().In(c.o.Location)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, c.o.Location)
	sf := slaFilter{Door: q.Get("pintu"), From: q.Get("dari"), Until: q.Get("sampai")}
	if sf.From == "" {
		sf.From = first.AddDate(0, -(months - 1), 0).Format("2006-01")
	}
	if sf.Until == "" {
		sf.Until = first.Format("2006-01")
	}
	sf.Doors = c.doorOptions(sf.Door)
	var f workflow.Filter
	if site, door, ok := strings.Cut(sf.Door, "/"); ok {
		f.Site, f.Door = site, door
	} else if sf.Door != "" {
		sf.Error = l.T("book.err.door")
	}
	from, err1 := time.ParseInLocation("2006-01", sf.From, c.o.Location)
	until, err2 := time.ParseInLocation("2006-01", sf.Until, c.o.Location)
	switch {
	case err1 != nil || err2 != nil:
		sf.Error = l.T("sla.err.month")
	case until.Before(from) || until.Sub(from) > 5*366*24*time.Hour:
		sf.Error = l.T("sla.err.range")
	}
	f.From, f.To = from, until.AddDate(0, 1, 0)
	return sf, f
}

func (c *Console) serviceTimes(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	sf, f := c.slaFilter(l, r)
	d := slaData{Filter: sf}
	status := http.StatusOK
	if sf.Error != "" {
		status = http.StatusBadRequest
	} else {
		all, months := c.o.Hub.ServiceSummaries(f, workflow.MonthBounds(f.From, f.To))
		d.Permits = all.Permits
		d.Steps, d.StepsHeight = stepBars(l, all.Summary)
		d.Response = responseRows(l, all.Summary)
		d.Months, d.Table = monthColumns(l, months)
		d.StandardLine = chartTop + chartH*(1-target)
	}
	pg.Nav, pg.Title, pg.Data = "sla", l.T("sla.title"), d
	c.render(w, r, status, "sla", pg)
}

// The charts' geometry, in SVG units (the SVG scales to the page).
const (
	labelW   = 190.0 // the step names' column
	plotW    = 380.0
	rowH     = 34.0
	chartTop = 10.0
	chartH   = 160.0
	colW     = 44.0
	target   = 0.8 // the share within the standard the office aims for
)

// stepBars draws each timed step and the total: the median's bar, the
// p90's thinner bar, and the standard's mark, on one scale.
func stepBars(l L, sum workflow.Summary) ([]bar, float64) {
	type item struct {
		key      string
		agg      workflow.Aggregate
		standard time.Duration
	}
	var items []item
	for n := 1; n <= workflow.Steps; n++ {
		if workflow.Timed(n) {
			items = append(items, item{stepKeys[n], sum.Step[n], workflow.Standard[n]})
		}
	}
	items = append(items, item{"sla.total", sum.Total, workflow.StandardTotal})
	scale := time.Duration(0)
	for _, it := range items {
		scale = max(scale, it.agg.P90, it.standard)
	}
	x := func(d time.Duration) float64 { return plotW * float64(d) / float64(scale) }
	var out []bar
	for i, it := range items {
		y := float64(i) * rowH
		b := bar{Y: y + 4, Y2: y + 22, Std: labelW + x(it.standard), Label: l.T(it.key),
			Standard: l.T("sla.standard", duration(l, it.standard))}
		if it.agg.Count > 0 {
			b.W, b.W2 = x(it.agg.Median), x(it.agg.P90)
			b.Value = l.T("sla.value", duration(l, it.agg.Median), duration(l, it.agg.P90))
			b.Late = it.agg.Median > it.standard
		} else {
			b.Value = l.T("sla.nodata")
		}
		out = append(out, b)
	}
	return out, float64(len(items)) * rowH
}

// responseRows gives "notified → acted" of each notified step: the
// median and p90, how many were timed, and the share within the step's
// standard.
func responseRows(l L, sum workflow.Summary) []responseRow {
	var out []responseRow
	for _, n := range workflow.Notified {
		g := sum.Response[n]
		r := responseRow{Label: l.T(stepKeys[n]), Standard: l.T("sla.standard", duration(l, workflow.Standard[n])),
			Count: fmt.Sprint(g.Count), Value: l.T("sla.nodata"), Within: "–"}
		if g.Count > 0 {
			r.Value = l.T("sla.value", duration(l, g.Median), duration(l, g.P90))
			r.Within = fmt.Sprintf("%.0f%%", 100*g.Within)
			r.Late = g.Median > workflow.Standard[n]
		}
		out = append(out, r)
	}
	return out
}

// monthColumns gives each month's share of visits done within the 22
// minutes, of the permits requested in it.
func monthColumns(l L, months []workflow.Period) ([]column, []monthRow) {
	var cols []column
	var rows []monthRow
	for i, m := range months {
		name := monthName(l, m.From)
		sum := m.Summary
		col := column{X: float64(i)*colW + 30, Label: name, Count: m.Permits}
		if sum.Total.Count == 0 {
			col.Empty, col.Value = true, "–"
			col.Y = chartTop + chartH
		} else {
			col.H = chartH * sum.Total.Within
			col.Y = chartTop + chartH - col.H
			col.Value = fmt.Sprintf("%.0f%%", 100*sum.Total.Within)
			col.Within = sum.Total.Within >= target
		}
		cols = append(cols, col)
		row := monthRow{Month: name, Count: fmt.Sprint(m.Permits), Median: "–", P90: "–", Within: col.Value}
		if sum.Total.Count > 0 {
			row.Median, row.P90 = duration(l, sum.Total.Median), duration(l, sum.Total.P90)
		}
		rows = append(rows, row)
	}
	return cols, rows
}

func monthName(l L, m time.Time) string {
	if l.Lang == "en" {
		return m.Format("Jan 2006")
	}
	return fmt.Sprintf("%s %d", monthsID[m.Month()-1], m.Year())
}

func (c *Console) slaRoutes() {
	c.mux.Handle("GET /waktu-layanan", c.page(nil, c.serviceTimes))
}
