// Package httplimit guards Kunci's HTTP servers (the hub's API and the
// agent's local API, which in kunci dev serves the hub's too) against
// clients that hold connections instead of using them: a Listener that
// caps the connections open at once, overall and per client address,
// and Deadline, a handler that gives every request a bounded time to
// send its body.
//
// A connection beyond a cap is closed as soon as it is accepted, before
// a byte is read, and counted by reason on the server's /metrics
// (kunci_http_connections_refused_total): answering it would cost what
// the cap is there to save, and a client told nothing retries later as
// it would after any reset.
//
// Deadline bounds the time a request's body may take on every route,
// token or no token: a request with a Content-Length and no body is
// answered (408 where the handler reads it, or the connection closed)
// within Limits.BodyTimeout. A request without a body (every GET: the
// hub's watch stream, the console's dashboard stream) has none to wait
// for and gets no deadline, so that streams outlive it; the server's
// ReadHeaderTimeout and IdleTimeout bound the rest of a connection's
// reading.
//
// It must never read or answer a request itself, and never hold a
// connection it refused.
package httplimit
