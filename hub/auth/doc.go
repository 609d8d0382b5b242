// Package auth is the hub HTTP API's access control: bearer tokens, the
// roles they hold, and the middleware that turns a request's token into a
// Principal or refuses it.
//
// # Tokens
//
// A token reads kunci_<id>_<secret>: the id is 8 random bytes in lowercase
// hex (16 characters), the secret 32 random bytes in base64url without
// padding (43 characters, which may contain _ and -). The id names the
// token in lists, logs and error messages; the secret is shown once, by
// Issue, and never again.
//
// Tokens keeps, in the bucket "tokens" of a kv.DB the hub already
// opened, one record per id: the SHA-256 of the secret's text, the
// token's name, its roles, when it was created, when it expires (if ever)
// and whether it was revoked. The secret is 256 random bits, so a plain
// SHA-256 is as strong as a slow password hash here, and hashing its text
// (not the bytes it encodes) makes every character count. Verify compares
// hashes in constant time and tells a malformed token (ErrMalformed) from
// an id that is not, or no longer, valid (ErrUnknown: unknown, revoked or
// expired) and from a known id with the wrong secret (ErrTampered). Only
// the holder of the secret learns that a token was revoked or expired.
//
// The name is the person or desk the token belongs to. It is the actor of
// every workflow transition the token makes, so it is what the workflow
// compares for "approval not by the requester": a person's tokens share
// one name, and two people never do. Names are printable, at most 64
// characters (permit.MaxActor), with no white space at either end, no
// character permit.Hidden and no combining mark. The workflow compares
// actors by permit.ActorKey (case folded, runs of spaces made one), and
// the hub holds one spelling of each actor: a token or a user whose name
// has the key of another's but is spelled otherwise is refused
// (ErrExists) when it is issued or saved, so "Dual" is never a second
// person beside "dual". A person's tokens and their user share it.
//
// EnsureAdmin gives a new hub its first admin token: it issues one only
// while no active admin token exists, so revoking the last admin and
// restarting the hub is how a lost admin token is replaced.
//
// # Roles
//
// A token holds one or more of requester, coordinator, approver, viewer and
// admin. Admin holds every role implicitly and is the only one that may
// see a NIK in clear (Principal.CanSeeNIK); no other role implies another.
//
// # HTTP
//
// Middleware reads Authorization: Bearer <token>, puts the Principal in
// the request's context (FromContext) or answers 401 with a JSON error
// naming the problem and a WWW-Authenticate header (RFC 6750); a request
// with two Authorization headers is answered 400 (ErrAmbiguous), since
// which one counts would be a guess another proxy may make otherwise.
// Require answers 403 naming the roles needed. Every refusal is counted
// (Stats), for the hub's /metrics.
//
// A stream that outlives its request's check (the API's watch) waits on
// Tokens.Ended, closed when the token is revoked, and on
// Principal.Expires; a console session's stream on Session.Ended and
// Session.Expires.
//
// # Never
//
// This package must never store a secret or its token (only the hash),
// log one, or put one in an error message or an HTTP answer: errors name
// a token by its id. It must never compare a secret with == and never
// read a token from a URL, where proxies and browsers keep it.
package auth
