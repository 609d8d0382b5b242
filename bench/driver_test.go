package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/hardware/nfc/pn532/pn532test"
)

// BenchmarkTapToRelayPN532 is BenchmarkTapToRelay through the real reader
// stack: a fake PN532 (pn532test, answering at once, so the numbers are the
// software's, not the radio's) on a fake serial port, the PN532 driver and
// its frame codec, the reader loop (nfc.Run) and the door on the real
// store. p50-ns and p99-ns are from the escort's card appearing on the
// reader until the relay's Unlock; compare them with BenchmarkTapToRelay's
// figure for the door alone.
func BenchmarkTapToRelayPN532(b *testing.B) {
	const n = 10_000
	b.Run(fmt.Sprintf("permits=%d", n), func(b *testing.B) {
		work := storeCopy(b, n)
		ctx := b.Context()
		rd := runDoor(b, work)
		// a card counts again once it was away this long; the default (1 s)
		// would make the benchmark slow, much less would let a card lying
		// on the reader between polls count twice
		const absent = 50 * time.Millisecond
		chip := pn532test.NewChip()
		chip.TryTime = 0
		dev := pn532.New("fake", chip.Opener(), pn532.Options{PollCycle: time.Nanosecond})
		defer dev.Halt()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- nfc.Run(runCtx, dev, agent.ReaderEntry, rd.door, nil, nfc.AbsentFor(absent))
		}()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				b.Error(err)
			}
		}()
		// away takes the card off and waits until the driver has polled
		// the empty field, so that the next card is new to it
		away := func() {
			chip.Remove()
			for p := chip.Polls(); chip.Polls() < p+3; {
				time.Sleep(50 * time.Microsecond)
			}
			time.Sleep(absent + 10*time.Millisecond)
		}
		// stored waits for the door's status to move past seq
		stored := func(seq uint64) {
			deadline := time.Now().Add(5 * time.Second)
			for rd.door.Status().Seq <= seq {
				if time.Now().After(deadline) {
					b.Fatal("the reader's tap never reached the door")
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		rng := rand.New(rand.NewPCG(n, 4))
		// grant taps guest i then the escort on the reader and returns the
		// time from the escort's card appearing to the relay's Unlock; ok
		// is false when the guest got in on its own tap because the
		// escort's card, left on the reader past the previous visit's
		// grant, counted again (a real door does the same; that grant is
		// not the one measured)
		grant := func(i int) (lat time.Duration, ok bool) {
			rd.relay.drain() // the last visit's exit tap unlocked too
			seq := rd.door.Status().Seq
			chip.Present(pn532test.CardA(guestUID(i)...))
			stored(seq)
			away()
			select {
			case <-rd.relay.unlocked:
				rd.relay.drain()
				return 0, false
			default:
			}
			start := time.Now()
			chip.Present(pn532test.CardA(staffUID(escortOf(i))...))
			defer away()
			select {
			case t := <-rd.relay.unlocked:
				return t.Sub(start), true
			case <-time.After(5 * time.Second):
				evs, _ := rd.store.Events(seq, 20)
				var types []string
				for _, e := range evs {
					types = append(types, string(e.Type)+"/"+string(e.Reason))
				}
				b.Fatalf("no unlock for permit %s; events since: %v", permitID(i), types)
				return 0, false
			}
		}
		visit := func() (time.Duration, bool) {
			i := rng.IntN(n)
			lat, ok := grant(i)
			for _, step := range []func() error{
				func() error { return rd.door.SetDoor(ctx, true) },
				func() error { return rd.door.SetDoor(ctx, false) },
				func() error { return rd.door.Tap(ctx, agent.ReaderExit, guestUID(i)) },
				func() error { return rd.door.SetDoor(ctx, true) },
				func() error { return rd.door.SetDoor(ctx, false) },
			} {
				if err := step(); err != nil {
					b.Fatal(err)
				}
			}
			return lat, ok
		}
		for range warmup {
			visit()
		}
		var lats []time.Duration
		for b.Loop() {
			for {
				if lat, ok := visit(); ok {
					lats = append(lats, lat)
					break
				}
			}
		}
		reportLatency(b, "", lats)
	})
}
