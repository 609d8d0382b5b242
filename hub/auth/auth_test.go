package auth_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/internal/boltcheck"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openDB opens a bbolt file as the hub does and checks its integrity when
// the test ends.
func openDB(tb testing.TB) *bolt.DB {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(tb.TempDir(), "hub.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		err := boltcheck.Check(db)
		if err != nil {
			tb.Errorf("hub store inconsistent: %v", err)
		}
		db.Close()
	})
	return db
}

func newTokens(tb testing.TB) (*auth.Tokens, *bolt.DB) {
	tb.Helper()
	db := openDB(tb)
	tokens, err := auth.New(db, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return tokens, db
}

func issue(tb testing.TB, tokens *auth.Tokens, name string, roles []auth.Role, expires time.Time) (string, auth.Info) {
	tb.Helper()
	token, info, err := tokens.Issue(name, roles, expires)
	if err != nil {
		tb.Fatalf("Issue(%q, %v, %v): %v", name, roles, expires, err)
	}
	return token, info
}

// secretOf returns the secret part of a token of the right length.
func secretOf(token string) string { return token[len("kunci_0123456789abcdef_"):] }

// leaks reports whether text shows the secret of token.
func leaks(text, token string) bool {
	return len(token) == 66 && strings.Contains(text, secretOf(token))
}
