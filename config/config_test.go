package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/config"
)

const examplePath = "../configs/agent.example.yaml"

// The example is what installers copy: it must stay valid and must say
// what the defaults are.
func TestExampleIsValid(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.ParseAgent(examplePath, b)
	if err != nil {
		t.Fatalf("ParseAgent(%s) = %v; the example must stay valid", examplePath, err)
	}
	dir := filepath.Dir(examplePath)
	if c.Site != "demo" || c.Door != "server-room" || c.Listen != "127.0.0.1:8081" || c.Hardware != "sim" ||
		c.Clock != "trusted" {
		t.Errorf("example = site %q door %q listen %q hardware %q clock %q; want demo, server-room, 127.0.0.1:8081, sim, trusted",
			c.Site, c.Door, c.Listen, c.Hardware, c.Clock)
	}
	if want := filepath.Join(dir, "keys", "site.key"); c.SiteKeyFile != want {
		t.Errorf("site_key_file = %q; want %q (relative to the config's folder)", c.SiteKeyFile, want)
	}
	if len(c.TrustedKeys) != 1 || filepath.Dir(c.TrustedKeys[0]) != filepath.Join(dir, "keys") {
		t.Errorf("trusted_keys = %q; want one file in %s", c.TrustedKeys, filepath.Join(dir, "keys"))
	}
	if want := filepath.Join(dir, "records"); c.RecordsDir != want {
		t.Errorf("records_dir = %q; want %q", c.RecordsDir, want)
	}
	if got := c.ReaderNames(); !slices.Equal(got, []string{"entry", "exit"}) {
		t.Errorf("readers = %v; want [entry exit]", got)
	}
	if !slices.Equal(c.Racks, []string{"R1", "R2"}) {
		t.Errorf("racks = %v; want [R1 R2]", c.Racks)
	}
	if got, want := c.AgentRules(), agent.DefaultRules(); got != want {
		t.Errorf("example rules = %+v; want the defaults %+v written out", got, want)
	}
}

func TestAgentRules(t *testing.T) {
	c, err := config.ParseAgent("agent.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.AgentRules(), agent.DefaultRules(); got != want {
		t.Errorf("rules with no rules section = %+v; want the defaults %+v", got, want)
	}
	c, err = config.ParseAgent("agent.yaml", []byte(minimal+
		"rules:\n  escort_window: 1m\n  unlock: 3s\n  held_open: 1m30s\n  secure_within: 5m\n  exit_unlocks: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Rules{EscortWindow: time.Minute, Unlock: 3 * time.Second, HeldOpen: 90 * time.Second,
		SecureWithin: 5 * time.Minute, ExitUnlocks: false}
	if got := c.AgentRules(); got != want {
		t.Errorf("rules = %+v; want %+v", got, want)
	}
}

func TestRelativePathsFromConfigFolder(t *testing.T) {
	b := []byte(`site: demo
door: server-room
store: data/agent.db
site_key_file: /secret/site.key
trusted_keys: [keys/hub-a.pub, /etc/kunci/hub-b.pub]
records_dir: records
readers: [{name: entry}]
`)
	c, err := config.ParseAgent("/etc/kunci/agent.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ field, got, want string }{
		{"store", c.Store, "/etc/kunci/data/agent.db"},
		{"site_key_file", c.SiteKeyFile, "/secret/site.key"},
		{"trusted_keys[0]", c.TrustedKeys[0], "/etc/kunci/keys/hub-a.pub"},
		{"trusted_keys[1]", c.TrustedKeys[1], "/etc/kunci/hub-b.pub"},
		{"records_dir", c.RecordsDir, "/etc/kunci/records"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q; want %q", f.field, f.got, f.want)
		}
	}
	// the defaults of fields left out
	if c.Listen != "127.0.0.1:8081" || c.Clock != "kernel" || c.Hardware != "sim" ||
		time.Duration(c.RecordsPoll) != 10*time.Second {
		t.Errorf("defaults = listen %q clock %q hardware %q records_poll %v", c.Listen, c.Clock, c.Hardware,
			time.Duration(c.RecordsPoll))
	}
}

func TestLoadAgent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "door.yaml")
	if err := os.WriteFile(p, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadAgent(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "agent.db"); c.Store != want {
		t.Errorf("store = %q; want %q", c.Store, want)
	}
	if _, err := config.LoadAgent(filepath.Join(dir, "missing.yaml")); err == nil ||
		!strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadAgent(missing file) = %v; want an error naming the file", err)
	}
}

// minimal is the smallest valid config; the bad cases below change one
// thing of it.
const minimal = `site: demo
door: server-room
store: agent.db
site_key_file: keys/site.key
trusted_keys:
  - keys/hub-1.pub
readers:
  - name: entry
    type: sim
`

// gpioConfig is a valid config of a door on a Pi with a PN532.
const gpioConfig = `site: demo
door: server-room
store: agent.db
site_key_file: keys/site.key
trusted_keys:
  - keys/hub-1.pub
hardware: gpio
readers:
  - name: entry
    type: pn532
    device: /dev/serial0
racks: [R1, R2]
gpio:
  relay: {pin: GPIO18}
  door: {pin: GPIO17}
  racks:
    R1: {pin: GPIO22}
    R2: {pin: GPIO23}
`

// gpioMinimal returns gpioConfig with old replaced by new.
func gpioMinimal(old, new string) string {
	if !strings.Contains(gpioConfig, old) {
		panic("gpioConfig has no " + old)
	}
	return strings.Replace(gpioConfig, old, new, 1)
}

func TestGPIOConfig(t *testing.T) {
	c, err := config.ParseAgent("/etc/kunci/agent.yaml", []byte(gpioConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.GPIO == nil || c.GPIO.Relay.Pin != "GPIO18" || c.GPIO.Racks["R2"].Pin != "GPIO23" || c.Readers[0].Device != "/dev/serial0" {
		t.Errorf("GPIO = %+v, readers %+v", c.GPIO, c.Readers)
	}
}

// with returns minimal with old replaced by new; old must be there.
func with(old, new string) string {
	if !strings.Contains(minimal, old) {
		panic("minimal has no " + old)
	}
	return strings.Replace(minimal, old, new, 1)
}

// badConfigs are configs ParseAgent must refuse, each with the fragments
// its error must contain: the file, the field's path and the problem.
// They also seed FuzzParseAgent.
var badConfigs = []struct {
	name string
	yaml string
	want []string
}{
	{"typo at top", with("site:", "sitee:"), []string{"line 1", "sitee", "not found"}},
	{"mqtt bad broker", minimal + "mqtt:\n  broker: 127.0.0.1:1883\n", []string{"mqtt.broker", "not a broker address"}},
	{"mqtt bad scheme", minimal + "mqtt:\n  broker: http://hub:1883\n", []string{"mqtt.broker", `scheme "http"`}},
	{"mqtt tls files on tcp", minimal + "mqtt:\n  broker: tcp://hub:1883\n  ca_file: ca.pem\n", []string{"mqtt.broker", "not a TLS address"}},
	{"mqtt cert without key", minimal + "mqtt:\n  broker: ssl://hub:8883\n  cert_file: c.pem\n", []string{"mqtt.cert_file", "go together"}},
	{"mqtt files without broker", minimal + "mqtt:\n  password_file: p\n", []string{"mqtt.password_file", "without mqtt.broker"}},
	{"mqtt bad client id", minimal + "mqtt:\n  broker: tcp://127.0.0.1:1883\n  client_id: a/b\n", []string{"mqtt.client_id", "no '+'"}},
	{"mqtt bad prefix", minimal + "mqtt:\n  broker: tcp://127.0.0.1:1883\n  prefix: kunci/#\n", []string{"mqtt.prefix", "no wildcards"}},
	{"typo in rules", minimal + "rules:\n  unlok: 5s\n", []string{"line 11", "rules.unlok", "not found"}},
	{"typo in reader", with("    type: sim", "    typ: sim"), []string{"line 9", "readers[0].typ", "not found"}},
	{"list for string", with("site: demo", "site: [demo, lab]"), []string{"line 1", "site:", "cannot unmarshal !!seq"}},
	{"string for list", minimal + "racks: R1\n", []string{"line 10", "racks:", "cannot unmarshal !!str"}},
	{"map for list item", minimal + "racks:\n  - {name: R1}\n", []string{"line 11: racks[0]: cannot unmarshal !!map"}},
	{"list for reader name", with("name: entry", "name: [entry]"), []string{"line 8: readers[0].name: cannot unmarshal !!seq"}},
	{"flow style", minimal + "rules: {unlock: 5x}\n", []string{"line 10: rules.unlock:", `"5x" is not a duration`}},
	{"bool not bool", minimal + "rules:\n  exit_unlocks: maybe\n", []string{"line 11", "rules.exit_unlocks", "cannot unmarshal"}},
	{"readers not a list", with("readers:\n  - name: entry\n    type: sim\n", "readers: entry\n"),
		[]string{"line 7", "readers:", "cannot unmarshal"}},
	{"bad duration", minimal + "rules:\n  unlock: 5x\n", []string{"line 11", "rules.unlock", `"5x" is not a duration`}},
	{"duration without unit", minimal + "rules:\n  held_open: 30\n", []string{"rules.held_open", `"30" is not a duration`}},
	{"duration not a string", minimal + "records_poll: [1s]\n", []string{"line 10", "records_poll", "want a duration"}},
	{"negative duration", minimal + "rules:\n  unlock: -5s\n", []string{"rules.unlock", "-5s is out of range"}},
	{"zero duration", minimal + "rules:\n  escort_window: 0s\n", []string{"line 11", "rules.escort_window", "want more than 0"}},
	{"zero duration without unit", minimal + "records_poll: 0\n", []string{"records_poll", "want more than 0"}},
	{"unlock too long", minimal + "rules:\n  unlock: 2m\n", []string{"rules.unlock", "2m0s is out of range", "at most 1m0s"}},
	{"escort window too long", minimal + "rules:\n  escort_window: 11m\n", []string{"rules.escort_window", "at most 10m0s"}},
	{"held open too long", minimal + "rules:\n  held_open: 2h\n", []string{"rules.held_open", "at most 1h0m0s"}},
	{"secure within too long", minimal + "rules:\n  secure_within: 61m\n", []string{"rules.secure_within", "at most 1h0m0s"}},
	{"records poll too long", minimal + "records_poll: 25h\n", []string{"records_poll", "at most 24h0m0s"}},
	{"duration overflow", minimal + "rules:\n  unlock: 9999999999h\n", []string{"rules.unlock", "is not a duration"}},
	{"missing site", with("site: demo\n", ""), []string{"site:", `"" is not a valid name`}},
	{"missing door", with("door: server-room\n", ""), []string{"door:", `"" is not a valid name`}},
	{"missing store", with("store: agent.db\n", ""), []string{"store: missing"}},
	{"missing site key", with("site_key_file: keys/site.key\n", ""), []string{"site_key_file: missing", "kunci keygen"}},
	{"missing trusted keys", with("trusted_keys:\n  - keys/hub-1.pub\n", ""), []string{"trusted_keys: missing"}},
	{"empty trusted keys", with("trusted_keys:\n  - keys/hub-1.pub\n", "trusted_keys: []\n"), []string{"trusted_keys: missing"}},
	{"site with space", with("site: demo", "site: my site"), []string{`site: "my site" is not a valid name`}},
	{"door with slash", with("door: server-room", "door: ../room"), []string{`door: "../room" is not a valid name`}},
	{"door topic wildcard", with("door: server-room", "door: room/+"), []string{`door: "room/+" is not a valid name`}},
	{"unknown reader", with("name: entry", "name: front"), []string{`readers[0].name: "front" is not a reader name`, "entry or exit"}},
	{"reader without name", with("  - name: entry\n    type: sim\n", "  - type: sim\n"),
		[]string{`readers[0].name: "" is not a reader name`, "readers: no entry reader"}},
	{"duplicate reader", minimal + "  - name: entry\n", []string{`readers[1].name: "entry" appears twice`}},
	{"no entry reader", with("name: entry", "name: exit"), []string{"readers: no entry reader"}},
	{"no readers", with("readers:\n  - name: entry\n    type: sim\n", ""), []string{"readers: missing"}},
	{"real reader on the simulator", with("type: sim", "type: pn532"), []string{`readers[0].type: "pn532" needs hardware: gpio`}},
	{"unknown reader type", gpioMinimal(`    type: pn532
    device: /dev/serial0`, `    type: nfc9000`), []string{`readers[0].type: "nfc9000" is not a reader type`}},
	{"pn532 without device", gpioMinimal("    device: /dev/serial0\n", ""), []string{"readers[0].device: missing"}},
	{"mfrc522 without irq", gpioMinimal(`    type: pn532
    device: /dev/serial0`, `    type: mfrc522
    spi: /dev/spidev0.0
    reset_pin: GPIO25`), []string{"readers[0].irq_pin: missing"}},
	{"evdev bad format", gpioMinimal(`    type: pn532
    device: /dev/serial0`, `    type: evdev
    device: /dev/input/event0
    format: octal`), []string{`readers[0].format: "octal"`}},
	{"type_a_only on mfrc522", gpioMinimal(`    type: pn532
    device: /dev/serial0`, `    type: mfrc522
    spi: /dev/spidev0.0
    irq_pin: GPIO24
    reset_pin: GPIO25
    type_a_only: true`), []string{"readers[0].type_a_only: only for pn532"}},
	{"gpio without relay", gpioMinimal("  relay: {pin: GPIO18}\n", ""), []string{"gpio.relay.pin: missing"}},
	{"gpio pin used twice", gpioMinimal("door: {pin: GPIO17}", "door: {pin: GPIO18}"), []string{"gpio.door.pin: GPIO18 is already used by gpio.relay.pin"}},
	{"gpio bad lock", gpioMinimal("relay: {pin: GPIO18}", "relay: {pin: GPIO18, lock: magnetic}"), []string{`gpio.relay.lock: "magnetic"`}},
	{"gpio bad pull", gpioMinimal("door: {pin: GPIO17}", "door: {pin: GPIO17, pull: sideways}"), []string{`gpio.door.pull: "sideways"`}},
	{"gpio rack without pin", gpioMinimal("    R2: {pin: GPIO23}\n", ""), []string{`gpio.racks: rack "R2" has no pin`}},
	{"gpio unknown rack", gpioMinimal("    R2: {pin: GPIO23}", "    R2: {pin: GPIO23}\n    R9: {pin: GPIO24}"), []string{`gpio.racks.R9: no rack "R9"`}},
	{"gpio on the simulator", minimal + "gpio:\n  relay: {pin: GPIO18}\n", []string{"gpio: set, but hardware is sim"}},
	{"duplicate rack", minimal + "racks: [R1, R2, R1]\n", []string{`racks[2]: "R1" appears twice`}},
	{"bad rack name", minimal + "racks: [R1, 'rack 2']\n", []string{`racks[1]: "rack 2" is not a valid rack name`}},
	{"bad clock", minimal + "clock: ntp\n", []string{`clock: "ntp": want kernel`, "trusted"}},
	{"plain mqtt off loopback", minimal + "mqtt:\n  broker: tcp://hub.example:1883\n",
		[]string{`mqtt.broker: "tcp://hub.example:1883" is plain text to a host off loopback`, "ca_file", "insecure: true"}},
	{"mqtt broker and brokers", minimal + "mqtt:\n  broker: ssl://a:8883\n  brokers: [ssl://a:8883, ssl://b:8883]\n",
		[]string{"mqtt.brokers: set together with mqtt.broker", "leave broker out"}},
	{"mqtt second broker plain off loopback", minimal + "mqtt:\n  brokers: [ssl://a:8883, tcp://b.example:1883]\n",
		[]string{`mqtt.brokers[1]: "tcp://b.example:1883" is plain text to a host off loopback`, "insecure: true"}},
	{"mqtt broker listed twice", minimal + "mqtt:\n  brokers: [ssl://a:8883, ssl://b:8883, ssl://a:8883]\n",
		[]string{`mqtt.brokers[2]: "ssl://a:8883" is listed twice (also brokers[0])`}},
	{"mqtt bad second broker", minimal + "mqtt:\n  brokers: [ssl://a:8883, b:8883]\n", []string{"mqtt.brokers[1]", "not a broker address"}},
	{"mqtt too many brokers", minimal + "mqtt:\n  brokers: [ssl://a:1, ssl://a:2, ssl://a:3, ssl://a:4, ssl://a:5, ssl://a:6, ssl://a:7, ssl://a:8, ssl://a:9]\n",
		[]string{"mqtt.brokers: 9 brokers; at most 8"}},
	{"mqtt tls files on a tcp second broker", minimal + "mqtt:\n  brokers: [ssl://a:8883, tcp://127.0.0.1:1883]\n  ca_file: ca.pem\n",
		[]string{"mqtt.brokers[1]", "not a TLS address"}},
	{"simulator off loopback", minimal + "listen: 0.0.0.0:8081\n", []string{`hardware: sim (the default when hardware is left out) serves the unauthenticated simulator on listen "0.0.0.0:8081"`}},
	{"simulator on every address", minimal + "hardware: sim\nlisten: ':8081'\n", []string{`hardware: sim`, `off loopback`}},
	{"unknown hardware", minimal + "hardware: arduino\n", []string{`hardware: "arduino" is not supported; want sim or gpio`}},
	{"gpio without wiring", with("    type: sim", "    type: pn532\n    device: /dev/serial0") + "hardware: gpio\n", []string{"gpio: missing"}},
	{"empty file", "", []string{"no settings in the file"}},
	{"only comments", "# agent.yaml\n\n# nothing yet\n", []string{"no settings in the file"}},
	{"null document", "~\n", []string{"site:", "store: missing"}},
	{"list document", "- site: demo\n", []string{"line 1: cannot unmarshal !!seq"}},
	{"syntax error", with("site: demo", "site: [demo"), []string{"line", "did not find expected"}},
	{"tab indent", with("  - keys/hub-1.pub", "\t- keys/hub-1.pub"), []string{"line 6", "cannot start any token"}},
	{"two documents", minimal + "---\nsite: other\n", []string{"more than one YAML document"}},
	{"too large", minimal + "#" + strings.Repeat("x", config.MaxFile) + "\n", []string{"bytes, at most 65536"}},
	{"key twice", minimal + "site: lab\n", []string{"line 10: site: set again, first set at line 1"}},
	{"many problems", minimal + unknownKeys(100), []string{"line 10: k00000: field k00000 not found",
		"line 29: k00019:", "and 80 more problems"}},
	{"several problems", with("site: demo", "site: my site") + "clock: ntp\nracks: [R1, R1]\nrules:\n  unlock: 2m\n",
		[]string{`site: "my site"`, `clock: "ntp"`, `racks[1]: "R1" appears twice`, "rules.unlock: 2m0s is out of range"}},
	{"several decode problems", minimal + "rules:\n  unlock: 5x\n  held_open: soon\n  unlok: 5s\nsitee: x\n",
		[]string{"line 11: rules.unlock", "line 12: rules.held_open", "line 13: rules.unlok", "line 14: sitee"}},
}

// unknownKeys returns n lines of unknown fields.
func unknownKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "k%05d: 1\n", i)
	}
	return b.String()
}

// A file of garbage just under MaxFile gets a short answer, quickly: the
// field paths are looked up once, not once per problem, and MaxFile keeps
// the decoder's quadratic check of duplicate keys short.
func TestParseAgentGarbage(t *testing.T) {
	b := []byte(minimal + unknownKeys((config.MaxFile-len(minimal))/10))
	if len(b) > config.MaxFile {
		t.Fatalf("%d bytes; the test wants a file under MaxFile", len(b))
	}
	_, err := config.ParseAgent("agent.yaml", b)
	if err == nil {
		t.Fatal("ParseAgent(100000 unknown fields) = nil")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > 21 {
		t.Errorf("%d lines of errors; want at most 21", n)
	}
	if !strings.Contains(err.Error(), "more problems") {
		t.Errorf("error %q does not say how many more problems", err.Error()[len(err.Error())-200:])
	}
}

func TestParseAgentRefuses(t *testing.T) {
	const path = "/etc/kunci/door1.yaml"
	for _, tc := range badConfigs {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.ParseAgent(path, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("ParseAgent(%s) = %+v, nil; want an error", tc.name, c)
			}
			if c != nil {
				t.Errorf("ParseAgent(%s) returned a config with the error %v", tc.name, err)
			}
			msg := err.Error()
			// every line of the message names the file
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "door1.yaml: ") {
					t.Errorf("error line %q does not start with the file's name", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("ParseAgent(%s) = %q; want it to contain %q", tc.name, msg, w)
				}
			}
			if len(msg) > 4096 {
				t.Errorf("error is %d bytes long; an error must not echo the file", len(msg))
			}
		})
	}
}

// Several problems are reported at once, each as its own error.
func TestValidateReportsEveryProblem(t *testing.T) {
	err := (&config.Agent{}).Validate()
	if err == nil {
		t.Fatal("Validate(empty) = nil")
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate(empty) = %T; want errors.Join of every problem", err)
	}
	// site, door, store, site_key_file, trusted_keys, clock, hardware,
	// readers and the five durations
	if n := len(j.Unwrap()); n != 13 {
		t.Errorf("Validate(empty) reported %d problems; want 13:\n%v", n, err)
	}
	for _, e := range j.Unwrap() {
		if !strings.HasPrefix(e.Error(), "agent.yaml: ") {
			t.Errorf("%q does not name the file", e)
		}
	}

	c, err := config.ParseAgent("agent.yaml", []byte(badConfigs[len(badConfigs)-2].yaml))
	if c != nil || err == nil {
		t.Fatal("several problems: want an error")
	}
	if j, ok := err.(interface{ Unwrap() []error }); !ok || len(j.Unwrap()) != 4 {
		t.Errorf("several problems: %q; want 4 joined errors", err)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("several problems: a joined error must not unwrap to a single one")
	}
}

// A door on two brokers: the list as given, the defaults as for one, and
// plain text to loopback ones accepted.
func TestMQTTBrokers(t *testing.T) {
	c, err := config.ParseAgent("/etc/kunci/agent.yaml", []byte(minimal+
		"mqtt:\n  brokers: [ssl://mqtt-a.example:8883, ssl://mqtt-b.example:8883]\n  password_file: pass\n  ca_file: ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if got := m.BrokerList(); !slices.Equal(got, []string{"ssl://mqtt-a.example:8883", "ssl://mqtt-b.example:8883"}) ||
		m.ClientID != "demo.server-room" || m.Username != "demo/server-room" {
		t.Errorf("brokers %q, client id %q, username %q; want both in order, demo.server-room, demo/server-room", got, m.ClientID, m.Username)
	}
	c, err = config.ParseAgent("/etc/kunci/agent.yaml", []byte(minimal+"mqtt:\n  brokers: [tcp://127.0.0.1:1883, 'tcp://[::1]:1884']\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MQTT.BrokerList(); len(got) != 2 {
		t.Errorf("loopback brokers = %q; want two", got)
	}
	c, err = config.ParseAgent("/etc/kunci/agent.yaml", []byte(minimal+"mqtt:\n  broker: tcp://127.0.0.1:1883\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.MQTT.BrokerList(); !slices.Equal(got, []string{"tcp://127.0.0.1:1883"}) {
		t.Errorf("broker alone: BrokerList() = %q; want it", got)
	}
	if c, err = config.ParseAgent("/etc/kunci/agent.yaml", []byte(minimal)); err != nil || c.MQTT.BrokerList() != nil {
		t.Errorf("no broker: %v, BrokerList() = %q; want none", err, c.MQTT.BrokerList())
	}
}

func TestMQTTDefaults(t *testing.T) {
	c, err := config.ParseAgent("/etc/kunci/agent.yaml", []byte(minimal+"mqtt:\n  broker: ssl://hub:8883\n  password_file: pass\n  ca_file: ca.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if m.ClientID != "demo.server-room" || m.Username != "demo/server-room" || m.Prefix != "kunci/v1" ||
		m.PasswordFile != "/etc/kunci/pass" || m.CAFile != "/etc/kunci/ca.pem" || m.DiscoveryPrefix != "homeassistant" {
		t.Errorf("MQTT = %+v; want client id demo.server-room, username demo/server-room, prefix kunci/v1, paths from the config's folder", m)
	}
}

// The simulator may listen on any loopback address, by name or number.
func TestSimulatorOnLoopback(t *testing.T) {
	for _, l := range []string{"127.0.0.1:8081", "127.0.0.2:9000", "[::1]:8081", "localhost:8081"} {
		if _, err := config.ParseAgent("/etc/kunci/door1.yaml", []byte(minimal+"listen: '"+l+"'\n")); err != nil {
			t.Errorf("listen %s with the simulator: %v", l, err)
		}
	}
}

// A plain-text broker off loopback is taken when the config says so.
func TestPlainMQTTWhenSaid(t *testing.T) {
	for _, b := range []string{"tcp://127.0.0.1:1883", "tcp://localhost:1883", "tcp://[::1]:1883"} {
		if _, err := config.ParseAgent("/etc/kunci/door1.yaml", []byte(minimal+"mqtt:\n  broker: "+b+"\n")); err != nil {
			t.Errorf("broker %s: %v", b, err)
		}
	}
	if _, err := config.ParseAgent("/etc/kunci/door1.yaml", []byte(minimal+"mqtt:\n  broker: tcp://10.1.2.3:1883\n  insecure: true\n")); err != nil {
		t.Errorf("plain text off loopback with insecure: true: %v", err)
	}
}
