package workflow

import (
	"math"
	"slices"
	"time"
)

// The console's service-time report (Waktu Layanan) summarises the
// permits requested in a window of months, and each month of it. Timing
// every permit of the window and summarising them (ServiceTimes,
// Summarise) on every request costs 0.1 s and more for a window of
// 366,000 permits. Summaries gives the same numbers from summaries the
// book keeps per period: each period's known durations of every
// aggregate, sorted, and how many of them were within the standard. A
// period is summarised the first time it is asked for and kept until a
// permit requested in it changes (its digest, its visit's times, a
// notification's time: each bumps the version of the UTC day the permit
// was requested on, which a kept period checks), so that a report over a
// year whose last month goes on changing summarises that month again and
// merges the eleven kept: the medians and 90th percentiles of the window
// are selected from the periods' sorted durations, exactly those
// Summarise gives.

// aggregates a kept period has: the timed steps, the total, and the
// "notified -> acted" of the Notified steps.
const (
	aggTotal    = 7 // after the 7 timed steps (timedSteps)
	aggResponse = 8 // and the Notified steps', in their order
	aggN        = aggResponse + 3
)

// timedSteps are the steps Timed reports, in order: aggregate i is step
// timedSteps[i], for i < aggTotal.
var timedSteps = [aggTotal]int{1, 2, 3, 4, 5, 7, 8}

// slaCacheMax bounds the durations the kept periods hold (8 bytes each:
// 64 MiB); the least recently used periods go first.
const slaCacheMax = 8 << 20

// Period is the service-time summary of the permits requested in
// [From, To).
type Period struct {
	From, To time.Time
	Permits  int
	Summary  Summary
}

// slaKey names a kept period: the filter's door and permit and the
// period's bounds.
type slaKey struct {
	site, door, permit string
	from, to           int64
}

// slaPart is a kept period.
type slaPart struct {
	gen     uint64 // b.slaGen when it was made
	used    uint64 // b.slaTick when it was last used
	permits int
	d       [aggN][]time.Duration // the known durations, sorted
	within  [aggN]int
}

func (p *slaPart) size() int {
	n := 0
	for _, d := range p.d {
		n += len(d)
	}
	return n
}

// reset empties p, keeping its lists' room, for a summary made at gen.
func (p *slaPart) reset(gen uint64) {
	p.gen, p.permits = gen, 0
	for i := range p.d {
		p.d[i], p.within[i] = p.d[i][:0], 0
	}
}

// add counts st in p.
func (p *slaPart) add(st *ServiceTime) {
	p.permits++
	put := func(i int, t StepTime) {
		if t.Known {
			p.d[i] = append(p.d[i], t.Duration)
			if t.Within {
				p.within[i]++
			}
		}
	}
	for i, n := range timedSteps {
		put(i, st.Step[n])
	}
	put(aggTotal, st.Total)
	for i, n := range Notified {
		put(aggResponse+i, st.Response[n])
	}
}

// summary is Summarise of the permits of the parts together.
func summary(parts []*slaPart) Summary {
	var sum Summary
	lists := make([][]time.Duration, 0, len(parts))
	for i := range aggN {
		lists = lists[:0]
		n, within := 0, 0
		for _, p := range parts {
			if len(p.d[i]) > 0 {
				lists = append(lists, p.d[i])
				n += len(p.d[i])
				within += p.within[i]
			}
		}
		var g Aggregate
		if n > 0 {
			g = Aggregate{Count: n, Median: kth(lists, rankIndex(n, 50)), P90: kth(lists, rankIndex(n, 90)),
				Within: float64(within) / float64(n)}
		}
		switch {
		case i < aggTotal:
			sum.Step[timedSteps[i]] = g
		case i == aggTotal:
			sum.Total = g
		default:
			sum.Response[Notified[i-aggResponse]] = g
		}
	}
	return sum
}

// kth is the k-th (from 0) shortest of the durations of the sorted
// lists together: with one list its k-th; with more, the shortest
// duration that at least k+1 durations of the lists do not exceed, found
// by halving the range of durations (at most 64 rounds of a binary
// search in each list).
func kth(lists [][]time.Duration, k int) time.Duration {
	if len(lists) == 1 {
		return lists[0][k]
	}
	lo, hi := time.Duration(math.MaxInt64), time.Duration(math.MinInt64)
	for _, l := range lists {
		lo, hi = min(lo, l[0]), max(hi, l[len(l)-1])
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		c := 0
		for _, l := range lists {
			i, _ := slices.BinarySearch(l, mid+1) // the first longer than mid
			c += i
		}
		if c > k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// nanos is t in nanoseconds since 1970, clamped to int64's range.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var minNanos, maxNanos = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// slaDay is the UTC day of t, the unit of the kept periods' versions.
func slaDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return d
}

// bumpSLA tells the kept periods that a permit requested at req changed.
// b.mu held for writing.
func (b *Book) bumpSLA(req time.Time) {
	if len(b.sla) == 0 {
		return // nothing kept: a period made later sees the change
	}
	if b.slaDays == nil {
		b.slaDays = map[int64]uint64{}
	}
	b.slaGen++
	b.slaDays[slaDay(req)] = b.slaGen
}

// retime is told of each change of vt's times: the service times are
// computed when asked, from the times and the record as they are then,
// and the kept period of its permit is summarised again. b.mu held for
// writing.
func (b *Book) retime(vt *visitTimes) {
	if len(b.sla) == 0 {
		return
	}
	if d := b.byID[vt.id]; d != nil {
		b.bumpSLA(d.Requested)
	}
}

// fresh reports whether p, the kept period [from, to), saw every change
// of its permits. b.mu held.
func (b *Book) fresh(p *slaPart, from, to time.Time) bool {
	if !to.After(from) {
		return true
	}
	for d, last := slaDay(from), slaDay(to.Add(-1)); d <= last; d++ {
		if b.slaDays[d] > p.gen {
			return false
		}
	}
	return true
}

// MonthBounds are the bounds of the months from the month from begins
// to the one to begins (both firsts of a month, in the zone the months
// are counted in): Summaries' bounds of a report by month.
func MonthBounds(from, to time.Time) []time.Time {
	var bounds []time.Time
	for m := from; !m.After(to); m = m.AddDate(0, 1, 0) {
		bounds = append(bounds, m)
	}
	return bounds
}

// Summaries summarises the service times of the permits f selects by door
// and permit (f.From, f.To and f.Organisation aside) requested in each
// period [bounds[i], bounds[i+1]) of the ascending bounds, and over all
// of them: what Summarise gives of the ServiceTimes of each period and of
// the whole window, from the periods the book keeps (see above) and
// those it summarises for the call.
func (b *Book) Summaries(f Filter, bounds []time.Time) (all Period, parts []Period) {
	if len(bounds) < 2 {
		return Period{}, nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	b.slaMu.Lock()
	defer b.slaMu.Unlock()
	if b.sla == nil {
		b.sla = map[slaKey]*slaPart{}
	}
	n := len(bounds) - 1
	ps := make([]*slaPart, n)
	keys := make([]slaKey, n)
	made := make([]bool, n)
	for i := range n {
		keys[i] = slaKey{f.Site, f.Door, f.Permit, nanos(bounds[i]), nanos(bounds[i+1])}
		p := b.sla[keys[i]]
		switch {
		case p != nil && b.fresh(p, bounds[i], bounds[i+1]):
			ps[i] = p
		case p != nil:
			// summarised again into the same lists: a month that goes on
			// changing allocates nothing new
			b.slaSize -= p.size()
			delete(b.sla, keys[i])
			p.reset(b.slaGen)
			ps[i], made[i] = p, true
		default:
			ps[i], made[i] = &slaPart{gen: b.slaGen}, true
		}
	}
	if slices.Contains(made, true) {
		b.summarise(f, keys, ps, made)
	}
	b.slaTick++
	for i, p := range ps {
		p.used = b.slaTick
		if made[i] {
			if _, dup := b.sla[keys[i]]; !dup { // the same period twice in bounds
				b.sla[keys[i]] = p
				b.slaSize += p.size()
			}
		}
	}
	b.evictSLA()
	all = Period{From: bounds[0], To: bounds[n], Summary: summary(ps)}
	parts = make([]Period, n)
	for i, p := range ps {
		parts[i] = Period{From: bounds[i], To: bounds[i+1], Permits: p.permits, Summary: summary(ps[i : i+1])}
		all.Permits += p.permits
	}
	return all, parts
}

// summarise fills the parts made for the call, in one pass over the
// permits. b.mu held.
func (b *Book) summarise(f Filter, keys []slaKey, ps []*slaPart, made []bool) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i, k := range keys {
		if made[i] && k.from < k.to {
			lo, hi = min(lo, k.from), max(hi, k.to)
		}
	}
	for i := range b.permits {
		p := &b.permits[i]
		if p.req < lo || p.req >= hi {
			continue
		}
		if r := p.rec; (f.Site != "" && r.Site != f.Site) || (f.Door != "" && r.Door != f.Door) || (f.Permit != "" && r.ID != f.Permit) {
			continue
		}
		var st ServiceTime
		for j, k := range keys {
			if made[j] && k.from <= p.req && p.req < k.to {
				if st.Permit == "" {
					st = serviceTime(p.rec, p.times)
				}
				ps[j].add(&st)
			}
		}
	}
	for j, p := range ps {
		if made[j] {
			for _, d := range p.d {
				sortDurations(d)
			}
		}
	}
}

// evictSLA drops the least recently used kept periods beyond
// slaCacheMax, but for those of the last call. b.slaMu held.
func (b *Book) evictSLA() {
	for b.slaSize > slaCacheMax {
		var oldest slaKey
		var op *slaPart
		for k, p := range b.sla {
			if p.used < b.slaTick && (op == nil || p.used < op.used) {
				oldest, op = k, p
			}
		}
		if op == nil {
			return
		}
		b.slaSize -= op.size()
		delete(b.sla, oldest)
	}
}

// sortDurations sorts d.
func sortDurations(d []time.Duration) { slices.Sort(d) }
