package auth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/kv"
)

var shape = regexp.MustCompile(`^kunci_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`)

func TestIssue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tokens, _ := newTokens(t)
		exp := time.Now().Add(24 * time.Hour)
		token, info := issue(t, tokens, "Budi Santoso", []auth.Role{auth.Viewer, auth.Approver, auth.Viewer}, exp)
		if !shape.MatchString(token) {
			t.Errorf("Issue gave %q; want kunci_<16 hex>_<43 base64url>", token)
		}
		want := auth.Info{ID: token[6:22], Name: "Budi Santoso", Roles: []auth.Role{auth.Approver, auth.Viewer},
			Created: time.Now().UTC(), Expires: exp.UTC()}
		if !infoEqual(info, want) {
			t.Errorf("Issue: info %+v; want %+v", info, want)
		}
		if id, err := auth.TokenID(token); id != info.ID || err != nil {
			t.Errorf("TokenID(token) = %q, %v; want %q", id, err, info.ID)
		}
		other, _ := issue(t, tokens, "Budi Santoso", []auth.Role{auth.Approver}, time.Time{})
		if other[:22] == token[:22] || secretOf(other) == secretOf(token) {
			t.Errorf("two tokens share an id or a secret: %s, %s", token[:22], other[:22])
		}
	})
}

func infoEqual(a, b auth.Info) bool {
	return a.ID == b.ID && a.Name == b.Name && slices.Equal(a.Roles, b.Roles) && a.Created.Equal(b.Created) &&
		a.Expires.Equal(b.Expires) && a.Revoked == b.Revoked && a.RevokedAt.Equal(b.RevokedAt)
}

func TestIssueInvalid(t *testing.T) {
	tokens, _ := newTokens(t)
	admin := []auth.Role{auth.Admin}
	later := time.Now().Add(time.Hour)
	for _, c := range []struct {
		name    string
		roles   []auth.Role
		expires time.Time
		ok      bool
	}{
		{"budi", admin, time.Time{}, true},
		{"Loket 1 (front desk)", []auth.Role{auth.Requester}, later, true},
		{"Ñandú Ökonom 田中", admin, time.Time{}, true},
		{strings.Repeat("é", 64), admin, time.Time{}, true},
		{"", admin, time.Time{}, false},
		{" budi", admin, time.Time{}, false},
		{"budi ", admin, time.Time{}, false},
		{"budi\n", admin, time.Time{}, false},
		{"bu\x00di", admin, time.Time{}, false},
		{"bu\tdi", admin, time.Time{}, false},
		{"budi\u00a0", admin, time.Time{}, false},
		{"bu\u200bdi", admin, time.Time{}, false},
		{"bu\xffdi", admin, time.Time{}, false},
		{strings.Repeat("a", 65), admin, time.Time{}, false},
		{"budi", nil, time.Time{}, false},
		{"budi", []auth.Role{}, time.Time{}, false},
		{"budi", []auth.Role{"root"}, time.Time{}, false},
		{"budi", []auth.Role{auth.Viewer, "Viewer"}, time.Time{}, false},
		{"budi", admin, time.Now().Add(-time.Second), false},
	} {
		token, _, err := tokens.Issue(c.name, c.roles, c.expires)
		if c.ok && err != nil || !c.ok && (!errors.Is(err, auth.ErrInvalid) || token != "") {
			t.Errorf("Issue(%q, %q, %v) = %q, %v; want ok %v", c.name, c.roles, c.expires, token, err, c.ok)
		}
	}
	list, err := tokens.List()
	if err != nil || len(list) != 4 {
		t.Errorf("List() after 4 good and 15 bad Issues = %d tokens, %v; want 4", len(list), err)
	}
}

const (
	b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	hexits = "0123456789abcdef"
)

// change returns s with character i replaced by the one that follows it
// in alphabet (the first after the last).
func change(s string, i int, alphabet string) string {
	j := strings.IndexByte(alphabet, s[i])
	return s[:i] + string(alphabet[(j+1)%len(alphabet)]) + s[i+1:]
}

type verifyCase struct {
	name  string
	token string
	want  error
}

// shapes are the ways to get good, a valid token, wrong; the table of
// TestVerify and the seeds of FuzzVerify.
func shapes(good string) []verifyCase {
	id, secret := good[6:22], secretOf(good)
	last := len(secret) - 1
	// The last character of 32 bytes in base64url carries 4 bits and 2
	// zero bits: with its lowest bit changed it decodes, leniently, to the
	// same bytes. The secret's text is what counts.
	sameBytes := secret[:last] + string(b64url[strings.IndexByte(b64url, secret[last])^1])
	return []verifyCase{
		{"good", good, nil},
		{"empty", "", auth.ErrMalformed},
		{"with the word Bearer", "Bearer " + good, auth.ErrMalformed},
		{"quoted", `"` + good + `"`, auth.ErrMalformed},
		{"no prefix", good[6:], auth.ErrMalformed},
		{"upper-case prefix", "KUNCI_" + good[6:], auth.ErrMalformed},
		{"other prefix", "kunsi_" + good[6:], auth.ErrMalformed},
		{"a character short", good[:len(good)-1], auth.ErrMalformed},
		{"a character more", good + "A", auth.ErrMalformed},
		{"padded", good + "=", auth.ErrMalformed},
		{"newline after", good + "\n", auth.ErrMalformed},
		{"space before", " " + good, auth.ErrMalformed},
		{"upper-case id", "kunci_ABCDEF0123456789_" + secret, auth.ErrMalformed},
		{"non-hex id", "kunci_0123456789abcdeg_" + secret, auth.ErrMalformed},
		{"- after the id", "kunci_" + id + "-" + secret, auth.ErrMalformed},
		{"short id", "kunci_" + id[1:] + "_A" + secret, auth.ErrMalformed},
		{"secret with +", "kunci_" + id + "_+" + secret[1:], auth.ErrMalformed},
		{"secret with /", "kunci_" + id + "_" + secret[:20] + "/" + secret[21:], auth.ErrMalformed},
		{"secret with =", "kunci_" + id + "_" + secret[:last] + "=", auth.ErrMalformed},
		{"secret with a space", "kunci_" + id + "_" + secret[:10] + " " + secret[11:], auth.ErrMalformed},
		{"secret with é", "kunci_" + id + "_" + secret[:last-1] + "é", auth.ErrMalformed},
		{"unknown id", "kunci_" + change(id, 0, hexits) + "_" + secret, auth.ErrUnknown},
		{"first secret character changed", "kunci_" + id + "_" + change(secret, 0, b64url), auth.ErrTampered},
		{"middle secret character changed", "kunci_" + id + "_" + change(secret, 21, b64url), auth.ErrTampered},
		{"last secret character changed", "kunci_" + id + "_" + change(secret, last, b64url), auth.ErrTampered},
		{"last secret character changed, same bytes", "kunci_" + id + "_" + sameBytes, auth.ErrTampered},
	}
}

func TestVerify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { // no t.Run in a bubble: each row names itself
		tokens, _ := newTokens(t)
		good, info := issue(t, tokens, "budi", []auth.Role{auth.Viewer, auth.Approver}, time.Time{})
		expired, _ := issue(t, tokens, "budi", []auth.Role{auth.Approver}, time.Now().Add(time.Minute))
		later, _ := issue(t, tokens, "sari", []auth.Role{auth.Requester}, time.Now().Add(2*time.Minute))
		revoked, rinfo := issue(t, tokens, "eko", []auth.Role{auth.Admin}, time.Time{})
		if err := tokens.Revoke(rinfo.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)

		cases := append(shapes(good),
			verifyCase{"expired", expired, auth.ErrUnknown},
			verifyCase{"expires a minute later", later, nil},
			verifyCase{"revoked", revoked, auth.ErrUnknown},
			verifyCase{"revoked, wrong secret", revoked[:23] + secretOf(good), auth.ErrTampered},
			verifyCase{"secret of another token", good[:23] + secretOf(later), auth.ErrTampered},
		)
		for _, c := range cases {
			p, err := tokens.Verify(c.token)
			if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Errorf("Verify(%s) = %v; want %v", c.name, err, c.want)
			}
			if err != nil && (leaks(err.Error(), c.token) || leaks(err.Error(), good)) {
				t.Errorf("Verify(%s): the error %q shows the secret", c.name, err)
			}
			if err != nil && p.Name != "" {
				t.Errorf("Verify(%s) = %+v with the error; want no principal", c.name, p)
			}
		}
		p, err := tokens.Verify(good)
		want := auth.Principal{Name: "budi", Roles: []auth.Role{auth.Approver, auth.Viewer}, TokenID: info.ID}
		if err != nil || p.Name != want.Name || !slices.Equal(p.Roles, want.Roles) || p.TokenID != want.TokenID {
			t.Errorf("Verify(good) = %+v, %v; want %+v", p, err, want)
		}
	})
}

func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tokens, _ := newTokens(t)
		token, _ := issue(t, tokens, "budi", []auth.Role{auth.Viewer}, time.Now().Add(time.Hour))
		time.Sleep(time.Hour - time.Nanosecond)
		if _, err := tokens.Verify(token); err != nil {
			t.Errorf("Verify a nanosecond before expiry: %v", err)
		}
		time.Sleep(time.Nanosecond)
		if _, err := tokens.Verify(token); !errors.Is(err, auth.ErrUnknown) || !strings.Contains(err.Error(), "expired") {
			t.Errorf("Verify at expiry: %v; want ErrUnknown, expired", err)
		}
	})
}

// FuzzVerify: whatever comes as a token, Verify accepts only the token
// issued, refuses the rest with one of its three errors, agrees with
// TokenID on the shape, and never shows a secret.
func FuzzVerify(f *testing.F) {
	tokens, _ := newTokens(f)
	good, info := issue(f, tokens, "budi", []auth.Role{auth.Viewer}, time.Time{})
	for _, c := range shapes(good) {
		f.Add(c.token)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := tokens.Verify(s)
		id, perr := auth.TokenID(s)
		switch {
		case err == nil:
			if s != good || p.TokenID != info.ID || p.Name != "budi" {
				t.Fatalf("Verify(%q) = %+v; only %q is valid", s, p, good)
			}
		case errors.Is(err, auth.ErrMalformed):
			if perr == nil {
				t.Fatalf("Verify(%q) = %v, but TokenID finds id %s", s, err, id)
			}
		case errors.Is(err, auth.ErrUnknown), errors.Is(err, auth.ErrTampered):
			if perr != nil || !strings.Contains(err.Error(), id) {
				t.Fatalf("Verify(%q) = %v; TokenID = %q, %v", s, err, id, perr)
			}
		default:
			t.Fatalf("Verify(%q) = %v; want ErrMalformed, ErrUnknown or ErrTampered", s, err)
		}
		if perr == nil && (len(s) != 66 || !strings.HasPrefix(s, "kunci_"+id+"_")) {
			t.Fatalf("TokenID(%q) = %q; not the token's id", s, id)
		}
		if err != nil && (leaks(err.Error(), s) || leaks(err.Error(), good)) {
			t.Fatalf("Verify(%q): the error %q shows a secret", s, err)
		}
	})
}

// TestOnlyHashStored: no byte of the file's token bucket, and nothing
// List gives, holds a secret.
func TestOnlyHashStored(t *testing.T) {
	tokens, db := newTokens(t)
	var secrets []string
	for _, name := range []string{"budi", "sari", "eko"} {
		token, _ := issue(t, tokens, name, []auth.Role{auth.Viewer}, time.Time{})
		secrets = append(secrets, secretOf(token))
	}
	list, err := tokens.List()
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := json.Marshal(list)
	err = db.View(func(tx kv.Tx) error {
		return tx.Bucket([]byte("tokens")).ForEach(func(k, v []byte) error {
			for _, s := range secrets {
				if bytes.Contains(k, []byte(s)) || bytes.Contains(v, []byte(s)) || bytes.Contains(listed, []byte(s)) {
					t.Errorf("a secret is stored or listed: %s", k)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestListRevoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tokens, _ := newTokens(t)
		if list, err := tokens.List(); len(list) != 0 || err != nil {
			t.Errorf("List() of a new store = %v, %v; want none", list, err)
		}
		_, a := issue(t, tokens, "budi", []auth.Role{auth.Approver}, time.Time{})
		time.Sleep(time.Second)
		tb, b := issue(t, tokens, "sari", []auth.Role{auth.Requester, auth.Viewer}, time.Now().Add(time.Hour))
		time.Sleep(time.Second)
		if err := tokens.Revoke(b.ID); err != nil {
			t.Fatal(err)
		}
		b.Revoked, b.RevokedAt = true, time.Now().UTC()
		time.Sleep(time.Second)
		if err := tokens.Revoke(b.ID); err != nil {
			t.Errorf("Revoke of a revoked token: %v; want nil", err)
		}
		for _, id := range []string{"0123456789abcdef", "", "0123456789ABCDEF", tb} {
			if err := tokens.Revoke(id); !errors.Is(err, auth.ErrNotFound) || leaks(err.Error(), tb) {
				t.Errorf("Revoke(%q) = %v; want ErrNotFound, no secret", id, err)
			}
		}
		list, err := tokens.List()
		if err != nil || len(list) != 2 || !infoEqual(list[0], a) || !infoEqual(list[1], b) {
			t.Errorf("List() = %+v, %v; want %+v, %+v", list, err, a, b)
		}
		if list[0].Active(time.Now()) == false || list[1].Active(time.Now()) {
			t.Errorf("Active: %v, %v; want true, false", list[0].Active(time.Now()), list[1].Active(time.Now()))
		}
		if _, err := tokens.Verify(tb); !errors.Is(err, auth.ErrUnknown) {
			t.Errorf("Verify(revoked) = %v; want ErrUnknown", err)
		}
	})
}

func TestEnsureAdmin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tokens, _ := newTokens(t)
		issue(t, tokens, "desk", []auth.Role{auth.Requester, auth.Viewer}, time.Time{})
		issue(t, tokens, "kasi", []auth.Role{auth.Admin}, time.Now().Add(time.Hour))
		ensure := func(want bool) string {
			t.Helper()
			token, issued, err := tokens.EnsureAdmin("admin")
			if err != nil || issued != want || (token != "") != want {
				t.Fatalf("EnsureAdmin gave a token %v, issued %v, %v; want issued %v", token != "", issued, err, want)
			}
			return token
		}
		ensure(false) // kasi is an active admin
		time.Sleep(time.Hour)
		first := ensure(true) // kasi's token expired
		p, err := tokens.Verify(first)
		if err != nil || p.Name != "admin" || !slices.Equal(p.Roles, []auth.Role{auth.Admin}) {
			t.Fatalf("Verify(EnsureAdmin's token) = %+v, %v; want admin", p, err)
		}
		ensure(false)
		if err := tokens.Revoke(p.TokenID); err != nil {
			t.Fatal(err)
		}
		second := ensure(true)
		if second == first {
			t.Error("EnsureAdmin gave the revoked token again")
		}
		ensure(false)
	})
}

// TestEnsureAdminConcurrent: two hubs starting at once on one file issue
// one admin token, not two.
func TestEnsureAdminConcurrent(t *testing.T) {
	tokens, _ := newTokens(t)
	var wg sync.WaitGroup
	issued := make([]bool, 8)
	for i := range issued {
		wg.Go(func() {
			_, ok, err := tokens.EnsureAdmin("admin")
			if err != nil {
				t.Error(err)
			}
			issued[i] = ok
		})
	}
	wg.Wait()
	list, _ := tokens.List()
	if n := len(slices.DeleteFunc(issued, func(b bool) bool { return !b })); n != 1 || len(list) != 1 {
		t.Errorf("8 EnsureAdmin at once issued %d tokens, stored %d; want 1", n, len(list))
	}
}

func TestCorruptRecord(t *testing.T) {
	tokens, db := newTokens(t)
	good, info := issue(t, tokens, "budi", []auth.Role{auth.Admin}, time.Time{})
	for _, raw := range []string{"{", `{"id":"x","sha256":"AAAA"}`} {
		err := db.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("tokens")).Put([]byte(info.ID), []byte(raw)) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(good); !errors.Is(err, auth.ErrCorrupt) {
			t.Errorf("Verify of a token stored as %s: %v; want ErrCorrupt", raw, err)
		}
		if _, err := tokens.List(); !errors.Is(err, auth.ErrCorrupt) {
			t.Errorf("List with a token stored as %s: %v; want ErrCorrupt", raw, err)
		}
		if _, _, err := tokens.EnsureAdmin("admin"); !errors.Is(err, auth.ErrCorrupt) {
			t.Errorf("EnsureAdmin with a token stored as %s: %v; want ErrCorrupt", raw, err)
		}
	}
}

// TestNewAgain: a hub restarting on its file finds its tokens.
func TestNewAgain(t *testing.T) {
	tokens, db := newTokens(t)
	token, _ := issue(t, tokens, "budi", []auth.Role{auth.Viewer}, time.Time{})
	again, err := auth.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := again.Verify(token); err != nil || p.Name != "budi" {
		t.Errorf("Verify after New again = %+v, %v; want budi", p, err)
	}
}
