package auth_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
)

func TestTokenFile(t *testing.T) {
	tokens, _ := newTokens(t)
	token, _ := issue(t, tokens, "admin", []auth.Role{auth.Admin}, time.Time{})
	path := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := auth.WriteTokenFile(path, token); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, %v; want mode 0600", st.Mode(), err)
	}
	if got, err := auth.ReadTokenFile(path); got != token || err != nil {
		t.Errorf("ReadTokenFile = %q, %v; want the token written", got, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("WriteTokenFile left %d files; want 1", len(entries))
	}

	for _, c := range []struct {
		content string
		err     error
	}{
		{token + "\r\n", nil},
		{"  " + token + "\n\n", nil},
		{"", auth.ErrMalformed},
		{"Bearer " + token, auth.ErrMalformed},
		{token + "\n" + token + "\n", auth.ErrMalformed},
	} {
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := auth.ReadTokenFile(path)
		if !errors.Is(err, c.err) || (err == nil) != (got == token) {
			t.Errorf("ReadTokenFile of %q = %q, %v; want %v", c.content, got, err, c.err)
		}
		if err != nil && leaks(err.Error(), token) {
			t.Errorf("ReadTokenFile: the error %q shows the secret", err)
		}
	}
	if _, err := auth.ReadTokenFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTokenFile of no file: %v; want fs.ErrNotExist", err)
	}
	if err := auth.WriteTokenFile(path, "kunci_x"); !errors.Is(err, auth.ErrMalformed) {
		t.Errorf("WriteTokenFile of a malformed token: %v; want ErrMalformed", err)
	}
	if err := auth.WriteTokenFile(filepath.Join(t.TempDir(), "no", "dir"), token); err == nil {
		t.Error("WriteTokenFile into a missing directory: no error")
	}
}
