package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

const hubExamplePath = "../configs/hub.yaml"

// configs/hub.yaml is the hub an installer copies to /etc/kunci/hub.yaml:
// it must load, and agree with the unit that runs it and with the
// broker's ACL.
func TestHubExampleLoads(t *testing.T) {
	c, err := config.LoadHub(hubExamplePath)
	if err != nil {
		t.Fatalf("LoadHub(%s) = %v; the example must stay valid", hubExamplePath, err)
	}
	if c.Listen != "127.0.0.1:8080" || c.InsecureHTTP {
		t.Errorf("listen %q, insecure_http %v; want the API on loopback", c.Listen, c.InsecureHTTP)
	}
	if !slices.Equal(c.Doors, []string{"diskominfo/server-room"}) || c.SiteKeys["diskominfo"] != "/etc/kunci/keys/site.key" {
		t.Errorf("doors %q, site_keys %q; want diskominfo/server-room and its site's key in /etc/kunci/keys", c.Doors, c.SiteKeys)
	}
	if time.Duration(c.Retention) != 90*24*time.Hour {
		t.Errorf("retention = %v; want the office's 90 days", time.Duration(c.Retention))
	}
	n := c.Notify
	if len(n.Rules) == 0 || n.Rules[0].Topics[0] != "alarm.*" || len(n.Rules[0].Steps) != 2 || n.Timezone != "Asia/Jakarta" ||
		n.Email == nil || n.Email.Port != 587 || n.Telegram == nil || n.Telegram.BaseURL != "https://api.telegram.org" {
		t.Errorf("notify %+v; want the alarms to the team with an escalation, by email (587) and Telegram", n)
	}
	unit, err := os.ReadFile("../configs/kunci-hub.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/kunci hub --config /etc/kunci/hub.yaml\n") ||
		!strings.Contains(string(unit), "StateDirectory=kunci\n") {
		t.Error("kunci-hub.service does not run kunci hub --config /etc/kunci/hub.yaml with StateDirectory=kunci")
	}
	for _, p := range []string{c.Store, c.EventsStore, c.AdminTokenFile} {
		if filepath.Dir(p) != "/var/lib/kunci" {
			t.Errorf("%s is not in /var/lib/kunci, the unit's StateDirectory (the only folder it may write)", p)
		}
	}
	acl, err := os.ReadFile("../configs/mosquitto.acl")
	if err != nil {
		t.Fatal(err)
	}
	m := c.MQTT
	if !strings.Contains(string(acl), "\nuser "+m.Username+"\n") || m.PasswordFile == "" {
		t.Errorf("mqtt.username %q with password_file %q; want the hub's user of mosquitto.acl, by password", m.Username, m.PasswordFile)
	}
	if !strings.Contains(string(acl), "topic read "+m.Prefix+"/+/+/events\n") || m.ClientID != "kunci-hub-ingest" {
		t.Errorf("mqtt prefix %q, client_id %q; want the ACL's prefix and the fixed id of the hub's session", m.Prefix, m.ClientID)
	}
}

// The README's examples of agent.yaml and hub.yaml, the fenced yaml
// blocks whose first line is "# agent.yaml" or "# hub.yaml", must parse.
func TestReadmeExamplesParse(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for block := range strings.SplitSeq(string(b), "```yaml\n") {
		body, _, ok := strings.Cut(block, "```")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(body, "# agent.yaml"):
			n["agent.yaml"]++
			if _, err := config.ParseAgent("/etc/kunci/agent.yaml", []byte(body)); err != nil {
				t.Errorf("README's agent.yaml example:\n%s\n%v", body, err)
			}
		case strings.HasPrefix(body, "# hub.yaml"):
			n["hub.yaml"]++
			if _, err := config.ParseHub("/etc/kunci/hub.yaml", []byte(body)); err != nil {
				t.Errorf("README's hub.yaml example:\n%s\n%v", body, err)
			}
		}
	}
	if n["agent.yaml"] == 0 || n["hub.yaml"] == 0 {
		t.Errorf("README examples found: %v; want at least one agent.yaml and one hub.yaml (the two brokers')", n)
	}
}
