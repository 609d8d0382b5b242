package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// Publisher is the hub's MQTT link as the ingest needs it: for the acks.
type Publisher interface {
	Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token
}

var _ Publisher = (*mqttlink.Link)(nil)

// DefaultClientID is the hub's fixed client id: the broker keeps its
// session, and queues the doors' events for it while it is away.
const DefaultClientID = "kunci-hub-ingest"

// HubMaxBackoff is the hub link's longest wait between connection attempts
// unless the options set one.
const HubMaxBackoff = 2 * time.Second

// LinkOptions returns o set up for the ingest's link: a persistent session
// (clean session off) under a fixed client id (DefaultClientID unless o
// names one) subscribed QoS 1 to every door's events under prefix, or to
// the shared subscription of them with shared. Unless o sets one, the
// link's MaxBackoff is HubMaxBackoff. The link waits on a full queue
// (Backpressure): the broker holds the rest.
//
// Hub replicas sharing the load (shared) need distinct client ids and a
// store they share, and their sessions are clean: Mosquitto deals a shared
// subscription's messages in turn to every member's session, a
// disconnected persistent one too, so a replica that died and stayed down
// would take every other event of every door, the doors' resends
// included, and the others would hold the rest behind gaps for as long as
// it stays down (TestUplinkSharedReplicaLost). With clean sessions the
// broker forgets a replica when its connection ends and deals everything
// to the live ones; what it had taken and not stored comes again from the
// doors, which hold it until acked (at their ack timeout). The price: with
// every replica down at once the broker keeps nothing for them, and the
// doors publish their backlog again once one is back (outbox's probe).
func LinkOptions(o mqttlink.Options, prefix string, shared bool) mqttlink.Options {
	if prefix == "" {
		prefix = topic.DefaultPrefix
	}
	o.CleanSession = shared
	// every event in order, the broker holding the rest while the store
	// catches up (Handle waits on a full queue too)
	o.Backpressure = true
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.MaxBackoff == 0 {
		// the hub is one client, no herd to spread: every door's backlog
		// waits for it after a broker restart
		o.MaxBackoff = HubMaxBackoff
	}
	subs := maps.Clone(o.Subscriptions)
	if subs == nil {
		subs = map[string]byte{}
	}
	if shared {
		subs[topic.SharedAllEvents(prefix)] = 1
	} else {
		subs[topic.AllEvents(prefix)] = 1
	}
	o.Subscriptions = subs
	return o
}

// Defaults of the bounds on what the ingest holds (Options).
const (
	DefaultMaxHeld        = 4096
	DefaultMaxHeldBytes   = 4 << 20
	DefaultMaxHeldEpochs  = 2
	DefaultMaxHeldTotal   = 32 << 20
	DefaultMaxHeldStreams = 256
	DefaultHeldIdle       = 2 * time.Minute
	DefaultStallAfter     = 40 * time.Second
	DefaultGapIdle        = 15 * time.Minute
)

// Options configure an Ingest. Zero values take the defaults noted.
type Options struct {
	Prefix string // topic prefix (topic.DefaultPrefix)
	// Signer signs every ack (required): a door deletes its events only
	// on an ack signed by a hub key it trusts.
	Signer       *permit.Signer
	MaxEventSize int // bytes of one event payload (DefaultMaxEventSize)
	// MaxHeld bounds the events held per stream (door and epoch) while a
	// gap before them is open (DefaultMaxHeld); beyond it the highest are
	// dropped.
	MaxHeld int
	// MaxHeldBytes bounds the bytes held per door, over its epochs
	// (DefaultMaxHeldBytes, 4 MiB: 4096 events of a few hundred bytes,
	// decoded and encoded). A held event counts its JSON, its decoded
	// strings and a fixed overhead (heldOverhead).
	MaxHeldBytes int
	// MaxHeldEpochs bounds a door's streams with a gap open: those whose
	// events are held and whose gap is watched (DefaultMaxHeldEpochs: the
	// door's epoch and the one before it). An event that opens a gap in
	// one more of the door's epochs is dropped.
	MaxHeldEpochs int
	// MaxHeldTotal bounds the bytes held over every door
	// (DefaultMaxHeldTotal, 32 MiB), MaxHeldStreams the streams with a gap
	// open (DefaultMaxHeldStreams).
	MaxHeldTotal   int
	MaxHeldStreams int
	// HeldIdle: the events held of a stream that sent nothing for this
	// long are dropped (DefaultHeldIdle, 2 min). The agent publishes again
	// from its ack whenever the ack does not move for its ack timeout
	// (10 s, doubling up to 5 min), so it sends them again anyway; its
	// first three resends come within HeldIdle.
	HeldIdle time.Duration
	// StallAfter: a gap open this long is reported, by Gaps, OnGaps and
	// the log (DefaultStallAfter, 40 s: the agent's first resend after
	// 10 s, and 30 s more).
	StallAfter time.Duration
	// GapIdle: a gap whose stream sent nothing for this long is forgotten
	// (DefaultGapIdle, 15 min: three of the agent's longest ack waits).
	GapIdle time.Duration
	// MaxBatch bounds the events stored in one transaction (1024).
	MaxBatch int
	// AckInterval is the shortest time between two acks to one door
	// while events keep coming (50 ms); when the flow pauses, the acks
	// owed go at once. An ack that could not be published is tried again
	// after AckInterval.
	AckInterval time.Duration
	// AckLinger is how long nothing must arrive before the flow counts as
	// paused (5 ms). An empty queue alone is no pause: a hub that keeps up
	// with a drain empties its queue after nearly every commit.
	AckLinger time.Duration
	// QueueDepth is how many decoded events wait between Handle and Run
	// (1024); a full queue holds the link's reader back.
	QueueDepth int
	// OnStored, if set, is called from Run after every commit with the
	// events it stored, each door's in seq order, before they are counted
	// in Stats.Stored and acked.
	// It must not block for long: the ingest waits for it.
	OnStored func([]Event)
	// OnOthers, if set, is called with the events the other hub replicas
	// sharing a store (Watcher) committed, each commit's in seq order,
	// read back from the store in a goroutine of their own after their
	// notification (each once, unless missed: see
	// kunci_hub_events_follow_missed_total): the hub's live view of every
	// door. It must not block for long.
	OnOthers func([]Event)
	// OnGaps, if set, is called from Run when the gaps reported of a door
	// change, with the door's gaps now (none: its gaps closed). It must
	// not block for long.
	OnGaps func(site, door string, gaps []Gap)
	// Metrics is the hub's registry, for /metrics; nil: one of its own.
	Metrics *metrics.Registry
	Log     *slog.Logger
}

// Stats counts what the ingest did and what it refused.
type Stats struct {
	Received    uint64 // valid events taken from the link
	Malformed   uint64 // payloads refused: bad JSON, size, topic, id
	Clipped     uint64 // events stored with a member cut to its bound
	Stored      uint64 // events committed, each once
	Duplicates  uint64 // events already stored (or held), acked again
	Held        uint64 // events that came before a gap had filled
	Dropped     uint64 // held events dropped, for a bound or idle; the agent sends them again
	Commits     uint64 // transactions
	StoreErrors uint64 // failed reads or commits; their events are not acked
	Conflicts   uint64 // commits refused because another hub replica stored some of them first; sorted again
	Acks        uint64 // acks published
	AckErrors   uint64 // acks that could not be signed or published
	Lost        uint64 // seqs accepted as lost (AcceptLost)
	HeldBytes   uint64 // bytes held now, over every door
	HeldEpochs  uint64 // streams with a gap open now, over every door
	Gaps        uint64 // gaps reported now (Gaps)
}

// DropReason says why held events were dropped: the label of
// kunci_hub_events_dropped_total.
type DropReason string

// Reasons to drop an event held, or one that would be.
const (
	DropHeldLimit  DropReason = "held_limit"  // the stream holds MaxHeld
	DropDoorBytes  DropReason = "door_bytes"  // the door holds MaxHeldBytes
	DropTotalBytes DropReason = "total_bytes" // the hub holds MaxHeldTotal
	DropEpochs     DropReason = "epochs"      // the door has MaxHeldEpochs gaps open, or the hub MaxHeldStreams
	DropIdle       DropReason = "idle"        // the stream sent nothing for HeldIdle
)

var dropReasons = []DropReason{DropHeldLimit, DropDoorBytes, DropTotalBytes, DropEpochs, DropIdle}

// Gap is a stalled stream: events of a door's epoch came beyond seqs that
// did not come, for StallAfter at least. From is the seq after the last
// one stored (1 for an epoch the hub never stored), To the one before the
// lowest that came beyond.
type Gap struct {
	Site  string    `json:"site"`
	Door  string    `json:"door"`
	Epoch string    `json:"epoch"`
	From  uint64    `json:"from"`
	To    uint64    `json:"to"`
	Since time.Time `json:"since"` // open since
}

// LostRequest asks the ingest to accept seqs of a stalled stream as lost
// (AcceptLost): those from the stream's through+1 to Through.
type LostRequest struct {
	Site, Door, Epoch string
	Through           uint64
	By, Reason        string
}

// valid is a decoded event and the JSON the hub stores for it.
type valid struct {
	Event
	raw []byte
}

// heldOverhead is what a held event costs besides its strings and JSON:
// the Event, the map entry, the slice headers.
const heldOverhead = 384

// cost is the bytes v takes held.
func (v *valid) cost() int {
	n := heldOverhead + len(v.raw) + len(v.ID) + len(v.Epoch) + len(v.Site) + len(v.Door) + len(v.Type) + len(v.Boot) +
		len(v.Reader) + len(v.Permit) + len(v.Escort) + len(v.Reason) + len(v.Rack) + len(v.Staff) + len(v.Card) +
		len(v.Command) + len(v.Detail)
	for _, r := range v.Racks {
		n += 16 + len(r)
	}
	return n
}

type flow struct {
	through   uint64           // committed
	held      map[uint64]valid // seq > through+1, waiting for the gap
	heldBytes int
	top       uint64 // the highest seq held, 0 with none
	gap       *gap   // nil: no gap open
	seen      time.Time
	lastAck   time.Time
}

// gap is a stream's open gap: events came beyond through+1.
type gap struct {
	since    time.Time
	lowest   uint64 // the lowest seq that came beyond the gap since it opened
	reported bool
}

// holder is what one door holds.
type holder struct{ bytes, streams int }

// lostReq is an AcceptLost call waiting for Run.
type lostReq struct {
	LostRequest
	answer chan lostAnswer // buffered: Run never waits for the caller
}

type lostAnswer struct {
	lost Lost
	err  error
}

// Ingest takes the doors' events from the link and stores them. Handle is
// the link's message handler; Run does the storing and acking.
type Ingest struct {
	st      EventStore
	o       Options
	queue   chan valid
	reqs    chan lostReq
	stopped chan struct{}
	// advances are the streams moved on in a store shared with other hub
	// replicas (Watcher); resync, that some were missed
	advances chan Advance
	resync   atomic.Bool
	others   *others // nil: no OnOthers, or a store of this hub alone
	puller   Puller  // the store, when its commits store the other replicas' held events

	received, malformed, clipped, stored, duplicates, held *metrics.Counter
	commits, storeErrors, acks, ackErrors, lost, conflicts *metrics.Counter
	pulled, holdErrors                                     *metrics.Counter
	dropped                                                map[DropReason]*metrics.Counter
	heldBytesNow, heldEpochsNow, gapsNow                   atomic.Int64

	gapsMu sync.Mutex
	gaps   map[doorID][]Gap // the reported ones, by door

	// Run's own
	retrying   bool // a commit that raced another replica's is sorted again, once
	flows      map[stream]*flow
	due        map[stream]bool // acks owed
	holders    map[doorID]*holder
	gapped     map[stream]*flow // the flows with a gap open
	heldBytes  int
	heldEpochs int
	dirty      map[doorID]bool // doors whose reported gaps changed
	unlogged   map[DropReason]uint64
	dropLogged time.Time
}

type doorID struct{ site, door string }

// flowCache is how many streams' state Run keeps before it forgets those
// with nothing held, no gap and no ack owed (their through is read again
// from the store): a door's credential making up epochs must not grow it.
const flowCache = 4096

// dropLogEvery is the shortest time between two log lines of drops.
const dropLogEvery = time.Minute

// New prepares an ingest into st.
func New(st EventStore, o Options) (*Ingest, error) {
	if st == nil || o.Signer == nil {
		return nil, errors.New("ingest: a store and a signer (for the acks) are required")
	}
	if o.Prefix == "" {
		o.Prefix = topic.DefaultPrefix
	}
	positive := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	positive(&o.MaxEventSize, DefaultMaxEventSize)
	positive(&o.MaxHeld, DefaultMaxHeld)
	positive(&o.MaxHeldBytes, DefaultMaxHeldBytes)
	positive(&o.MaxHeldEpochs, DefaultMaxHeldEpochs)
	positive(&o.MaxHeldTotal, DefaultMaxHeldTotal)
	positive(&o.MaxHeldStreams, DefaultMaxHeldStreams)
	positive(&o.MaxBatch, 1024)
	positive(&o.QueueDepth, 1024)
	after := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	after(&o.HeldIdle, DefaultHeldIdle)
	after(&o.StallAfter, DefaultStallAfter)
	after(&o.GapIdle, DefaultGapIdle)
	after(&o.AckInterval, 50*time.Millisecond)
	after(&o.AckLinger, 5*time.Millisecond)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	r := o.Metrics
	in := &Ingest{st: st, o: o, queue: make(chan valid, o.QueueDepth), reqs: make(chan lostReq), stopped: make(chan struct{}),
		advances: make(chan Advance, advanceDepth),
		gaps:     map[doorID][]Gap{},
		flows:    map[stream]*flow{}, due: map[stream]bool{}, holders: map[doorID]*holder{}, gapped: map[stream]*flow{},
		dirty: map[doorID]bool{}, unlogged: map[DropReason]uint64{}, dropped: map[DropReason]*metrics.Counter{},
		received: r.Counter("kunci_hub_events_received_total", "Valid events taken from the doors' events topics."),
		malformed: r.Counter("kunci_hub_events_malformed_total",
			"Event payloads refused: bad JSON, too large, wrong topic or id."),
		clipped: r.Counter("kunci_hub_events_clipped_total",
			"Events taken with a member cut to its bound (detail 1 KiB, other members 128 bytes, 64 racks)."),
		stored: r.Counter("kunci_hub_events_stored_total", "Events committed to the hub's event store, each once."),
		duplicates: r.Counter("kunci_hub_events_duplicates_total",
			"Events received again that were stored (or held) already; acked again."),
		held:    r.Counter("kunci_hub_events_held_total", "Events that came before a gap in their door's seq had filled."),
		commits: r.Counter("kunci_hub_events_commits_total", "Transactions of the event store."),
		storeErrors: r.Counter("kunci_hub_events_store_errors_total",
			"Reads and commits of the event store that failed; their events are not acked."),
		conflicts: r.Counter("kunci_hub_events_commit_conflicts_total",
			"Commits refused because another hub replica sharing the store had stored some of their events first; sorted again against the store."),
		acks:      r.Counter("kunci_hub_acks_total", "Signed acks published to the doors."),
		ackErrors: r.Counter("kunci_hub_ack_errors_total", "Acks that could not be signed or published."),
		lost: r.Counter("kunci_hub_events_lost_total",
			"Seqs of the doors' streams that an operator accepted as lost (a lost hub store); each run is kept in the store."),
	}
	drops := metrics.NewCounterVec[DropReason](r, "kunci_hub_events_dropped_total",
		"Events held, or that would be, dropped for a bound (held_limit, door_bytes, total_bytes, epochs) or idle; their door sends them again.",
		"reason")
	for _, d := range dropReasons {
		in.dropped[d] = drops.With(d)
	}
	r.GaugeFunc("kunci_hub_events_held_bytes", "Bytes of events held before a gap, over every door.",
		func() float64 { return float64(in.heldBytesNow.Load()) })
	r.GaugeFunc("kunci_hub_events_held_streams", "Streams (door and epoch) with a gap open, over every door.",
		func() float64 { return float64(in.heldEpochsNow.Load()) })
	r.GaugeFunc("kunci_hub_event_gaps", "Gaps reported: streams stalled before seqs that did not come.",
		func() float64 { return float64(in.gapsNow.Load()) })
	in.pulled = r.Counter("kunci_hub_events_pulled_total",
		"Events another hub replica on the same PostgreSQL database held, stored by this replica's commit of the seqs before them (and acked by it).")
	in.holdErrors = r.Counter("kunci_hub_events_hold_errors_total",
		"Copies of held events that could not be written for the other hub replicas (each is held still, and the door sends it again).")
	if p, ok := st.(Puller); ok {
		in.puller = p
	}
	others := newOthers(st, o.OnOthers, o.MaxBatch, r) // its counters served, 0 on a store of this hub alone
	if _, ok := st.(Watcher); ok && o.OnOthers != nil {
		in.others = others
	}
	return in, nil
}

// Stats returns the counters.
func (in *Ingest) Stats() Stats {
	var dropped uint64
	for _, c := range in.dropped {
		dropped += c.Value()
	}
	return Stats{
		Received: in.received.Value(), Malformed: in.malformed.Value(), Clipped: in.clipped.Value(), Stored: in.stored.Value(),
		Duplicates: in.duplicates.Value(), Held: in.held.Value(), Dropped: dropped,
		Commits: in.commits.Value(), StoreErrors: in.storeErrors.Value(), Acks: in.acks.Value(),
		AckErrors: in.ackErrors.Value(), Lost: in.lost.Value(), Conflicts: in.conflicts.Value(),
		HeldBytes: uint64(in.heldBytesNow.Load()), HeldEpochs: uint64(in.heldEpochsNow.Load()), Gaps: uint64(in.gapsNow.Load()),
	}
}

// Gaps returns the gaps reported now: streams stalled for StallAfter at
// least, by site, door and epoch.
func (in *Ingest) Gaps() []Gap {
	in.gapsMu.Lock()
	defer in.gapsMu.Unlock()
	var out []Gap
	for _, gs := range in.gaps {
		out = append(out, gs...)
	}
	slices.SortFunc(out, func(a, b Gap) int {
		return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Door, b.Door), cmp.Compare(a.Epoch, b.Epoch))
	})
	return out
}

// Handle takes one message from the link: a malformed one is counted,
// logged and dropped; a valid event is queued for Run. It waits while the
// queue is full (the broker holds the rest meanwhile) and drops the event
// once Run has ended: unacked, it comes again.
func (in *Ingest) Handle(m mqttlink.Message) {
	e, raw, cut, err := decodeEvent(in.o.Prefix, m.Topic, m.Payload, in.o.MaxEventSize)
	if err != nil {
		in.malformed.Add(1)
		in.o.Log.Warn("ingest: event dropped", "topic", m.Topic, "bytes", len(m.Payload), "err", err)
		return
	}
	in.received.Add(1)
	if cut {
		in.clipped.Add(1)
		in.o.Log.Debug("ingest: event members cut to their bounds", "id", e.ID, "bytes", len(m.Payload))
	}
	select {
	case in.queue <- valid{e, raw}:
	case <-in.stopped:
	}
}

// AcceptLost accepts the seqs of a stalled stream from its through+1 to
// r.Through as lost: the store keeps a record of it (Store.Lost), the
// stream's through moves to r.Through, and the events held beyond are
// stored and acked. It refuses (ErrNoGap) a stream with no gap open, and
// (ErrLostRange) a Through that is not in the gap: the seqs that came are
// never accepted as lost. It waits for Run.
func (in *Ingest) AcceptLost(ctx context.Context, r LostRequest) (Lost, error) {
	q := lostReq{r, make(chan lostAnswer, 1)}
	select {
	case in.reqs <- q:
	case <-in.stopped:
		return Lost{}, errors.New("ingest: stopped")
	case <-ctx.Done():
		return Lost{}, ctx.Err()
	}
	select {
	case a := <-q.answer:
		return a.lost, a.err
	case <-ctx.Done():
		return Lost{}, ctx.Err()
	}
}

// Run stores the queued events and acks them until ctx ends, publishing
// the acks through pub. It runs once.
func (in *Ingest) Run(ctx context.Context, pub Publisher) error {
	defer close(in.stopped)
	if w, ok := in.st.(Watcher); ok {
		wctx, stop := context.WithCancel(ctx)
		var watching sync.WaitGroup
		defer func() {
			stop()
			watching.Wait()
		}()
		if in.others != nil {
			watching.Go(func() { in.others.run(wctx, in.o.Log.Warn) })
		}
		watching.Go(func() { w.Watch(wctx, in.advanced) })
	}
	// the acks owed go when nothing arrived for AckLinger after a batch
	// (the flow paused), and again after AckInterval when they could not
	// be published (the link not up yet as the broker hands over the
	// session's queue); while events keep coming, at most one per door
	// every AckInterval
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// the held events, gaps and drops are looked at a few times per
	// StallAfter and HeldIdle
	sweep := time.NewTicker(min(in.o.StallAfter, in.o.HeldIdle, in.o.GapIdle) / 4)
	defer sweep.Stop()
	lingering := false // a batch was processed and nothing arrived since
	for {
		var timerC <-chan time.Time
		if len(in.due) > 0 {
			d := in.o.AckInterval
			if lingering {
				d = in.o.AckLinger
			}
			timer.Reset(d)
			timerC = timer.C
		}
		batch := make([]valid, 0, 64)
		select {
		case <-ctx.Done():
			return nil
		case <-timerC:
			lingering = false
			in.flushAcks(pub, true)
			continue
		case <-sweep.C:
			// a resync that found the advances' queue full waits for this
			in.commit(in.catchUp(Advance{}, nil, time.Now()), time.Now())
			in.sweep(time.Now())
			in.publishGaps()
			continue
		case a := <-in.advances:
			// every advance waiting, and what they let through in one commit
			now := time.Now()
			puts := in.catchUp(a, nil, now)
		advances:
			for len(puts) < in.o.MaxBatch {
				select {
				case a := <-in.advances:
					puts = in.catchUp(a, puts, now)
				default:
					break advances
				}
			}
			in.commit(puts, now)
			in.publishGaps()
			in.flushAcks(pub, false)
			continue
		case q := <-in.reqs:
			l, err := in.acceptLost(q.LostRequest, time.Now())
			in.publishGaps() // before the answer: the caller sees the gap gone
			q.answer <- lostAnswer{l, err}
			in.flushAcks(pub, true)
			continue
		case e := <-in.queue:
			batch = append(batch, e)
		}
	drain:
		for len(batch) < in.o.MaxBatch {
			select {
			case e := <-in.queue:
				batch = append(batch, e)
			default:
				break drain
			}
		}
		in.process(batch, time.Now())
		in.publishGaps()
		in.flushAcks(pub, false)
		lingering = true
	}
}

// flowOf returns the state of a stream, reading its through from the
// store the first time.
func (in *Ingest) flowOf(s stream) (*flow, error) {
	if f := in.flows[s]; f != nil {
		return f, nil
	}
	through, err := in.st.Through(s.site, s.door, s.epoch)
	if err != nil {
		return nil, err
	}
	f := &flow{through: through, held: map[uint64]valid{}}
	in.flows[s] = f
	return f, nil
}

// readFailure is a stream whose through a batch could not read, and how
// many of the batch's events it had.
type readFailure struct {
	err    error
	events int
}

// process sorts a batch into duplicates, events to store now and events
// to hold, commits the ones to store in one transaction and marks the
// acks owed.
func (in *Ingest) process(batch []valid, now time.Time) {
	var puts []Put
	var held []Put          // held now, their copy for the other replicas (Puller)
	idx := map[stream]int{} // stream -> index in puts
	// a stream whose through could not be read is not read again in the
	// batch: a database that is down costs one try and one log line a
	// stream a batch, not one an event; nothing of it is acked
	var failed map[stream]*readFailure
	for _, e := range batch {
		s := stream{e.Site, e.Door, e.Epoch}
		if r := failed[s]; r != nil {
			r.events++
			continue
		}
		f, err := in.flowOf(s)
		if err != nil {
			in.storeErrors.Add(1)
			if failed == nil {
				failed = map[stream]*readFailure{}
			}
			failed[s] = &readFailure{err: err, events: 1}
			continue
		}
		f.seen = now
		i, ok := idx[s]
		if !ok {
			i = len(puts)
			idx[s] = i
			puts = append(puts, Put{Site: s.site, Door: s.door, Epoch: s.epoch})
		}
		staged := f.through + uint64(len(puts[i].Events))
		switch {
		case e.Seq <= staged:
			in.duplicates.Add(1)
			if f.through > 0 {
				in.due[s] = true
			}
		case e.Seq == staged+1:
			puts[i].Events = append(puts[i].Events, e.Event)
			puts[i].Raw = append(puts[i].Raw, e.raw)
			for next := e.Seq + 1; ; next++ {
				h, ok := f.held[next]
				if !ok {
					break
				}
				in.unhold(s, f, next)
				puts[i].Events = append(puts[i].Events, h.Event)
				puts[i].Raw = append(puts[i].Raw, h.raw)
			}
		default:
			if in.hold(s, f, e, now) && in.puller != nil {
				held = appendPut(held, s, e)
			}
		}
	}
	for s, r := range failed {
		in.o.Log.Error("ingest: read through", "door", s.site+"/"+s.door, "events", r.events, "err", r.err)
	}
	if len(held) > 0 {
		// before this commit: whichever replica stores the seqs before
		// them finds them
		if err := in.puller.Hold(held); err != nil {
			in.holdErrors.Add(1)
			in.o.Log.Debug("ingest: write the held events' copy", "err", err)
		}
	}
	in.commit(puts, now)
	if len(in.flows) > flowCache {
		for s, f := range in.flows {
			if f.gap == nil && len(f.held) == 0 && !in.due[s] {
				delete(in.flows, s)
			}
		}
	}
}

// appendPut appends e to the put of stream s in puts, the last one if it
// is s's, else a new one.
func appendPut(puts []Put, s stream, e valid) []Put {
	if n := len(puts); n == 0 || puts[n-1].stream() != s {
		puts = append(puts, Put{Site: s.site, Door: s.door, Epoch: s.epoch})
	}
	p := &puts[len(puts)-1]
	p.Events, p.Raw = append(p.Events, e.Event), append(p.Raw, e.raw)
	return puts
}

// commit stores puts, then moves their streams on.
func (in *Ingest) commit(puts []Put, now time.Time) {
	n := 0
	for _, p := range puts {
		n += len(p.Events)
	}
	if n == 0 {
		return
	}
	var pulled []Put
	var err error
	if in.puller != nil {
		pulled, err = in.puller.CommitPulled(puts)
	} else {
		err = in.st.Commit(puts)
	}
	if err != nil {
		for _, p := range puts {
			in.forget(p.stream()) // read through again from the store
		}
		if errors.Is(err, ErrOrder) && !in.retrying {
			// another replica stored some of them first: sorted again
			// against the store's through, they are duplicates or follow
			in.conflicts.Add(1)
			in.o.Log.Debug("ingest: commit raced another hub's", "events", n, "err", err)
			var again []valid
			for _, p := range puts {
				for i, e := range p.Events {
					v := valid{Event: e}
					if i < len(p.Raw) {
						v.raw = p.Raw[i] // nil or missing: Commit encodes it
					}
					again = append(again, v)
				}
			}
			in.retrying = true
			in.process(again, now)
			in.retrying = false
			return
		}
		// nothing is acked: the agent sends these again
		in.storeErrors.Add(1)
		in.o.Log.Error("ingest: commit", "events", n, "err", err)
		return
	}
	// the other replicas' held events this commit stored: its own, after
	// their stream's put
	for _, q := range pulled {
		if len(q.Events) == 0 {
			continue
		}
		for i := range puts {
			if puts[i].stream() == q.stream() {
				puts[i].Events = append(slices.Clip(puts[i].Events), q.Events...)
				n += len(q.Events)
				in.pulled.Add(uint64(len(q.Events)))
				break
			}
		}
	}
	// OnStored before the counters: whoever sees Stored rise sees the
	// events applied too (the guest book)
	if in.o.OnStored != nil {
		evs := make([]Event, 0, n)
		for _, p := range puts {
			evs = append(evs, p.Events...)
		}
		in.o.OnStored(evs)
	}
	in.commits.Add(1)
	in.stored.Add(uint64(n))
	for _, p := range puts {
		if len(p.Events) > 0 {
			s := p.stream()
			f := in.flows[s]
			f.through = p.Events[len(p.Events)-1].Seq
			for seq := range f.held {
				if seq <= f.through { // held here, and stored by this commit's pull of its copy
					in.unhold(s, f, seq)
				}
			}
			in.due[s] = true
			in.moved(s, f, now)
		}
	}
}

// moved updates a stream's gap after its through moved: closed when
// filled with nothing held beyond, a new one from now when events are
// held beyond another gap, the same one, shorter, when partly filled.
func (in *Ingest) moved(s stream, f *flow, now time.Time) {
	g := f.gap
	switch {
	case g == nil:
	case f.through+1 < g.lowest:
		if g.reported {
			in.dirty[doorID{s.site, s.door}] = true
		}
	case len(f.held) == 0:
		in.closeGap(s, f)
	default:
		g.lowest = f.top
		for k := range f.held {
			g.lowest = min(g.lowest, k)
		}
		g.since = now
		if g.reported {
			g.reported = false
			in.dirty[doorID{s.site, s.door}] = true
		}
	}
}

func (in *Ingest) holder(s stream) *holder {
	k := doorID{s.site, s.door}
	h := in.holders[k]
	if h == nil {
		h = &holder{}
		in.holders[k] = h
	}
	return h
}

// hold keeps e until the gap before it fills, within the bounds: per
// stream, per door and overall. A full buffer keeps the lowest seqs: they
// are the ones needed first. It reports whether e is held.
func (in *Ingest) hold(s stream, f *flow, e valid, now time.Time) bool {
	if _, ok := f.held[e.Seq]; ok {
		in.duplicates.Add(1)
		return false
	}
	h := in.holder(s)
	if f.gap == nil {
		if h.streams >= in.o.MaxHeldEpochs || in.heldEpochs >= in.o.MaxHeldStreams {
			in.drop(DropEpochs, s, 1, now)
			in.release(s, h)
			return false
		}
		f.gap = &gap{since: now, lowest: e.Seq}
		in.gapped[s] = f
		h.streams++
		in.heldEpochs++
	}
	f.gap.lowest = min(f.gap.lowest, e.Seq)
	cost := e.cost()
	for {
		var why DropReason
		switch {
		case len(f.held) >= in.o.MaxHeld:
			why = DropHeldLimit
		case h.bytes+cost > in.o.MaxHeldBytes:
			why = DropDoorBytes
		case in.heldBytes+cost > in.o.MaxHeldTotal:
			why = DropTotalBytes
		}
		if why == "" {
			break
		}
		in.drop(why, s, 1, now)
		if f.top < e.Seq {
			in.gauges()
			return false
		}
		in.unhold(s, f, f.top)
	}
	in.held.Add(1)
	f.held[e.Seq] = e
	f.heldBytes += cost
	h.bytes += cost
	in.heldBytes += cost
	f.top = max(f.top, e.Seq)
	in.gauges()
	return true
}

// unhold takes seq out of what f holds.
func (in *Ingest) unhold(s stream, f *flow, seq uint64) {
	v, ok := f.held[seq]
	if !ok {
		return
	}
	delete(f.held, seq)
	c := v.cost()
	f.heldBytes -= c
	in.heldBytes -= c
	in.holder(s).bytes -= c
	if seq == f.top {
		f.top = 0
		for k := range f.held {
			f.top = max(f.top, k)
		}
	}
	in.gauges()
}

// dropHeld drops every event f holds, for why.
func (in *Ingest) dropHeld(s stream, f *flow, why DropReason, now time.Time) {
	n := uint64(len(f.held))
	if n == 0 {
		return
	}
	h := in.holder(s)
	h.bytes -= f.heldBytes
	in.heldBytes -= f.heldBytes
	f.held, f.heldBytes, f.top = map[uint64]valid{}, 0, 0
	in.drop(why, s, n, now)
	in.gauges()
}

// closeGap closes f's gap: filled, forgotten, or its events accepted as
// lost. Whatever f still holds is dropped.
func (in *Ingest) closeGap(s stream, f *flow) {
	if f.gap == nil {
		return
	}
	in.dropHeld(s, f, DropIdle, time.Now())
	if f.gap.reported {
		in.dirty[doorID{s.site, s.door}] = true
	}
	f.gap = nil
	delete(in.gapped, s)
	h := in.holder(s)
	h.streams--
	in.heldEpochs--
	in.release(s, h)
	in.gauges()
}

// release forgets a door's holder that holds nothing.
func (in *Ingest) release(s stream, h *holder) {
	if h.streams == 0 && h.bytes == 0 {
		delete(in.holders, doorID{s.site, s.door})
	}
}

// forget drops what Run knows of a stream: its through is read again
// from the store.
func (in *Ingest) forget(s stream) {
	if f := in.flows[s]; f != nil {
		in.closeGap(s, f)
		in.dropHeld(s, f, DropIdle, time.Now())
	}
	delete(in.flows, s)
}

func (in *Ingest) gauges() {
	in.heldBytesNow.Store(int64(in.heldBytes))
	in.heldEpochsNow.Store(int64(in.heldEpochs))
}

// drop counts n events dropped for why, and logs the drops at most every
// dropLogEvery.
func (in *Ingest) drop(why DropReason, s stream, n uint64, now time.Time) {
	in.dropped[why].Add(n)
	in.unlogged[why] += n
	if now.Sub(in.dropLogged) >= dropLogEvery {
		in.logDrops(s, now)
	}
}

func (in *Ingest) logDrops(s stream, now time.Time) {
	if len(in.unlogged) == 0 {
		return
	}
	args := []any{"last_door", s.site + "/" + s.door, "last_epoch", s.epoch}
	for _, r := range dropReasons {
		if n := in.unlogged[r]; n > 0 {
			args = append(args, string(r), n)
		}
	}
	if !in.dropLogged.IsZero() {
		args = append(args, "since", in.dropLogged)
	}
	in.o.Log.Warn("ingest: held events dropped; their doors send them again", args...)
	clear(in.unlogged)
	in.dropLogged = now
}

// sweep drops the held events of idle streams, forgets idle gaps and
// flows, reports the gaps open for StallAfter, and logs the drops not
// logged yet.
func (in *Ingest) sweep(now time.Time) {
	for s, f := range in.gapped {
		idle := now.Sub(f.seen)
		switch {
		case idle >= in.o.GapIdle:
			in.o.Log.Info("ingest: gap forgotten, its stream sent nothing", "door", s.site+"/"+s.door, "epoch", s.epoch,
				"from", f.through+1, "to", f.gap.lowest-1, "idle", idle.Round(time.Second))
			in.closeGap(s, f)
			continue
		case idle >= in.o.HeldIdle:
			in.dropHeld(s, f, DropIdle, now)
		}
		if !f.gap.reported && now.Sub(f.gap.since) >= in.o.StallAfter {
			f.gap.reported = true
			in.dirty[doorID{s.site, s.door}] = true
			in.o.Log.Warn("ingest: stream stalled, seqs missing", "door", s.site+"/"+s.door, "epoch", s.epoch,
				"from", f.through+1, "to", f.gap.lowest-1, "since", f.gap.since, "held", len(f.held),
				"hint", "if the door no longer has them (the hub's store was lost), accept them as lost: kunci door gap")
		}
	}
	for s, f := range in.flows {
		if f.gap == nil && len(f.held) == 0 && !in.due[s] && now.Sub(f.seen) >= in.o.HeldIdle {
			delete(in.flows, s)
		}
	}
	if len(in.unlogged) > 0 && now.Sub(in.dropLogged) >= dropLogEvery {
		in.logDrops(stream{}, now)
	}
}

// publishGaps updates Gaps for the doors whose reported gaps changed, and
// tells OnGaps.
func (in *Ingest) publishGaps() {
	if len(in.dirty) == 0 {
		return
	}
	for d := range in.dirty {
		var gs []Gap
		for s, f := range in.gapped {
			if s.site == d.site && s.door == d.door && f.gap.reported {
				gs = append(gs, Gap{Site: s.site, Door: s.door, Epoch: s.epoch, From: f.through + 1, To: f.gap.lowest - 1,
					Since: f.gap.since})
			}
		}
		slices.SortFunc(gs, func(a, b Gap) int { return cmp.Compare(a.Epoch, b.Epoch) })
		in.gapsMu.Lock()
		if len(gs) == 0 {
			delete(in.gaps, d)
		} else {
			in.gaps[d] = gs
		}
		n := 0
		for _, v := range in.gaps {
			n += len(v)
		}
		in.gapsMu.Unlock()
		in.gapsNow.Store(int64(n))
		if in.o.OnGaps != nil {
			in.o.OnGaps(d.site, d.door, gs)
		}
	}
	clear(in.dirty)
}

// acceptLost is AcceptLost in Run.
func (in *Ingest) acceptLost(r LostRequest, now time.Time) (Lost, error) {
	s := stream{r.Site, r.Door, r.Epoch}
	f := in.flows[s]
	if f == nil || f.gap == nil {
		return Lost{}, fmt.Errorf("%w: %s/%s epoch %s: no events came beyond a missing seq", ErrNoGap, r.Site, r.Door, r.Epoch)
	}
	from, to := f.through+1, f.gap.lowest-1
	if r.Through < from || r.Through > to {
		return Lost{}, fmt.Errorf("%w: %s/%s epoch %s: through %d: the seqs missing are %d to %d, and %d came",
			ErrLostRange, r.Site, r.Door, r.Epoch, r.Through, from, to, to+1)
	}
	l := Lost{Site: r.Site, Door: r.Door, Epoch: r.Epoch, From: from, To: r.Through, At: now.UTC(), By: r.By, Reason: r.Reason}
	if err := in.st.AcceptLost(l); err != nil {
		in.storeErrors.Add(1)
		in.forget(s)
		return Lost{}, err
	}
	in.lost.Add(l.To - l.From + 1)
	in.o.Log.Warn("ingest: seqs accepted as lost", "door", r.Site+"/"+r.Door, "epoch", r.Epoch, "from", l.From, "to", l.To,
		"by", r.By, "reason", r.Reason)
	f.through = l.To
	in.due[s] = true
	if h, ok := f.held[l.To+1]; ok {
		in.unhold(s, f, l.To+1)
		in.process([]valid{h}, now)
	} else {
		in.moved(s, f, now)
	}
	return l, nil
}

// flushAcks publishes the acks owed: each door at most every AckInterval,
// every one at once when the flow has paused.
func (in *Ingest) flushAcks(pub Publisher, paused bool) {
	now := time.Now()
	for s := range in.due {
		f := in.flows[s]
		if f == nil {
			delete(in.due, s)
			continue
		}
		if !paused && now.Sub(f.lastAck) < in.o.AckInterval {
			continue
		}
		f.lastAck = now
		t := topic.Door{Prefix: in.o.Prefix, Site: s.site, Door: s.door}.EventsAck()
		payload, err := in.o.Signer.SignAck(&permit.Ack{Site: s.site, Door: s.door, Epoch: s.epoch, Through: f.through,
			Issued: now.UTC()})
		if err != nil {
			// the stream's ids were validated as it came: not seen
			in.ackErrors.Add(1)
			in.o.Log.Error("ingest: ack not signed", "topic", t, "through", f.through, "err", err)
			continue
		}
		tok := pub.Publish(t, 1, false, payload)
		// an ack is not waited for: one lost later costs a resend from
		// the agent, not an event. One refused at once stays owed.
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				in.ackErrors.Add(1)
				in.o.Log.Debug("ingest: ack not published", "topic", t, "through", f.through, "err", err)
				continue
			}
		default:
		}
		delete(in.due, s)
		in.acks.Add(1)
	}
}

// Advance is a stream moved on in the store: committed from From+1
// through Through, by this hub (Mine) or another one sharing the store.
// The zero Advance says that some may have been missed. A lost run
// accepted moves a stream on with no events: From is Through then.
type Advance struct {
	Site, Door, Epoch string
	From, Through     uint64
	Mine              bool
}

// Watcher is an EventStore that other hub replicas write too (pgevents):
// a door's events reach the replicas through a shared subscription, one
// event to one replica, so each replica holds the events that come after
// another's and must learn when that one stored the events between.
type Watcher interface {
	// Watch calls fn with every Advance of the store, its own commits' too,
	// until ctx ends, and with the zero Advance when it may have missed
	// some (a lost connection). fn must not block.
	Watch(ctx context.Context, fn func(Advance))
}

// Puller is a Watcher whose commits also store the events the other
// replicas hold that continue the streams committed (pgevents): each
// replica writes a copy of what it holds (Hold), and the one whose commit
// stores the seqs before them stores them too, and acks them, so that a
// door's events dealt out among the replicas one by one are not stored a
// commit per replica in turn.
type Puller interface {
	// CommitPulled is Commit that returns the held events it stored too,
	// each stream's in seq order.
	CommitPulled(puts []Put) ([]Put, error)
	// Hold writes a copy of events held; a copy lost costs nothing.
	Hold(puts []Put) error
}

// advanceDepth is how many advances wait for Run; beyond, Run re-reads the
// through of each stream holding events instead.
const advanceDepth = 4096

// advanced hands a to Run, or notes that Run must look at the store again.
func (in *Ingest) advanced(a Advance) {
	if in.others != nil {
		in.others.add(a)
	}
	if a == (Advance{}) {
		in.resync.Store(true)
	} else {
		select {
		case in.advances <- a:
			return
		default:
			in.resync.Store(true)
		}
	}
	select {
	case in.advances <- Advance{}:
	default: // Run is woken by what waits already
	}
}

// catchUp moves a stream's through to where another replica stored it:
// what this hub holds up to there is a duplicate, and what it holds right
// after is appended to puts, to be stored now. The zero Advance reads the
// through of every stream holding events again.
func (in *Ingest) catchUp(a Advance, puts []Put, now time.Time) []Put {
	if a == (Advance{}) {
		if !in.resync.Swap(false) {
			return puts
		}
		for s, f := range in.flows {
			if len(f.held) == 0 {
				continue
			}
			through, err := in.st.Through(s.site, s.door, s.epoch)
			if err != nil {
				in.storeErrors.Add(1)
				in.o.Log.Error("ingest: read through", "door", s.site+"/"+s.door, "err", err)
				continue
			}
			puts = in.moveTo(s, f, through, puts, now)
		}
		return puts
	}
	s := stream{a.Site, a.Door, a.Epoch}
	if f := in.flows[s]; f != nil {
		puts = in.moveTo(s, f, a.Through, puts, now)
	}
	return puts
}

// moveTo sets f's through to through, if further, and appends to puts
// what it held that now continues the stream. A stream already in puts
// (catching up again in the same commit) goes on from its put.
func (in *Ingest) moveTo(s stream, f *flow, through uint64, puts []Put, now time.Time) []Put {
	for i := range puts {
		if puts[i].stream() == s {
			// staged in this commit: its through moves when it commits
			return puts
		}
	}
	if through <= f.through {
		return puts
	}
	f.through = through
	for seq := range f.held {
		if seq <= through {
			in.unhold(s, f, seq)
			if in.puller == nil {
				in.duplicates.Add(1)
			} // else most likely stored from this replica's copy (Puller): no duplicate
		}
	}
	p := Put{Site: s.site, Door: s.door, Epoch: s.epoch}
	for next := through + 1; ; next++ {
		h, ok := f.held[next]
		if !ok {
			break
		}
		in.unhold(s, f, next)
		p.Events, p.Raw = append(p.Events, h.Event), append(p.Raw, h.raw)
	}
	if len(p.Events) == 0 {
		in.moved(s, f, now)
		return puts
	}
	return append(puts, p)
}
