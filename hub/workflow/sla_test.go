package workflow

import (
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
