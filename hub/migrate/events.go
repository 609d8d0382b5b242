// Package migrate copies what a hub keeps from one store to another: the
// doors' events, with their lost runs, from the bbolt file of a hub to
// PostgreSQL (`kunci hub migrate`), each door's epochs in the order first
// seen and each epoch's seqs in order, as the ingest would have stored
// them; and it checks, door by door, that the target holds what the source
// does.
//
// A migration can be run again: each epoch goes on from what the target
// holds of it, so an interrupted one is finished by the next, and one that
// finished copies nothing more. It must never change the source.
package migrate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kunci-project/kunci/hub/ingest"
)

// page is how many events are read and committed at a time.
const page = 10_000

// EventCounts is what Events copied and found.
type EventCounts struct {
	Doors, Epochs   int
	Events          uint64 // events the source holds
	Copied          uint64 // of them, copied by this run (the rest the target held)
	LostRuns        int    // lost runs the source holds
	CopiedLostRuns  int
	TargetEventsNow uint64
}

// ErrMismatch: after the copy the target does not hold what the source
// does.
var ErrMismatch = errors.New("migrate: the target does not hold what the source does")

// Events copies every door's events and lost runs from `from` into `to`
// and checks the result (ErrMismatch). progress, if set, is called after
// each door with its name and the events copied so far in all.
func Events(from, to ingest.EventStore, progress func(door string, copied uint64)) (EventCounts, error) {
	var c EventCounts
	doors, err := from.Doors()
	if err != nil {
		return c, fmt.Errorf("migrate: the source's doors: %w", err)
	}
	for _, d := range doors {
		if err := copyDoor(from, to, d, &c); err != nil {
			return c, fmt.Errorf("migrate: %s/%s: %w", d.Site, d.Door, err)
		}
		if progress != nil {
			progress(d.Site+"/"+d.Door, c.Copied)
		}
	}
	c.Doors = len(doors)
	if err := check(from, to, doors, &c); err != nil {
		return c, err
	}
	return c, nil
}

// copyDoor copies one door, epoch by epoch in the order first seen.
func copyDoor(from, to ingest.EventStore, d ingest.DoorEvents, c *EventCounts) error {
	lost, err := from.Lost(d.Site, d.Door)
	if err != nil {
		return err
	}
	byEpoch := map[string][]ingest.Lost{}
	for _, l := range lost {
		byEpoch[l.Epoch] = append(byEpoch[l.Epoch], l)
	}
	c.LostRuns += len(lost)
	for _, ep := range d.Epochs {
		c.Epochs++
		c.Events += ep.Through - ep.Lost
		done, err := to.Through(d.Site, d.Door, ep.Epoch)
		if err != nil {
			return err
		}
		runs := byEpoch[ep.Epoch]
		for done < ep.Through {
			// a lost run where the copy stands: accepted as the source did
			if len(runs) > 0 && runs[0].To <= done {
				runs = runs[1:]
				continue
			}
			if len(runs) > 0 && runs[0].From == done+1 {
				if err := to.AcceptLost(runs[0]); err != nil {
					return fmt.Errorf("epoch %s: lost run %d..%d: %w", ep.Epoch, runs[0].From, runs[0].To, err)
				}
				c.CopiedLostRuns++
				done = runs[0].To
				runs = runs[1:]
				continue
			}
			// the events up to the next lost run, a page at a time
			limit := page
			if len(runs) > 0 {
				limit = int(min(uint64(page), runs[0].From-1-done))
			}
			evs, err := from.Events(d.Site, d.Door, ep.Epoch, done, limit)
			if err != nil {
				return err
			}
			if len(evs) == 0 || evs[0].Seq != done+1 {
				return fmt.Errorf("epoch %s: the source has no event %d, and no lost run from it", ep.Epoch, done+1)
			}
			if err := to.Commit(ingest.PutsOf(evs)); err != nil {
				return fmt.Errorf("epoch %s: events %d..%d: %w", ep.Epoch, evs[0].Seq, evs[len(evs)-1].Seq, err)
			}
			c.Copied += uint64(len(evs))
			done = evs[len(evs)-1].Seq
		}
	}
	return nil
}

// check compares every door of the source with the target's: the same
// epochs in the same order, each with the same through and lost seqs, and
// the same lost runs.
func check(from, to ingest.EventStore, doors []ingest.DoorEvents, c *EventCounts) error {
	var errs []error
	for _, d := range doors {
		got, err := to.Door(d.Site, d.Door)
		if err != nil {
			return fmt.Errorf("migrate: the target's %s/%s: %w", d.Site, d.Door, err)
		}
		if !slices.Equal(got.Epochs, d.Epochs) {
			errs = append(errs, fmt.Errorf("%s/%s: epochs %v in the target, %v in the source", d.Site, d.Door, got.Epochs, d.Epochs))
		}
		fl, err := from.Lost(d.Site, d.Door)
		if err != nil {
			return err
		}
		tl, err := to.Lost(d.Site, d.Door)
		if err != nil {
			return err
		}
		if len(fl) != len(tl) {
			errs = append(errs, fmt.Errorf("%s/%s: %d lost runs in the target, %d in the source", d.Site, d.Door, len(tl), len(fl)))
		}
	}
	total, err := to.Total()
	if err != nil {
		return fmt.Errorf("migrate: the target's total: %w", err)
	}
	c.TargetEventsNow = total
	if total < c.Events {
		errs = append(errs, fmt.Errorf("the target holds %d events, the source %d", total, c.Events))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMismatch, errors.Join(errs...))
	}
	return nil
}
