package mqtttest

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// PasswordFile writes a Mosquitto password file at path with users
// (username -> password): with mosquitto_passwd -b where it is installed,
// else in the same format made here (HashPassword).
func PasswordFile(t testing.TB, path string, users map[string]string) {
	t.Helper()
	names := slices.Sorted(maps.Keys(users))
	if bin, err := exec.LookPath("mosquitto_passwd"); err == nil {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, u := range names {
			if out, err := exec.Command(bin, "-b", path, u, users[u]).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd %s: %v\n%s", u, err, out)
			}
		}
		return
	}
	var b strings.Builder
	for _, u := range names {
		fmt.Fprintf(&b, "%s:%s\n", u, HashPassword(users[u]))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// HashPassword returns password in the hashed form of Mosquitto 2.0's
// password file ($7$: PBKDF2-HMAC-SHA512, 101 iterations, a 12-byte salt),
// as mosquitto_passwd writes it.
func HashPassword(password string) string {
	salt := make([]byte, 12)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hash7(password, salt, 101)
}

func hash7(password string, salt []byte, iterations int) string {
	key, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		panic(err) // only for key lengths out of range
	}
	enc := base64.StdEncoding
	return fmt.Sprintf("$7$%d$%s$%s", iterations, enc.EncodeToString(salt), enc.EncodeToString(key))
}
