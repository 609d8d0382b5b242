// Package console is Konsol Kunci, the hub's web console: the pages the
// office's people use to run the SOP, served by the hub beside its API
// (every path the API does not take) and by kunci dev.
//
// # How it is built
//
// Pages are server-rendered with html/template, which escapes every value
// for its context. htmx swaps parts of pages and its SSE extension keeps
// the dashboard live; both are vendored from the npm registry under
// static/vendor (with their licences and checksums) and embedded, so the
// console needs no CDN and no build step. There is no inline script or
// style anywhere, which lets the Content-Security-Policy (security.go)
// forbid them, and eval.
//
// People sign in with a login and password (hub/auth's Users); the
// session is an HttpOnly, SameSite=Strict cookie (Secure under TLS), and
// every request checks it again, so a disabled user or an ended session
// is refused on the next request and its live streams stop at once
// (auth.Session.Ended). Every POST must come from the console's own pages
// (Sec-Fetch-Site, else Origin) and carry the session's CSRF token, in
// the form or, from htmx, in the X-CSRF-Token header the layout sets.
//
// Every string a page shows is in one catalogue (i18n.go), in Bahasa
// Indonesia (the default, in the SOP's terms) and English, chosen per
// user; times are shown in the site's zone (Asia/Jakarta unless set).
//
// # Never
//
// The console must never send the browser a field its reader may not see
// (a NIK or phone for anyone but an admin, a card UID to anyone), build
// HTML by string concatenation, serve a page without the security headers,
// take a state-changing action on GET, or show a button for an action the
// reader's roles do not allow (and the server checks the roles again).
package console
