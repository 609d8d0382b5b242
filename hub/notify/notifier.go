package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"golang.org/x/sync/errgroup"

	"github.com/kunci-project/kunci/internal/metrics"
)

// The buckets of the package in the hub's workflow store, which other
// parts share: each name is the package's own.
var (
	bQueue  = []byte("notify_queue")  // delivery id -> delivery, waiting or being retried
	bSent   = []byte("notify_sent")   // delivery id -> sent at (unix ns), kept KeepSent
	bDead   = []byte("notify_dead")   // delivery id -> delivery given up, with its last error
	bKeys   = []byte("notify_keys")   // message key -> notified at (unix ns), kept KeepSent
	bBursts = []byte("notify_bursts") // topic, site, door -> burst: the coalescing window
	bHanded = []byte("notify_handed") // message key -> first handed to a channel at (unix ns), kept keepHanded
)

// Tuning that hub.yaml does not set.
const (
	// firstBackoff is the wait after a delivery's first failed try; each
	// further failure doubles it, up to Config.MaxBackoff, and a random
	// part of up to half of it spreads the retries of a burst.
	firstBackoff = 10 * time.Second
	// sendTimeout bounds one try.
	sendTimeout = 30 * time.Second
	// parallel bounds the tries in flight at once, so that a peer that
	// hangs holds up only its own.
	parallel = 8
	// pruneEvery spaces the prunes of the sent deliveries and keys.
	pruneEvery = time.Hour
	// idle is Run's longest wait with nothing due, for the prune.
	idle = time.Hour
	// keepHanded is how long the time a message was first handed to a
	// channel is kept (Handed): the service-time report's "notified ->
	// acted" reaches a year back.
	keepHanded = 366 * 24 * time.Hour
)

// Options configure New.
type Options struct {
	// DB is the hub's workflow store; the package keeps its buckets
	// (notify_*) in it.
	DB kv.DB
	// Config is hub.yaml's notify section; New applies its defaults and
	// refuses it when Validate reports a problem.
	Config Config
	// Acked reports whether the message of key has been acknowledged (the
	// alarm records provide it); an escalation step is dropped when it
	// says so. nil: never acknowledged.
	Acked func(key string) bool
	// Now is the clock (time.Now): backoff, coalescing, escalation and the
	// rules' days and hours read it.
	Now func() time.Time
	// Log gets a line for every delivery given up and every failed try
	// (slog.Default() when nil).
	Log *slog.Logger
	// Metrics is the hub's registry (a private one when nil).
	Metrics *metrics.Registry
	// HTTPClient sends the webhooks and the Telegram messages (one with no
	// overall timeout: each try has its own).
	HTTPClient *http.Client
	// OnHanded, if set, is told the first time a message was handed to a
	// channel (the peer took it), after that is stored: with the
	// message's key, and for a burst's summary the key of the latest
	// occurrence it stands for too. Called from Run; it must not block.
	// Handed lists the same times again, as at a start.
	OnHanded func(key string, at time.Time)
}

// Notifier routes and delivers messages. Notify may be called from any
// goroutine; Run delivers.
//
// Its queue is the store's; what it keeps in memory is this process's:
// the queue's length for the gauge (read at New, then moved by its own
// writes) and the wake-up of Run. Two hub processes on one PostgreSQL
// store must not both Run: each would deliver the same deliveries (at
// least once, with their idempotency keys, but twice); delivering is a
// leader's job (issue 11).
type Notifier struct {
	db      kv.DB
	cfg     Config
	loc     *time.Location
	acked   func(string) bool
	handed  func(string, time.Time)
	now     func() time.Time
	log     *slog.Logger
	senders map[Channel]sender
	rcpts   map[string]*Recipient

	wake chan struct{}

	deliverMu sync.Mutex // one DeliverDue at a time
	lastPrune time.Time

	queuedTotal *metrics.Counter
	queueLen    atomic.Int64 // deliveries in the queue, for the gauge
	sent        *metrics.CounterVec[Channel]
	failed      *metrics.CounterVec[Channel]
	dead        *metrics.CounterVec[Channel]
	coalesced   *metrics.Counter
	summaries   *metrics.Counter
	refused     *metrics.CounterVec[refusal]
	unrouted    *metrics.Counter
	stopped     *metrics.Counter
}

type refusal string

const (
	refusedInvalid      refusal = "invalid"
	refusedPersonalData refusal = "personal_data"
)

// New opens the notifier's buckets in o.DB and reads the channels'
// secrets (the bot token, the SMTP password, the webhooks' keys).
func New(o Options) (*Notifier, error) {
	cfg := o.Config
	cfg.Defaults()
	var errs []error
	cfg.Validate("notify", func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify: config: %w", err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Acked == nil {
		o.Acked = func(string) bool { return false }
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	n := &Notifier{db: o.DB, cfg: cfg, loc: cfg.Location(), acked: o.Acked, handed: o.OnHanded, now: o.Now, log: o.Log,
		rcpts: map[string]*Recipient{}, wake: make(chan struct{}, 1)}
	for i := range cfg.Recipients {
		n.rcpts[cfg.Recipients[i].Name] = &cfg.Recipients[i]
	}
	var err error
	if n.senders, err = newSenders(&cfg, o.HTTPClient, o.Now); err != nil {
		return nil, err
	}
	r := o.Metrics
	n.queuedTotal = r.Counter("kunci_hub_notify_queued_total", "Notification deliveries (a message to one recipient at one escalation step) written to the queue.")
	r.GaugeFunc("kunci_hub_notify_queue_deliveries", "Notification deliveries in the queue, waiting, being retried or due at a later escalation step.",
		func() float64 { return float64(n.queueLen.Load()) })
	n.sent = metrics.NewCounterVec[Channel](r, "kunci_hub_notify_sent_total", "Notification deliveries the peer took, by channel.", "channel")
	n.failed = metrics.NewCounterVec[Channel](r, "kunci_hub_notify_failed_attempts_total", "Notification tries that failed and will be retried or given up, by channel.", "channel")
	n.dead = metrics.NewCounterVec[Channel](r, "kunci_hub_notify_dead_total", "Notification deliveries given up (too old, or refused by the peer), kept as dead letters, by channel.", "channel")
	for _, c := range []Channel{ChannelEmail, ChannelTelegram, ChannelWebhook} {
		n.sent.With(c)
		n.failed.With(c)
		n.dead.With(c)
	}
	n.coalesced = r.Counter("kunci_hub_notify_coalesced_total", "Messages counted into a burst's summary instead of being sent on their own.")
	n.summaries = r.Counter("kunci_hub_notify_summaries_total", "Summaries of a burst queued (\"…and N more\").")
	n.refused = metrics.NewCounterVec[refusal](r, "kunci_hub_notify_refused_total", "Messages Notify refused, by reason: invalid, personal_data (text that looks like a NIK, phone or card UID).", "reason")
	n.refused.With(refusedInvalid)
	n.refused.With(refusedPersonalData)
	n.unrouted = r.Counter("kunci_hub_notify_unrouted_total", "Messages no rule routed to anyone (topic, door, day or hour outside every rule).")
	n.stopped = r.Counter("kunci_hub_notify_escalations_stopped_total", "Escalation steps dropped because the message was acknowledged by then.")
	n.db.View(func(tx kv.Tx) error {
		n.queueLen.Store(int64(tx.Bucket(bQueue).Len()))
		return nil
	})
	return n, nil
}

// delivery is one message to one recipient at one step, as queued.
type delivery struct {
	Message   Message   `json:"message"`
	Recipient string    `json:"recipient"`
	Step      int       `json:"step"`
	AckKey    string    `json:"ack_key"` // the key Acked is asked about
	Due       time.Time `json:"due"`     // the next try
	Since     time.Time `json:"since"`   // first due, for MaxAge
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
}

// id is the delivery's key in the buckets: the message's key, the
// recipient and the step.
func (d *delivery) id() []byte {
	return []byte(d.Message.Key + "\x00" + d.Recipient + "\x00" + strconv.Itoa(d.Step))
}

// burst is the coalescing window of one topic at one door.
type burst struct {
	Until   time.Time `json:"until"`             // the window's end
	Pending int       `json:"pending,omitempty"` // occurrences counted since the last message
	First   string    `json:"first,omitempty"`   // the first counted message's key: the summary's
	Latest  *Message  `json:"latest,omitempty"`  // the latest counted message
}

func burstKey(m *Message) []byte {
	return []byte(string(m.Topic) + "\x00" + m.Site + "\x00" + m.Door)
}

// Notify queues m for its recipients and returns; Run delivers it. A key
// notified before (within Config.KeepSent) is a no-op. It refuses an
// invalid message (ErrMessage) and one whose text looks like personal
// data (ErrPersonalData), counting both.
func (n *Notifier) Notify(m Message) error {
	if err := m.Validate(); err != nil {
		r := refusedInvalid
		if errors.Is(err, ErrPersonalData) {
			r = refusedPersonalData
		}
		n.refused.With(r).Inc()
		return err
	}
	m.At = m.At.UTC()
	now := n.now()
	var c counts
	var opened bool // a burst's first counted message: Run learns its window's end
	err := n.db.Update(func(tx kv.Tx) error {
		c, opened = counts{}, false
		keys := tx.Bucket(bKeys)
		if keys.Get([]byte(m.Key)) != nil {
			return nil
		}
		if err := keys.Put([]byte(m.Key), unixNano(now)); err != nil {
			return err
		}
		bursts := tx.Bucket(bBursts)
		bk := burstKey(&m)
		var b burst
		if v := bursts.Get(bk); v != nil {
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%w: burst %q: %v", ErrCorrupt, bk, err)
			}
		}
		switch {
		case now.Before(b.Until):
			// inside the window: counted, told in the summary at its end
			opened = b.Pending == 0
			b.Pending += m.count()
			if b.First == "" {
				b.First = m.Key
			}
			b.Latest = &m
			c.coalesced++
		case b.Pending > 0:
			// the window ended before DeliverDue flushed it: m ends the
			// summary, which goes now
			b.Pending += m.count()
			b.Latest = &m
			c.coalesced++
			if err := n.flush(tx, &b, now, &c); err != nil {
				return err
			}
		default:
			if err := n.enqueue(tx, m, m.Key, now, &c); err != nil {
				return err
			}
			b = burst{Until: now.Add(time.Duration(n.cfg.Coalesce))}
		}
		return putJSON(bursts, bk, b)
	})
	if err != nil {
		return fmt.Errorf("notify: %s: %w", m.Key, err)
	}
	n.count(c)
	if c.queued > 0 || opened {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// counts are what a transaction did, added to the metrics after it
// committed.
type counts struct {
	queued, coalesced, summaries, unrouted int
}

func (n *Notifier) count(c counts) {
	n.queuedTotal.Add(uint64(c.queued))
	n.queueLen.Add(int64(c.queued))
	n.coalesced.Add(uint64(c.coalesced))
	n.summaries.Add(uint64(c.summaries))
	n.unrouted.Add(uint64(c.unrouted))
}

// flush queues the summary of burst b, whose window ended, and opens the
// next window at now.
func (n *Notifier) flush(tx kv.Tx, b *burst, now time.Time, c *counts) error {
	s := summary(b)
	if err := n.enqueue(tx, s, b.Latest.Key, now, c); err != nil {
		return err
	}
	c.summaries++
	*b = burst{Until: now.Add(time.Duration(n.cfg.Coalesce))}
	return nil
}

// summary is the message that stands for a burst's counted occurrences:
// the latest of them, saying how many more there were.
func summary(b *burst) Message {
	s := *b.Latest
	s.Key = b.First + "+" + strconv.Itoa(b.Pending)
	if len(s.Key) > MaxKey {
		s.Key = s.Key[len(s.Key)-MaxKey:]
	}
	s.Count = b.Pending
	if more := b.Pending - b.Latest.count(); more > 0 {
		s.Subject.ID += fmt.Sprintf(" (dan %d lainnya)", more)
		s.Subject.EN += fmt.Sprintf(" (and %d more)", more)
		s.Body.ID += fmt.Sprintf("\n\n…dan %d lainnya, sejak pesan sebelumnya.", more)
		s.Body.EN += fmt.Sprintf("\n\n…and %d more, since the message before.", more)
	}
	return s
}

// enqueue writes m's deliveries: every step of every rule that matches it
// at now. ackKey is the key Acked is asked about at the later steps.
func (n *Notifier) enqueue(tx kv.Tx, m Message, ackKey string, now time.Time, c *counts) error {
	queue, sent := tx.Bucket(bQueue), tx.Bucket(bSent)
	local := now.In(n.loc)
	routed := false
	for i := range n.cfg.Rules {
		r := &n.cfg.Rules[i]
		if !r.matches(&m, local) {
			continue
		}
		routed = true
		for step, s := range r.Steps {
			due := now.Add(time.Duration(s.After))
			for _, to := range s.To {
				d := delivery{Message: m, Recipient: to, Step: step, AckKey: ackKey, Due: due, Since: due}
				id := d.id()
				if queue.Get(id) != nil || sent.Get(id) != nil {
					continue // another rule has it
				}
				if err := putJSON(queue, id, d); err != nil {
					return err
				}
				c.queued++
			}
		}
	}
	if !routed {
		c.unrouted++
		n.log.Info("notify: no rule routes this message", "key", m.Key, "topic", m.Topic, "site", m.Site, "door", m.Door)
	}
	return nil
}

// Run delivers the queue until ctx ends: every delivery when it is due,
// every burst's summary when its window ends. It returns nil when ctx
// ends; a store error is logged and retried.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.wake:
		}
		next, err := n.DeliverDue(ctx)
		wait := idle
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			n.log.Error("notify: deliver", "err", err)
			wait = firstBackoff
		case !next.IsZero():
			wait = min(max(next.Sub(n.now()), 0), idle)
		}
		t.Reset(wait)
	}
}

// DeliverDue makes one pass at Now: it flushes the bursts whose window
// ended, drops the escalation steps already acknowledged, tries every
// due delivery once and records each result. It returns when the next
// delivery or window is due (zero when none is). Run calls it; a test
// with a fake clock calls it directly.
func (n *Notifier) DeliverDue(ctx context.Context) (next time.Time, err error) {
	n.deliverMu.Lock()
	defer n.deliverMu.Unlock()
	now := n.now()
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	var c counts
	var due []delivery
	var stop [][]byte
	err = n.db.Update(func(tx kv.Tx) error {
		c, due, stop, next = counts{}, nil, nil, time.Time{}
		bursts := tx.Bucket(bBursts)
		type upd struct {
			k []byte
			b *burst
		}
		var ups []upd
		err := bursts.ForEach(func(k, v []byte) error {
			var b burst
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%w: burst %q: %v", ErrCorrupt, k, err)
			}
			switch {
			case now.Before(b.Until):
				if b.Pending > 0 {
					soonest(b.Until)
				}
			case b.Pending > 0:
				ups = append(ups, upd{append([]byte(nil), k...), &b})
			default:
				ups = append(ups, upd{append([]byte(nil), k...), nil})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, u := range ups {
			if u.b == nil {
				if err := bursts.Delete(u.k); err != nil {
					return err
				}
				continue
			}
			if err := n.flush(tx, u.b, now, &c); err != nil {
				return err
			}
			if err := putJSON(bursts, u.k, *u.b); err != nil {
				return err
			}
		}
		return tx.Bucket(bQueue).ForEach(func(k, v []byte) error {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("%w: delivery %q: %v", ErrCorrupt, k, err)
			}
			if d.Due.After(now) {
				soonest(d.Due)
				return nil
			}
			due = append(due, d)
			return nil
		})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("notify: %w", err)
	}
	n.count(c)
	// Acked is asked outside the transaction: it may read the same store.
	due = slices.DeleteFunc(due, func(d delivery) bool {
		if d.Step > 0 && n.acked(d.AckKey) {
			stop = append(stop, d.id())
			return true
		}
		return false
	})
	if len(stop) > 0 {
		err := n.db.Update(func(tx kv.Tx) error {
			for _, k := range stop {
				if err := tx.Bucket(bQueue).Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("notify: %w", err)
		}
		n.stopped.Add(uint64(len(stop)))
		n.queueLen.Add(-int64(len(stop)))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	var mu sync.Mutex
	for _, d := range due {
		g.Go(func() error {
			retry, err := n.try(gctx, d)
			if err == nil && !retry.IsZero() {
				mu.Lock()
				soonest(retry)
				mu.Unlock()
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return time.Time{}, err
	}
	if now.Sub(n.lastPrune) >= pruneEvery {
		if err := n.prune(now); err != nil {
			return time.Time{}, err
		}
		n.lastPrune = now
	}
	return next, nil
}

// try sends d once and records the result: sent, retried at the time it
// returns, or given up. Its error is the store's only; the peer's is in
// the record and the log.
func (n *Notifier) try(ctx context.Context, d delivery) (retry time.Time, err error) {
	r, ok := n.rcpts[d.Recipient]
	var ch Channel
	var sendErr error
	if !ok {
		sendErr = fmt.Errorf("%w: recipient %q is no longer in hub.yaml", ErrPermanent, d.Recipient)
	} else {
		ch = r.Channel()
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		sendErr = n.senders[ch].send(sctx, &d, r)
		cancel()
		if ctx.Err() != nil {
			return time.Time{}, nil // shutting down: the delivery stays as it was
		}
	}
	now := n.now()
	id := d.id()
	var dead bool
	var first []string // keys handed to a channel for the first time
	err = n.db.Update(func(tx kv.Tx) error {
		queue := tx.Bucket(bQueue)
		if sendErr == nil {
			first = first[:0]
			handed := tx.Bucket(bHanded)
			for _, k := range []string{d.Message.Key, d.AckKey} {
				if k == "" || handed.Get([]byte(k)) != nil || slices.Contains(first, k) {
					continue
				}
				if err := handed.Put([]byte(k), unixNano(now)); err != nil {
					return err
				}
				first = append(first, k)
			}
			if err := tx.Bucket(bSent).Put(id, unixNano(now)); err != nil {
				return err
			}
			return queue.Delete(id)
		}
		f := d
		f.Attempts++
		f.LastError = sendErr.Error()
		dead = errors.Is(sendErr, ErrPermanent) || now.Sub(f.Since) >= time.Duration(n.cfg.MaxAge)
		if dead {
			if err := putJSON(tx.Bucket(bDead), id, f); err != nil {
				return err
			}
			return queue.Delete(id)
		}
		f.Due = now.Add(n.backoff(f.Attempts))
		retry = f.Due
		return putJSON(queue, id, f)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("notify: record %s to %s: %w", d.Message.Key, d.Recipient, err)
	}
	log := n.log.With("key", d.Message.Key, "recipient", d.Recipient, "step", d.Step, "channel", ch)
	switch {
	case sendErr == nil:
		n.sent.With(ch).Inc()
		n.queueLen.Add(-1)
		if n.handed != nil {
			for _, k := range first {
				n.handed(k, now)
			}
		}
	case dead:
		n.failed.With(ch).Inc()
		n.dead.With(ch).Inc()
		n.queueLen.Add(-1)
		log.Error("notify: delivery given up", "attempts", d.Attempts+1, "err", sendErr)
	default:
		n.failed.With(ch).Inc()
		log.Warn("notify: delivery failed, will retry", "attempts", d.Attempts+1, "retry", retry, "err", sendErr)
	}
	return retry, nil
}

// backoff is the wait after the attempts-th failed try: firstBackoff
// doubled for each try before, capped at MaxBackoff, of which the last
// half is random.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := time.Duration(n.cfg.MaxBackoff)
	if attempts < 30 {
		d = min(d, firstBackoff<<(attempts-1))
	}
	return d/2 + rand.N(d/2+1)
}

// prune forgets the sent deliveries and notified keys older than
// KeepSent, and the dead letters too.
func (n *Notifier) prune(now time.Time) error {
	before := now.Add(-time.Duration(n.cfg.KeepSent))
	err := n.db.Update(func(tx kv.Tx) error {
		for _, b := range []struct {
			name   []byte
			before time.Time
		}{{bSent, before}, {bKeys, before}, {bHanded, now.Add(-keepHanded)}} {
			err := deleteIf(tx.Bucket(b.name), func(v []byte) bool {
				t, ok := fromUnixNano(v)
				return !ok || t.Before(b.before)
			})
			if err != nil {
				return err
			}
		}
		return deleteIf(tx.Bucket(bDead), func(v []byte) bool {
			var d delivery
			return json.Unmarshal(v, &d) != nil || d.Since.Before(before)
		})
	})
	if err != nil {
		return fmt.Errorf("notify: prune: %w", err)
	}
	return nil
}

// Handed calls fn with each message key handed to a channel in the last
// year and when it first was (what OnHanded was told), in key order.
func (n *Notifier) Handed(fn func(key string, at time.Time)) error {
	err := n.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bHanded).ForEach(func(k, v []byte) error {
			if t, ok := fromUnixNano(v); ok {
				fn(string(k), t)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Stats are the queue's sizes, for the console and the CLI.
type Stats struct {
	Queued int // waiting, being retried or due at a later step
	Dead   int // given up, kept KeepSent
	Sent   int // sent, kept KeepSent
}

// Stats counts the queue's records.
func (n *Notifier) Stats() (Stats, error) {
	var s Stats
	err := n.db.View(func(tx kv.Tx) error {
		s = Stats{Queued: tx.Bucket(bQueue).Len(), Dead: tx.Bucket(bDead).Len(), Sent: tx.Bucket(bSent).Len()}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("notify: %w", err)
	}
	return s, nil
}

// DeadLetter is a delivery given up.
type DeadLetter struct {
	Key       string
	Topic     Topic
	Recipient string
	Step      int
	Since     time.Time
	Attempts  int
	LastError string
}

// DeadLetters returns up to limit dead letters, in key order.
func (n *Notifier) DeadLetters(limit int) ([]DeadLetter, error) {
	var out []DeadLetter
	err := n.db.View(func(tx kv.Tx) error {
		c := tx.Bucket(bDead).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var d delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("%w: dead letter %q: %v", ErrCorrupt, k, err)
			}
			out = append(out, DeadLetter{Key: d.Message.Key, Topic: d.Message.Topic, Recipient: d.Recipient, Step: d.Step,
				Since: d.Since, Attempts: d.Attempts, LastError: d.LastError})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return out, nil
}

// deleteIf deletes the records of b whose value old picks, after the
// walk (a bbolt walk must not delete under itself).
func deleteIf(b kv.Bucket, old func(v []byte) bool) error {
	var ks [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if old(v) {
			ks = append(ks, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range ks {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func putJSON(b kv.Bucket, k []byte, v any) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, buf)
}

func unixNano(t time.Time) []byte { return strconv.AppendInt(nil, t.UnixNano(), 10) }

func fromUnixNano(v []byte) (time.Time, bool) {
	ns, err := strconv.ParseInt(string(v), 10, 64)
	return time.Unix(0, ns), err == nil
}

// deliveryID names a delivery to peers, stably across retries: the
// message's key, the recipient and the step.
func deliveryID(d *delivery) string {
	return strings.Join([]string{d.Message.Key, d.Recipient, strconv.Itoa(d.Step)}, "/")
}
