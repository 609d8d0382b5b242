package mqtttest

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestHashPasswordMatchesMosquittoPasswd: the hash made here for machines
// without mosquitto_passwd is the one mosquitto_passwd makes, given its
// salt.
func TestHashPasswordMatchesMosquittoPasswd(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd is not installed")
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command(bin, "-c", "-b", path, "demo/server-room", "s3cret:with colon").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	user, hash, _ := strings.Cut(strings.TrimSpace(string(b)), ":")
	parts := strings.Split(hash, "$") // "", "7", iterations, salt, key
	if user != "demo/server-room" || len(parts) != 5 || parts[1] != "7" {
		t.Fatalf("mosquitto_passwd wrote %q; want demo/server-room:$7$...", b)
	}
	iter, err := strconv.Atoi(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	salt, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		t.Fatal(err)
	}
	if got := hash7("s3cret:with colon", salt, iter); got != hash {
		t.Errorf("hash7 = %s\nmosquitto_passwd = %s", got, hash)
	}
	if h := HashPassword("x"); !strings.HasPrefix(h, "$7$101$") || len(strings.Split(h, "$")) != 5 {
		t.Errorf("HashPassword = %q; want $7$101$salt$key", h)
	}
}
