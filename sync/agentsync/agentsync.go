package agentsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/lifecycle"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/downlink"
	"github.com/kunci-project/kunci/sync/hadiscovery"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/status"
	"github.com/kunci-project/kunci/sync/topic"
)

// Config is what a door's MQTT side needs besides the door and its store.
type Config struct {
	// Link is the broker, the client id, the credentials and TLS; New sets
	// the session, the will and the subscriptions.
	Link   mqttlink.Options
	Topics topic.Door
	Keys   permit.Keyring // the hub keys trusted: the downlink's records, the outbox's acks
	// HomeAssistant turns discovery on, under DiscoveryPrefix
	// (hadiscovery.DefaultPrefix when empty).
	HomeAssistant   bool
	DiscoveryPrefix string
	Racks           []string          // the door's racks, for discovery
	Version         string            // the agent's, shown by Home Assistant
	Metrics         *metrics.Registry // the agent's, for the link's, the downlink's and the pump's
	Log             *slog.Logger
}

// Sync is one door's MQTT side.
type Sync struct {
	yield  func() // the door's Yield, for yieldMax at most
	link   *mqttlink.Link
	pump   *outbox.Pump
	status *status.Publisher
	down   *downlink.Handler
	ha     *hadiscovery.Discovery // nil unless Config.HomeAssistant
	// haEvents are the door's events for Home Assistant's event entity
	haEvents <-chan agent.Event
	topics   topic.Door
	log      *slog.Logger

	downFunc func(mqttlink.Message) // set by Start, before the link runs

	uplinkMu   sync.RWMutex
	uplinkDone bool // the pump stopped: acks no longer reach the store
}

// New wires the door and its store to the broker of c.Link. Start runs it.
func New(c Config, door *agent.Door, st *agent.Store) (*Sync, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	topics, err := topic.New(c.Topics.Prefix, c.Topics.Site, c.Topics.Door)
	if err != nil {
		return nil, err
	}
	o := c.Link
	// the outbox's end-to-end ack is the durability; a clean session keeps
	// the broker from queueing what the outbox resends anyway
	o.CleanSession, o.Will, o.Metrics, o.Log = true, status.Will(topics), c.Metrics, c.Log
	s := &Sync{topics: topics, log: c.Log, yield: func() { door.Yield(yieldMax) }}
	if s.down, err = downlink.New(downlink.Config{Topics: topics, Keys: c.Keys, Door: door, Metrics: c.Metrics,
		Log: c.Log}); err != nil {
		return nil, err
	}
	o.Subscriptions = maps.Clone(s.down.Subscriptions())
	maps.Copy(o.Subscriptions, status.Subscriptions(topics))
	o.Subscriptions[topics.EventsAck()] = 1
	if c.HomeAssistant {
		s.ha, err = hadiscovery.New(topics, hadiscovery.Options{Prefix: c.DiscoveryPrefix, SWVersion: c.Version,
			Racks: c.Racks, Log: c.Log})
		if err != nil {
			return nil, err
		}
		maps.Copy(o.Subscriptions, s.ha.Subscriptions())
	}
	ackTopic, cmdTopic := topics.EventsAck(), topics.Cmd()
	// the live messages, which no resubscription brings back, before a
	// flood of records
	o.Urgent = func(t string) bool { return t == ackTopic || t == cmdTopic }
	if s.link, err = mqttlink.New(o, func(msg mqttlink.Message) { s.route(ackTopic, msg) }); err != nil {
		return nil, err
	}
	if s.pump, err = outbox.New(st, s.link, door.Watch(), outbox.Options{Door: topics, Keys: c.Keys, Metrics: c.Metrics,
		Yield: s.yield, Log: c.Log}); err != nil {
		return nil, err
	}
	if s.status, err = status.New(door, s.link, status.Options{Topics: topics, Log: c.Log}); err != nil {
		return nil, err
	}
	if s.ha != nil {
		// Home Assistant's event entity is a live, best-effort view: the
		// hub's record is the outbox's
		s.haEvents = door.Listen(64)
	}
	return s, nil
}

// yieldMax bounds the wait of each message taken and each event
// published for a door with an input in hand: a visit's write takes a
// millisecond or two, and inputs back to back (a stuck button, a noisy
// reader) slow the sync to one step every yieldMax, never stop it.
const yieldMax = 20 * time.Millisecond

// Link returns the door's MQTT link, for its state: which broker it is
// on (Broker), whether it is up, its next connection.
func (s *Sync) Link() *mqttlink.Link { return s.link }

// route hands one message of the link to its part, once the door has
// no input in hand (yield).
func (s *Sync) route(ackTopic string, msg mqttlink.Message) {
	s.yield()
	switch {
	case msg.Topic == ackTopic:
		s.handleAck(msg.Payload)
	case s.status.Handle(msg):
	case s.ha != nil && s.ha.Handle(msg):
	default:
		s.downFunc(msg)
	}
}

// handleAck gives an ack to the pump while it runs: after it, the store
// may be closed.
func (s *Sync) handleAck(payload []byte) {
	s.uplinkMu.RLock()
	defer s.uplinkMu.RUnlock()
	if s.uplinkDone {
		return
	}
	if err := s.pump.HandleAck(payload); err != nil { // counted by the outbox
		s.log.Warn("events/ack refused", "err", err)
	}
}

// Start runs the door's MQTT side in g, each part until its phase (see
// the package doc).
func (s *Sync) Start(g *lifecycle.Group) {
	s.downFunc = s.down.Func(g.Context(lifecycle.Input))
	g.Go(lifecycle.Link, "mqtt link", func(ctx context.Context) error {
		if err := s.link.Run(ctx); err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		return nil
	})
	g.Go(lifecycle.Serve, "uplink", func(ctx context.Context) error {
		defer func() {
			s.uplinkMu.Lock()
			s.uplinkDone = true
			s.uplinkMu.Unlock()
		}()
		if err := s.pump.Run(ctx); err != nil {
			return fmt.Errorf("mqtt: %w", err)
		}
		return nil
	})
	if s.ha != nil {
		g.Go(lifecycle.Serve, "home assistant discovery", func(ctx context.Context) error {
			if err := s.ha.Run(ctx, s.link); err != nil && ctx.Err() == nil {
				s.log.Warn("mqtt: home assistant discovery", "err", err)
			}
			return nil
		})
		g.Go(lifecycle.Serve, "home assistant events", func(ctx context.Context) error {
			hadiscovery.Forward(ctx, s.topics, s.haEvents, s.link)
			return nil
		})
	}
	g.Go(lifecycle.Final, "status", func(ctx context.Context) error {
		if err := s.status.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Warn("mqtt: final status not delivered; the will says offline", "err", err)
		}
		return nil
	})
}
