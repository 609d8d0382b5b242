package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter is a count that only goes up. Its zero value counts from 0;
// a Registry hands out the ones it writes.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down. Its zero value is 0.
type Gauge struct{ bits atomic.Uint64 }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// Value returns the value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// CounterVec is a family of counters told apart by one label, whose values
// are of type L (wire.Reason, say), so that a value is a constant of the
// code, never a string made up at the call.
type CounterVec[L ~string] struct {
	mu sync.Mutex
	m  map[L]*Counter
}

// With returns the counter of label value l, made at its first use.
func (v *CounterVec[L]) With(l L) *Counter {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.m[l]
	if !ok {
		c = &Counter{}
		v.m[l] = c
	}
	return c
}

// labelled is one counter of a CounterVec and its label value.
type labelled struct {
	label string
	c     *Counter
}

// counters returns the counters made so far, sorted by label value.
func (v *CounterVec[L]) counters() []labelled {
	v.mu.Lock()
	cs := make([]labelled, 0, len(v.m))
	for l, c := range v.m {
		cs = append(cs, labelled{string(l), c})
	}
	v.mu.Unlock()
	slices.SortFunc(cs, func(a, b labelled) int { return strings.Compare(a.label, b.label) })
	return cs
}

// The metric types of the text format's TYPE line.
const (
	typeCounter = "counter"
	typeGauge   = "gauge"
)

// family is one registered metric: its HELP and TYPE lines and what
// appends its samples.
type family struct {
	name, help, typ string
	appendTo        func(b []byte, name string) []byte
}

// Registry holds the metrics of one process (the agent, the hub) and
// writes them all, in the Prometheus text format. Its methods may be
// called from any goroutine.
//
// Every method that registers a metric panics when the name breaks
// Kunci's conventions (kunci_ prefix, lower-case snake case, _total on
// counters only, base units) or is taken already, and when the help or
// the label is empty or malformed: those are mistakes of the code, found
// by the first test that builds the part, never conditions of a running
// door.
type Registry struct {
	mu   sync.Mutex
	fams map[string]family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{fams: map[string]family{}} }

// notBaseUnits are name parts of units Prometheus names by their base
// unit instead (seconds, bytes).
var notBaseUnits = map[string]bool{"ms": true, "milliseconds": true, "microseconds": true, "nanoseconds": true,
	"minutes": true, "hours": true, "kb": true, "kilobytes": true, "mb": true, "megabytes": true, "kib": true, "mib": true}

var (
	nameRE  = regexp.MustCompile(`^kunci_[a-z][a-z0-9_]*[a-z0-9]$`)
	labelRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

func (r *Registry) register(f family) {
	switch {
	case !nameRE.MatchString(f.name):
		panic(fmt.Sprintf("metrics: %q: a name is kunci_ and lower-case snake case", f.name))
	case f.typ == typeCounter && !strings.HasSuffix(f.name, "_total"):
		panic(fmt.Sprintf("metrics: %q: a counter's name ends in _total", f.name))
	case f.typ != typeCounter && strings.HasSuffix(f.name, "_total"):
		panic(fmt.Sprintf("metrics: %q: only a counter's name ends in _total", f.name))
	case slices.ContainsFunc(strings.Split(f.name, "_"), func(w string) bool { return notBaseUnits[w] }):
		panic(fmt.Sprintf("metrics: %q: name the base unit (seconds, bytes)", f.name))
	case strings.TrimSpace(f.help) == "":
		panic(fmt.Sprintf("metrics: %q: no help", f.name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.fams[f.name]; ok {
		panic(fmt.Sprintf("metrics: %q registered twice", f.name))
	}
	r.fams[f.name] = f
}

// Counter registers and returns a counter.
func (r *Registry) Counter(name, help string) *Counter {
	c := &Counter{}
	r.register(family{name: name, help: help, typ: typeCounter, appendTo: func(b []byte, name string) []byte {
		return appendSample(b, name, "", "", strconv.AppendUint(nil, c.Value(), 10))
	}})
	return c
}

// CounterFunc registers a counter whose value f returns when the registry
// is written: for a count kept by a part under its own lock. f must be
// quick and safe to call from any goroutine.
func (r *Registry) CounterFunc(name, help string, f func() uint64) {
	r.register(family{name: name, help: help, typ: typeCounter, appendTo: func(b []byte, name string) []byte {
		return appendSample(b, name, "", "", strconv.AppendUint(nil, f(), 10))
	}})
}

// Gauge registers and returns a gauge.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := &Gauge{}
	r.GaugeFunc(name, help, g.Value)
	return g
}

// GaugeFunc registers a gauge whose value f returns when the registry is
// written (a queue's length, a link's state). f must be quick and safe to
// call from any goroutine.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.register(family{name: name, help: help, typ: typeGauge, appendTo: func(b []byte, name string) []byte {
		return appendSample(b, name, "", "", strconv.AppendFloat(nil, f(), 'g', -1, 64))
	}})
}

// NewCounterVec registers and returns a family of counters on r, told
// apart by label. Only the values given to With appear, each from its
// first use: give the ones worth seeing at 0 at start.
func NewCounterVec[L ~string](r *Registry, name, help, label string) *CounterVec[L] {
	if !labelRE.MatchString(label) {
		panic(fmt.Sprintf("metrics: %q: label %q is not lower-case snake case", name, label))
	}
	v := &CounterVec[L]{m: map[L]*Counter{}}
	r.register(family{name: name, help: help, typ: typeCounter, appendTo: func(b []byte, name string) []byte {
		for _, l := range v.counters() {
			b = appendSample(b, name, label, l.label, strconv.AppendUint(nil, l.c.Value(), 10))
		}
		return b
	}})
	return v
}

// appendSample appends one sample line; label is "" for none.
func appendSample(b []byte, name, label, value string, v []byte) []byte {
	b = append(b, name...)
	if label != "" {
		b = append(b, '{')
		b = append(b, label...)
		b = append(b, `="`...)
		b = append(b, labelEscaper.Replace(value)...)
		b = append(b, `"}`...)
	}
	b = append(b, ' ')
	b = append(b, v...)
	return append(b, '\n')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// ContentType is the media type of what WriteTo writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Text returns every metric in the Prometheus text format (version 0.0.4),
// sorted by name, each family with its HELP and TYPE lines.
func (r *Registry) Text() []byte {
	r.mu.Lock()
	fams := make([]family, 0, len(r.fams))
	for _, f := range r.fams {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	slices.SortFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	var b []byte
	for _, f := range fams {
		b = append(b, "# HELP "+f.name+" "+helpEscaper.Replace(f.help)+"\n"...)
		b = append(b, "# TYPE "+f.name+" "+f.typ+"\n"...)
		b = f.appendTo(b, f.name)
	}
	return b
}

// WriteTo writes Text to w.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.Text())
	return int64(n), err
}

// ServeHTTP answers a scrape: every metric, in the text format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	_, _ = r.WriteTo(w)
}
