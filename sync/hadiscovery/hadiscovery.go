package hadiscovery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/status"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// DefaultPrefix is Home Assistant's default discovery prefix.
const DefaultPrefix = "homeassistant"

// QoS of the configs and the events.
const QoS = 1

// Message is one MQTT message to publish: the configs retained, the events
// not.
type Message struct {
	Topic   string
	Payload []byte
}

// Options describe the door to Home Assistant. Zero values take the
// defaults noted.
type Options struct {
	Prefix    string   // discovery prefix (homeassistant)
	Name      string   // device name (Kunci <site>/<door>)
	Model     string   // device model (Door agent)
	SWVersion string   // the agent's version, shown as the device's software
	Racks     []string // the door's racks, one entity each
	Log       *slog.Logger
	// AckTimeout bounds the wait for each config's acknowledgement (10 s).
	AckTimeout time.Duration
	// RetryAfter is the pause before configs that failed are sent again (1 s).
	RetryAfter time.Duration
}

// Discovery is one door's discovery configs and the loop that keeps them
// on the broker.
type Discovery struct {
	t       topic.Door
	o       Options
	configs []Message
	birth   chan struct{} // Home Assistant said online
}

// New builds the door's configs.
func New(t topic.Door, o Options) (*Discovery, error) {
	t, err := topic.New(t.Prefix, t.Site, t.Door)
	if err != nil {
		return nil, fmt.Errorf("hadiscovery: %w", err)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "+#") || strings.HasSuffix(o.Prefix, "/") || strings.HasPrefix(o.Prefix, "/") {
		return nil, fmt.Errorf("hadiscovery: discovery prefix %q: no wildcards, no leading or trailing '/'", o.Prefix)
	}
	for _, r := range o.Racks {
		if err := permit.CheckID("rack", r); err != nil {
			return nil, fmt.Errorf("hadiscovery: %w", err)
		}
	}
	if o.Name == "" {
		o.Name = "Kunci " + t.Site + "/" + t.Door
	}
	if o.Model == "" {
		o.Model = "Door agent"
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	d := &Discovery{t: t, o: o, birth: make(chan struct{}, 1)}
	d.configs = d.build()
	return d, nil
}

// Configs returns the discovery messages, to be published retained at
// QoS 1.
func (d *Discovery) Configs() []Message { return append([]Message(nil), d.configs...) }

// StatusTopic is where Home Assistant announces itself: "online" when it
// starts (its birth message), "offline" as its will.
func (d *Discovery) StatusTopic() string { return d.o.Prefix + "/status" }

// Subscriptions are the filters the link must subscribe to for Handle.
func (d *Discovery) Subscriptions() map[string]byte {
	return map[string]byte{d.StatusTopic(): QoS}
}

// Handle takes a message from the link's handler and reports whether it
// was Home Assistant's status. A live "online" there means Home Assistant
// (re)started and may have forgotten the configs: Run sends them again. A
// retained one is ignored, since every connection sends them anyway. It
// never blocks.
func (d *Discovery) Handle(m mqttlink.Message) bool {
	if m.Topic != d.StatusTopic() {
		return false
	}
	if !m.Retained && string(m.Payload) == status.Online {
		select {
		case d.birth <- struct{}{}:
		default:
		}
	}
	return true
}

// Link is what Run needs of the MQTT connection; *mqttlink.Link has it.
type Link interface {
	Publisher
	Connected() bool
	NextConnection() <-chan struct{}
}

// Publisher publishes; *mqttlink.Link is one.
type Publisher interface {
	Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token
}

var _ Link = (*mqttlink.Link)(nil)

// Run publishes the configs at every connection and whenever Home
// Assistant comes online, until ctx ends. The configs stay retained after
// it: the availability topic tells Home Assistant when the door is gone.
func (d *Discovery) Run(ctx context.Context, l Link) error {
	next := l.NextConnection() // before the first Connected check
	due := true
	var retry *time.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		select {
		case <-next:
			next, due = l.NextConnection(), true
		default:
		}
		if due && retryC == nil && l.Connected() {
			due = false
			if err := d.publish(ctx, l); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.o.Log.Warn("hadiscovery: publish configs", "err", err, "retry_in", d.o.RetryAfter)
				due = true
				retry = time.NewTimer(d.o.RetryAfter)
				retryC = retry.C
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-next:
			next, due = l.NextConnection(), true
		case <-d.birth:
			d.o.Log.Info("hadiscovery: Home Assistant is online; sending the configs")
			due = true
		case <-retryC:
			retry, retryC = nil, nil
		}
	}
}

func (d *Discovery) publish(ctx context.Context, l Publisher) error {
	for _, m := range d.configs {
		actx, cancel := context.WithTimeout(ctx, d.o.AckTimeout)
		err := mqttlink.Wait(actx, l.Publish(m.Topic, QoS, true, m.Payload))
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", m.Topic, err)
		}
	}
	return nil
}

// Publish sends msgs retained at QoS 1, one after the other, each
// acknowledged before the next, until ctx ends.
func Publish(ctx context.Context, l Publisher, msgs []Message) error {
	for _, m := range msgs {
		if err := mqttlink.Wait(ctx, l.Publish(m.Topic, QoS, true, m.Payload)); err != nil {
			return fmt.Errorf("hadiscovery: %s: %w", m.Topic, err)
		}
	}
	return nil
}

// build makes the configs, in a fixed order.
func (d *Discovery) build() []Message {
	t := d.t
	base := "kunci_" + objectID(t.Site) + "_" + objectID(t.Door)
	device := map[string]any{"identifiers": []string{base}, "name": d.o.Name, "manufacturer": "Kunci",
		"model": d.o.Model}
	origin := map[string]any{"name": "Kunci"}
	if d.o.SWVersion != "" {
		device["sw_version"] = d.o.SWVersion
		origin["sw_version"] = d.o.SWVersion
	}
	availability := []map[string]any{{"topic": t.Availability(),
		"payload_available": status.Online, "payload_not_available": status.Offline}}

	var msgs []Message
	add := func(component, key, name string, fields map[string]any) {
		uid := base + "_" + key
		p := map[string]any{
			"unique_id":         uid,
			"default_entity_id": component + "." + entityID(uid),
			"name":              name,
			"device":            device,
			"origin":            origin,
			"availability":      availability,
			"qos":               QoS,
		}
		maps.Copy(p, fields)
		payload, err := json.Marshal(p)
		if err != nil {
			panic(fmt.Sprintf("hadiscovery: a config of strings does not encode: %v", err)) // unreachable
		}
		msgs = append(msgs, Message{Topic: d.o.Prefix + "/" + component + "/" + uid + "/config", Payload: payload})
	}
	onStatus := func(fields map[string]any) map[string]any {
		fields["state_topic"] = t.Status()
		if _, ok := fields["json_attributes_template"]; ok {
			fields["json_attributes_topic"] = t.Status()
		}
		return fields
	}

	add("binary_sensor", "lock", "Lock", onStatus(map[string]any{"device_class": "lock",
		"value_template": threeWay("value_json.lock", wire.Unlocked, wire.Locked)}))
	add("binary_sensor", "door", "Door", onStatus(map[string]any{"device_class": "door",
		"value_template": threeWay("value_json.door", wire.Open, wire.Closed)}))
	for _, r := range d.o.Racks {
		add("binary_sensor", "rack_"+objectID(r), "Rack "+r, onStatus(map[string]any{"device_class": "opening",
			"value_template": threeWay("value_json.racks.get('"+r+"')", wire.Open, wire.Closed)}))
	}
	alarms := "{{ {'alarms': value_json.alarms} | tojson }}"
	add("binary_sensor", "tamper", "Tamper", onStatus(map[string]any{"device_class": "tamper",
		"value_template":           anyAlarm("in", TamperAlarms),
		"json_attributes_template": alarms}))
	add("binary_sensor", "problem", "Problem", onStatus(map[string]any{"device_class": "problem",
		"value_template":           anyAlarm("not in", append(slices.Clone(TamperAlarms), wire.AlarmLockdown)),
		"json_attributes_template": alarms}))
	add("sensor", "occupancy", "Occupancy", onStatus(map[string]any{"state_class": "measurement",
		"icon":                     "mdi:account-multiple",
		"value_template":           "{{ value_json.occupancy | count }}",
		"json_attributes_template": "{{ {'occupants': value_json.occupancy} | tojson }}"}))
	add("sensor", "mode", "Mode", onStatus(map[string]any{"icon": "mdi:shield-lock",
		"value_template": "{{ value_json.mode }}"}))
	add("event", "access", "Access", map[string]any{"state_topic": EventTopic(t), "event_types": EventTypes,
		"icon": "mdi:badge-account"})
	return msgs
}

// TamperAlarms are the status alarms (before any ':') that Tamper shows;
// Problem shows every other alarm but lockdown.
var TamperAlarms = []wire.Alarm{wire.AlarmDoorForced, wire.AlarmRackTampered}

// threeWay renders ON when expr is on, OFF when it is off, and None
// (Home Assistant's unknown) otherwise.
func threeWay(expr, on, off string) string {
	return fmt.Sprintf("{%% set v = %s %%}{{ 'ON' if v == '%s' else ('OFF' if v == '%s' else 'None') }}", expr, on, off)
}

// anyAlarm renders ON when an alarm's kind (the part before ':') is op
// kinds, else OFF.
func anyAlarm(op string, kinds []wire.Alarm) string {
	return fmt.Sprintf("{%% for a in value_json.alarms if a.split(':')[0] %s %s %%}{%% if loop.first %%}ON{%% endif %%}"+
		"{%% else %%}OFF{%% endfor %%}", op, jinjaList(kinds))
}

func jinjaList[T ~string](s []T) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "'" + string(v) + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// objectID maps an id to Home Assistant's topic alphabet [A-Za-z0-9_-].
func objectID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// entityID maps a unique id to an entity id's object part: lower-case
// letters, digits and single underscores, none at either end.
func entityID(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
		} else {
			under = true
		}
	}
	return b.String()
}
