package hub

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/wire"
)

// Door is what the hub knows of one door now.
type Door struct {
	Site         string         `json:"site"`
	Door         string         `json:"door"`
	Availability string         `json:"availability"` // online, offline, or unknown before the door said
	LastSeen     time.Time      `json:"last_seen,omitzero"`
	Status       *wire.Status   `json:"status,omitempty"`
	LastEvent    wire.EventType `json:"last_event,omitempty"` // type of the last event stored
	LastEventAt  time.Time      `json:"last_event_at,omitzero"`
	// Gaps are the door's streams stalled before seqs that did not come
	// (ingest.Gap): an alarm, until the seqs come or an operator accepts
	// them as lost (kunci door gap).
	Gaps []ingest.Gap `json:"gaps,omitempty"`
	// Lost are the runs of the door's seqs accepted as lost, as the event
	// store keeps them: for auditors.
	Lost []ingest.Lost `json:"lost,omitempty"`
}

// Update is one change the watchers see: a door's status or availability,
// or an event as it was stored.
type Update struct {
	// Kind: status, availability, event, gap (the door's Gaps or Lost
	// changed), alarm (an alarm opened, cleared or was acknowledged:
	// Alarm and Change), lagged; the API's watch stream
	// adds state (each door's state first) and beat (every 15 s when idle).
	Kind  string      `json:"kind"`
	Site  string      `json:"site,omitempty"`
	Door  string      `json:"door,omitempty"`
	State *Door       `json:"state,omitempty"`
	Event *wire.Event `json:"event,omitempty"`
	// Alarm and Change are an alarm's record after the change (Kind
	// alarm).
	Alarm  *alarm.Alarm `json:"alarm,omitempty"`
	Change alarm.Change `json:"change,omitempty"`
	// Missed counts the updates a slow watcher lost before this one
	// (Kind lagged).
	Missed uint64 `json:"missed,omitempty"`
}

// watchDepth is how many updates wait for one watcher; a watcher further
// behind loses the oldest and is told how many with a lagged update.
const watchDepth = 256

type watcher struct {
	ch     chan Update
	missed uint64
}

// live is the doors' state and the watchers.
type live struct {
	mu       sync.Mutex
	doors    map[doorID]*Door
	last     map[doorID]streamPos // of each door's LastEvent
	watchers map[*watcher]struct{}
}

type doorID struct{ site, door string }

// streamPos is an event's place in its door's streams.
type streamPos struct {
	epoch string
	seq   uint64
}

func newLive() *live {
	return &live{doors: map[doorID]*Door{}, last: map[doorID]streamPos{}, watchers: map[*watcher]struct{}{}}
}

// door returns the state of site/door, made on first use. mu held.
func (l *live) door(site, door string) *Door {
	k := doorID{site, door}
	d := l.doors[k]
	if d == nil {
		d = &Door{Site: site, Door: door, Availability: "unknown"}
		l.doors[k] = d
	}
	return d
}

// known makes a configured door known before it says anything.
func (l *live) known(site, door string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.door(site, door)
}

func (l *live) status(site, door string, s wire.Status, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.door(site, door)
	d.Status, d.LastSeen = &s, at
	l.send(Update{Kind: "status", Site: site, Door: door, State: copyDoor(d)})
}

func (l *live) availability(site, door, v string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.door(site, door)
	d.Availability = v
	if v == wire.Online {
		d.LastSeen = at
	}
	l.send(Update{Kind: "availability", Site: site, Door: door, State: copyDoor(d)})
}

// events takes stored events into the doors' state and hands each to the
// watchers. A door's LastEvent is the one furthest in its epoch's seqs:
// on a store that hub replicas share, this replica's own commits come at
// once and the others' are read back after theirs (ingest's OnOthers),
// so an earlier seq may come after a later one. An event of another
// epoch (the door's store made again) is taken as it comes.
func (l *live) events(evs []wire.Event, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range evs {
		e := evs[i]
		d := l.door(e.Site, e.Door)
		k := doorID{e.Site, e.Door}
		if last, ok := l.last[k]; !ok || last.epoch != e.Epoch || e.Seq > last.seq {
			l.last[k] = streamPos{e.Epoch, e.Seq}
			d.LastEvent, d.LastEventAt = e.Type, e.At
		}
		if at.After(d.LastSeen) && !e.Replayed {
			d.LastSeen = at
		}
		l.send(Update{Kind: "event", Site: e.Site, Door: e.Door, Event: &e})
	}
}

// gaps sets the door's gaps reported now.
func (l *live) gaps(site, door string, gs []ingest.Gap) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.door(site, door)
	d.Gaps = slices.Clone(gs)
	l.send(Update{Kind: "gap", Site: site, Door: door, State: copyDoor(d)})
}

// lost adds runs accepted as lost to their doors.
func (l *live) lost(runs []ingest.Lost, send bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range runs {
		d := l.door(r.Site, r.Door)
		d.Lost = append(d.Lost, r)
		if send {
			l.send(Update{Kind: "gap", Site: r.Site, Door: r.Door, State: copyDoor(d)})
		}
	}
}

// send gives u to every watcher without waiting. mu held.
func (l *live) send(u Update) {
	for w := range l.watchers {
		select {
		case w.ch <- u:
		default:
			// the oldest goes: a watcher sees the latest state
			select {
			case <-w.ch:
				w.missed++
			default:
			}
			select {
			case w.ch <- u:
			default:
				w.missed++
			}
		}
	}
}

// watching returns how many watchers are open.
func (l *live) watching() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watchers)
}

func (l *live) list() []Door {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Door, 0, len(l.doors))
	for _, d := range l.doors {
		out = append(out, *copyDoor(d))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Site != out[j].Site {
			return out[i].Site < out[j].Site
		}
		return out[i].Door < out[j].Door
	})
	return out
}

func copyDoor(d *Door) *Door {
	c := *d
	c.Gaps, c.Lost = slices.Clone(d.Gaps), slices.Clone(d.Lost)
	if d.Status != nil {
		s := *d.Status
		s.Occupancy = slices.Clone(s.Occupancy)
		s.Alarms = slices.Clone(s.Alarms)
		s.Racks = maps.Clone(s.Racks)
		c.Status = &s
	}
	return &c
}

func decodeStatus(b []byte) (wire.Status, error) {
	var s wire.Status
	err := json.Unmarshal(b, &s)
	return s, err
}
