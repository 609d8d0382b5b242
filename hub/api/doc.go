// Package api is the hub's HTTP JSON API: the SOP's permit workflow, the
// staff register, the guest book, the service-time report, the doors' live
// state, door commands and the API tokens. Its typed Go client is
// hub/client (one method per route below), through which the client verbs
// of cmd/kunci (kunci permit, staff, guestbook, sla, status, watch) speak
// it; a route added here gets its method there.
//
// Every request but GET /healthz carries "Authorization: Bearer <token>"
// (hub/auth). The token's name is the actor the workflow records, so the
// requester's own token can never approve. Roles: requester files requests;
// coordinator classifies and rejects; approver approves, assigns escorts
// (which signs and publishes the permit), rejects and revokes; viewer reads;
// admin does everything, and is the only one to see a NIK unmasked. Every
// role may read.
//
// Routes (JSON bodies and answers; errors are {"error": "..."} with a 4xx
// naming the problem, 5xx only for the hub's own failures):
//
//	GET    /healthz                              200 {"ok":true}
//	GET    /api/whoami                           Whoami
//	POST   /api/permits          requester       PermitRequest -> 201 Permit
//	GET    /api/permits[?state=S]                []Permit
//	GET    /api/permits/{id}                     Permit
//	POST   /api/permits/{id}/coordinate  coordinator  {"category":"network"|"server"} -> Permit
//	POST   /api/permits/{id}/approve     approver     {} -> Permit
//	POST   /api/permits/{id}/escort      approver     {"staff":"S-004"} -> Permit (issued, published)
//	POST   /api/permits/{id}/reject      coordinator|approver  {"reason":"..."} -> Permit
//	POST   /api/permits/{id}/revoke      approver     {"reason":"..."} -> Permit (revocation published)
//	GET    /api/staff                            []Staff
//	POST   /api/staff            admin           StaffRequest -> Staff (signed, published)
//	GET    /api/guestbook[?site=&door=&from=&to=&permit=][&format=csv]  []GuestRow, or CSV
//	GET    /api/sla[?site=&door=&from=&to=&permit=]  SLAReport (from, to: when requested)
//	GET    /api/doors                            []hub.Door
//	GET    /api/events?site=&door=[&type=&permit=&limit=]  []wire.Event, the last limit (1000) in order
//	GET    /api/watch                            NDJSON stream of hub.Update, one per line: a "state"
//	                                             per door first, then the changes; {"kind":"beat"} every 15 s when idle
//	POST   /api/doors/{site}/{door}/commands  admin  {"command":"lockdown"|"release"|"unlock-once"|"resync"} -> 202 permit.Command
//	GET    /api/tokens           admin           []auth.Info
//	POST   /api/tokens           admin           {"name":"...","roles":["approver"],"expires":"RFC 3339"?} -> 201 NewToken
//	DELETE /api/tokens/{id}      admin           204
//	POST   /api/purge            admin           {} -> PurgeResult (the configured retention)
//	GET    /metrics, /api/metrics                the hub's metrics, Prometheus text (README.md); any role
//
// from and to are RFC 3339 times or dates (2026-11-28); to is exclusive.
// The guest book selects visits by entry, the SLA permits by request.
// Bodies are at most MaxBody bytes, sent within the server's body
// deadline (408 after it), and must be one JSON object with no unknown
// field, no key twice in an object and every key spelt as its field,
// case included (a 400 names the key). A request with two Authorization
// headers is refused with 400. A watch stream ends when its token is
// revoked or expires, and when its caller stops reading (a write not
// taken within Options.WatchWrite); one beyond the hub's MaxWatchers is
// answered 503 with Retry-After.
//
// The API must never show a NIK unmasked to anyone but an admin, never
// show a card UID (only fingerprints exist), and never change a record on
// a request it answered with a 4xx.
package api
