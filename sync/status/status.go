package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// Availability payloads (design.md: retained, QoS 1).
const (
	Online  = "online"
	Offline = "offline"
)

// QoS of the status and availability messages.
const QoS = 1

// Door is what the publisher needs of the door; *agent.Door has it. Watch
// must never block the door: it signals after changes, folding several
// into one.
type Door interface {
	Status() wire.Status
	Watch() <-chan struct{}
}

// Link is what the publisher needs of the MQTT connection;
// *mqttlink.Link has it. NextConnection returns a channel closed at the
// next new connection.
type Link interface {
	Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token
	Connected() bool
	NextConnection() <-chan struct{}
}

var _ Link = (*mqttlink.Link)(nil)
var _ Door = (*agent.Door)(nil)

// Will is the last will for the door's link: "offline", retained, QoS 1,
// on the availability topic. Put it in mqttlink.Options.Will.
func Will(t topic.Door) *mqttlink.Will {
	return &mqttlink.Will{Topic: t.Availability(), Payload: []byte(Offline), QoS: QoS, Retained: true}
}

// Subscriptions are the filters the door's link must subscribe to for
// Handle: the door's own availability, QoS 1. Merge them into
// mqttlink.Options.Subscriptions.
func Subscriptions(t topic.Door) map[string]byte {
	return map[string]byte{t.Availability(): QoS}
}

// Options configure a Publisher. Zero durations take the defaults noted.
type Options struct {
	Topics topic.Door
	Log    *slog.Logger
	// AckTimeout bounds the wait for a publish's acknowledgement; after it
	// the message is sent again (10 s).
	AckTimeout time.Duration
	// RetryAfter is the pause after a failed publish, and before "online"
	// is said again after a late will (1 s).
	RetryAfter time.Duration
	// StopTimeout bounds the final status and "offline" at the end of Run (5 s).
	StopTimeout time.Duration
}

// Publisher keeps one door's status and availability current on the broker.
type Publisher struct {
	door  Door
	link  Link
	o     Options
	watch <-chan struct{}
	stale chan struct{} // a live "offline" of our own was seen
}

// New prepares a publisher; Run runs it. It subscribes to the door's
// changes at once, so that none made before Run is missed.
func New(d Door, l Link, o Options) (*Publisher, error) {
	if d == nil || l == nil {
		return nil, errors.New("status: a door and a link are required")
	}
	td, err := topic.New(o.Topics.Prefix, o.Topics.Site, o.Topics.Door)
	if err != nil {
		return nil, fmt.Errorf("status: topics: %w", err)
	}
	o.Topics = td
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.AckTimeout, 10*time.Second)
	def(&o.RetryAfter, time.Second)
	def(&o.StopTimeout, 5*time.Second)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{door: d, link: l, o: o, watch: d.Watch(), stale: make(chan struct{}, 1)}, nil
}

// Handle takes a message from the link's handler and reports whether it
// was the publisher's (see Subscriptions). It never blocks.
//
// A live "offline" on the door's own availability topic while the agent
// is connected is a will that arrived late: a broker that takes over a
// half-open session may publish the old connection's will after the new
// connection said "online" (mochi does, and delivers it to different
// subscribers in different orders). The publisher then says "online"
// again after RetryAfter, once the broker is done with the old
// connection, so that neither the retained availability nor a
// subscriber is left with "offline" while the door is connected. A
// retained "offline", handed over at subscription, is the past and needs
// nothing: every connection publishes "online" anyway.
func (p *Publisher) Handle(m mqttlink.Message) bool {
	if m.Topic != p.o.Topics.Availability() {
		return false
	}
	if !m.Retained && string(m.Payload) == Offline {
		select {
		case p.stale <- struct{}{}:
		default:
		}
	}
	return true
}

type kind int

const (
	kindStatus kind = iota
	kindOnline
)

func (k kind) String() string { return [...]string{"status", "availability"}[k] }

// flight is the one publish waiting for its acknowledgement.
type flight struct {
	kind    kind
	payload []byte
	token   mqttlink.Token
	timer   alarm
}

// alarm is a timer that can be absent: its channel is then nil, which a
// select never picks.
type alarm struct{ t *time.Timer }

func (a *alarm) set(d time.Duration) {
	a.stop()
	a.t = time.NewTimer(d)
}

func (a *alarm) stop() {
	if a.t != nil {
		a.t.Stop()
		a.t = nil
	}
}

func (a *alarm) c() <-chan time.Time {
	if a.t == nil {
		return nil
	}
	return a.t.C
}

// loop is Run's state, owned by its goroutine.
type loop struct {
	p         *Publisher
	next      <-chan struct{} // closed at the next new connection
	statusDue bool            // the latest status may not be on the broker
	onlineDue bool            // "online" is not acknowledged on this connection
	acked     []byte          // the status acknowledged on this connection
	fl        *flight
	retry     alarm // no publish before it fires
	reassert  alarm // "online" again after a late will
}

// Run publishes until ctx ends, then publishes the latest status and
// "offline" (bounded by StopTimeout) and returns. It returns an error only
// when that last "offline" could not be delivered; the will covers the
// rest once the link goes down.
func (p *Publisher) Run(ctx context.Context) error {
	// the channel is taken before the first Connected check, so that a
	// connection made in between is seen
	l := &loop{p: p, next: p.link.NextConnection(), statusDue: true, onlineDue: true}
	defer l.abandon()
	defer l.retry.stop()
	defer l.reassert.stop()
	for {
		select {
		case <-l.next: // noticed before publishing, not after: no double publish
			l.newSession()
		default:
		}
		l.publish()
		var flDone <-chan struct{}
		var flTimeout <-chan time.Time
		if l.fl != nil {
			flDone, flTimeout = l.fl.token.Done(), l.fl.timer.c()
		}
		select {
		case <-ctx.Done():
			return p.stop(l.acked)
		case <-p.watch:
			l.statusDue = true
		case <-p.stale:
			if p.link.Connected() && l.reassert.t == nil {
				p.o.Log.Info("status: a late will said offline; saying online again", "in", p.o.RetryAfter)
				l.reassert.set(p.o.RetryAfter)
			}
		case <-l.reassert.c():
			l.reassert.t = nil
			l.onlineDue = true
		case <-l.next:
			l.newSession()
		case <-flDone:
			f := l.fl
			l.abandon()
			if err := f.token.Error(); err != nil {
				l.failed(f, err)
			} else if f.kind == kindStatus {
				l.acked = f.payload
			}
		case <-flTimeout:
			f := l.fl
			l.abandon()
			l.failed(f, fmt.Errorf("no acknowledgement within %v", p.o.AckTimeout))
		case <-l.retry.c():
			l.retry.t = nil
		}
	}
}

// newSession starts over: whatever the broker held may be gone or stale.
func (l *loop) newSession() {
	l.next = l.p.link.NextConnection()
	l.abandon()
	l.retry.stop()
	l.reassert.stop()
	l.statusDue, l.onlineDue, l.acked = true, true, nil
}

// publish sends what is due, one message at a time, the status before
// "online".
func (l *loop) publish() {
	if l.fl != nil || l.retry.t != nil || !l.p.link.Connected() {
		return
	}
	t := l.p.o.Topics
	if l.statusDue {
		l.statusDue = false
		payload, err := l.p.statusJSON()
		if err != nil {
			l.p.o.Log.Error("status: encode", "err", err)
		} else if !bytes.Equal(payload, l.acked) {
			l.send(kindStatus, t.Status(), payload)
			return
		}
	}
	if l.onlineDue {
		l.onlineDue = false
		l.send(kindOnline, t.Availability(), []byte(Online))
	}
}

func (l *loop) send(k kind, t string, payload []byte) {
	l.fl = &flight{kind: k, payload: payload, token: l.p.link.Publish(t, QoS, true, payload)}
	l.fl.timer.set(l.p.o.AckTimeout)
}

// abandon forgets the publish in flight; a late acknowledgement of it is
// never read.
func (l *loop) abandon() {
	if l.fl != nil {
		l.fl.timer.stop()
		l.fl = nil
	}
}

// failed puts a failed publish back on the list, to be sent after
// RetryAfter; a status is taken afresh from the door then.
func (l *loop) failed(f *flight, err error) {
	if f.kind == kindStatus {
		l.statusDue = true
	} else {
		l.onlineDue = true
	}
	l.retry.set(l.p.o.RetryAfter)
	if errors.Is(err, mqttlink.ErrNotConnected) {
		l.p.o.Log.Debug("status: publish while disconnected", "what", f.kind)
		return
	}
	l.p.o.Log.Warn("status: publish failed", "what", f.kind, "err", err, "retry_in", l.p.o.RetryAfter)
}

func (p *Publisher) statusJSON() ([]byte, error) {
	return json.Marshal(p.door.Status())
}

// stop publishes the final status, if the broker does not have it, and
// then "offline", each waited for, all within StopTimeout.
func (p *Publisher) stop(acked []byte) error {
	if !p.link.Connected() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.o.StopTimeout)
	defer cancel()
	if payload, err := p.statusJSON(); err == nil && !bytes.Equal(payload, acked) {
		if err := mqttlink.Wait(ctx, p.link.Publish(p.o.Topics.Status(), QoS, true, payload)); err != nil {
			p.o.Log.Warn("status: final status", "err", err)
		}
	}
	if err := mqttlink.Wait(ctx, p.link.Publish(p.o.Topics.Availability(), QoS, true, []byte(Offline))); err != nil {
		return fmt.Errorf("status: publish %s: %w", Offline, err)
	}
	return nil
}
