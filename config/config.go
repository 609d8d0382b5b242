package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
)

// MaxFile bounds a config file.
const MaxFile = 1 << 20

// Duration is a time.Duration written as "5s", "2m" or "1h30m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as 5s or 2m", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 5s or 2m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Reader is one card reader of the door.
type Reader struct {
	Name string `yaml:"name"` // entry or exit
	Type string `yaml:"type"` // sim
}

// Rules are the door's timings; zero fields take design.md's defaults.
type Rules struct {
	EscortWindow Duration `yaml:"escort_window"`
	Unlock       Duration `yaml:"unlock"`
	HeldOpen     Duration `yaml:"held_open"`
	SecureWithin Duration `yaml:"secure_within"`
	ExitUnlocks  *bool    `yaml:"exit_unlocks"`
}

// Agent is agent.yaml: one door.
type Agent struct {
	Site        string   `yaml:"site"`
	Door        string   `yaml:"door"`
	Store       string   `yaml:"store"`
	Listen      string   `yaml:"listen"`
	SiteKeyFile string   `yaml:"site_key_file"`
	TrustedKeys []string `yaml:"trusted_keys"`
	RecordsDir  string   `yaml:"records_dir"`
	RecordsPoll Duration `yaml:"records_poll"`
	Clock       string   `yaml:"clock"` // kernel (adjtimex says when synced) or trusted (dev, or a trusted RTC)
	Hardware    string   `yaml:"hardware"`
	Readers     []Reader `yaml:"readers"`
	Racks       []string `yaml:"racks"`
	Rules       Rules    `yaml:"rules"`

	file string // for messages; empty means agent.yaml
}

// LoadAgent reads and validates an agent config. Relative paths in it are
// taken from the file's folder.
func LoadAgent(path string) (*Agent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseAgent(path, b)
}

// ParseAgent decodes and validates the agent config b read from path.
func ParseAgent(path string, b []byte) (*Agent, error) {
	name := filepath.Base(path)
	if len(b) > MaxFile {
		return nil, fmt.Errorf("%s: %d bytes, at most %d", name, len(b), MaxFile)
	}
	c := &Agent{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c.Defaults()
	dir := filepath.Dir(path)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Store)
	abs(&c.SiteKeyFile)
	abs(&c.RecordsDir)
	for i := range c.TrustedKeys {
		abs(&c.TrustedKeys[i])
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Defaults fills every unset field with its default.
func (c *Agent) Defaults() {
	d := agent.DefaultRules()
	set := func(v *Duration, def time.Duration) {
		if *v == 0 {
			*v = Duration(def)
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
	if c.Hardware != "sim" {
		bad("hardware", "%q is not supported; want sim", c.Hardware)
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
		if r.Type != "sim" && r.Type != "" {
			bad(f+".type", "%q is not a reader type; want sim", r.Type)
		}
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
		v    Duration
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
	return errors.Join(errs...)
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
