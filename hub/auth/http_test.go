package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/kv"
)

// whoami answers the principal Middleware found.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	json.NewEncoder(w).Encode(p)
})

type answer struct {
	code      int
	challenge string
	error     string
	who       auth.Principal
}

func serve(t *testing.T, h http.Handler, authorization ...string) answer {
	t.Helper()
	r := httptest.NewRequest("GET", "/permits", nil)
	for _, v := range authorization {
		r.Header.Add("Authorization", v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	a := answer{code: w.Code, challenge: w.Header().Get("WWW-Authenticate")}
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &a.who); err != nil {
			t.Fatalf("answer %q: %v", w.Body, err)
		}
		return a
	}
	var body struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Errorf("answer %d %q: want {\"error\": \"...\"}", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("answer %d has Content-Type %q; want application/json", w.Code, ct)
	}
	a.error = body.Error
	return a
}

func TestMiddleware(t *testing.T) {
	tokens, _ := newTokens(t)
	good, info := issue(t, tokens, "budi", []auth.Role{auth.Approver}, time.Time{})
	revoked, rinfo := issue(t, tokens, "eko", []auth.Role{auth.Approver}, time.Time{})
	if err := tokens.Revoke(rinfo.ID); err != nil {
		t.Fatal(err)
	}
	tampered := good[:len(good)-2] + change(good, len(good)-2, b64url)[len(good)-2:]
	h := tokens.Middleware(whoami)
	const invalid = `Bearer realm="kunci", error="invalid_token"`
	for _, c := range []struct {
		name      string
		header    []string
		code      int
		challenge string
		error     string
	}{
		{"good", []string{"Bearer " + good}, 200, "", ""},
		{"lower-case scheme, spaces", []string{"bearer   " + good + " "}, 200, "", ""},
		{"no header", nil, 401, `Bearer realm="kunci"`, "no Authorization: Bearer token"},
		{"empty header", []string{""}, 401, `Bearer realm="kunci"`, "no Authorization: Bearer token"},
		{"Basic", []string{"Basic YnVkaTpzZWNyZXQ="}, 401, `Bearer realm="kunci"`, "scheme is not Bearer"},
		{"no word Bearer", []string{good}, 401, `Bearer realm="kunci"`, "the word Bearer is missing"},
		{"Bearer alone", []string{"Bearer"}, 401, `Bearer realm="kunci"`, "Bearer token is empty"},
		{"malformed", []string{"Bearer " + good[:40]}, 401, invalid, "token is malformed"},
		{"unknown", []string{"Bearer kunci_0000000000000000_" + secretOf(good)}, 401, invalid, "unknown, revoked or expired token"},
		{"revoked", []string{"Bearer " + revoked}, 401, invalid, "unknown, revoked or expired token: token " + rinfo.ID + " was revoked"},
		{"tampered", []string{"Bearer " + tampered}, 401, invalid, "token does not match (tampered?): token " + info.ID},
		// which of two counts is a proxy's guess (issue 13): neither
		{"two headers", []string{"Bearer " + tampered, "Bearer " + good}, 400, `Bearer realm="kunci", error="invalid_request"`,
			"more than one Authorization header"},
		{"the same header twice", []string{"Bearer " + good, "Bearer " + good}, 400, `Bearer realm="kunci", error="invalid_request"`,
			"more than one Authorization header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := serve(t, h, c.header...)
			if a.code != c.code || a.challenge != c.challenge || !strings.Contains(a.error, c.error) {
				t.Errorf("answer %d, WWW-Authenticate %q, error %q; want %d, %q, %q", a.code, a.challenge, a.error, c.code, c.challenge, c.error)
			}
			if leaks(a.error, good) || leaks(a.error, revoked) {
				t.Errorf("the error %q shows a secret", a.error)
			}
			if c.code == 200 && (a.who.Name != "budi" || a.who.TokenID != info.ID) {
				t.Errorf("principal %+v; want budi of %s", a.who, info.ID)
			}
		})
	}
	want := auth.Stats{Missing: 5, Ambiguous: 2, Malformed: 1, Unknown: 2, Tampered: 1}
	if got := tokens.Stats(); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
}

func TestRequire(t *testing.T) {
	tokens, _ := newTokens(t)
	token := map[string]string{}
	for name, roles := range map[string][]auth.Role{
		"desk":  {auth.Requester},
		"budi":  {auth.Approver, auth.Viewer},
		"admin": {auth.Admin},
	} {
		token[name], _ = issue(t, tokens, name, roles, time.Time{})
	}
	approve := tokens.Middleware(tokens.Require(auth.Approver)(whoami))
	coordinate := tokens.Middleware(tokens.Require(auth.Coordinator, auth.Approver)(whoami))
	anyone := tokens.Middleware(tokens.Require()(whoami))
	const scope = `Bearer realm="kunci", error="insufficient_scope"`
	for _, c := range []struct {
		route     string
		h         http.Handler
		who       string
		code      int
		challenge string
		error     string
	}{
		{"approve", approve, "budi", 200, "", ""},
		{"approve", approve, "admin", 200, "", ""},
		{"approve", approve, "desk", 403, scope, "forbidden: this needs the role approver; desk has requester"},
		{"coordinate", coordinate, "budi", 200, "", ""},
		{"coordinate", coordinate, "desk", 403, scope, "this needs one of the roles coordinator, approver"},
		{"any", anyone, "desk", 200, "", ""},
		{"approve", approve, "", 401, `Bearer realm="kunci"`, "no Authorization"},
	} {
		var header []string
		if c.who != "" {
			header = []string{"Bearer " + token[c.who]}
		}
		a := serve(t, c.h, header...)
		if a.code != c.code || a.challenge != c.challenge || !strings.Contains(a.error, c.error) || c.code == 200 && a.who.Name != c.who {
			t.Errorf("%s by %q: answer %d, %q, error %q, principal %q; want %d, %q, %q", c.route, c.who, a.code, a.challenge, a.error, a.who.Name, c.code, c.challenge, c.error)
		}
	}
	if a := serve(t, tokens.Require(auth.Viewer)(whoami)); a.code != 401 {
		t.Errorf("Require without Middleware: answer %d; want 401", a.code)
	}
	if got, want := tokens.Stats(), (auth.Stats{Missing: 2, Forbidden: 2}); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
}

func TestRequireUnknownRole(t *testing.T) {
	tokens, _ := newTokens(t)
	defer func() {
		if recover() == nil {
			t.Error(`Require("approvr") did not panic`)
		}
	}()
	tokens.Require(auth.Approver, "approvr")
}

// TestMiddlewareStoreFails: a store that cannot be read is the hub's
// fault (500), not the client's, and no refusal is counted.
func TestMiddlewareStoreFails(t *testing.T) {
	tokens, db := newTokens(t)
	good, info := issue(t, tokens, "budi", []auth.Role{auth.Viewer}, time.Time{})
	err := db.Update(func(tx kv.Tx) error { return tx.Bucket([]byte("tokens")).Put([]byte(info.ID), []byte("{")) })
	if err != nil {
		t.Fatal(err)
	}
	a := serve(t, tokens.Middleware(whoami), "Bearer "+good)
	if a.code != 500 || a.challenge != "" || !strings.Contains(a.error, "corrupt") {
		t.Errorf("answer %d, %q, %q; want 500 naming the corrupt record", a.code, a.challenge, a.error)
	}
	if got := tokens.Stats(); got != (auth.Stats{}) {
		t.Errorf("Stats() = %+v; want none", got)
	}
}

// TestContext: handlers' tests act as someone with NewContext.
func TestContext(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	if _, ok := auth.FromContext(r.Context()); ok {
		t.Error("FromContext of a bare request found a principal")
	}
	p := auth.Principal{Name: "budi", Roles: []auth.Role{auth.Viewer}, TokenID: "0123456789abcdef"}
	a := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		whoami.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	}))
	if a.code != 200 || a.who.Name != "budi" || a.who.TokenID != p.TokenID {
		t.Errorf("principal %+v; want %+v", a.who, p)
	}
}
