package mqtttest

import (
	"os"
	"path/filepath"
	"testing"
)

// StartMosquittoConfig starts Mosquitto with conf, a whole configuration
// written by the test (a production file with its ports and paths
// rewritten, say), in dir. port is a loopback port conf listens on
// without TLS: the start waits for it. The log is read by Log only when
// conf logs to dir/mosquitto.log. The broker is stopped when the test
// ends.
func StartMosquittoConfig(t testing.TB, dir string, port int, conf string) *Mosquitto {
	t.Helper()
	bin := Binary(t)
	m := &Mosquitto{t: t, Dir: dir, Port: port, conf: filepath.Join(dir, "mosquitto.conf")}
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start(bin)
	t.Cleanup(m.Stop)
	return m
}
