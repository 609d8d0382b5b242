package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/config"
)

// FuzzParseAgent feeds ParseAgent arbitrary files: it never panics, every
// error names the file, and whatever it accepts is valid.
func FuzzParseAgent(f *testing.F) {
	if b, err := os.ReadFile(examplePath); err == nil {
		f.Add(b)
	} else {
		f.Fatal(err)
	}
	f.Add([]byte(minimal))
	for _, tc := range badConfigs {
		if len(tc.yaml) <= 16<<10 {
			f.Add([]byte(tc.yaml))
		}
	}
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Add([]byte("rules: {<<: {unlock: 5s}}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := config.ParseAgent("/etc/kunci/agent.yaml", b)
		if err != nil {
			if c != nil {
				t.Fatalf("ParseAgent returned a config with the error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "agent.yaml: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseAgent accepted a config that Validate refuses: %v", err)
		}
		_ = c.AgentRules()
		for _, p := range append([]string{c.Store, c.SiteKeyFile}, c.TrustedKeys...) {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("path %q is not resolved against the config's folder", p)
			}
		}
	})
}
