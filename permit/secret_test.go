//go:build unix

package permit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/permit"
)

// A signing key or a site key that other users can read, or anyone but
// its owner change, is refused with the file and its mode named.
func TestKeyFileModes(t *testing.T) {
	dir := t.TempDir()
	priv, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := permit.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := permit.NewSiteKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, siteFile := filepath.Join(dir, "hub.key"), filepath.Join(dir, "site.key")
	for f, b := range map[string][]byte{keyFile: pem, siteFile: permit.MarshalSiteKey(sk)} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := map[string]func(string) error{
		keyFile:  func(p string) error { _, err := permit.LoadSigner(p); return err },
		siteFile: func(p string) error { _, err := permit.LoadSiteKey(p); return err },
	}
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o640, true}, {0o644, false}, {0o604, false}, {0o660, false}, {0o666, false}, {0o602, false}} {
		for f, fn := range load {
			if err := os.Chmod(f, tc.mode); err != nil {
				t.Fatal(err)
			}
			err := fn(f)
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s at %04o: %v", filepath.Base(f), tc.mode, err)
			case !tc.ok && err == nil:
				t.Errorf("%s at %04o: loaded, want refused", filepath.Base(f), tc.mode)
			case !tc.ok && !(strings.Contains(err.Error(), f) && strings.Contains(err.Error(), "chmod 600")):
				t.Errorf("%s at %04o: %v, want the file and the fix named", filepath.Base(f), tc.mode, err)
			}
		}
	}
	if _, err := permit.LoadSiteKey(dir); err == nil {
		t.Error("a directory loaded as a site key")
	}
	big := filepath.Join(dir, "big.key")
	if err := os.WriteFile(big, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := permit.LoadSigner(big); err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Errorf("a 1 MiB file as a signing key: %v", err)
	}
}
