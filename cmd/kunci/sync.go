package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/downlink"
	"github.com/kunci-project/kunci/sync/hadiscovery"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/status"
	"github.com/kunci-project/kunci/sync/topic"
)

// agentSync is a door's MQTT side: the link, the uplink pump, the signed
// downlink and the status publisher.
type agentSync struct {
	link   *mqttlink.Link
	pump   *outbox.Pump
	status *status.Publisher
	down   *downlink.Handler
	ha     *hadiscovery.Discovery // nil unless mqtt.home_assistant
	// haEvents are the door's events for Home Assistant's event entity
	haEvents <-chan agent.Event
	topics   topic.Door
	log      *slog.Logger
}

// newAgentSync wires the door to the broker of cfg.MQTT.
func newAgentSync(ctx context.Context, cfg *config.Agent, door *agent.Door, st *agent.Store, keys permit.Keyring,
	reg *metrics.Registry, log *slog.Logger) (*agentSync, error) {
	m := cfg.MQTT
	topics, err := topic.New(m.Prefix, cfg.Site, cfg.Door)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	o := mqttlink.Options{Broker: m.Broker, ClientID: m.ClientID, Username: m.Username,
		// the outbox's end-to-end ack is the durability; a clean session
		// keeps the broker from queueing what the outbox resends anyway
		CleanSession: true, Will: status.Will(topics), Metrics: reg, Log: log}
	if err := linkSecrets(&o, m.PasswordFile, m.CAFile, m.CertFile, m.KeyFile); err != nil {
		return nil, err
	}
	s := &agentSync{log: log}
	if s.down, err = downlink.New(downlink.Config{Topics: topics, Keys: keys, Door: door, Metrics: reg, Log: log}); err != nil {
		return nil, err
	}
	o.Subscriptions = maps.Clone(s.down.Subscriptions())
	maps.Copy(o.Subscriptions, status.Subscriptions(topics))
	o.Subscriptions[topics.EventsAck()] = 1
	if m.HomeAssistant {
		s.ha, err = hadiscovery.New(topics, hadiscovery.Options{Prefix: m.DiscoveryPrefix, SWVersion: version,
			Racks: cfg.Racks, Log: log})
		if err != nil {
			return nil, err
		}
		maps.Copy(o.Subscriptions, s.ha.Subscriptions())
	}
	downFunc := s.down.Func(ctx)
	if s.link, err = mqttlink.New(o, func(msg mqttlink.Message) {
		switch {
		case msg.Topic == topics.EventsAck():
			if err := s.pump.HandleAck(msg.Payload); err != nil { // counted by the outbox
				log.Warn("events/ack refused", "err", err)
			}
		case s.status.Handle(msg):
		case s.ha != nil && s.ha.Handle(msg):
		default:
			downFunc(msg)
		}
	}); err != nil {
		return nil, err
	}
	if s.pump, err = outbox.New(st, s.link, door.Watch(), outbox.Options{Door: topics, Metrics: reg, Log: log}); err != nil {
		return nil, err
	}
	if s.status, err = status.New(door, s.link, status.Options{Topics: topics, Log: log}); err != nil {
		return nil, err
	}
	if s.ha != nil {
		// Home Assistant's event entity is a live, best-effort view: the
		// hub's record is the outbox's
		s.haEvents, s.topics = door.Listen(64), topics
	}
	return s, nil
}

// linkSecrets reads a link's password file and TLS files (mqtt.* of
// agent.yaml and hub.yaml) into o.
func linkSecrets(o *mqttlink.Options, passwordFile, caFile, certFile, keyFile string) error {
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
		o.Password = strings.TrimSpace(string(b))
	}
	if caFile != "" || certFile != "" {
		tc, err := mqttlink.TLSConfig(caFile, certFile, keyFile)
		if err != nil {
			return err
		}
		o.TLS = tc
	}
	return nil
}

// Run runs the link, the pump and the status publisher until ctx ends.
// The link outlives the other two, so that the final status and "offline"
// still reach the broker.
func (s *agentSync) Run(ctx context.Context) error {
	linkCtx, stopLink := context.WithCancel(context.Background())
	defer stopLink()
	var linkErr error
	var linkDone sync.WaitGroup
	linkDone.Go(func() { linkErr = s.link.Run(linkCtx) })
	var wg sync.WaitGroup
	var pumpErr, statusErr error
	wg.Go(func() { pumpErr = s.pump.Run(ctx) })
	wg.Go(func() { statusErr = s.status.Run(ctx) })
	if s.ha != nil {
		wg.Go(func() {
			if err := s.ha.Run(ctx, s.link); err != nil && ctx.Err() == nil {
				s.log.Warn("mqtt: home assistant discovery", "err", err)
			}
		})
		wg.Go(func() { hadiscovery.Forward(ctx, s.topics, s.haEvents, s.link) })
	}
	wg.Wait()
	stopLink()
	linkDone.Wait()
	if statusErr != nil {
		s.log.Warn("mqtt: final status not delivered; the will says offline", "err", statusErr)
	}
	return errors.Join(pumpErr, linkErr)
}
