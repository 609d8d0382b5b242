package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/config"
)

// FuzzParseAgent feeds ParseAgent arbitrary files: it never panics, every
// error names the file, and whatever it accepts is valid.
func FuzzParseAgent(f *testing.F) {
	seeds := []string{minimal, "a: &a [*a, *a]\nb: *a\n", "rules: {<<: {unlock: 5s}}\n"}
	for _, tc := range badConfigs {
		seeds = append(seeds, tc.yaml)
	}
	fuzzParse(f, config.ParseAgent, "/etc/kunci/agent.yaml", examplePath, seeds, func(t *testing.T, c *config.Agent) {
		_ = c.AgentRules()
		absolute(t, append([]string{c.Store, c.SiteKeyFile}, c.TrustedKeys...)...)
	})
}

// FuzzParseHub feeds ParseHub arbitrary files, as FuzzParseAgent does
// ParseAgent.
func FuzzParseHub(f *testing.F) {
	seeds := []string{"site_keys: {<<: {demo: a}}\ndoors: &d [demo/x]\n"}
	for _, tc := range goodHubs {
		seeds = append(seeds, tc.yaml)
	}
	for _, tc := range badHubs {
		seeds = append(seeds, tc.yaml)
	}
	fuzzParse(f, config.ParseHub, "/etc/kunci/hub.yaml", hubExamplePath, seeds, func(t *testing.T, c *config.Hub) {
		absolute(t, c.SigningKey, c.AdminTokenFile)
		if c.StoreKeysFile != "" || (c.StoreDSNFile == "" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://")) {
			absolute(t, c.StoreKeysFile) // none for a store in PostgreSQL: its keys are in the database
		}
		for _, s := range []struct{ v, dsnFile string }{{c.Store, c.StoreDSNFile}, {c.EventsStore, c.EventsStoreDSNFile}} {
			switch {
			case s.dsnFile != "":
				absolute(t, s.dsnFile)
			case !strings.HasPrefix(s.v, "postgres://") && !strings.HasPrefix(s.v, "postgresql://"):
				absolute(t, s.v)
			}
		}
		for _, p := range c.SiteKeys {
			absolute(t, p)
		}
		if len(c.SiteKeys) == 0 || len(c.MQTT.BrokerList()) == 0 {
			t.Fatalf("accepted without site keys or broker: %+v", c)
		}
	})
}

// fuzzParse fuzzes parse, a config file's parser, seeded with the example
// file and seeds: it never panics, every error names the file, and what
// it accepts is valid; check looks further at what it accepts.
func fuzzParse[C any, P interface {
	*C
	Validate() error
}](f *testing.F, parse func(path string, b []byte) (P, error), path, example string, seeds []string,
	check func(*testing.T, P)) {
	b, err := os.ReadFile(example)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range seeds {
		if len(s) <= 16<<10 {
			f.Add([]byte(s))
		}
	}
	name := filepath.Base(path) + ": "
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parse(path, b)
		if err != nil {
			if c != nil {
				t.Fatalf("the parser returned a config with the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), name) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("the parser accepted a config that Validate refuses: %v", err)
		}
		check(t, c)
	})
}

// absolute fails t unless every path is absolute: relative ones are taken
// from the config's folder.
func absolute(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("path %q is not resolved against the config's folder", p)
		}
	}
}
