package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// MaxFile bounds a config file. One door's config is a few KiB; the bound is
// low because the YAML decoder checks a mapping's keys for duplicates in
// quadratic time (a 1 MiB file of keys takes a minute).
const MaxFile = 64 << 10

// Reader is one card reader of the door.
type Reader struct {
	Name     string `yaml:"name"` // entry or exit
	Type     string `yaml:"type"` // sim, pn532, mfrc522 or evdev
	ReaderHW `yaml:",inline"`
}

// Rules are the door's timings; zero fields take design.md's defaults.
type Rules struct {
	EscortWindow wire.Duration `yaml:"escort_window"`
	Unlock       wire.Duration `yaml:"unlock"`
	HeldOpen     wire.Duration `yaml:"held_open"`
	SecureWithin wire.Duration `yaml:"secure_within"`
	ExitUnlocks  *bool         `yaml:"exit_unlocks"`
}

// Agent is agent.yaml: one door.
type Agent struct {
	Site        string        `yaml:"site"`
	Door        string        `yaml:"door"`
	Store       string        `yaml:"store"`
	StoreQuota  StoreQuota    `yaml:"store_quota"`
	Listen      string        `yaml:"listen"`
	SiteKeyFile string        `yaml:"site_key_file"`
	TrustedKeys []string      `yaml:"trusted_keys"`
	RecordsDir  string        `yaml:"records_dir"`
	RecordsPoll wire.Duration `yaml:"records_poll"`
	Clock       string        `yaml:"clock"` // kernel (adjtimex says when synced) or trusted (dev, or a trusted RTC)
	Hardware    string        `yaml:"hardware"`
	Readers     []Reader      `yaml:"readers"`
	Racks       []string      `yaml:"racks"`
	Rules       Rules         `yaml:"rules"`
	MQTT        MQTT          `yaml:"mqtt"`
	GPIO        *GPIO         `yaml:"gpio"`

	file string // for messages; empty means agent.yaml
}

// StoreQuota bounds the door's store while the hub is away (agent.Quota):
// events not yet acked, and the room its disk keeps free. Zero: the
// defaults (12,000,000 events, 128 MiB).
type StoreQuota struct {
	MaxEvents uint64 `yaml:"max_events"`
	MinFreeMB uint64 `yaml:"min_free_mb"`
}

// MQTT is the door's link to the central broker. Without a broker the door
// runs on its own (records from records_dir, events kept locally).
type MQTT struct {
	Broker string `yaml:"broker"` // tcp://host:1883 or ssl://host:8883
	// Brokers, instead of broker, are a site's brokers in order: the door
	// moves to the next when its broker is gone (mqttlink.Options.Brokers).
	Brokers      []string `yaml:"brokers"`
	ClientID     string   `yaml:"client_id"` // default site.door
	Username     string   `yaml:"username"`  // default site/door, as configs/mosquitto.acl expects
	PasswordFile string   `yaml:"password_file"`
	CAFile       string   `yaml:"ca_file"`
	CertFile     string   `yaml:"cert_file"`
	KeyFile      string   `yaml:"key_file"`
	Prefix       string   `yaml:"prefix"` // kunci/v1
	// Insecure accepts a plain-text broker (tcp://) off loopback: the
	// door's password and its events then cross the network in clear.
	Insecure        bool   `yaml:"insecure"`
	HomeAssistant   bool   `yaml:"home_assistant"`
	DiscoveryPrefix string `yaml:"discovery_prefix"` // homeassistant
}

// LoadAgent reads and validates an agent config. Relative paths in it are
// taken from the file's folder.
func LoadAgent(path string) (*Agent, error) { return load(path, ParseAgent) }

// ParseAgent decodes and validates the agent config b read from path.
func ParseAgent(path string, b []byte) (*Agent, error) { return parse[Agent](path, b) }

// file is what parse needs of a config file's struct.
type file interface {
	// example names the file to start from, for an empty file.
	example() string
	// setFile names the file in the struct's messages.
	setFile(name string)
	// Defaults fills the unset fields.
	Defaults()
	// paths calls abs on every field that is a path.
	paths(abs func(*string))
	// Validate reports every problem, naming the file and the field.
	Validate() error
}

// load reads the file at path and parses it.
func load[T any](path string, parse func(path string, b []byte) (*T, error)) (*T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, b)
}

// parse decodes b, the config file at path, into a T: one YAML document,
// no unknown field, no key set twice, at most MaxFile bytes; every problem
// names the file and, where the line tells it, the field's path. It then
// fills the defaults, takes relative paths from the file's folder and
// validates the config.
func parse[T any, P interface {
	*T
	file
}](path string, b []byte) (*T, error) {
	name := filepath.Base(path)
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(b), MaxFile)
	}
	t := new(T)
	c := P(t)
	// Read the file as a tree first: it tells a field's path by line, and
	// duplicate keys are found here in linear time, because the decoder
	// below would compare (and report) every pair of them.
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no settings in the file (start from %s)", name, c.example())
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document ('---'); want one", name)
	}
	at := indexFields(&root)
	if err := at.duplicates(name); err != nil {
		return nil, err
	}
	c.setFile(name)
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, at.decodeError(name, err)
	}
	c.Defaults()
	dir := filepath.Dir(path)
	c.paths(func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	})
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func (c *Agent) example() string     { return "configs/agent.example.yaml" }
func (c *Agent) setFile(name string) { c.file = name }

func (c *Agent) paths(abs func(*string)) {
	for _, p := range []*string{&c.Store, &c.SiteKeyFile, &c.RecordsDir,
		&c.MQTT.PasswordFile, &c.MQTT.CAFile, &c.MQTT.CertFile, &c.MQTT.KeyFile} {
		abs(p)
	}
	for i := range c.TrustedKeys {
		abs(&c.TrustedKeys[i])
	}
}

// maxDecodeErrors bounds the decoder's problems reported, so that a file of
// garbage gets a readable answer.
const maxDecodeErrors = 20

// decodeError names the file and, where the line tells it, the field's path
// in every problem the YAML decoder found.
func (x *fieldIndex) decodeError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	errs := make([]error, 0, min(len(te.Errors), maxDecodeErrors+1))
	for i, msg := range te.Errors {
		if i == maxDecodeErrors {
			errs = append(errs, fmt.Errorf("%s: and %d more problems", name, len(te.Errors)-i))
			break
		}
		var line int
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			if path := x.field(line, msg); path != "" {
				msg = fmt.Sprintf("line %d: %s:%s", line, path, strings.TrimPrefix(msg, fmt.Sprintf("line %d:", line)))
			}
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, msg))
	}
	return errors.Join(errs...)
}

// fieldIndex tells, for a line of a YAML file, the paths (rules.unlock,
// readers[1].type) of the deepest key and of the deepest value of each tag
// written on it; it also keeps the keys set twice in a mapping.
type fieldIndex struct {
	keys   map[int]pathAt
	values map[string]pathAt // by "line tag"
	dups   []string
}

type pathAt struct {
	path  string
	depth int
}

func indexFields(root *yaml.Node) *fieldIndex {
	x := &fieldIndex{keys: map[int]pathAt{}, values: map[string]pathAt{}}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if n.Kind != yaml.DocumentNode {
			k := fmt.Sprintf("%d %s", n.Line, n.ShortTag())
			if old, ok := x.values[k]; !ok || depth > old.depth {
				x.values[k] = pathAt{path, depth}
			}
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth)
			}
		case yaml.MappingNode:
			// keys compared as the decoder does: same kind, same text
			type key struct {
				kind  yaml.Kind
				value string
			}
			first := map[key]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if line, ok := first[key{k.Kind, k.Value}]; ok {
					x.dups = append(x.dups, fmt.Sprintf("line %d: %s: set again, first set at line %d", k.Line, p, line))
				} else {
					first[key{k.Kind, k.Value}] = k.Line
				}
				if old, ok := x.keys[k.Line]; !ok || depth > old.depth {
					x.keys[k.Line] = pathAt{p, depth}
				}
				walk(n.Content[i+1], p, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		}
	}
	walk(root, "", 0)
	return x
}

// duplicates reports the keys set twice in a mapping.
func (x *fieldIndex) duplicates(name string) error {
	errs := make([]error, 0, min(len(x.dups), maxDecodeErrors+1))
	for i, d := range x.dups {
		if i == maxDecodeErrors {
			errs = append(errs, fmt.Errorf("%s: and %d more keys set twice", name, len(x.dups)-i))
			break
		}
		errs = append(errs, fmt.Errorf("%s: %s", name, d))
	}
	return errors.Join(errs...)
}

// field returns the path of what a decoder message about line is about: a
// message "cannot unmarshal !!seq" is about the deepest value of that tag on
// the line, any other about the deepest key written there. It returns ""
// for the top of the file, or when it cannot tell.
func (x *fieldIndex) field(line int, msg string) string {
	if _, rest, ok := strings.Cut(msg, "cannot unmarshal "); ok {
		tag, _, _ := strings.Cut(rest, " ")
		if v, ok := x.values[fmt.Sprintf("%d %s", line, tag)]; ok {
			return v.path
		}
	}
	return x.keys[line].path
}

// Defaults fills every unset field with its default.
func (c *Agent) Defaults() {
	d := agent.DefaultRules()
	set := func(v *wire.Duration, def time.Duration) {
		if *v == 0 {
			*v = wire.Duration(def)
		}
	}
	set(&c.Rules.EscortWindow, d.EscortWindow)
	set(&c.Rules.Unlock, d.Unlock)
	set(&c.Rules.HeldOpen, d.HeldOpen)
	set(&c.Rules.SecureWithin, d.SecureWithin)
	set(&c.RecordsPoll, 10*time.Second)
	if c.Rules.ExitUnlocks == nil {
		c.Rules.ExitUnlocks = &d.ExitUnlocks
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8081"
	}
	if c.Clock == "" {
		c.Clock = "kernel"
	}
	if len(c.MQTT.BrokerList()) > 0 {
		if c.MQTT.ClientID == "" {
			c.MQTT.ClientID = c.Site + "." + c.Door
		}
		if c.MQTT.Username == "" && c.MQTT.PasswordFile != "" {
			// the broker's ACL confines a door by `pattern ... kunci/v1/%u/...`
			c.MQTT.Username = c.Site + "/" + c.Door
		}
	}
	if c.MQTT.Prefix == "" {
		c.MQTT.Prefix = "kunci/v1"
	}
	if c.MQTT.DiscoveryPrefix == "" {
		c.MQTT.DiscoveryPrefix = "homeassistant"
	}
	if c.Hardware == "" {
		c.Hardware = "sim"
	}
}

// Validate reports every problem of c, one line each, naming the field.
func (c *Agent) Validate() error {
	var errs []error
	file := c.file
	if file == "" {
		file = "agent.yaml"
	}
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", file, field, fmt.Sprintf(format, a...)))
	}
	for _, f := range []struct{ name, v string }{{"site", c.Site}, {"door", c.Door}} {
		if err := permit.CheckID(f.name, f.v); err != nil {
			bad(f.name, "%q is not a valid name (1-64 letters, digits, '.', '_' or '-')", f.v)
		}
	}
	if c.Store == "" {
		bad("store", "missing: the path of the agent's bbolt file")
	}
	if c.SiteKeyFile == "" {
		bad("site_key_file", "missing: the site key that fingerprints cards (kunci keygen writes one)")
	}
	if len(c.TrustedKeys) == 0 {
		bad("trusted_keys", "missing: at least one hub public key (kunci keygen writes one)")
	}
	if c.Clock != "kernel" && c.Clock != "trusted" {
		bad("clock", "%q: want kernel (trust the wall clock only when the kernel says it is synchronised) or trusted", c.Clock)
	}
	c.validateHardware(bad)
	if q := c.StoreQuota.MaxEvents; q != 0 && q < 10_000 {
		bad("store_quota.max_events", "%d: at least 10000 (the default 12000000 keeps months of a door's events offline)", q)
	}
	if len(c.Readers) == 0 {
		bad("readers", "missing: at least the entry reader")
	}
	seen := map[string]bool{}
	for i, r := range c.Readers {
		f := fmt.Sprintf("readers[%d]", i)
		switch {
		case r.Name != agent.ReaderEntry && r.Name != agent.ReaderExit:
			bad(f+".name", "%q is not a reader name; want entry or exit", r.Name)
		case seen[r.Name]:
			bad(f+".name", "%q appears twice", r.Name)
		}
		seen[r.Name] = true
	}
	if len(c.Readers) > 0 && !seen[agent.ReaderEntry] {
		bad("readers", "no entry reader")
	}
	racks := map[string]bool{}
	for i, r := range c.Racks {
		if err := permit.CheckID("rack", r); err != nil {
			bad(fmt.Sprintf("racks[%d]", i), "%q is not a valid rack name", r)
		} else if racks[r] {
			bad(fmt.Sprintf("racks[%d]", i), "%q appears twice", r)
		}
		racks[r] = true
	}
	for _, d := range []struct {
		name string
		v    wire.Duration
		max  time.Duration
	}{
		{"rules.escort_window", c.Rules.EscortWindow, 10 * time.Minute},
		{"rules.unlock", c.Rules.Unlock, time.Minute},
		{"rules.held_open", c.Rules.HeldOpen, time.Hour},
		{"rules.secure_within", c.Rules.SecureWithin, time.Hour},
		{"records_poll", c.RecordsPoll, 24 * time.Hour},
	} {
		if v := time.Duration(d.v); v <= 0 || v > d.max {
			bad(d.name, "%s is out of range; want more than 0 and at most %s", v, d.max)
		}
	}
	c.MQTT.link().validate(bad)
	return errors.Join(errs...)
}

// BrokerList returns the door's brokers: brokers, or broker alone (none
// when neither is set).
func (m *MQTT) BrokerList() []string { return brokerList(m.Broker, m.Brokers) }

func brokerList(broker string, brokers []string) []string {
	if len(brokers) == 0 && broker != "" {
		return []string{broker}
	}
	return brokers
}

func (m *MQTT) link() link {
	return link{broker: m.Broker, brokers: m.Brokers, insecure: m.Insecure, clientID: m.ClientID, passwordFile: m.PasswordFile, caFile: m.CAFile,
		certFile: m.CertFile, keyFile: m.KeyFile, prefix: m.Prefix}
}

// link is what the mqtt sections of agent.yaml and hub.yaml share.
type link struct {
	broker, clientID, passwordFile, caFile, certFile, keyFile, prefix string
	brokers                                                           []string
	insecure                                                          bool
}

// maxBrokers bounds mqtt.brokers: a site runs two or three.
const maxBrokers = 8

// validate reports the link's problems under mqtt.; without a broker, only
// the settings that need one.
func (m link) validate(bad func(field, format string, a ...any)) {
	if m.broker == "" && len(m.brokers) == 0 {
		for _, f := range []struct{ name, v string }{{"password_file", m.passwordFile}, {"ca_file", m.caFile},
			{"cert_file", m.certFile}, {"key_file", m.keyFile}} {
			if f.v != "" {
				bad("mqtt."+f.name, "set without mqtt.broker or mqtt.brokers")
			}
		}
		return
	}
	if m.broker != "" && len(m.brokers) > 0 {
		bad("mqtt.brokers", "set together with mqtt.broker %q; list every broker in brokers, the first preferred, "+
			"and leave broker out", m.broker)
	}
	if len(m.brokers) > maxBrokers {
		bad("mqtt.brokers", "%d brokers; at most %d", len(m.brokers), maxBrokers)
	}
	if m.broker != "" {
		m.validateBroker(bad, "mqtt.broker", m.broker)
	}
	for i, b := range m.brokers {
		f := fmt.Sprintf("mqtt.brokers[%d]", i)
		if j := slices.Index(m.brokers, b); j < i {
			bad(f, "%q is listed twice (also brokers[%d])", b, j)
			continue
		}
		m.validateBroker(bad, f, b)
	}
	if (m.certFile == "") != (m.keyFile == "") {
		bad("mqtt.cert_file", "cert_file and key_file go together")
	}
	m.validateNames(bad)
}

// validateBroker reports the problems of one broker address, the field
// named f: every one of a door's brokers is held to the same rules, the
// plain text off loopback among them.
func (m link) validateBroker(bad func(field, format string, a ...any), f, broker string) {
	u, err := url.Parse(broker)
	switch {
	case err != nil || u.Host == "":
		bad(f, "%q is not a broker address such as tcp://127.0.0.1:1883 or ssl://hub.example:8883", broker)
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "tls" && u.Scheme != "mqtt" && u.Scheme != "mqtts":
		bad(f, "scheme %q; want tcp, ssl, tls, mqtt or mqtts", u.Scheme)
	case u.Scheme == "tcp" || u.Scheme == "mqtt":
		if m.caFile != "" || m.certFile != "" {
			bad(f, "TLS files are set but %q is not a TLS address (use ssl://)", broker)
		} else if !isLoopback(u.Host) && !m.insecure {
			bad(f, "%q is plain text to a host off loopback: the password and every record would cross the network "+
				"in clear; use ssl://%s:8883 with the broker's CA in ca_file, or insecure: true to accept that", broker, u.Hostname())
		}
	}
}

// validateNames reports the problems of the client id and the prefix.
func (m link) validateNames(bad func(field, format string, a ...any)) {
	if len(m.clientID) > 64 || strings.ContainsAny(m.clientID, "+#/ ") {
		bad("mqtt.client_id", "%q: at most 64 characters, no '+', '#', '/' or spaces", m.clientID)
	}
	if strings.ContainsAny(m.prefix, "+#") || strings.HasSuffix(m.prefix, "/") {
		bad("mqtt.prefix", "%q: no wildcards and no trailing '/'", m.prefix)
	}
}

// File names the config file in messages.
func (c *Agent) File() string {
	if c.file == "" {
		return "agent.yaml"
	}
	return c.file
}

// AgentRules returns the door's rules.
func (c *Agent) AgentRules() agent.Rules {
	return agent.Rules{EscortWindow: time.Duration(c.Rules.EscortWindow), Unlock: time.Duration(c.Rules.Unlock),
		HeldOpen: time.Duration(c.Rules.HeldOpen), SecureWithin: time.Duration(c.Rules.SecureWithin),
		ExitUnlocks: *c.Rules.ExitUnlocks}
}

// ReaderNames returns the configured reader names.
func (c *Agent) ReaderNames() []string {
	n := make([]string, len(c.Readers))
	for i, r := range c.Readers {
		n[i] = r.Name
	}
	return n
}
