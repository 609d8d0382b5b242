package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/kunci-project/kunci/hub/auth"
)

// Cookies: the session's secret, and the sign-in form's token (the form
// is shown before there is a session to bind a CSRF token to).
const (
	sessionCookie = "kunci_sesi"
	signInCookie  = "kunci_masuk"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

func cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
}

// page wraps a handler of a page: it needs a live session, and, when
// roles are given, one of them. Without a session a page redirects to the
// sign-in (an htmx request is told to go there with HX-Redirect).
func (c *Console) page(roles []auth.Role, h func(http.ResponseWriter, *http.Request, auth.Principal, auth.Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, p, s, ok := c.session(w, r)
		if !ok {
			return
		}
		if !allowed(p, roles) {
			c.fail(w, r, http.StatusForbidden, "error.forbidden", nil)
			return
		}
		h(w, r, p, s)
	})
}

// action wraps a handler of a form or htmx POST: a live session, one of
// roles, the request from the console's own pages, and the session's
// CSRF token in the form or the X-CSRF-Token header.
func (c *Console) action(roles []auth.Role, h func(http.ResponseWriter, *http.Request, auth.Principal, auth.Session)) http.Handler {
	return c.page(roles, func(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		token := r.Header.Get(csrfHeader)
		if token == "" {
			token = r.PostFormValue(csrfField)
		}
		if !sameOrigin(r) || !s.CSRFMatches(token) {
			c.fail(w, r, http.StatusForbidden, "error.csrf", nil)
			return
		}
		h(w, r, p, s)
	})
}

// maxForm bounds a form's body.
const maxForm = 64 << 10

func allowed(p auth.Principal, roles []auth.Role) bool {
	return len(roles) == 0 || slices.ContainsFunc(roles, p.Has)
}

// session returns the request with its principal in its context, the
// principal and the session; or it answers the request (to the sign-in)
// and reports false.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*http.Request, auth.Principal, auth.Session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err == nil {
		p, s, err := c.o.Users.Verify(ck.Value)
		if err == nil {
			return r.WithContext(auth.NewContext(r.Context(), p)), p, s, true
		}
		if !errors.Is(err, auth.ErrUnknown) {
			c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
			return r, auth.Principal{}, auth.Session{}, false
		}
		http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	}
	c.refused.Inc()
	to := "/masuk"
	if err == nil { // there was a cookie, but its session ended
		to += "?berakhir=1"
	}
	if r.Method == http.MethodGet && r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/beranda/aliran") {
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		to += sep + "lanjut=" + url.QueryEscape(r.URL.RequestURI())
	}
	switch {
	case r.Header.Get("HX-Request") == "true":
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusUnauthorized)
	case r.Header.Get("Accept") == "text/event-stream":
		w.WriteHeader(http.StatusUnauthorized)
	default:
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
	return r, auth.Principal{}, auth.Session{}, false
}

// next returns where to go after signing in: a path of the console
// (never another site), else the dashboard.
func next(v string) string {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") || strings.ContainsAny(v, "\r\n") {
		return "/"
	}
	return v
}

type signInData struct {
	Login, Next, Error string
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if _, _, err := c.o.Users.Verify(ck.Value); err == nil {
			http.Redirect(w, r, next(r.URL.Query().Get("lanjut")), http.StatusSeeOther)
			return
		}
	}
	d := signInData{Next: next(r.URL.Query().Get("lanjut"))}
	if r.URL.Query().Get("berakhir") != "" {
		d.Error = "signin.ended"
	}
	c.showSignIn(w, r, http.StatusOK, d)
}

func (c *Console) showSignIn(w http.ResponseWriter, r *http.Request, status int, d signInData) {
	token := randomToken()
	http.SetCookie(w, cookie(r, signInCookie, token, 3600))
	pg := c.newPage(r, auth.Principal{}, token)
	pg.Title = pg.L.T("signin.title")
	pg.Data = d
	c.render(w, r, status, "signin", pg)
}

// signIn checks the form: its token against its cookie (login CSRF), the
// origin, then the password, within the sign-in limit.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	ck, err := r.Cookie(signInCookie)
	form := r.PostFormValue(csrfField)
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 || !sameOrigin(r) {
		c.refused.Inc()
		c.showSignIn(w, r, http.StatusForbidden, signInData{Error: "error.csrf"})
		return
	}
	login := strings.ToLower(strings.TrimSpace(r.PostFormValue("login")))
	d := signInData{Login: login, Next: next(r.PostFormValue("lanjut"))}
	secret, _, err := c.o.Users.SignIn(login, r.PostFormValue("password"), clientAddr(r))
	switch {
	case errors.Is(err, auth.ErrSignIn):
		d.Error = "signin.wrong"
		c.showSignIn(w, r, http.StatusUnauthorized, d)
		return
	case errors.Is(err, auth.ErrDisabled):
		d.Error = "signin.disabled"
		c.showSignIn(w, r, http.StatusForbidden, d)
		return
	case errors.Is(err, auth.ErrLimited):
		d.Error = "signin.limited"
		c.showSignIn(w, r, http.StatusTooManyRequests, d)
		return
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	c.o.Log.Info("console: signed in", "user", login)
	http.SetCookie(w, cookie(r, signInCookie, "", -1))
	http.SetCookie(w, cookie(r, sessionCookie, secret, int(auth.SessionLifetime.Seconds())))
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// signInWithCode signs in with a one-time code (kunci dev prints one for
// its admin) and goes to the dashboard; a used or expired code shows the
// sign-in page.
func (c *Console) signInWithCode(w http.ResponseWriter, r *http.Request) {
	secret, _, err := c.o.Users.RedeemCode(r.PathValue("code"), clientAddr(r))
	if err != nil {
		c.refused.Inc()
		c.showSignIn(w, r, http.StatusUnauthorized, signInData{Next: "/", Error: "signin.code"})
		return
	}
	http.SetCookie(w, cookie(r, sessionCookie, secret, int(auth.SessionLifetime.Seconds())))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// setLang switches the reader's console language, and goes back to the
// page they were on.
func (c *Console) setLang(w http.ResponseWriter, r *http.Request, p auth.Principal, _ auth.Session) {
	if err := c.o.Users.SetLang(p.User, r.PostFormValue("lang")); err != nil {
		c.fail(w, r, http.StatusUnprocessableEntity, "error.lang", nil)
		return
	}
	http.Redirect(w, r, next(r.PostFormValue("lanjut")), http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, p auth.Principal, _ auth.Session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.o.Users.SignOut(ck.Value); err != nil {
			c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
			return
		}
	}
	c.o.Log.Info("console: signed out", "user", p.User)
	http.SetCookie(w, cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/masuk", http.StatusSeeOther)
}

// clientAddr is the address the sign-in limit counts: the peer's IP. A
// proxy in front of the hub makes every sign-in come from it; the limit
// by login still holds then.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
