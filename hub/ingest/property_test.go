package ingest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"

	"pgregory.net/rapid"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
)

// TestIngestProperties feeds random arrivals (any order, repeats, other
// epochs, gaps) in random rounds and checks: every stream is stored as
// exactly 1..through; through is the longest run from 1 among the seqs
// that arrived, when the hold buffer is big enough, and never beyond it;
// the last ack of a stream is its through.
func TestIngestProperties(t *testing.T) {
	dir := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		type arrival struct {
			epoch string
			seq   uint64
		}
		rounds := rapid.SliceOfN(rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) arrival {
			return arrival{rapid.SampledFrom([]string{"e1", "e2"}).Draw(rt, "epoch"), rapid.Uint64Range(1, 40).Draw(rt, "seq")}
		}), 1, 30), 1, 8).Draw(rt, "rounds")
		maxHeld := rapid.IntRange(1, 50).Draw(rt, "maxHeld")
		run++
		path := filepath.Join(dir, fmt.Sprintf("hub-%d.db", run))
		var failure error
		synctest.Test(t, func(t *testing.T) {
			failure = func() error {
				st, err := ingest.OpenStore(path)
				if err != nil {
					return err
				}
				defer st.Close()
				in, err := ingest.New(st, signed(ingest.Options{MaxHeld: maxHeld}))
				if err != nil {
					return err
				}
				pub, stop := startIngest(t, in)
				defer stop()
				seen := map[arrival]bool{}
				for _, r := range rounds {
					for _, a := range r {
						seen[a] = true
						in.Handle(msg("demo", "server-room", a.epoch, a.seq))
					}
					settle()
				}
				last := map[string]uint64{}
				for _, a := range sent(t, pub) {
					last[a.Epoch] = a.Through
				}
				for _, ep := range []string{"e1", "e2"} {
					var run uint64
					for seen[arrival{ep, run + 1}] {
						run++
					}
					evs, err := st.Events("demo", "server-room", ep, 0, 1000)
					if err != nil {
						return err
					}
					for i, e := range evs {
						if e.Seq != uint64(i+1) {
							return fmt.Errorf("epoch %s: stored event #%d is seq %d", ep, i, e.Seq)
						}
					}
					through, err := st.Through("demo", "server-room", ep)
					if err != nil {
						return err
					}
					distinct := 0
					for a := range seen {
						if a.epoch == ep {
							distinct++
						}
					}
					switch {
					case through != uint64(len(evs)):
						return fmt.Errorf("epoch %s: through %d, %d stored", ep, through, len(evs))
					case through > run:
						return fmt.Errorf("epoch %s: through %d beyond the run %d that arrived", ep, through, run)
					case distinct <= maxHeld && through != run:
						return fmt.Errorf("epoch %s: through %d; %d arrived in a row (held at most %d)", ep, through, run, maxHeld)
					case last[ep] != through:
						return fmt.Errorf("epoch %s: last ack %d, through %d", ep, last[ep], through)
					}
				}
				return nil
			}()
		})
		if failure != nil {
			rt.Fatal(failure)
		}
	})
}

// startIngest runs in without failing t when Run does, for the bubbles of
// rapid's checks, which return their failure.
func startIngest(t *testing.T, in *ingest.Ingest) (*mqttlinktest.Link, func()) {
	pub := newFakePub(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, pub) }()
	return pub, func() {
		cancel()
		<-done
	}
}
