// Package client is the typed client of the hub's HTTP JSON API
// (hub/api): one method per route, the answers decoded into hub/api's
// types (and hub.Door, hub.Update, auth.Info, permit.Command, wire.Event,
// which the API answers as they are), the hub's refusals as *Error. The
// client verbs of cmd/kunci, kunci dev --demo, hub/hubtest and the tests
// reach the hub through it, as tailscale's client/local is the one way to
// tailscaled.
//
// Requests are bounded: every call but Watch and GuestBookCSV within one
// timeout (a minute; WithTimeout) from the connection to the last byte of
// the answer, which is read whole up to MaxAnswer; Watch and GuestBookCSV
// only until the answer's header arrives, then a line at a time (Watch,
// which calls the link dead after a minute without a line, the hub's beat
// included) or copied as it comes (the CSV).
//
// It must never log or print anything, and never put a token, a NIK or a
// card UID in an error: errors name the method, the path (ids only), the
// status and the hub's own message. It never retries a request (an
// approval sent twice is two approvals to the hub) and never keeps a
// connection open after a call returns or a stream is closed.
package client
