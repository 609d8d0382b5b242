package mqttlink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostPort(t *testing.T) {
	for _, c := range []struct{ broker, host, port string }{
		{"tcp://127.0.0.1:41883", "127.0.0.1", "41883"},
		{"tcp://broker.example", "broker.example", "1883"},
		{"ssl://broker.example", "broker.example", "8883"},
		{"mqtts://[::1]", "::1", "8883"},
		{"", "127.0.0.1", "1883"},
		{"127.0.0.1:1883", "127.0.0.1", "1883"}, // no scheme: no host to url.Parse
	} {
		if h, p := HostPort(c.broker); h != c.host || p != c.port {
			t.Errorf("HostPort(%q) = %s, %s; want %s, %s", c.broker, h, p, c.host, c.port)
		}
	}
}

func TestLoadSecrets(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var o Options
	if err := o.LoadSecrets(pw, "", "", ""); err != nil || o.Password != "s3cret" || o.TLS != nil {
		t.Errorf("LoadSecrets(password) = %v: password %q, TLS %v; want s3cret and no TLS", err, o.Password, o.TLS)
	}
	if err := o.LoadSecrets(pw+".missing", "", "", ""); err == nil || !strings.HasPrefix(err.Error(), "mqtt.password_file: ") {
		t.Errorf("LoadSecrets(a missing password file) = %v; want an mqtt.password_file error", err)
	}
	if err := o.LoadSecrets("", pw, "", ""); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("LoadSecrets(a CA file that is no certificate) = %v; want TLSConfig's refusal", err)
	}
}
