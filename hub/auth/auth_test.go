package auth_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/internal/boltcheck"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openDB opens a bbolt file as the hub does and checks its integrity when
// the test ends; under TestOnPostgres, a PostgreSQL database. path is the
// file's ("" for PostgreSQL).
func openDB(tb testing.TB) (db kv.DB, path string) {
	tb.Helper()
	open := kvtest.Postgres
	if !kvtest.OnPostgres(tb) {
		path = filepath.Join(tb.TempDir(), "hub.db")
		open = func(testing.TB) func() (kv.DB, error) {
			return func() (kv.DB, error) {
				db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
				if err != nil {
					return nil, err
				}
				tb.Cleanup(func() { // after the Close below
					if err := boltcheck.CheckFile(path); err != nil {
						tb.Errorf("hub store inconsistent: %v", err)
					}
				})
				return kv.Bolt(db), nil
			}
		}
	}
	db, err := open(tb)()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, path
}

// TestOnPostgres runs the tokens' and users' tests again on PostgreSQL
// (those of a synctest bubble stay on bbolt: a pool's goroutines and
// sockets are not the bubble's to wait for).
func TestOnPostgres(t *testing.T) {
	kvtest.RunOnPostgres(t, TestOneSpellingPerActor, TestActorNameRefusesHiddenCharacters, TestTokenFile,
		TestMiddleware, TestRequire, TestMiddlewareStoreFails, TestContext, TestIssueInvalid, TestOnlyHashStored,
		TestEnsureAdminConcurrent, TestCorruptRecord, TestNewAgain, TestUserSignInAndVerify, TestUserAddInvalid,
		TestDisableEndsSessions, TestChangeEndsSessions, TestSignOut, TestLimiterByAddress)
}

func newTokens(tb testing.TB) (*auth.Tokens, kv.DB) {
	tb.Helper()
	db, _ := openDB(tb)
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
