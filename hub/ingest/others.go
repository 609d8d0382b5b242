package ingest

import (
	"context"
	"sync"

	"github.com/kunci-project/kunci/internal/metrics"
)

// othersDepth bounds the runs of the other replicas' commits waiting to be
// read (Options.OnOthers); beyond, the newest are dropped and counted:
// the live view misses them, the store has them.
const othersDepth = 4096

// span is a run of a stream's seqs another replica committed.
type span struct {
	s             stream
	from, through uint64 // seqs from+1 through through
}

// others hands the events the other hub replicas sharing the store
// committed (the advances not Mine) to Options.OnOthers, read from the
// store in a goroutine of their own, so that the ingest never waits for
// them. Each run is read once, in the order the advances came; a run
// continuing the one queued last of its stream joins it.
type others struct {
	st   EventStore
	fn   func([]Event)
	page int

	followed, missed, errors *metrics.Counter

	mu    sync.Mutex
	queue []span
	last  map[stream]int // stream -> its span in queue
	wake  chan struct{}
}

func newOthers(st EventStore, fn func([]Event), page int, r *metrics.Registry) *others {
	return &others{st: st, fn: fn, page: page, last: map[stream]int{}, wake: make(chan struct{}, 1),
		followed: r.Counter("kunci_hub_events_followed_total",
			"Events another hub replica on the same PostgreSQL database stored, read back for this replica's live view of the doors."),
		missed: r.Counter("kunci_hub_events_follow_missed_total",
			"Events another hub replica stored that this replica's live view missed: too many waiting to be read, or a notification lost with its connection."),
		errors: r.Counter("kunci_hub_events_follow_errors_total",
			"Reads of another hub replica's events for the live view that failed (the events are stored; the view misses them)."),
	}
}

// add queues a's events. It never blocks.
func (o *others) add(a Advance) {
	if a.Mine || a.Through <= a.From {
		return
	}
	s := stream{a.Site, a.Door, a.Epoch}
	o.mu.Lock()
	if i, ok := o.last[s]; ok && o.queue[i].through == a.From {
		o.queue[i].through = a.Through
	} else if len(o.queue) >= othersDepth {
		o.missed.Add(a.Through - a.From)
	} else {
		o.last[s] = len(o.queue)
		o.queue = append(o.queue, span{s, a.From, a.Through})
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run reads the queued runs and hands their events on until ctx ends.
func (o *others) run(ctx context.Context, log func(msg string, args ...any)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		}
		o.mu.Lock()
		q := o.queue
		o.queue, o.last = nil, map[stream]int{}
		o.mu.Unlock()
		for _, sp := range q {
			for from := sp.from; from < sp.through && ctx.Err() == nil; {
				evs, err := o.st.Events(sp.s.site, sp.s.door, sp.s.epoch, from, int(min(sp.through-from, uint64(o.page))))
				if err != nil || len(evs) == 0 {
					o.errors.Add(1)
					o.missed.Add(sp.through - from)
					log("ingest: read another replica's events", "door", sp.s.site+"/"+sp.s.door, "err", err)
					break
				}
				from = evs[len(evs)-1].Seq
				o.followed.Add(uint64(len(evs)))
				o.fn(evs)
			}
		}
	}
}
