package hadiscovery_test

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/hadiscovery"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var demo = topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: "server-room"}

func newDemo(t *testing.T) *hadiscovery.Discovery {
	t.Helper()
	d, err := hadiscovery.New(demo, hadiscovery.Options{Racks: []string{"R1", "R2"}, SWVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// config is one decoded discovery message.
type config struct {
	component, objectID string
	p                   map[string]any
}

func configs(t *testing.T, d *hadiscovery.Discovery) map[string]config {
	t.Helper()
	topicRE := regexp.MustCompile(`^homeassistant/(\w+)/([a-zA-Z0-9_-]+)/config$`) // Home Assistant's discovery topic
	out := map[string]config{}
	for _, m := range d.Configs() {
		sm := topicRE.FindStringSubmatch(m.Topic)
		if sm == nil {
			t.Fatalf("config topic %q is not homeassistant/<component>/<object_id>/config", m.Topic)
		}
		var p map[string]any
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		key := strings.TrimPrefix(sm[2], "kunci_demo_server-room_")
		if _, dup := out[key]; dup {
			t.Fatalf("two configs for %s", key)
		}
		out[key] = config{component: sm[1], objectID: sm[2], p: p}
	}
	return out
}

// Keys Home Assistant's MQTT discovery schemas know, per component: the
// common entity keys (availability, device, origin, unique_id, ...) and
// the platform's own. A key outside them is dropped silently by Home
// Assistant, so a typo here would go unnoticed there.
var (
	commonKeys = []string{"availability", "availability_mode", "availability_template", "availability_topic",
		"payload_available", "payload_not_available", "device", "origin", "enabled_by_default", "entity_category",
		"entity_picture", "icon", "json_attributes_topic", "json_attributes_template", "object_id", "default_entity_id",
		"unique_id", "name", "qos", "encoding", "state_topic", "value_template"}
	platformKeys = map[string][]string{
		"binary_sensor": {"device_class", "expire_after", "force_update", "off_delay", "payload_off", "payload_on"},
		"sensor": {"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
			"suggested_display_precision", "state_class", "unit_of_measurement"},
		"event": {"device_class", "event_types"},
	}
	binarySensorClasses = []string{"lock", "door", "opening", "tamper", "problem"} // all in Home Assistant's list
	// Home Assistant's entity id rule without its look-arounds: lower-case
	// letters, digits and single underscores, none at the ends of either part
	entityIDRE = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*\.[a-z0-9]+(_[a-z0-9]+)*$`)
)

// TestConfigsFollowTheSchema checks every config against the keys Home
// Assistant's discovery schemas require and know.
func TestConfigsFollowTheSchema(t *testing.T) {
	cs := configs(t, newDemo(t))
	want := []string{"access", "door", "lock", "mode", "occupancy", "problem", "rack_R1", "rack_R2", "tamper"}
	if got := slices.Sorted(maps.Keys(cs)); !slices.Equal(got, want) {
		t.Fatalf("entities %v; want %v", got, want)
	}
	for key, c := range cs {
		p := c.p
		allowed := append(append([]string(nil), commonKeys...), platformKeys[c.component]...)
		if platformKeys[c.component] == nil {
			t.Errorf("%s: component %q; want binary_sensor, sensor or event", key, c.component)
		}
		for k := range p {
			if !slices.Contains(allowed, k) {
				t.Errorf("%s: key %q is not in Home Assistant's %s schema", key, k, c.component)
			}
			if strings.HasPrefix(k, "command") {
				t.Errorf("%s: %s: Home Assistant must never be offered a command topic", key, k)
			}
		}
		// MQTT_RO_SCHEMA: state_topic is required
		if st, _ := p["state_topic"].(string); st == "" {
			t.Errorf("%s: no state_topic", key)
		}
		if p["unique_id"] != c.objectID {
			t.Errorf("%s: unique_id %v; want the topic's object_id %s", key, p["unique_id"], c.objectID)
		}
		if deid, _ := p["default_entity_id"].(string); deid != c.component+"."+strings.ReplaceAll(strings.ToLower(c.objectID), "-", "_") || !entityIDRE.MatchString(deid) {
			t.Errorf("%s: default_entity_id %q; want %s.<lower-case object id>, a valid entity id", key, deid, c.component)
		}
		if p["qos"] != float64(1) {
			t.Errorf("%s: qos %v; want 1", key, p["qos"])
		}
		if name, _ := p["name"].(string); name == "" {
			t.Errorf("%s: no name", key)
		}
		dev, _ := p["device"].(map[string]any)
		if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "kunci_demo_server-room" ||
			dev["manufacturer"] != "Kunci" || dev["name"] != "Kunci demo/server-room" || dev["model"] == nil ||
			dev["sw_version"] != "1.2.3" {
			t.Errorf("%s: device %v; want identifiers [kunci_demo_server-room], manufacturer Kunci, name, model, sw_version", key, dev)
		}
		if o, _ := p["origin"].(map[string]any); o["name"] != "Kunci" {
			t.Errorf("%s: origin %v; want name Kunci", key, p["origin"])
		}
		av, _ := p["availability"].([]any)
		if len(av) != 1 || !maps.Equal(av[0].(map[string]any), map[string]any{"topic": demo.Availability(),
			"payload_available": "online", "payload_not_available": "offline"}) {
			t.Errorf("%s: availability %v; want the door's availability topic, online/offline", key, p["availability"])
		}
		_, tmpl := p["json_attributes_template"]
		if at, _ := p["json_attributes_topic"].(string); tmpl != (at != "") || (tmpl && at != demo.Status()) {
			t.Errorf("%s: json_attributes_topic %q with template %v; want the status topic exactly when a template is set", key, at, tmpl)
		}
		switch c.component {
		case "binary_sensor":
			if !slices.Contains(binarySensorClasses, p["device_class"].(string)) {
				t.Errorf("%s: device_class %v", key, p["device_class"])
			}
			fallthrough
		case "sensor":
			if p["state_topic"] != demo.Status() || p["value_template"] == nil {
				t.Errorf("%s: state_topic %v, value_template %v; want the status topic and a template", key, p["state_topic"], p["value_template"])
			}
		case "event":
			types, _ := p["event_types"].([]any)
			if p["state_topic"] != "kunci/v1/demo/server-room/ha/event" || len(types) == 0 {
				t.Errorf("%s: state_topic %v, event_types %v", key, p["state_topic"], types)
			}
		}
	}
	for key, class := range map[string]string{"lock": "lock", "door": "door", "rack_R1": "opening", "tamper": "tamper", "problem": "problem"} {
		if c := cs[key]; c.component != "binary_sensor" || c.p["device_class"] != class {
			t.Errorf("%s: %s with device_class %v; want binary_sensor %s", key, c.component, c.p["device_class"], class)
		}
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		t topic.Door
		o hadiscovery.Options
	}{
		{topic.Door{Site: "demo"}, hadiscovery.Options{}},
		{demo, hadiscovery.Options{Prefix: "homeassistant/#"}},
		{demo, hadiscovery.Options{Prefix: "homeassistant/"}},
		{demo, hadiscovery.Options{Racks: []string{"R 1"}}},
		{demo, hadiscovery.Options{Racks: []string{"R1'}}{{"}}},
	} {
		if _, err := hadiscovery.New(tc.t, tc.o); err == nil {
			t.Errorf("New(%+v, %+v) = nil error", tc.t, tc.o)
		}
	}
}

// TestIDsMapToHomeAssistantsAlphabet: ids may hold '.', which neither a
// topic's object_id nor an entity id may.
func TestIDsMapToHomeAssistantsAlphabet(t *testing.T) {
	d, err := hadiscovery.New(topic.Door{Site: "hq.jkt", Door: "DC_1.a"}, hadiscovery.Options{Racks: []string{"r.1"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range d.Configs() {
		var p map[string]any
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^homeassistant/\w+/kunci_hq_jkt_DC_1_a_[a-zA-Z0-9_-]+/config$`).MatchString(m.Topic) {
			t.Errorf("topic %q", m.Topic)
		}
		if deid := p["default_entity_id"].(string); !entityIDRE.MatchString(deid) {
			t.Errorf("default_entity_id %q is not a valid entity id", deid)
		}
	}
}

func TestEventMessage(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 2, 3, 123e6, time.UTC)
	e := agent.Event{ID: "demo/server-room/6f1c2a/42", Seq: 42, Epoch: "6f1c2a", Site: "demo", Door: "server-room",
		Type: wire.EvGranted, At: at, ClockSynced: true, Boot: "b91e", MonoNS: 1234567, Reader: "entry",
		Permit: "P-0012", Escort: "S-004", Card: "a1b2c3d4"}
	m, ok := hadiscovery.EventMessage(demo, e)
	if !ok || m.Topic != "kunci/v1/demo/server-room/ha/event" {
		t.Fatalf("EventMessage = %q, %v; want the ha/event topic", m.Topic, ok)
	}
	var got map[string]any
	if err := json.Unmarshal(m.Payload, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"event_type": "access.granted", "id": e.ID, "seq": float64(42),
		"at": "2026-11-27T03:02:03.123Z", "clock_synced": true, "reader": "entry", "permit": "P-0012", "escort": "S-004"}
	if !maps.Equal(got, want) {
		t.Errorf("payload %s;\nwant %v (no card, no empty fields)", m.Payload, want)
	}

	for _, e := range []agent.Event{{Type: wire.EvTap, Card: "a1b2"}, {Type: wire.EvOpened},
		{Type: wire.EvDenied, Replayed: true}, {Type: "bogus"}} {
		if m, ok := hadiscovery.EventMessage(demo, e); ok {
			t.Errorf("EventMessage(%s replayed=%v) = %s; want not sent", e.Type, e.Replayed, m.Payload)
		}
	}
	// every type offered to Home Assistant is one the door emits, and is sent
	known := []wire.EventType{wire.EvStarted, wire.EvTap, wire.EvEscortAwaited, wire.EvGranted, wire.EvDenied,
		wire.EvUnlocked, wire.EvLocked, wire.EvOpened, wire.EvClosed, wire.EvForced, wire.EvHeldOpen,
		wire.EvExitRequested, wire.EvRackOpened, wire.EvRackClosed, wire.EvRackTampered, wire.EvVisitEntered,
		wire.EvVisitExited, wire.EvUnescorted, wire.EvSecured, wire.EvNotSecured, wire.EvPermitRejected,
		wire.EvCmdExecuted, wire.EvCmdRejected, wire.EvClockUnsynced, wire.EvReaderFault, wire.EvRelayFault}
	for _, typ := range hadiscovery.EventTypes {
		if !slices.Contains(known, typ) {
			t.Errorf("EventTypes has %q, which the door never emits", typ)
		}
		if _, ok := hadiscovery.EventMessage(demo, agent.Event{Type: typ}); !ok {
			t.Errorf("EventMessage(%s) not sent", typ)
		}
	}
	var cfg map[string]any
	for _, c := range newDemo(t).Configs() {
		if strings.HasPrefix(c.Topic, "homeassistant/event/") {
			_ = json.Unmarshal(c.Payload, &cfg)
		}
	}
	var types []wire.EventType
	for _, v := range cfg["event_types"].([]any) {
		types = append(types, wire.EventType(v.(string)))
	}
	if !slices.Equal(types, hadiscovery.EventTypes) {
		t.Errorf("event entity's event_types %v; want EventTypes %v", types, hadiscovery.EventTypes)
	}
}

// TestTemplatesRenderTheDocumentedStates renders every template with
// Jinja2 (the engine of Home Assistant's templates, in its sandbox)
// against sample statuses. The templates use plain Jinja only, so Home
// Assistant's extra filters are not needed. Skipped without python3 and
// jinja2.
func TestTemplatesRenderTheDocumentedStates(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import jinja2.sandbox").Run() != nil {
		t.Skip("python3 with jinja2 is not installed; the templates' rendering is not checked")
	}
	cs := configs(t, newDemo(t))
	quiet := `{"door":"closed","lock":"locked","racks":{"R1":"closed","R2":"closed"},"mode":"normal","occupancy":[],"secured":true,"alarms":[],"seq":1,"clock_synced":true,"version":"1.2.3"}`
	busy := `{"door":"open","lock":"unlocked","racks":{"R1":"open","R2":"closed"},"mode":"normal","occupancy":[{"permit":"P-0012","escort":"S-004","since":"2026-11-27T03:02:03Z"},{"staff":"S-004","since":"2026-11-27T03:02:04Z"}],"secured":false,"alarms":["door_held_open","rack_tampered:R1"],"seq":9,"clock_synced":true,"version":"1.2.3"}`
	lockdown := `{"door":"open","lock":"locked","racks":{"R1":"closed","R2":"closed"},"mode":"lockdown","occupancy":[],"secured":false,"alarms":["door_forced","lockdown"],"seq":12,"clock_synced":true,"version":"1.2.3"}`
	fault := `{"door":"closed","lock":"locked","racks":{"R1":"closed"},"mode":"normal","occupancy":[],"secured":true,"alarms":["relay_fault"],"seq":13,"clock_synced":false,"version":"1.2.3"}`
	odd := `{"door":"ajar","lock":"jammed","racks":{},"mode":"normal","occupancy":[],"secured":false,"alarms":["some_new_alarm"],"seq":14,"clock_synced":true,"version":"1.2.3"}`
	statuses := []struct{ name, json string }{{"quiet", quiet}, {"busy", busy}, {"lockdown", lockdown},
		{"fault", fault}, {"odd", odd}}
	// what each entity's value_template renders for each of statuses, in
	// their order; "-" is not checked
	values := []struct {
		entity string
		want   [5]string
	}{
		{"lock", [5]string{"OFF", "ON", "-", "-", "None"}}, // lock device class: ON means unlocked
		{"door", [5]string{"OFF", "ON", "-", "-", "None"}},
		{"rack_R1", [5]string{"OFF", "ON", "-", "-", "-"}},
		{"rack_R2", [5]string{"-", "OFF", "-", "None", "-"}}, // fault: a rack the status does not know
		{"tamper", [5]string{"OFF", "ON", "ON", "OFF", "OFF"}},
		{"problem", [5]string{"OFF", "ON", "OFF", "ON", "ON"}},
		{"occupancy", [5]string{"0", "2", "-", "-", "-"}},
		{"mode", [5]string{"normal", "-", "lockdown", "-", "-"}},
	}
	type renderCase struct{ entity, field, status, want string }
	var cases []renderCase
	for _, v := range values {
		for i, want := range v.want {
			if want != "-" {
				cases = append(cases, renderCase{v.entity, "value_template", statuses[i].name, want})
			}
		}
	}
	cases = append(cases,
		renderCase{"tamper", "json_attributes_template", "busy", `{"alarms": ["door_held_open", "rack_tampered:R1"]}`},
		renderCase{"occupancy", "json_attributes_template", "busy", `{"occupants": [{"escort": "S-004", "permit": "P-0012", "since": "2026-11-27T03:02:03Z"}, {"since": "2026-11-27T03:02:04Z", "staff": "S-004"}]}`})
	sample := map[string]string{}
	for _, st := range statuses {
		sample[st.name] = st.json
	}
	type job struct {
		Template string `json:"template"`
		Value    string `json:"value"`
	}
	var jobs []job
	for _, c := range cases {
		tmpl, _ := cs[c.entity].p[c.field].(string)
		if tmpl == "" {
			t.Fatalf("%s has no %s", c.entity, c.field)
		}
		jobs = append(jobs, job{tmpl, sample[c.status]})
	}
	in, _ := json.Marshal(jobs)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jobs.json"), in, 0o600); err != nil {
		t.Fatal(err)
	}
	// value_json is the payload parsed, value the payload, as in Home Assistant
	const render = `
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment()
out = []
for j in json.load(open(sys.argv[1])):
    try:
        out.append(env.from_string(j["template"]).render(value=j["value"], value_json=json.loads(j["value"])))
    except Exception as e:
        out.append("ERROR: %r" % e)
print(json.dumps(out))
`
	cmd := exec.Command(py, "-c", render, filepath.Join(dir, "jobs.json"))
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var got []string
	if err := json.Unmarshal(raw, &got); err != nil || len(got) != len(cases) {
		t.Fatalf("python3 said %s (%v)", raw, err)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s %s on the %s status = %q; want %q", c.entity, c.field, c.status, got[i], c.want)
		}
	}
}
