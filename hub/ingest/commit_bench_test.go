package ingest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kunci-project/kunci/wire"
)

// BenchmarkCommit: committing a batch of 100 events of one door, a third
// of them of a permit, as the ingest does (the index entries included):
// ns/op is per batch.
func BenchmarkCommit(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%v", sync), func(b *testing.B) { benchCommit(b, sync) })
	}
}

// benchCommit is BenchmarkCommit, without fsync if !sync: the commit's
// own work alone.
func benchCommit(b *testing.B, sync bool) {
	st, err := OpenStore(filepath.Join(b.TempDir(), "hub.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.db.NoSync = !sync
	seq := uint64(0)
	for b.Loop() {
		evs := make([]Event, 100)
		for i := range evs {
			seq++
			evs[i] = Event{ID: fmt.Sprintf("demo/d/e1/%d", seq), Seq: seq, Epoch: "e1", Site: "demo", Door: "d", Type: wire.EvTap}
			if seq%3 == 0 {
				evs[i].Permit = fmt.Sprintf("P-%06d", seq/30)
			}
		}
		if err := st.Commit([]Put{{Site: "demo", Door: "d", Epoch: "e1", Events: evs}}); err != nil {
			b.Fatal(err)
		}
	}
}
