package workflow

import (
	"iter"
	"slices"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// Steps is the number of SOP steps.
const Steps = 8

// Standard is the SOP's standard time per step (index 1-8); step 6 (work
// inside, Secukupnya) has none and is not timed.
var Standard = [Steps + 1]time.Duration{
	1: 5 * time.Minute, 2: 5 * time.Minute, 3: 2 * time.Minute, 4: 2 * time.Minute,
	5: 3 * time.Minute, 7: 3 * time.Minute, 8: 2 * time.Minute,
}

// StandardTotal is the SOP's completion time, step 6 aside: 22 minutes.
const StandardTotal = 22 * time.Minute

// Timed reports whether SOP step n is timed (every step but 6).
func Timed(n int) bool { return n >= 1 && n <= Steps && n != 6 }

// StepTime is one step's duration.
type StepTime struct {
	Duration time.Duration
	Known    bool // the step's start and end are both known
	Within   bool // Known, within the standard and, for step 8, secured
}

// ServiceTime is the service-time report of one permit; Step is indexed
// 1-8 (Step[6] stays unknown).
type ServiceTime struct {
	Permit    string
	Requested time.Time // when the permit was requested (SOP step 1), if it was
	Step      [Steps + 1]StepTime
	Total     StepTime // known when every timed step is
	// Response is "notified -> acted" of the notified steps (Notified,
	// 2-4; the others stay unknown): see the package doc.
	Response [Steps + 1]StepTime
}

// Notified are the SOP steps the hub notifies someone of, whose
// "notified -> acted" the service times give: 2 (coordinate), 3
// (approve), 4 (escort).
var Notified = []int{2, 3, 4}

// notifiedFirst is the first of Notified.
const notifiedFirst = 2

// ServiceTimes times the SOP steps of each permit from its history and the
// door's events (see the package doc for each step's start and end). The
// events are read once.
func ServiceTimes(permits []Record, events iter.Seq[wire.Event]) []ServiceTime {
	doors := make(map[string]*visitTimes, len(permits))
	for _, r := range permits {
		doors[r.ID] = &visitTimes{}
	}
	var t timer
	for e := range events {
		t.apply(e, doors[e.Permit], nil)
	}
	out := make([]ServiceTime, 0, len(permits))
	for i := range permits {
		d := DigestOf(&permits[i])
		out = append(out, serviceTime(&d, doors[permits[i].ID]))
	}
	return out
}

// visitTimes are the times of a permit's visit its door's events give.
// A Book computes the permit's service time from them and its record
// when asked (ServiceTimes).
type visitTimes struct {
	id                                  string // the permit's, in a Book
	tap, entered, exitReq, exited, done instant
	card                                string
	notSecured                          bool
	// notified is when each notified step's notification was first
	// handed to a channel (Book.Notified): step n (2-4, Notified) at
	// n-notifiedFirst
	notified [4 - notifiedFirst + 1]instant
}

// instant is a time as nanoseconds since 1970 (UTC), 0 for none: what a
// visit's times need (their order and their spans, never their zone), in
// a third of a time.Time's room, for the millions a large book holds.
type instant int64

// instantOf is t's instant (0 for the zero time; a time that is 1970's
// first nanosecond exactly is taken for the next, so that it stays known;
// one beyond 1678-2262 is clamped).
func instantOf(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	if n := nanos(t); n != 0 {
		return instant(n)
	}
	return 1
}

// time is i as a time in UTC, the zero time for none.
func (i instant) time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i)).UTC()
}

// timer follows a run of events: the exit requests since the last
// visit.exited, and the visits that exited while their room is not yet
// secured.
type timer struct {
	lastExit []wire.Event
	awaiting []*visitTimes
}

// apply takes the next event, d the times of its permit (nil: a permit
// not followed), and calls changed, unless nil, with each visit's times
// it changed.
func (t *timer) apply(e wire.Event, d *visitTimes, changed func(*visitTimes)) {
	if changed == nil {
		changed = func(*visitTimes) {}
	}
	switch e.Type {
	case wire.EvEscortAwaited, wire.EvGranted:
		if d != nil && d.tap == 0 && d.entered == 0 {
			d.tap = instantOf(e.At)
			changed(d)
		}
	case wire.EvVisitEntered:
		if d != nil && d.entered == 0 {
			d.entered, d.card = instantOf(e.At), e.Card
			changed(d)
		}
	case wire.EvExitRequested:
		t.lastExit = append(t.lastExit, e)
	case wire.EvVisitExited:
		if d != nil && d.entered != 0 && d.exited == 0 {
			d.exited = instantOf(e.At)
			for i := len(t.lastExit) - 1; i >= 0; i-- {
				x := t.lastExit[i]
				if at := instantOf(x.At); at >= d.entered && (x.Card == "" || d.card == "" || x.Card == d.card) {
					d.exitReq = at
					break
				}
			}
			t.awaiting = append(t.awaiting, d)
			changed(d)
		}
		t.lastExit = t.lastExit[:0]
	case wire.EvSecured, wire.EvNotSecured:
		for _, a := range t.awaiting {
			a.done, a.notSecured = instantOf(e.At), e.Type == wire.EvNotSecured
			changed(a)
		}
		t.awaiting = t.awaiting[:0]
	}
}

// serviceTime times r's steps from the times of its history and d, its
// visit's times (nil: none known).
func serviceTime(r *Digest, d *visitTimes) ServiceTime {
	if d == nil {
		d = &visitTimes{}
	}
	st := ServiceTime{Permit: r.ID}
	span := func(n int, from, to time.Time, fromOK, toOK bool) {
		if fromOK && toOK && !from.IsZero() && !to.IsZero() {
			dur := max(to.Sub(from), 0)
			st.Step[n] = StepTime{Known: true, Duration: dur, Within: dur <= Standard[n]}
		}
	}
	req, okReq := r.Requested, !r.Requested.IsZero()
	st.Requested = req
	coo, okCoo := r.Coordinated, !r.Coordinated.IsZero()
	app, okApp := r.Approved, !r.Approved.IsZero()
	esc, okEsc := r.Escorted, !r.Escorted.IsZero()
	if okReq {
		if r.FormOpened.IsZero() {
			st.Step[1] = StepTime{Known: true, Within: true}
		} else {
			span(1, r.FormOpened, req, true, true)
		}
	}
	span(2, req, coo, okReq, okCoo)
	span(3, coo, app, okCoo, okApp)
	span(4, app, esc, okApp, okEsc)
	for _, s := range [...]struct {
		n     int
		acted time.Time
	}{{2, coo}, {3, app}, {4, esc}} {
		n, acted := s.n, s.acted
		told := d.notified[n-notifiedFirst].time()
		if !told.IsZero() && !acted.IsZero() && !acted.Before(told) {
			dur := acted.Sub(told)
			st.Response[n] = StepTime{Known: true, Duration: dur, Within: dur <= Standard[n]}
		}
	}
	span(5, d.tap.time(), d.entered.time(), true, true)
	if d.exited != 0 {
		if d.exitReq == 0 {
			st.Step[7] = StepTime{Known: true, Within: true}
		} else {
			span(7, d.exitReq.time(), d.exited.time(), true, true)
		}
	}
	span(8, d.exited.time(), d.done.time(), true, true)
	if d.notSecured {
		st.Step[8].Within = false
	}
	known, within, total := true, true, time.Duration(0)
	for n := 1; n <= Steps; n++ {
		if !Timed(n) {
			continue
		}
		known = known && st.Step[n].Known
		within = within && st.Step[n].Within
		total += st.Step[n].Duration
	}
	if known {
		st.Total = StepTime{Known: true, Duration: total, Within: within && total <= StandardTotal}
	}
	return st
}

// Aggregate summarises one step, or the total, over many permits; only
// known durations count.
type Aggregate struct {
	Count  int
	Median time.Duration
	P90    time.Duration
	Within float64 // share within the standard, 0..1
}

// Summary aggregates service times: Step indexed 1-8, and the total;
// Response the "notified -> acted" of the Notified steps.
type Summary struct {
	Step     [Steps + 1]Aggregate
	Total    Aggregate
	Response [Steps + 1]Aggregate
}

// Summarise aggregates service times per step and in total: median, 90th
// percentile (nearest rank) and the share within the standard.
func Summarise(sts []ServiceTime) Summary {
	var sum Summary
	buf := make([]time.Duration, 0, len(sts)) // one buffer for every aggregate
	for n := 1; n <= Steps; n++ {
		if Timed(n) {
			sum.Step[n] = aggregateInto(buf, sts, func(s *ServiceTime) StepTime { return s.Step[n] })
		}
	}
	sum.Total = aggregateInto(buf, sts, func(s *ServiceTime) StepTime { return s.Total })
	for _, n := range Notified {
		sum.Response[n] = aggregateInto(buf, sts, func(s *ServiceTime) StepTime { return s.Response[n] })
	}
	return sum
}

// aggregateInto aggregates one step of sts, using buf's room for the
// durations.
func aggregateInto(buf []time.Duration, sts []ServiceTime, get func(*ServiceTime) StepTime) Aggregate {
	ds := buf[:0]
	within := 0
	for i := range sts {
		t := get(&sts[i])
		if !t.Known {
			continue
		}
		ds = append(ds, t.Duration)
		if t.Within {
			within++
		}
	}
	if len(ds) == 0 {
		return Aggregate{}
	}
	// the two ranks selected, not the whole sorted: the 90th first, then
	// the median among the durations before it, none of them longer
	i90, i50 := rankIndex(len(ds), 90), rankIndex(len(ds), 50)
	p90 := selectNth(ds, i90)
	med := p90
	if i50 < i90 {
		med = selectNth(ds[:i90], i50)
	}
	return Aggregate{Count: len(ds), Median: med, P90: p90, Within: float64(within) / float64(len(ds))}
}

// rankIndex is the index of the nearest-rank percentile p among n sorted
// values.
func rankIndex(n, p int) int { return max((p*n+99)/100-1, 0) }

// selectNth reorders ds so that ds[k] is the value a sort would put there,
// none after it shorter and none before it longer, and returns it: a
// quickselect, the pivot the median of three, a small part sorted.
func selectNth(ds []time.Duration, k int) time.Duration {
	lo, hi := 0, len(ds)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		if ds[mid] < ds[lo] {
			ds[mid], ds[lo] = ds[lo], ds[mid]
		}
		if ds[hi] < ds[lo] {
			ds[hi], ds[lo] = ds[lo], ds[hi]
		}
		if ds[hi] < ds[mid] {
			ds[hi], ds[mid] = ds[mid], ds[hi]
		}
		pivot := ds[mid]
		i, j := lo, hi
		for i <= j {
			for ds[i] < pivot {
				i++
			}
			for ds[j] > pivot {
				j--
			}
			if i <= j {
				ds[i], ds[j] = ds[j], ds[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return ds[k] // between the parts: the pivot's value
		}
	}
	slices.Sort(ds[lo : hi+1])
	return ds[k]
}
