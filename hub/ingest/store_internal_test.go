package ingest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// TestCommitRefusesGaps: the file holds every stream gap-free even if its
// caller is wrong: a put that does not continue through fails whole.
func TestCommitRefusesGaps(t *testing.T) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev := func(seq uint64) Event { return Event{Seq: seq, Site: "demo", Door: "d", Epoch: "e", Type: "tap"} }
	s := Put{Site: "demo", Door: "d", Epoch: "e"}
	if err := st.Commit([]Put{{Site: s.Site, Door: s.Door, Epoch: s.Epoch, Events: []Event{ev(1), ev(2)}}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Event{{ev(4)}, {ev(2)}, {ev(3), ev(5)}, {ev(3), ev(3)}} {
		if err := st.Commit([]Put{{Site: "demo", Door: "other", Epoch: "e", Events: []Event{ev(1)}}, {Site: s.Site, Door: s.Door, Epoch: s.Epoch, Events: bad}}); err == nil {
			t.Errorf("commit of %v after through 2 succeeded", bad)
		}
	}
	if th, _ := st.Through("demo", "d", "e"); th != 2 {
		t.Errorf("through = %d; want 2", th)
	}
	if d, _ := st.Door("demo", "other"); len(d.Epochs) != 0 {
		t.Errorf("a failed commit stored part of its puts: %+v", d)
	}
}

// TestDecodedJSONIsStored: the bytes decodeEvent keeps for the commit are
// the event's encoding, with members the hub does not know left out.
func TestDecodedJSONIsStored(t *testing.T) {
	payload := `{"id":"demo/d/e/3","seq":3,"epoch":"e","site":"demo","door":"d","type":"tap","later":[1],` +
		`"at":"2026-11-27T03:02:03.123+07:00","replayed":true,"detail":"\u003c"}`
	e, raw, _, err := decodeEvent("kunci/v1", "kunci/v1/demo/d/events", []byte(payload), DefaultMaxEventSize)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(e)
	if string(raw) != string(want) {
		t.Fatalf("decodeEvent kept %s; want %s", raw, want)
	}
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := Put{Site: "demo", Door: "d", Epoch: "e"}
	first := Event{ID: "demo/d/e/1", Seq: 1, Epoch: "e", Site: "demo", Door: "d", Type: "tap"}
	second := first
	second.ID, second.Seq = "demo/d/e/2", 2
	// raw for some events only: the others are encoded in the commit
	if err := st.Commit([]Put{{Site: s.Site, Door: s.Door, Epoch: s.Epoch, Events: []Event{first, second, e}, Raw: [][]byte{nil, nil, raw}}}); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events("demo", "d", "e", 0, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("Events = %v, %v; want 3", evs, err)
	}
	if !evs[2].At.Equal(e.At) || evs[2].Replayed != true || evs[2].Detail != "<" || !reflect.DeepEqual(evs[1], second) {
		t.Errorf("stored %+v; want %+v and %+v", evs[1:], second, e)
	}
}

// TestLostRuns: runs accepted as lost continue a stream only where its
// stored events end; reading skips them, and counts them out.
func TestLostRuns(t *testing.T) {
	st, err := OpenStore(filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := Put{Site: "demo", Door: "d", Epoch: "e"}
	ev := func(seq uint64) Event {
		return Event{ID: fmt.Sprintf("demo/d/e/%d", seq), Seq: seq, Site: "demo", Door: "d", Epoch: "e", Type: "tap"}
	}
	evs := func(from, to uint64) []Event {
		var out []Event
		for q := from; q <= to; q++ {
			out = append(out, ev(q))
		}
		return out
	}
	lost := func(from, to uint64) Lost {
		return Lost{Site: "demo", Door: "d", Epoch: "e", From: from, To: to, By: "admin", Reason: "test"}
	}
	steps := []func() error{
		func() error { return st.AcceptLost(lost(1, 3)) }, // a stream never seen, from 1
		func() error { return st.Commit([]Put{{Site: s.Site, Door: s.Door, Epoch: s.Epoch, Events: evs(4, 6)}}) },
		func() error { return st.AcceptLost(lost(7, 3000)) }, // more than a walk's page
		func() error {
			return st.Commit([]Put{{Site: s.Site, Door: s.Door, Epoch: s.Epoch, Events: evs(3001, 3010)}})
		},
		func() error { return st.AcceptLost(lost(3011, 3011)) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for _, bad := range []Lost{lost(3011, 3020), lost(3013, 3020), lost(3012, 3011), lost(0, 0)} {
		if err := st.AcceptLost(bad); err == nil {
			t.Errorf("acceptLost(%d..%d) after through 3011 succeeded", bad.From, bad.To)
		}
	}
	var walked []uint64
	if err := st.Walk("demo", "d", func(e Event) error { walked = append(walked, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	want := append([]uint64{4, 5, 6}, seqsOf(evs(3001, 3010))...)
	if !slices.Equal(walked, want) {
		t.Errorf("Walk = %v; want %v", walked, want)
	}
	d, err := st.Door("demo", "d")
	if err != nil || d.Count() != 13 || d.Epochs[0].Through != 3011 || d.Epochs[0].Lost != 3+2994+1 {
		t.Errorf("Door = %+v (count %d), %v; want through 3011, 13 events", d, d.Count(), err)
	}
	if n, err := st.Total(); err != nil || n != 13 {
		t.Errorf("Total = %d, %v; want 13", n, err)
	}
	// a page of Events is a range of seqs, fewer where they were lost
	for _, tc := range []struct {
		after uint64
		limit int
		want  []uint64
	}{{0, 5, []uint64{4, 5}}, {6, 50, nil}, {2990, 15, seqsOf(evs(3001, 3005))}, {3009, 10, []uint64{3010}}} {
		got, err := st.Events("demo", "d", "e", tc.after, tc.limit)
		if err != nil || !slices.Equal(seqsOf(got), tc.want) {
			t.Errorf("Events(after %d, limit %d) = %v, %v; want %v", tc.after, tc.limit, seqsOf(got), err, tc.want)
		}
	}
	runs, err := st.Lost("demo", "d")
	if err != nil || len(runs) != 3 || runs[1].From != 7 || runs[1].To != 3000 || runs[1].Reason != "test" {
		t.Errorf("Lost = %+v, %v; want 1..3, 7..3000, 3011", runs, err)
	}
}

func seqsOf(evs []Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}
