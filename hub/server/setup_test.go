package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/permit/keyfile"
)

// SetupOf reads the files hub.yaml names; a file it cannot read is named
// by its field.
func TestSetupOf(t *testing.T) {
	dir := t.TempDir()
	id, err := keyfile.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "mqtt.password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hubYAML := func(signingKey, siteKey string) *config.Hub {
		t.Helper()
		y := fmt.Sprintf("store: hub.db\nevents_store: hub-events.db\nsigning_key: %q\nsite_keys: {demo: %q}\n"+
			"doors: [demo/server-room, demo/ups]\nretention: 720h\nmax_permit_window: 168h\nalarms: {silence: 12h}\n"+
			"mqtt: {broker: tcp://127.0.0.1:1883, username: kunci-hub, password_file: %q, shared: true}\n"+
			"notify:\n  recipients:\n    - {name: soc, webhook: \"https://soc.example/h\", secret_file: %q}\n"+
			"  rules:\n    - topics: [\"alarm.*\"]\n      steps:\n        - to: [soc]\n", signingKey, siteKey, pw, pw)
		c, err := config.ParseHub(filepath.Join(dir, "hub.yaml"), []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	siteKey := filepath.Join(dir, keyfile.SiteKeyName)
	s, err := server.SetupOf(hubYAML(keyfile.Private(dir, id), siteKey))
	if err != nil {
		t.Fatal(err)
	}
	wantDoors := []hub.DoorName{{Site: "demo", Door: "server-room"}, {Site: "demo", Door: "ups"}}
	if s.Signer.ID() != id || len(s.SiteKeys["demo"]) == 0 || !slices.Equal(s.Doors, wantDoors) ||
		s.Store != filepath.Join(dir, "hub.db") || s.EventsStore != filepath.Join(dir, "hub-events.db") ||
		!s.Shared || s.Retention != 720*time.Hour || s.MaxPermitWindow != 168*time.Hour || s.Link.Broker != "tcp://127.0.0.1:1883" ||
		s.Link.Username != "kunci-hub" || s.Link.Password != "s3cret" || len(s.Notify.Rules) != 1 ||
		len(s.Notify.Recipients) != 1 || s.Notify.Recipients[0].Webhook != "https://soc.example/h" || s.Silent != 12*time.Hour {
		t.Errorf("SetupOf = %+v; want the config's stores, key %s, site key demo, doors %v, link and password, notify rule and recipient, "+
			"silence 12h", s, id, wantDoors)
	}
	for _, c := range []struct {
		name string
		cfg  *config.Hub
		want string
	}{
		{"no signing key", hubYAML(filepath.Join(dir, "hub-XXXX.key"), siteKey), "signing_key: "},
		{"no site key", hubYAML(keyfile.Private(dir, id), filepath.Join(dir, "none.key")), "site_keys.demo: "},
	} {
		if _, err := server.SetupOf(c.cfg); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("SetupOf(%s) = %v; want an error starting %q", c.name, err, c.want)
		}
	}
}
