package workflow

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// withHistory gives r the SOP 1-4 history at the given minutes after t0.
func withHistory(r Record, formOpened time.Time, mins ...int) Record {
	states := []State{Requested, Coordinated, Approved, Escorted}
	r.FormOpened = formOpened
	for i, m := range mins {
		r.History = append(r.History, Transition{State: states[i], By: "x", At: at(m, 0)})
	}
	return r
}

func TestServiceTimes(t *testing.T) {
	min := time.Minute
	cases := []struct {
		name   string
		rec    Record
		events []wire.Event
		want   [Steps + 1]time.Duration // -1: unknown
		within [Steps + 1]bool
		total  time.Duration // -1: unknown
		ok     bool
	}{
		{"full SOP visit within standard", withHistory(rec("P-1", "Andi", "S-004"), at(-3, 0), 0, 4, 6, 8), fullVisit(),
			[Steps + 1]time.Duration{0, 3 * min, 4 * min, 2 * min, 2 * min, 20 * time.Second, -1, 0, min},
			[Steps + 1]bool{false, true, true, true, true, true, false, true, true},
			3*min + 4*min + 2*min + 2*min + 20*time.Second + min, true},
		{"slow approval, no form time, not secured", withHistory(rec("P-1", "Andi", "S-004"), time.Time{}, 0, 5, 15, 16), []wire.Event{
			{Type: wire.EvEscortAwaited, Permit: "P-1", At: at(30, 0)},
			{Type: wire.EvVisitEntered, Permit: "P-1", At: at(34, 0)},
			{Type: wire.EvExitRequested, At: at(60, 0)},
			{Type: wire.EvVisitExited, Permit: "P-1", At: at(60, 30)},
			{Type: wire.EvNotSecured, At: at(62, 30)},
		},
			[Steps + 1]time.Duration{0, 0, 5 * min, 10 * min, min, 4 * min, -1, 30 * time.Second, 2 * min},
			[Steps + 1]bool{false, true, true, false, true, false, false, true, false},
			5*min + 10*min + min + 4*min + 30*time.Second + 2*min, false},
		{"not yet at the door", withHistory(rec("P-1", "Andi", "S-004"), time.Time{}, 0, 1), nil,
			[Steps + 1]time.Duration{0, 0, min, -1, -1, -1, -1, -1, -1},
			[Steps + 1]bool{false, true, true},
			-1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := ServiceTimes([]Record{c.rec}, Events(c.events))[0]
			for n := 1; n <= Steps; n++ {
				s := st.Step[n]
				if c.want[n] < 0 {
					if s.Known {
						t.Errorf("step %d known: %+v", n, s)
					}
					continue
				}
				if !s.Known || s.Duration != c.want[n] || s.Within != c.within[n] {
					t.Errorf("step %d = %+v, want %s within %v", n, s, c.want[n], c.within[n])
				}
			}
			if c.total < 0 {
				if st.Total.Known {
					t.Errorf("total known: %+v", st.Total)
				}
			} else if !st.Total.Known || st.Total.Duration != c.total || st.Total.Within != c.ok {
				t.Errorf("total %+v, want %s within %v", st.Total, c.total, c.ok)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	var sts []ServiceTime
	for i := 1; i <= 10; i++ {
		var st ServiceTime
		d := time.Duration(i) * time.Minute // step 2: 1..10 min, standard 5
		st.Step[2] = StepTime{Known: true, Duration: d, Within: d <= Standard[2]}
		st.Total = StepTime{Known: true, Duration: 2 * d, Within: 2*d <= StandardTotal}
		sts = append(sts, st)
	}
	sts = append(sts, ServiceTime{}) // unknown everywhere: not counted
	sum := Summarise(sts)
	s2 := sum.Step[2]
	if s2.Count != 10 || s2.Median != 5*time.Minute || s2.P90 != 9*time.Minute || s2.Within != 0.5 {
		t.Fatalf("step 2 %+v", s2)
	}
	if sum.Step[3].Count != 0 || sum.Total.Count != 10 || sum.Total.Median != 10*time.Minute || sum.Total.Within != 1 {
		t.Fatalf("%+v", sum)
	}
	if Timed(6) || !Timed(8) || Standard[1]+Standard[2]+Standard[3]+Standard[4]+Standard[5]+Standard[7]+Standard[8] != StandardTotal {
		t.Fatal("standard times do not add up to 22 minutes")
	}
}

// The Book times "notified -> acted" of steps 2-4 from what Notified told
// it: the earliest hand-off counts, one told before the Book knew the
// permit is kept, a step taken before its notification is left out, and
// steps other than 2-4 are not kept.
func TestBookNotifiedToActed(t *testing.T) {
	sec := time.Second
	// requested 0, coordinated 4 min, approved 6, escorted 10
	b := NewBook(nil)
	b.Notified("P-1", 2, at(0, 20))
	b.AddPermit(withHistory(rec("P-1", "Andi", "S-004"), time.Time{}, 0, 4, 6, 10))
	b.Notified("P-1", 2, at(0, 5))  // earlier: counts
	b.Notified("P-1", 2, at(1, 0))  // later: ignored
	b.Notified("P-1", 3, at(6, 30)) // after the approval: left out
	b.Notified("P-1", 4, at(8, 0))
	b.Notified("P-1", 5, at(8, 0)) // not a notified step
	b.AddPermit(withHistory(rec("P-2", "Sari", "S-004"), time.Time{}, 0, 1, 2, 3))
	sts := b.ServiceTimes(Filter{})
	if len(sts) != 2 {
		t.Fatalf("%d service times; want 2", len(sts))
	}
	r := sts[0].Response
	for n, want := range map[int]StepTime{
		2: {Known: true, Duration: 3*time.Minute + 55*sec, Within: true},
		3: {},
		4: {Known: true, Duration: 2 * time.Minute, Within: true},
		5: {},
	} {
		if r[n] != want {
			t.Errorf("P-1 step %d notified -> acted %+v; want %+v", n, r[n], want)
		}
	}
	if sts[1].Response != ([Steps + 1]StepTime{}) {
		t.Errorf("P-2, never notified: %+v; want nothing known", sts[1].Response)
	}
	sum := Summarise(sts)
	if s := sum.Response[2]; s.Count != 1 || s.Median != 3*time.Minute+55*sec || s.Within != 1 {
		t.Errorf("summary of step 2: %+v", s)
	}
	if sum.Response[3].Count != 0 || sum.Response[4].Count != 1 {
		t.Errorf("summary: %+v", sum.Response)
	}
	// a slow approver: told at 6 min, acting at 16, past step 3's 2 minutes
	b.AddPermit(withHistory(rec("P-3", "Dewi", "S-004"), time.Time{}, 0, 6, 16, 17))
	b.Notified("P-3", 3, at(6, 0))
	if got := b.ServiceTimes(Filter{Permit: "P-3"})[0].Response[3]; got != (StepTime{Known: true, Duration: 10 * time.Minute}) {
		t.Errorf("P-3 step 3: %+v; want 10 minutes, beyond the standard", got)
	}
}

// TestSelectNth: the percentiles selected are those of the sorted
// durations, for many lengths, with and without repeated values.
func TestSelectNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 1; n < 400; n += 1 + n/8 {
		for _, spread := range []int{1, 3, 1000, 1 << 40} {
			ds := make([]time.Duration, n)
			for i := range ds {
				ds[i] = time.Duration(rng.Int64N(int64(spread)))
			}
			sorted := slices.Sorted(slices.Values(ds))
			for _, p := range []int{50, 90} {
				k := rankIndex(n, p)
				if got := selectNth(slices.Clone(ds), k); got != sorted[k] {
					t.Fatalf("n %d spread %d p%d: %v, sorted %v", n, spread, p, got, sorted[k])
				}
			}
		}
	}
}
