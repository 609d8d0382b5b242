package console

import (
	"net/http"
	"net/url"
)

// csp is the console's Content-Security-Policy: scripts, styles and
// connections only from the hub itself, no inline script or style, no
// eval, no framing, forms only to the hub. htmx runs under it with
// allowEval and includeIndicatorStyles off (layout.html).
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// secure sets the headers every answer of the console carries.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether a state-changing request came from the
// console's own pages: the browser's Sec-Fetch-Site says so, or, from a
// browser that does not send it, the Origin (or else the Referer) names
// this host. A request with none of them is refused: every browser the
// office uses sends at least Origin on a POST. This is the first of two
// checks; the session's CSRF token is the second.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "":
	default: // cross-site, same-site (another port or subdomain), none (typed URL)
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		origin = r.Header.Get("Referer")
	}
	u, err := url.Parse(origin)
	return err == nil && origin != "" && u.Host == r.Host
}
