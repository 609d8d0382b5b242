package ingest

import (
	"path/filepath"
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
	if err := st.commit([]put{{s, []Event{ev(1), ev(2)}}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Event{{ev(4)}, {ev(2)}, {ev(3), ev(5)}, {ev(3), ev(3)}} {
		if err := st.commit([]put{{stream{"demo", "other", "e"}, []Event{ev(1)}}, {s, bad}}); err == nil {
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
