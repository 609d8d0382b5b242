package ingest

import (
	"encoding/json"
	"path/filepath"
	"reflect"
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
	s := stream{"demo", "d", "e"}
	if err := st.commit([]put{{stream: s, events: []Event{ev(1), ev(2)}}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Event{{ev(4)}, {ev(2)}, {ev(3), ev(5)}, {ev(3), ev(3)}} {
		if err := st.commit([]put{{stream: stream{"demo", "other", "e"}, events: []Event{ev(1)}}, {stream: s, events: bad}}); err == nil {
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
	e, raw, err := decodeEvent("kunci/v1", "kunci/v1/demo/d/events", []byte(payload), DefaultMaxEventSize)
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
	s := stream{"demo", "d", "e"}
	first := Event{ID: "demo/d/e/1", Seq: 1, Epoch: "e", Site: "demo", Door: "d", Type: "tap"}
	second := first
	second.ID, second.Seq = "demo/d/e/2", 2
	// raw for some events only: the others are encoded in the commit
	if err := st.commit([]put{{stream: s, events: []Event{first, second, e}, raw: [][]byte{nil, nil, raw}}}); err != nil {
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
