package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

// Log is the agent's event log as the pump needs it.
type Log interface {
	// EventsJSON returns up to limit stored events with seq > after, in
	// order, each as the JSON of json.Marshal of its agent.Event.
	EventsJSON(after uint64, limit int) ([]agent.RawEvent, error)
	// Ack deletes every event up to through: the hub has stored them.
	Ack(through uint64) error
	// Acked returns the seq through which the hub has acked.
	Acked() (uint64, error)
	// LastSeq returns the seq of the newest event ever appended.
	LastSeq() (uint64, error)
	// Epoch names the log's sequence.
	Epoch() string
}

// Publisher is the MQTT link as the pump needs it.
type Publisher interface {
	// Publish sends payload; the token ends when the broker acknowledged
	// it (QoS 1) or the publish failed.
	Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token
	// Connected reports whether the link is up now.
	Connected() bool
	// NextConnection returns a channel closed at the next new connection.
	NextConnection() <-chan struct{}
}

// onBroker is a Publisher that says which broker it is on: a link with
// several brokers, each with its own queue for the hub.
type onBroker interface {
	// Broker returns the address of the broker the link is on.
	Broker() string
}

var (
	_ Log       = (*agent.Store)(nil)
	_ Publisher = (*mqttlink.Link)(nil)
	_ onBroker  = (*mqttlink.Link)(nil)
)

// DefaultDeleteInterval is Options.DeleteInterval's default.
const DefaultDeleteInterval = time.Second

// Options configure a Pump. Zero values take the defaults noted.
type Options struct {
	// Door names the topics: events go to Door.Events(). An ack is taken
	// only if it is signed for Door's site and door.
	Door topic.Door
	// Keys are the hub keys whose acks are trusted (required): the door's
	// keyring, as its downlink's.
	Keys permit.Keyring
	// Window is the most publishes awaiting the broker's PUBACK (256).
	// The publishes of a lost connection are forgotten at the next one:
	// the agent's link should use a clean session, whose open publishes
	// paho fails when the connection drops (a persistent session would
	// only add duplicates to the resends).
	Window int
	// AckTimeout is how long the hub's ack may make no progress while
	// events are outstanding before the pump probes (10 s). Each further
	// timeout without progress doubles the wait, up to MaxAckTimeout
	// (5 min, at least AckTimeout).
	//
	// A timeout publishes again only a probe: the ProbeSize events after
	// the hub's ack, then the pump goes on where it was. The broker keeps
	// a persistent session for the hub and queues for it every event
	// published while it is away; a hub that is just down thus costs the
	// broker the log once and a probe a timeout, never the whole log
	// again at each one. Where the hub's ack lands then tells what the hub
	// holds. On the probe's last event, and still there at the next
	// timeout (AckTimeout after it moved): the hub took the probe and has
	// nothing after it (its session was lost: a broker restarted without
	// persistence, a session expired, a hub that dropped what it had
	// taken), and the pump publishes everything after the probe again, in
	// full. Past the probe: the hub had held what follows (events after a
	// gap the probe filled, or its queue), and the pump goes on. Anywhere
	// else, or nowhere: the next timeout probes from there. A hub taking
	// its queue acks past the probe within moments; only one that stopped
	// for AckTimeout exactly on the probe's end costs the broker the log
	// once more.
	//
	// A new connection goes back to the hub's ack in full at the first
	// connection of Run (the pump does not know what a previous process
	// had the broker take). At a later one it publishes a probe from the
	// hub's ack and goes on from the first event the broker has not
	// acknowledged (PUBACK) since the hub last lacked it: with a clean
	// session the publishes open when the link dropped are lost, those
	// acknowledged are in the hub's session, unless the broker lost it,
	// which the probe shows at the next timeout. A connection to another
	// broker than the last (a Publisher with a Broker method, as
	// *mqttlink.Link with several brokers) goes back in full: what one
	// broker acknowledged is not in the other's queue for the hub.
	AckTimeout    time.Duration
	MaxAckTimeout time.Duration
	// ProbeSize is how many events after the hub's ack a probe publishes
	// again (Window).
	ProbeSize int
	// RetryDelay is the pause after a failed publish on a link that
	// still reports itself up (1 s); a new connection ends it at once.
	RetryDelay time.Duration
	// DeleteInterval is the shortest time between two deletions of acked
	// events from the log (DefaultDeleteInterval); negative deletes at
	// every ack. Each
	// deletion is a durable write to the door's store, and a tap's write
	// that comes meanwhile waits for its commit: while a backlog drains
	// the hub acks every 50 ms or so, twenty deletions a second where one
	// does. An ack that comes sooner after the last deletion counts at
	// once (the pump goes on from it) and its events are deleted when the
	// interval ends, or when Run returns. Should the agent die first, they
	// are sent again after the start, and the hub, which dedupes by id,
	// acks them again.
	DeleteInterval time.Duration
	// Yield, when set, is called before each read of the log and each
	// publish: the agent's is the door's Yield, so that publishing a
	// backlog gives way to a tap being processed (nil: nothing waits).
	Yield func()
	// Metrics is the agent's registry, for /metrics; nil: one of its own.
	Metrics *metrics.Registry
	Log     *slog.Logger
}

// Stats counts what the pump did and what it refused.
type Stats struct {
	Published     uint64 // publishes acknowledged by the broker
	PublishErrors uint64 // publishes that failed or never completed
	Resends       uint64 // times the pump went back to the hub's ack: each connection, each ack timeout
	AckTimeouts   uint64 // of those, times the hub's ack made no progress for AckTimeout
	Probes        uint64 // times the pump published a probe, ProbeSize events from the hub's ack, not the log
	FullResends   uint64 // ack timeouts that found the ack on the last probe's end: the rest published in full
	Acks          uint64 // acks accepted
	MalformedAcks uint64 // acks that were not the JSON of a signed ack
	UnsignedAcks  uint64 // acks with no signature
	UntrustedAcks uint64 // acks signed by a key not in Keys
	BadSigAcks    uint64 // acks whose signature does not verify, or says other than the clear members
	OtherDoorAcks uint64 // acks signed for another door
	ForeignAcks   uint64 // acks for another epoch
	BeyondAcks    uint64 // acks beyond the newest event
	StoreErrors   uint64 // reads or acks of the log that failed
}

// Pump publishes a Log through a Publisher. Run drives it; HandleAck takes
// the hub's acks, from any goroutine.
type Pump struct {
	log    Log
	pub    Publisher
	notify <-chan struct{}
	o      Options
	topic  string
	acked  chan struct{} // signalled after an ack moved the log forward

	hubAck atomic.Uint64 // the newest ack accepted, its events deleted or not
	delMu  sync.Mutex    // one deletion at a time; guards deleted and deletedAt
	// deleted is the ack the pump last had the log delete through, and
	// deletedAt when
	deleted   uint64
	deletedAt time.Time

	published, publishErrors, resends, ackTimeouts     *metrics.Counter
	probes, fullResends                                *metrics.Counter
	acks, malformedAcks, foreignAcks, beyondAcks, serr *metrics.Counter
	unsignedAcks, untrustedAcks, badSigAcks, otherDoor *metrics.Counter
}

// ackRefusal is the reason label of kunci_agent_outbox_acks_refused_total.
type ackRefusal string

// New prepares a pump for log. notify is signalled after new events are
// stored (a door's Watch channel); it may fold several into one.
func New(l Log, pub Publisher, notify <-chan struct{}, o Options) (*Pump, error) {
	if l == nil || pub == nil {
		return nil, errors.New("outbox: a log and a publisher are required")
	}
	if o.Door.Site == "" || o.Door.Door == "" || o.Door.Prefix == "" {
		return nil, errors.New("outbox: options: door topics are required (topic.New)")
	}
	if len(o.Keys) == 0 {
		return nil, errors.New("outbox: options: the hub keys are required: an ack is taken only when signed")
	}
	if o.Window <= 0 {
		o.Window = 256
	}
	if o.Yield == nil {
		o.Yield = func() {}
	}
	if o.ProbeSize <= 0 {
		o.ProbeSize = o.Window
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.MaxAckTimeout <= 0 {
		o.MaxAckTimeout = 5 * time.Minute
	}
	o.MaxAckTimeout = max(o.MaxAckTimeout, o.AckTimeout)
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.DeleteInterval == 0 {
		o.DeleteInterval = DefaultDeleteInterval
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	r := o.Metrics
	refused := metrics.NewCounterVec[ackRefusal](r, "kunci_agent_outbox_acks_refused_total",
		"Acks of the hub refused, by reason: malformed, unsigned, untrusted key, bad signature, for another door, for another epoch, beyond the newest event.", "reason")
	return &Pump{log: l, pub: pub, notify: notify, o: o, topic: o.Door.Events(), acked: make(chan struct{}, 1),
		published: r.Counter("kunci_agent_outbox_published_total", "Events published and acknowledged by the broker."),
		publishErrors: r.Counter("kunci_agent_outbox_publish_errors_total",
			"Publishes of events that failed or never completed."),
		resends: r.Counter("kunci_agent_outbox_resends_total",
			"Times the outbox went back to the hub's last ack: at each connection and each ack timeout."),
		ackTimeouts: r.Counter("kunci_agent_outbox_ack_timeouts_total",
			"Times the hub's ack made no progress within the ack timeout while events were outstanding."),
		probes: r.Counter("kunci_agent_outbox_probes_total",
			"Probes published: the first events after the hub's ack again, at an ack timeout or a reconnection, instead of the whole log."),
		fullResends: r.Counter("kunci_agent_outbox_full_resends_total",
			"Ack timeouts that found the hub's ack on the last probe's end, the hub lacking what follows: the rest published again in full."),
		acks:          r.Counter("kunci_agent_outbox_acks_total", "Acks of the hub accepted."),
		malformedAcks: refused.With("malformed"), unsignedAcks: refused.With("unsigned"),
		untrustedAcks: refused.With("untrusted_key"), badSigAcks: refused.With("bad_signature"),
		otherDoor: refused.With("other_door"), foreignAcks: refused.With("other_epoch"),
		beyondAcks: refused.With("beyond_log"),
		serr:       r.Counter("kunci_agent_outbox_store_errors_total", "Reads and acks of the event log that failed."),
	}, nil
}

// AckTopic is the topic whose messages go to HandleAck.
func (p *Pump) AckTopic() string { return p.o.Door.EventsAck() }

// Stats returns the counters.
func (p *Pump) Stats() Stats {
	return Stats{
		Published: p.published.Value(), PublishErrors: p.publishErrors.Value(),
		Resends: p.resends.Value(), AckTimeouts: p.ackTimeouts.Value(), Acks: p.acks.Value(),
		Probes: p.probes.Value(), FullResends: p.fullResends.Value(),
		MalformedAcks: p.malformedAcks.Value(), UnsignedAcks: p.unsignedAcks.Value(),
		UntrustedAcks: p.untrustedAcks.Value(), BadSigAcks: p.badSigAcks.Value(),
		OtherDoorAcks: p.otherDoor.Value(), ForeignAcks: p.foreignAcks.Value(),
		BeyondAcks: p.beyondAcks.Value(), StoreErrors: p.serr.Value(),
	}
}

// maxAckSize bounds an ack payload; a real one is about 400 bytes, and
// one of 64-character site, door and epoch under 700.
const maxAckSize = 1024

// DecodeAck parses and verifies an ack payload, as permit.Signer.SignAck
// writes it: one JSON object with a non-empty string epoch, a
// non-negative integer through, and the signed ack, which must verify
// with keys and say the same epoch and through. Other members are
// ignored, so that the contract can grow. It does not judge the ack
// against a door: HandleAck checks its site, door, epoch and through.
func DecodeAck(payload []byte, keys permit.Keyring) (permit.Ack, error) {
	if len(payload) > maxAckSize {
		return permit.Ack{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformedAck, len(payload), maxAckSize)
	}
	var raw struct {
		Epoch   *string         `json:"epoch"`
		Through json.RawMessage `json:"through"`
		Signed  json.RawMessage `json:"signed"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return permit.Ack{}, fmt.Errorf("%w: %v", ErrMalformedAck, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return permit.Ack{}, fmt.Errorf("%w: data after the object", ErrMalformedAck)
	}
	if raw.Epoch == nil || *raw.Epoch == "" {
		return permit.Ack{}, fmt.Errorf("%w: no epoch", ErrMalformedAck)
	}
	if raw.Through == nil {
		return permit.Ack{}, fmt.Errorf("%w: no through", ErrMalformedAck)
	}
	// digits only: a quoted number, a fraction, an exponent or a sign is
	// not a seq
	through, err := strconv.ParseUint(string(raw.Through), 10, 64)
	if err != nil {
		return permit.Ack{}, fmt.Errorf("%w: through %.40s is not a seq", ErrMalformedAck, raw.Through)
	}
	if raw.Signed == nil || string(raw.Signed) == "null" {
		return permit.Ack{}, fmt.Errorf("%w: epoch %.64q through %d", ErrUnsignedAck, *raw.Epoch, through)
	}
	a, err := keys.DecodeAck(raw.Signed)
	switch {
	case errors.Is(err, permit.ErrUnknownKey), errors.Is(err, permit.ErrBadSignature):
		return permit.Ack{}, fmt.Errorf("%w: %w", ErrForgedAck, err)
	case err != nil:
		return permit.Ack{}, fmt.Errorf("%w: %w", ErrMalformedAck, err)
	}
	if a.Epoch != *raw.Epoch || a.Through != through {
		return permit.Ack{}, fmt.Errorf("%w: %w: epoch %.64q through %d in the clear, %q through %d signed",
			ErrForgedAck, permit.ErrBadSignature, *raw.Epoch, through, a.Epoch, a.Through)
	}
	return a, nil
}

// HandleAck takes an ack payload from the hub and deletes the acked events
// from the log: at once, or, within DeleteInterval of the last deletion,
// when the interval ends (Run does it). It refuses, each with an error
// and a counter, deleting nothing: a malformed ack, an unsigned or forged
// one (DecodeAck), one signed for another door or for another epoch, and
// one beyond the newest event. An ack that adds nothing (a duplicate, an
// old one, a replay of a genuine one) is accepted and writes nothing:
// what a genuine ack of this door and epoch says stays true (permit.Ack),
// so it needs no expiry, and its issue time is not judged against the
// door's clock, which may be untrusted.
func (p *Pump) HandleAck(payload []byte) error {
	a, err := DecodeAck(payload, p.o.Keys)
	if err != nil {
		c := p.malformedAcks
		switch {
		case errors.Is(err, ErrUnsignedAck):
			c = p.unsignedAcks
		case errors.Is(err, permit.ErrUnknownKey):
			c = p.untrustedAcks
		case errors.Is(err, ErrForgedAck):
			c = p.badSigAcks
		}
		return p.refuseAck(c, err)
	}
	if a.Site != p.o.Door.Site || a.Door != p.o.Door.Door {
		return p.refuseAck(p.otherDoor, fmt.Errorf("%w: %s/%s, this is %s/%s", ErrOtherDoor, a.Site, a.Door,
			p.o.Door.Site, p.o.Door.Door))
	}
	if a.Epoch != p.log.Epoch() {
		return p.refuseAck(p.foreignAcks, fmt.Errorf("%w: %q, the log's is %q", ErrOtherEpoch, a.Epoch, p.log.Epoch()))
	}
	last, err := p.log.LastSeq()
	if err != nil {
		p.serr.Add(1)
		return fmt.Errorf("outbox: ack: %w", err)
	}
	if a.Through > last {
		return p.refuseAck(p.beyondAcks, fmt.Errorf("%w: through %d, newest %d", ErrAckBeyondLog, a.Through, last))
	}
	p.acks.Add(1)
	acked, err := p.ackedNow()
	if err != nil {
		p.serr.Add(1)
		return fmt.Errorf("outbox: ack: %w", err)
	}
	if a.Through <= acked {
		return nil // a read, not an fsync'd write
	}
	p.delMu.Lock()
	p.hubAck.Store(max(p.hubAck.Load(), a.Through))
	p.delMu.Unlock()
	select {
	case p.acked <- struct{}{}:
	default:
	}
	return p.deleteAcked(false)
}

// refuseAck counts a refused ack with c and logs it.
func (p *Pump) refuseAck(c *metrics.Counter, err error) error {
	c.Add(1)
	p.o.Log.Warn("outbox: ack refused", "err", err)
	return err
}

// ackedNow returns the seq through which the hub has acked: the log's ack,
// or a newer one whose events are still to be deleted.
func (p *Pump) ackedNow() (uint64, error) {
	acked, err := p.log.Acked()
	return max(acked, p.hubAck.Load()), err
}

// deleteAcked has the log delete the events the hub acked, unless it did
// less than DeleteInterval ago and now is false.
func (p *Pump) deleteAcked(now bool) error {
	p.delMu.Lock()
	defer p.delMu.Unlock()
	through := p.hubAck.Load()
	if through <= p.deleted || !now && time.Since(p.deletedAt) < p.o.DeleteInterval {
		return nil
	}
	if err := p.log.Ack(through); err != nil {
		p.serr.Add(1)
		return fmt.Errorf("outbox: ack %d: %w", through, err)
	}
	p.deleted, p.deletedAt = through, time.Now()
	return nil
}

// deleteWait returns how long until the acked events still in the log
// are due to be deleted, and whether there are any.
func (p *Pump) deleteWait() (time.Duration, bool) {
	p.delMu.Lock()
	defer p.delMu.Unlock()
	if p.hubAck.Load() <= p.deleted {
		return 0, false
	}
	return time.Until(p.deletedAt.Add(p.o.DeleteInterval)), true
}

type inflight struct {
	seq   uint64
	tok   mqttlink.Token
	probe bool // published by a probe: its loss needs no publish again
}

// state is Run's own.
type state struct {
	up       bool      // a connection was seen, and the link not seen down since
	next     uint64    // seq to publish next; 0 until the log was read
	acked    uint64    // the hub's ack, as last read
	boundary uint64    // events up to this seq were stored before the connection came up
	progress time.Time // when the ack last moved, or events became outstanding
	ackWait  time.Duration
	retryAt  time.Time // no publishing before, after a failed publish
	window   []inflight
	ahead    []agent.RawEvent // read from the log, not yet published: a window's worth per read
	// confirmed: every event after the ack through it was acknowledged by
	// the broker (PUBACK) since the hub last lacked it; Run's first
	// connection has none
	confirmed uint64
	broker    string // the broker confirmed was acknowledged by, if the link says
	// the last probe: the hub's ack when it began, its last seq (0: no
	// probe since the last full resend or connection), and while it is
	// being published, the seq to go on from after it (0: none under way)
	probeFrom, probeEnd, resume uint64
}

func (s *state) outstanding() bool { return max(s.next, s.resume) > s.acked+1 }

// Run publishes until ctx ends. Failures of the link or the log are
// counted, logged and retried; they never end Run.
func (p *Pump) Run(ctx context.Context) error {
	var s state
	connCh := p.pub.NextConnection()
	if err := p.reset(&s); err != nil {
		p.o.Log.Error("outbox: read log", "err", err)
	}
	s.up = p.pub.Connected()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() {
		if err := p.deleteAcked(true); err != nil {
			p.o.Log.Error("outbox: delete acked events", "err", err)
		}
	}()
	for {
		select {
		case <-connCh:
			// a new connection before anything is published on it: a
			// retry due at the same time must not go out with the last
			// connection's state (its backlog marked live)
			connCh = p.reconnected(&s)
		default:
		}
		p.fill(ctx, &s)
		var tokDone <-chan struct{}
		if len(s.window) > 0 {
			tokDone = s.window[0].tok.Done()
		}
		timer.Reset(p.wait(&s))
		select {
		case <-ctx.Done():
			return nil
		case <-p.notify:
		case <-connCh:
			connCh = p.reconnected(&s)
		case <-tokDone:
			p.reap(&s)
		case <-p.acked:
			p.readAck(&s)
		case <-timer.C:
			p.checkAckTimeout(&s)
			if err := p.deleteAcked(false); err != nil {
				p.o.Log.Error("outbox: delete acked events", "err", err)
			}
		}
	}
}

// reconnected starts the pump on a new connection and returns the
// channel of the next.
func (p *Pump) reconnected(s *state) <-chan struct{} {
	next := p.pub.NextConnection()
	p.resends.Add(1)
	if err := p.reset(s); err != nil {
		p.o.Log.Error("outbox: read log", "err", err)
	}
	s.up = true
	return next
}

// reset starts a connection: go back to the hub's ack, forget the tokens
// of the previous connection, and mark what is stored now as backlog. What
// the broker acknowledged since Run started, on the same broker, is
// probed, not sent again in full (Options.AckTimeout).
func (p *Pump) reset(s *state) error {
	s.window, s.retryAt, s.next, s.ahead = nil, time.Time{}, 0, nil
	s.probeEnd, s.resume = 0, 0
	acked, err := p.ackedNow()
	if err != nil {
		p.serr.Add(1)
		return err
	}
	last, err := p.log.LastSeq()
	if err != nil {
		p.serr.Add(1)
		return err
	}
	s.acked, s.next, s.boundary, s.progress, s.ackWait = acked, acked+1, last, time.Now(), p.o.AckTimeout
	if b, ok := p.pub.(onBroker); ok && b.Broker() != s.broker {
		s.broker, s.confirmed = b.Broker(), 0
	}
	if s.confirmed = max(s.confirmed, acked); s.confirmed > acked {
		p.probe(s, s.confirmed+1)
	}
	return nil
}

// probe publishes the ProbeSize events after the hub's ack again (at
// most through resume-1), then goes on from resume.
func (p *Pump) probe(s *state, resume uint64) {
	p.probes.Add(1)
	if s.resume == 0 {
		s.resume = resume
	}
	s.probeFrom, s.next = s.acked, s.acked+1
	s.probeEnd = min(s.acked+uint64(p.o.ProbeSize), s.resume-1)
}

// probed ends a probe whose last event is out (or acked): the pump goes
// on from where the probe took it.
func (s *state) probed() {
	if s.resume != 0 && s.next > s.probeEnd {
		s.next, s.resume = max(s.next, s.resume), 0
	}
}

// wait returns how long Run may sleep before a timer matters.
func (p *Pump) wait(s *state) time.Duration {
	d := time.Hour
	now := time.Now()
	if s.up && s.outstanding() {
		d = min(d, s.progress.Add(s.ackWait).Sub(now))
	}
	if !s.retryAt.IsZero() {
		d = min(d, s.retryAt.Sub(now))
	}
	if del, ok := p.deleteWait(); ok {
		d = min(d, del)
	}
	return max(d, time.Millisecond)
}

// fill publishes from the log until the window is full or the log is
// exhausted.
func (p *Pump) fill(ctx context.Context, s *state) {
	if !s.retryAt.IsZero() {
		if time.Now().Before(s.retryAt) {
			return
		}
		s.retryAt = time.Time{}
	}
	if s.up && s.next == 0 {
		// the log could not be read at the connection: read it now
		if err := p.reset(s); err != nil {
			p.o.Log.Error("outbox: read log", "err", err)
			s.retryAt = time.Now().Add(p.o.RetryDelay)
			return
		}
	}
	for s.up && len(s.window) < p.o.Window && ctx.Err() == nil {
		s.probed()
		if !p.pub.Connected() {
			// the link is down: the next connection starts over
			s.up = false
			return
		}
		for len(s.ahead) > 0 && s.ahead[0].Seq < s.next {
			s.ahead = s.ahead[1:] // acked meanwhile, or gone back before them
		}
		if len(s.ahead) == 0 || s.ahead[0].Seq != s.next {
			// a window's worth per read transaction, not the free slots
			p.o.Yield()
			evs, err := p.log.EventsJSON(s.next-1, p.o.Window)
			if err != nil {
				s.ahead = nil
				p.serr.Add(1)
				p.o.Log.Error("outbox: read log", "err", err)
				s.retryAt = time.Now().Add(p.o.RetryDelay)
				return
			}
			if len(evs) == 0 {
				s.ahead = nil
				return
			}
			if evs[0].Seq != s.next && evs[0].Seq-1 > s.acked {
				// an ack handled meanwhile may have deleted them: only events
				// above the ack as stored now must never be missing
				p.readAck(s)
				if evs[0].Seq != s.next && evs[0].Seq-1 > s.acked {
					p.o.Log.Error("outbox: gap in the log", "want", s.next, "got", evs[0].Seq, "acked", s.acked)
				}
			}
			s.ahead = evs
			for len(s.ahead) > 0 && s.ahead[0].Seq < s.next {
				s.ahead = s.ahead[1:]
			}
			if len(s.ahead) == 0 {
				continue
			}
		}
		// a probe's end moves next on: the outer loop drops what it skips
		for len(s.ahead) > 0 && len(s.window) < p.o.Window && s.ahead[0].Seq >= s.next {
			e := s.ahead[0]
			s.ahead = s.ahead[1:]
			payload, err := Payload(e.JSON, e.Seq <= s.boundary)
			if err != nil {
				// a broken event must not stop the log
				p.o.Log.Error("outbox: encode event", "seq", e.Seq, "err", err)
				payload = []byte("{}")
			}
			if !s.outstanding() {
				s.progress = time.Now()
			}
			p.o.Yield()
			tok := p.pub.Publish(p.topic, 1, false, payload)
			s.window = append(s.window, inflight{seq: e.Seq, tok: tok, probe: s.resume != 0})
			s.next = e.Seq + 1
			s.probed()
			select {
			case <-tok.Done():
				if tok.Error() != nil {
					p.reap(s)
					return
				}
			default:
			}
		}
	}
}

var (
	replayedFalse = []byte(`"replayed":false`)
	replayedTrue  = []byte(`"replayed":true`)
)

// Payload returns the message of an event stored as stored (the JSON of
// json.Marshal of an agent.Event) with its replayed member set to
// replayed. The stored JSON says "replayed":false exactly once, and the
// pattern cannot occur inside a JSON string (a quote there is escaped):
// it is published as it is, or with that member replaced, without being
// parsed (the hub validates every payload). Other JSON is decoded and
// encoded again.
func Payload(stored []byte, replayed bool) ([]byte, error) {
	if i := bytes.Index(stored, replayedFalse); i >= 0 && !bytes.Contains(stored[i+len(replayedFalse):], replayedFalse) &&
		!bytes.Contains(stored, replayedTrue) {
		if !replayed {
			return stored, nil
		}
		out := make([]byte, 0, len(stored)-len(replayedFalse)+len(replayedTrue))
		out = append(out, stored[:i]...)
		out = append(out, replayedTrue...)
		return append(out, stored[i+len(replayedFalse):]...), nil
	}
	var e agent.Event
	if err := json.Unmarshal(stored, &e); err != nil {
		return nil, err
	}
	e.Replayed = replayed
	return json.Marshal(&e)
}

// reap takes the completed publishes off the front of the window. A failed
// one sends the pump back to its seq after RetryDelay, and with it those
// open after it, which the window forgets: a probe's to the probe, the
// others' to where it goes on.
func (p *Pump) reap(s *state) {
	for len(s.window) > 0 {
		f := s.window[0]
		select {
		case <-f.tok.Done():
		default:
			return
		}
		if err := f.tok.Error(); err != nil {
			p.publishErrors.Add(1)
			p.o.Log.Warn("outbox: publish failed", "seq", f.seq, "err", err)
			for _, o := range s.window {
				back := max(o.seq, s.acked+1)
				switch {
				case !o.probe && s.resume != 0:
					s.resume = min(s.resume, back)
				case !o.probe || s.resume != 0:
					s.next = min(s.next, back)
				}
			}
			s.window = nil
			s.retryAt = time.Now().Add(p.o.RetryDelay)
			return
		}
		p.published.Add(1)
		if f.seq == s.confirmed+1 {
			s.confirmed = f.seq
		}
		s.window = s.window[1:]
	}
}

func (p *Pump) readAck(s *state) {
	acked, err := p.ackedNow()
	if err != nil {
		p.serr.Add(1)
		p.o.Log.Error("outbox: read ack", "err", err)
		return
	}
	if acked > s.acked {
		s.acked, s.progress, s.ackWait = acked, time.Now(), p.o.AckTimeout
		s.next = max(s.next, acked+1)
		s.confirmed = max(s.confirmed, acked)
	}
}

// checkAckTimeout probes when the hub's ack has not moved for the ack
// wait while events are outstanding, or, when the ack moved to the last
// probe's end and stayed there, publishes everything after it again: an event
// lost between broker and hub is then published again
// (Options.AckTimeout).
func (p *Pump) checkAckTimeout(s *state) {
	if !s.up || !s.outstanding() || time.Since(s.progress) < s.ackWait {
		return
	}
	p.readAck(s)
	if !s.outstanding() || time.Since(s.progress) < s.ackWait {
		return
	}
	p.ackTimeouts.Add(1)
	p.resends.Add(1)
	// the window is kept: its publishes are still paho's, and the bound
	// holds; a link whose PUBACKs stop altogether is cut by its keepalive
	if s.probeEnd > s.probeFrom && s.acked == s.probeEnd {
		p.fullResends.Add(1)
		p.o.Log.Warn("outbox: the hub acked the probe and no further, publishing the rest again",
			"from", s.acked+1, "through", max(s.next, s.resume)-1, "waited", s.ackWait)
		s.next, s.resume, s.probeEnd, s.confirmed = s.acked+1, 0, 0, s.acked
	} else {
		p.o.Log.Warn("outbox: no ack progress, probing", "from", s.acked+1,
			"through", min(s.acked+uint64(p.o.ProbeSize), max(s.next, s.resume)-1), "waited", s.ackWait)
		p.probe(s, max(s.next, s.resume))
	}
	s.progress = time.Now()
	s.ackWait = min(2*s.ackWait, p.o.MaxAckTimeout)
}
