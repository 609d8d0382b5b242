package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/internal/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	bolt "go.etcd.io/bbolt"
)

// scraped is one scrape of a /metrics endpoint: the families as
// Prometheus's own text parser reads them, and the type of every family
// the endpoint described (with or without samples yet).
type scraped struct {
	fams  map[string]*dto.MetricFamily
	types map[string]string
}

// value returns the sample of family name with label value lv ("" for a
// family without labels), and whether there is one.
func (s scraped) value(name, lv string) (float64, bool) {
	for _, m := range s.fams[name].GetMetric() {
		if l := m.GetLabel(); (lv == "" && len(l) == 0) || (len(l) == 1 && l[0].GetValue() == lv) {
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// scrapeMetrics GETs url as Prometheus would, with token when it is set
// (the hub's need one), and checks the answer: the text format, parsed by
// expfmt, every family with a # HELP and a # TYPE line before its
// samples, counters named _total, gauges not.
func scrapeMetrics(t *testing.T, client *http.Client, url, token string) scraped {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s, %v: %q", url, resp.Status, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != metrics.ContentType {
		t.Errorf("GET %s: Content-Type %q; want %q", url, ct, metrics.ContentType)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: the Prometheus text parser: %v\n%s", url, err, body)
	}
	if len(fams) == 0 {
		t.Fatalf("GET %s: no metric\n%s", url, body)
	}
	for name, f := range fams {
		typ := f.GetType()
		switch {
		case f.GetHelp() == "":
			t.Errorf("GET %s: %s has no HELP", url, name)
		case typ != dto.MetricType_COUNTER && typ != dto.MetricType_GAUGE:
			t.Errorf("GET %s: %s is %s; want a TYPE line saying counter or gauge", url, name, typ)
		case (typ == dto.MetricType_COUNTER) != strings.HasSuffix(name, "_total"):
			t.Errorf("GET %s: %s is a %s: only a counter's name ends in _total", url, name, typ)
		}
	}
	// the parser drops families without samples: read the lines too
	s := scraped{fams: fams, types: map[string]string{}}
	help := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			help[strings.Fields(rest)[0]] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if !help[f[0]] {
				t.Errorf("GET %s: TYPE of %s without a HELP line before it", url, f[0])
			}
			s.types[f[0]] = f[1]
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if s.types[name] == "" {
			t.Errorf("GET %s: sample %q before the TYPE line of its family", url, line)
		}
	}
	return s
}

// readmeMetrics returns the families README.md's metrics table lists, and
// their types.
func readmeMetrics(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(kunci_[a-z0-9_]+)(?:\\{[a-z_]+\\})?` \\| (counter|gauge) \\|")
	out := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		t.Fatal("README.md has no metrics table")
	}
	return out
}

// TestMetricsScrape: kunci dev on its embedded broker, through the SOP;
// the agent's /metrics and the hub's (/api/metrics on dev's address, the
// hub's own handler) read as Prometheus reads them, every family with
// HELP and TYPE, every family listed in README.md and every listed one
// served, and the counters count what happened.
func TestMetricsScrape(t *testing.T) {
	data := t.TempDir()
	d := startDevArgs(t, "--data", data, "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	d.sop(t)
	d.drained(t)
	resp, err := http.Get(d.base + "/events?after=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	admin, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	agent := scrapeMetrics(t, http.DefaultClient, d.base+"/metrics", "")
	hub := scrapeMetrics(t, http.DefaultClient, d.base+"/api/metrics", strings.TrimSpace(string(admin)))

	// only counts the test's own steps are sure of by now: the door's
	// log drained, so the hub had stored (and built the book from) every
	// event and the door had taken an ack
	for _, c := range []struct {
		s       scraped
		name    string
		atLeast float64
	}{
		{agent, "kunci_agent_outbox_acks_total", 1},
		{hub, "kunci_hub_events_stored_total", 6}, // the SOP's events, agent.started first
		{hub, "kunci_hub_guestbook_rows", 1},
		{hub, "kunci_hub_api_requests_total", 1}, // this scrape at least
	} {
		if v, ok := c.s.value(c.name, ""); !ok || v < c.atLeast {
			t.Errorf("%s = %g (%v); want at least %g", c.name, v, ok, c.atLeast)
		}
	}
	if v, _ := agent.value("kunci_agent_http_bad_requests_total", ""); v != 1 {
		t.Errorf("kunci_agent_http_bad_requests_total = %g; want the one bad request", v)
	}
	if v, _ := agent.value("kunci_agent_outbox_acks_refused_total", "malformed"); v != 0 {
		t.Errorf("malformed acks = %g; want 0", v)
	}

	doc := readmeMetrics(t)
	served := maps.Clone(agent.types)
	// the notification queue's families are served only by a hub with
	// notify: rules, which kunci dev has not: a notifier of its own tells
	// them
	for name, typ := range notifierMetrics(t) {
		served[name] = typ
	}
	for name, typ := range hub.types {
		if old, ok := served[name]; ok && old != typ {
			t.Errorf("%s is a %s at the agent and a %s at the hub", name, old, typ)
		}
		served[name] = typ
	}
	for _, name := range slices.Sorted(maps.Keys(served)) {
		if doc[name] != served[name] {
			t.Errorf("%s (%s) is served; README.md's metrics table says %q", name, served[name], doc[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(doc)) {
		if _, ok := served[name]; !ok {
			t.Errorf("README.md lists %s; neither the agent nor the hub serves it", name)
		}
	}
}

// notifierMetrics returns the families a hub's notifier serves, and their
// types, read from a notifier on a store of its own.
func notifierMetrics(t *testing.T) map[string]string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "notify.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := metrics.NewRegistry()
	if _, err := notify.New(notify.Options{DB: kv.Bolt(db), Metrics: reg, Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(string(reg.Text()), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	if len(out) == 0 {
		t.Fatal("the notifier serves no metrics")
	}
	return out
}
