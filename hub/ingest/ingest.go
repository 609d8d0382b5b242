package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
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
// the shared subscription of them with shared. Hub replicas sharing the
// load need distinct client ids and a store they share. Unless o sets one,
// the link's MaxBackoff is HubMaxBackoff. The link waits on a full queue
// (Backpressure): the broker holds the rest.
func LinkOptions(o mqttlink.Options, prefix string, shared bool) mqttlink.Options {
	if prefix == "" {
		prefix = topic.DefaultPrefix
	}
	o.CleanSession = false
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

// Options configure an Ingest. Zero values take the defaults noted.
type Options struct {
	Prefix       string // topic prefix (topic.DefaultPrefix)
	MaxEventSize int    // bytes of one event payload (DefaultMaxEventSize)
	// MaxHeld bounds the events held per door and epoch while a gap before
	// them is open (4096); beyond it the highest are dropped.
	MaxHeld int
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
	// Metrics is the hub's registry, for /metrics; nil: one of its own.
	Metrics *metrics.Registry
	Log     *slog.Logger
}

// Stats counts what the ingest did and what it refused.
type Stats struct {
	Received    uint64 // valid events taken from the link
	Malformed   uint64 // payloads refused: bad JSON, size, topic, id
	Stored      uint64 // events committed, each once
	Duplicates  uint64 // events already stored (or held), acked again
	Held        uint64 // events that came before a gap had filled
	Dropped     uint64 // held events dropped for MaxHeld; the agent sends them again
	Commits     uint64 // transactions
	StoreErrors uint64 // failed reads or commits; their events are not acked
	Acks        uint64 // acks published
	AckErrors   uint64 // acks that could not be published
}

// valid is a decoded event and the JSON the hub stores for it.
type valid struct {
	Event
	raw []byte
}

type flow struct {
	through uint64           // committed
	held    map[uint64]valid // seq > through+1, waiting for the gap
	lastAck time.Time
}

// Ingest takes the doors' events from the link and stores them. Handle is
// the link's message handler; Run does the storing and acking.
type Ingest struct {
	st      *Store
	o       Options
	queue   chan valid
	stopped chan struct{}

	received, malformed, stored, duplicates, held, dropped *metrics.Counter
	commits, storeErrors, acks, ackErrors                  *metrics.Counter

	// Run's own
	flows map[stream]*flow
	due   map[stream]bool // acks owed
}

// New prepares an ingest into st.
func New(st *Store, o Options) (*Ingest, error) {
	if st == nil {
		return nil, errors.New("ingest: a store is required")
	}
	if o.Prefix == "" {
		o.Prefix = topic.DefaultPrefix
	}
	if o.MaxEventSize <= 0 {
		o.MaxEventSize = DefaultMaxEventSize
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = 4096
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.AckInterval <= 0 {
		o.AckInterval = 50 * time.Millisecond
	}
	if o.AckLinger <= 0 {
		o.AckLinger = 5 * time.Millisecond
	}
	if o.QueueDepth <= 0 {
		o.QueueDepth = 1024
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	r := o.Metrics
	return &Ingest{st: st, o: o, queue: make(chan valid, o.QueueDepth), stopped: make(chan struct{}),
		flows: map[stream]*flow{}, due: map[stream]bool{},
		received: r.Counter("kunci_hub_events_received_total", "Valid events taken from the doors' events topics."),
		malformed: r.Counter("kunci_hub_events_malformed_total",
			"Event payloads refused: bad JSON, too large, wrong topic or id."),
		stored: r.Counter("kunci_hub_events_stored_total", "Events committed to the hub's event store, each once."),
		duplicates: r.Counter("kunci_hub_events_duplicates_total",
			"Events received again that were stored (or held) already; acked again."),
		held: r.Counter("kunci_hub_events_held_total", "Events that came before a gap in their door's seq had filled."),
		dropped: r.Counter("kunci_hub_events_dropped_total",
			"Held events dropped for the held limit; their door sends them again."),
		commits: r.Counter("kunci_hub_events_commits_total", "Transactions of the event store."),
		storeErrors: r.Counter("kunci_hub_events_store_errors_total",
			"Reads and commits of the event store that failed; their events are not acked."),
		acks:      r.Counter("kunci_hub_acks_total", "Signed acks published to the doors."),
		ackErrors: r.Counter("kunci_hub_ack_errors_total", "Acks that could not be published."),
	}, nil
}

// Stats returns the counters.
func (in *Ingest) Stats() Stats {
	return Stats{
		Received: in.received.Value(), Malformed: in.malformed.Value(), Stored: in.stored.Value(),
		Duplicates: in.duplicates.Value(), Held: in.held.Value(), Dropped: in.dropped.Value(),
		Commits: in.commits.Value(), StoreErrors: in.storeErrors.Value(), Acks: in.acks.Value(),
		AckErrors: in.ackErrors.Value(),
	}
}

// Handle takes one message from the link: a malformed one is counted,
// logged and dropped; a valid event is queued for Run. It waits while the
// queue is full (the broker holds the rest meanwhile) and drops the event
// once Run has ended: unacked, it comes again.
func (in *Ingest) Handle(m mqttlink.Message) {
	e, raw, err := decodeEvent(in.o.Prefix, m.Topic, m.Payload, in.o.MaxEventSize)
	if err != nil {
		in.malformed.Add(1)
		in.o.Log.Warn("ingest: event dropped", "topic", m.Topic, "bytes", len(m.Payload), "err", err)
		return
	}
	in.received.Add(1)
	select {
	case in.queue <- valid{e, raw}:
	case <-in.stopped:
	}
}

// Run stores the queued events and acks them until ctx ends, publishing
// the acks through pub. It runs once.
func (in *Ingest) Run(ctx context.Context, pub Publisher) error {
	defer close(in.stopped)
	// the acks owed go when nothing arrived for AckLinger after a batch
	// (the flow paused), and again after AckInterval when they could not
	// be published (the link not up yet as the broker hands over the
	// session's queue); while events keep coming, at most one per door
	// every AckInterval
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
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
		in.process(batch)
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

// process sorts a batch into duplicates, events to store now and events
// to hold, commits the ones to store in one transaction and marks the
// acks owed.
func (in *Ingest) process(batch []valid) {
	var puts []put
	idx := map[stream]int{} // stream -> index in puts
	for _, e := range batch {
		s := stream{e.Site, e.Door, e.Epoch}
		f, err := in.flowOf(s)
		if err != nil {
			in.storeErrors.Add(1)
			in.o.Log.Error("ingest: read through", "door", e.Site+"/"+e.Door, "err", err)
			continue
		}
		i, ok := idx[s]
		if !ok {
			i = len(puts)
			idx[s] = i
			puts = append(puts, put{stream: s})
		}
		staged := f.through + uint64(len(puts[i].events))
		switch {
		case e.Seq <= staged:
			in.duplicates.Add(1)
			if f.through > 0 {
				in.due[s] = true
			}
		case e.Seq == staged+1:
			puts[i].events = append(puts[i].events, e.Event)
			puts[i].raw = append(puts[i].raw, e.raw)
			for next := e.Seq + 1; ; next++ {
				h, ok := f.held[next]
				if !ok {
					break
				}
				delete(f.held, next)
				puts[i].events = append(puts[i].events, h.Event)
				puts[i].raw = append(puts[i].raw, h.raw)
			}
		default:
			in.hold(f, e)
		}
	}
	n := 0
	for _, p := range puts {
		n += len(p.events)
	}
	if n == 0 {
		return
	}
	if err := in.st.commit(puts); err != nil {
		// nothing is acked: the agent sends these again
		in.storeErrors.Add(1)
		in.o.Log.Error("ingest: commit", "events", n, "err", err)
		for _, p := range puts {
			delete(in.flows, p.stream) // read through again from the file
		}
		return
	}
	// OnStored before the counters: whoever sees Stored rise sees the
	// events applied too (the guest book)
	if in.o.OnStored != nil {
		evs := make([]Event, 0, n)
		for _, p := range puts {
			evs = append(evs, p.events...)
		}
		in.o.OnStored(evs)
	}
	in.commits.Add(1)
	in.stored.Add(uint64(n))
	for _, p := range puts {
		if len(p.events) > 0 {
			in.flows[p.stream].through = p.events[len(p.events)-1].Seq
			in.due[p.stream] = true
		}
	}
}

// hold keeps e until the gap before it fills. A full buffer keeps the
// lowest seqs: they are the ones needed first.
func (in *Ingest) hold(f *flow, e valid) {
	if _, ok := f.held[e.Seq]; ok {
		in.duplicates.Add(1)
		return
	}
	if len(f.held) >= in.o.MaxHeld {
		var top uint64
		for s := range f.held {
			top = max(top, s)
		}
		in.dropped.Add(1)
		if e.Seq > top {
			return
		}
		delete(f.held, top)
	}
	in.held.Add(1)
	f.held[e.Seq] = e
}

type ack struct {
	Epoch   string `json:"epoch"`
	Through uint64 `json:"through"`
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
		payload, _ := json.Marshal(ack{Epoch: s.epoch, Through: f.through})
		t := topic.Door{Prefix: in.o.Prefix, Site: s.site, Door: s.door}.EventsAck()
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
