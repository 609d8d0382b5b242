package metrics_test

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kunci-project/kunci/internal/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

type reason string

// TestText: the families sorted by name, each with HELP and TYPE, a
// family's samples sorted by label value, label values and help escaped.
func TestText(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("kunci_test_events_total", "Events seen.")
	g := r.Gauge("kunci_test_queue_bytes", "Bytes queued,\nnow.")
	r.GaugeFunc("kunci_test_up", "Whether it is up.", func() float64 { return 1 })
	r.CounterFunc("kunci_test_kept_total", `Kept by a part, \ its own lock.`, func() uint64 { return 7 })
	v := metrics.NewCounterVec[reason](r, "kunci_test_refused_total", "Refusals by reason.", "reason")
	c.Inc()
	c.Add(2)
	g.Set(1.5)
	v.With("zebra").Inc()
	v.With(`a"b\c`).Add(4)
	v.With("zebra").Inc()
	want := `# HELP kunci_test_events_total Events seen.
# TYPE kunci_test_events_total counter
kunci_test_events_total 3
# HELP kunci_test_kept_total Kept by a part, \\ its own lock.
# TYPE kunci_test_kept_total counter
kunci_test_kept_total 7
# HELP kunci_test_queue_bytes Bytes queued,\nnow.
# TYPE kunci_test_queue_bytes gauge
kunci_test_queue_bytes 1.5
# HELP kunci_test_refused_total Refusals by reason.
# TYPE kunci_test_refused_total counter
kunci_test_refused_total{reason="a\"b\\c"} 4
kunci_test_refused_total{reason="zebra"} 2
# HELP kunci_test_up Whether it is up.
# TYPE kunci_test_up gauge
kunci_test_up 1
`
	if got := string(r.Text()); got != want {
		t.Errorf("Text() =\n%s\nwant\n%s", got, want)
	}
	if c.Value() != 3 || g.Value() != 1.5 || v.With("zebra").Value() != 2 {
		t.Errorf("values %d %g %d; want 3 1.5 2", c.Value(), g.Value(), v.With("zebra").Value())
	}
}

// TestServeHTTP: a scrape is the text format, as Prometheus's own parser
// reads it, with the families' help and types.
func TestServeHTTP(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("kunci_test_events_total", "Events seen.").Add(5)
	r.Gauge("kunci_test_temperature_celsius", "A gauge.").Set(math.Inf(-1))
	metrics.NewCounterVec[reason](r, "kunci_test_refused_total", "Refusals.", "reason").With("bad").Inc()
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != metrics.ContentType {
		t.Errorf("Content-Type %q; want %q", ct, metrics.ContentType)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]dto.MetricType{
		"kunci_test_events_total":        dto.MetricType_COUNTER,
		"kunci_test_temperature_celsius": dto.MetricType_GAUGE,
		"kunci_test_refused_total":       dto.MetricType_COUNTER,
	}
	if len(fams) != len(want) {
		t.Errorf("families %v; want %v", fams, want)
	}
	for name, typ := range want {
		f := fams[name]
		if f == nil || f.GetType() != typ || f.GetHelp() == "" || len(f.GetMetric()) != 1 {
			t.Errorf("family %s = %v; want one %s with help", name, f, typ)
		}
	}
	if v := fams["kunci_test_events_total"].GetMetric()[0].GetCounter().GetValue(); v != 5 {
		t.Errorf("kunci_test_events_total %g; want 5", v)
	}
	if v := fams["kunci_test_temperature_celsius"].GetMetric()[0].GetGauge().GetValue(); !math.IsInf(v, -1) {
		t.Errorf("kunci_test_temperature_celsius %g; want -Inf", v)
	}
	m := fams["kunci_test_refused_total"].GetMetric()[0]
	if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "reason" || l[0].GetValue() != "bad" || m.GetCounter().GetValue() != 1 {
		t.Errorf("kunci_test_refused_total %v; want {reason=\"bad\"} 1", m)
	}
}

// TestConventions: a name or label that breaks the conventions, a
// missing help and a name taken twice are refused at registration.
func TestConventions(t *testing.T) {
	for _, c := range []struct {
		what string
		reg  func(r *metrics.Registry)
	}{
		{"no kunci_ prefix", func(r *metrics.Registry) { r.Counter("events_total", "x") }},
		{"upper case", func(r *metrics.Registry) { r.Counter("kunci_Events_total", "x") }},
		{"a dash", func(r *metrics.Registry) { r.Counter("kunci_door-events_total", "x") }},
		{"counter without _total", func(r *metrics.Registry) { r.Counter("kunci_events", "x") }},
		{"counter func without _total", func(r *metrics.Registry) { r.CounterFunc("kunci_events", "x", nil) }},
		{"vector without _total", func(r *metrics.Registry) { metrics.NewCounterVec[reason](r, "kunci_refused", "x", "reason") }},
		{"gauge with _total", func(r *metrics.Registry) { r.Gauge("kunci_queue_total", "x") }},
		{"milliseconds", func(r *metrics.Registry) { r.Gauge("kunci_rebuild_milliseconds", "x") }},
		{"ms", func(r *metrics.Registry) { r.Counter("kunci_wait_ms_total", "x") }},
		{"no help", func(r *metrics.Registry) { r.Counter("kunci_events_total", " ") }},
		{"bad label", func(r *metrics.Registry) { metrics.NewCounterVec[reason](r, "kunci_refused_total", "x", "Reason") }},
		{"no label", func(r *metrics.Registry) { metrics.NewCounterVec[reason](r, "kunci_refused_total", "x", "") }},
		{"taken twice", func(r *metrics.Registry) {
			r.Counter("kunci_events_total", "x")
			r.GaugeFunc("kunci_events_total", "y", nil)
		}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registered; want a panic", c.what)
				}
			}()
			c.reg(metrics.NewRegistry())
		}()
	}
}

// TestConcurrent: counting and scraping at once (run with -race); every
// count is in the last scrape.
func TestConcurrent(t *testing.T) {
	r := metrics.NewRegistry()
	c := r.Counter("kunci_test_events_total", "Events.")
	v := metrics.NewCounterVec[reason](r, "kunci_test_refused_total", "Refusals.", "reason")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 1000 {
				c.Inc()
				v.With(reason([]string{"a", "b"}[i%2])).Inc()
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			var b bytes.Buffer
			if _, err := r.WriteTo(&b); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	got := string(r.Text())
	for _, w := range []string{"kunci_test_events_total 4000\n", `kunci_test_refused_total{reason="a"} 2000` + "\n",
		`kunci_test_refused_total{reason="b"} 2000` + "\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("Text() =\n%s\nwant %q", got, w)
		}
	}
}
