package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kunci-project/kunci/internal/httpjson"
)

const realm = `Bearer realm="kunci"`

// bearer returns the token of the request's Authorization header.
func bearer(h http.Header) (string, error) {
	if len(h.Values("Authorization")) > 1 {
		return "", ErrAmbiguous
	}
	v := h.Get("Authorization")
	if v == "" {
		return "", ErrNoToken
	}
	v = strings.TrimSpace(v)
	scheme, token, _ := strings.Cut(v, " ")
	switch {
	case strings.HasPrefix(v, prefix):
		return "", fmt.Errorf("%w: the word Bearer is missing before the token", ErrNoToken)
	case !strings.EqualFold(scheme, "Bearer"):
		// not quoted: what the header holds may be a password
		return "", fmt.Errorf("%w: the Authorization scheme is not Bearer", ErrNoToken)
	}
	if token = strings.TrimSpace(token); token == "" {
		return "", fmt.Errorf("%w: the Bearer token is empty", ErrNoToken)
	}
	return token, nil
}

// Middleware lets a request with a valid bearer token through to next,
// with its Principal in the context (FromContext). It answers any other
// with 401, {"error": "..."} naming the problem and a WWW-Authenticate
// header; one with two Authorization headers with 400; with 500 if the
// store fails.
func (t *Tokens) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := bearer(r.Header)
		var p Principal
		if err == nil {
			p, err = t.Verify(token)
		}
		if err != nil {
			t.refuse(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// Require returns a middleware, to put behind Middleware, that lets a
// request through only if its principal holds at least one of roles (an
// admin holds all); else it answers 403 naming them. With no roles it
// lets every principal through. It panics on a role that is not one of
// the constants, a mistake in the routes that would lock everyone out.
func (t *Tokens) Require(roles ...Role) func(http.Handler) http.Handler {
	for _, r := range roles {
		if !r.known() {
			panic(fmt.Sprintf("auth: Require(%q): no such role", r))
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			err := ErrNoToken
			if ok {
				err = p.need(roles)
			}
			if err != nil {
				t.refuse(w, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refuse answers err, counted, with its status.
func (t *Tokens) refuse(w http.ResponseWriter, err error) {
	c, code, challenge := &t.stats, http.StatusUnauthorized, realm+`, error="invalid_token"`
	switch {
	case errors.Is(err, ErrNoToken):
		c.missing.Add(1)
		challenge = realm
	case errors.Is(err, ErrAmbiguous):
		c.ambiguous.Add(1)
		code, challenge = http.StatusBadRequest, realm+`, error="invalid_request"`
	case errors.Is(err, ErrMalformed):
		c.malformed.Add(1)
	case errors.Is(err, ErrUnknown):
		c.unknown.Add(1)
	case errors.Is(err, ErrTampered):
		c.tampered.Add(1)
	case errors.Is(err, ErrForbidden):
		c.forbidden.Add(1)
		code, challenge = http.StatusForbidden, realm+`, error="insufficient_scope"`
	default:
		code, challenge = http.StatusInternalServerError, ""
	}
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	httpjson.Error(w, code, err)
}
