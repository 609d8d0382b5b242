package agent

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// Quota bounds what the door's store keeps while the hub is away. Zero
// fields take the defaults.
type Quota struct {
	// MaxEvents bounds the events stored and not yet acked
	// (DefaultMaxEvents). The last Reserve of them are kept for the
	// safety events.
	MaxEvents uint64
	// MinFree is what the store's file system should keep free
	// (DefaultMinFree): below it the low-space alarm is raised, below half
	// of it only the safety events are stored.
	MinFree uint64
}

// Defaults of a Quota. 12,000,000 events keep more than the 10,000,000
// the offline buffer promises, reserve included; at 376 bytes an event on
// disk (bench/offline.sh: 10,000,000 of the door's events in a 3.5 GiB
// file) that is 4.5 GB (4.2 GiB). bbolt grows its file 16 MiB at a
// time: half of MinFree is four such steps left for the safety events,
// and for the deletions of acked events, which need pages of their own
// before they free any.
const (
	DefaultMaxEvents = 12_000_000
	DefaultMinFree   = 128 << 20
)

// spaceCheck is how often the store reads its file system's free space.
const spaceCheck = time.Second

// SpaceLevel says how close the store is to its quota.
type SpaceLevel int

// Levels of Space, in order.
const (
	SpaceOK   SpaceLevel = iota
	SpaceLow             // 90 % of MaxEvents, or less than MinFree free: the alarm is raised
	SpaceFull            // MaxEvents less its reserve, or less than MinFree/2 free: only safety events are stored
)

func (l SpaceLevel) String() string {
	switch l {
	case SpaceLow:
		return "low"
	case SpaceFull:
		return "full"
	}
	return "ok"
}

// Space is how much the store holds against its quota.
type Space struct {
	Pending   uint64 // events stored, not yet acked
	MaxEvents uint64
	Reserve   uint64 // of MaxEvents, for the safety events
	Free      uint64 // bytes free on the store's file system; 0 when unknown
	MinFree   uint64
	Level     SpaceLevel
}

func (s Space) String() string {
	free := "unknown"
	if s.Free > 0 {
		free = fmt.Sprintf("%d MiB", s.Free>>20)
	}
	return fmt.Sprintf("%d of %d events not yet acked (%d kept for safety events), %s free on disk (%d MiB wanted)",
		s.Pending, s.MaxEvents, s.Reserve, free, s.MinFree>>20)
}

// Safety reports whether events of type t are kept when the store is
// full: everything that tells what happened at the door, every tap and
// denial included (people at the door are few, and the audit needs each).
// What a flood from the network or a failing reader can make, refusals of
// downlink messages and reader faults, is not: those are counted instead.
func Safety(t wire.EventType) bool {
	switch t {
	case wire.EvPermitRejected, wire.EvCmdRejected, wire.EvReaderFault:
		return false
	}
	return true
}

// space is the store's accounting against its quota.
type space struct {
	q    Quota
	path string
	free func(dir string) (uint64, bool) // statfs; false: unknown

	mu        sync.Mutex
	last      uint64 // seq of the newest event
	acked     uint64
	freeBytes uint64
	checked   time.Time
}

// SetQuota sets the store's quota; zero fields take the defaults.
func (s *Store) SetQuota(q Quota) {
	if q.MaxEvents == 0 {
		q.MaxEvents = DefaultMaxEvents
	}
	if q.MinFree == 0 {
		q.MinFree = DefaultMinFree
	}
	s.space.mu.Lock()
	s.space.q = q
	s.space.checked = time.Time{}
	s.space.mu.Unlock()
}

// Space returns what the store holds against its quota; the file
// system's free space is read at most once a second.
func (s *Store) Space() Space {
	sp := &s.space
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if now := time.Now(); now.Sub(sp.checked) >= spaceCheck {
		sp.checked = now
		sp.freeBytes = 0
		if n, ok := sp.free(filepath.Dir(sp.path)); ok {
			sp.freeBytes = max(n, 1)
		}
	}
	out := Space{MaxEvents: sp.q.MaxEvents, Reserve: max(sp.q.MaxEvents/100, 1), Free: sp.freeBytes, MinFree: sp.q.MinFree}
	if sp.last > sp.acked {
		out.Pending = sp.last - sp.acked
	}
	known := out.Free > 0
	switch {
	case out.Pending+out.Reserve >= out.MaxEvents, known && out.Free < out.MinFree/2:
		out.Level = SpaceFull
	case out.Pending >= out.MaxEvents/10*9, known && out.Free < out.MinFree:
		out.Level = SpaceLow
	}
	return out
}

// Room returns how many more events of any kind the store takes before
// only safety events are stored: none when it is full.
func (s Space) Room() uint64 {
	if s.Level == SpaceFull || s.Pending+s.Reserve >= s.MaxEvents {
		return 0
	}
	return s.MaxEvents - s.Reserve - s.Pending
}

// counted notes the newest seq and the acked one after a commit.
func (sp *space) counted(last, acked uint64) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if last > 0 {
		sp.last = last
	}
	if acked > 0 {
		sp.acked = acked
	}
}

// spaceWake is how often the door's loop looks at the store's room and
// writes again what the store could not take.
const spaceWake = 10 * time.Second

// maxUnstored bounds the events a door holds in memory while its store
// fails; beyond it the oldest that are not safety events go first.
const maxUnstored = 10_000

// roomFor fits evs to the store's room: on each step up (low, then full)
// a store.low_space event goes first; while the store is full, the events
// that are not safety events are counted and dropped.
func (d *Door) roomFor(evs []Event) []Event {
	sp := d.store.Space()
	if sp.Level != d.spaceLevel {
		if sp.Level > d.spaceLevel {
			what := "store near its quota or its disk near full"
			if sp.Level == SpaceFull {
				what = "store full: only safety events are stored"
			}
			evs = append([]Event{{Type: wire.EvStoreLowSpace, Detail: what + ": " + sp.String()}}, evs...)
			d.log.Warn("door: "+what, "space", sp.String())
		} else {
			d.log.Info("door: the store has room again", "level", sp.Level.String(), "space", sp.String())
		}
		d.spaceLevel = sp.Level
	}
	room := sp.Room()
	if uint64(len(evs)) <= room {
		return evs
	}
	// the write crosses into the reserve, or the store is full: what fits
	// before the reserve is kept whatever it is, the rest only if it is a
	// safety event
	kept := evs[:0:0]
	for _, e := range evs {
		switch {
		case room > 0:
			room--
		case !Safety(e.Type):
			d.ctr.EventsRefused.Inc()
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// storeFailed notes a failed write at wall and holds evs in memory, the
// oldest non-safety events going first beyond maxUnstored.
func (d *Door) storeFailed(wall time.Time, evs []Event) {
	if d.failedSince.IsZero() {
		d.failedSince = wall
	}
	for _, e := range evs {
		// one that cannot be encoded would fail every write after it
		if _, err := json.Marshal(e); err != nil {
			d.log.Error("door: an event that cannot be stored was lost", "type", e.Type, "err", err)
			d.lost++
			d.ctr.EventsLost.Inc()
			continue
		}
		d.unstored = append(d.unstored, e)
	}
	for len(d.unstored) > maxUnstored {
		i := slices.IndexFunc(d.unstored, func(e Event) bool { return !Safety(e.Type) })
		if i < 0 {
			i = 0 // only safety events: the oldest goes, loudly
			d.log.Error("door: a safety event held in memory was lost: the store has failed too long",
				"type", d.unstored[0].Type)
		}
		d.unstored = slices.Delete(d.unstored, i, i+1)
		d.lost++
		d.ctr.EventsLost.Inc()
	}
	d.ctr.EventsHeld.Set(float64(len(d.unstored)))
}
