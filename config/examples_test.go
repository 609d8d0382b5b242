package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kunci-project/kunci/config"
)

// Every agent config in configs/ is one an installer copies: each must
// load. The Raspberry Pi ones must describe the wiring the README's table
// shows.
func TestAgentExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../configs/agent*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"agent.example.yaml", "agent.pi4-pn532.yaml", "agent.pi-mfrc522.yaml"} {
		if !slices.Contains(files, "../configs/"+want) {
			t.Errorf("configs/%s is missing; found %q", want, files)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.ParseAgent(f, b)
		if err != nil {
			t.Errorf("ParseAgent(%s) = %v; every example must stay valid", f, err)
			continue
		}
		if c.Hardware != "gpio" {
			continue
		}
		g := c.GPIO
		if g.Relay.Pin != "GPIO18" || g.Relay.ActiveLow || g.Relay.Lock != "fail-secure" {
			t.Errorf("%s: relay %+v; want GPIO18, active-high, fail-secure", f, g.Relay)
		}
		if g.Door.Pin != "GPIO17" || g.Racks["R1"].Pin != "GPIO22" || g.Racks["R2"].Pin != "GPIO23" ||
			g.ExitButton == nil || g.ExitButton.Pin != "GPIO27" {
			t.Errorf("%s: door %s, racks %v, exit %v; want GPIO17, R1 GPIO22, R2 GPIO23, GPIO27", f, g.Door.Pin, g.Racks, g.ExitButton)
		}
		if c.Clock != "kernel" || c.Store != "/var/lib/kunci/agent.db" {
			t.Errorf("%s: clock %q, store %q; want kernel and /var/lib/kunci/agent.db (the unit's StateDirectory)", f, c.Clock, c.Store)
		}
		if len(c.Readers) == 0 || c.Readers[0].Name != "entry" {
			t.Errorf("%s: readers %+v; want the entry reader first", f, c.Readers)
		}
	}
}
