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
// role may read. Actors are compared by permit.ActorKey (case folded):
// a request filed by "dual" is not approved by "Dual" (403).
//
// Who sees a guest's personal data (the console shows it alike, through
// the same workflow.Record.For):
//
//	NIK, phone    in clear to admin only; every other role sees them masked
//	              (3201**********23, ********11)
//	name          in a permit request (GET /api/permits...): in full to the
//	              roles that handle requests (requester, coordinator,
//	              approver, admin: SOP steps 1-4, checked against the KTP);
//	              masked (S*** R****) to a viewer, whose work is the record
//	              of the visits, not the requests
//	              in the guest book (GET /api/guestbook): in full to every
//	              role, as the paper Buku Tamu is read by those who keep
//	              and audit it
//	card UID      never: only fingerprints exist
//
// Nothing personal goes to the doors, their topics or the notifications.
//
// Text that people type is checked by one rule (permit.CheckText,
// permit.CheckLines, with the limits of permit's table: a guest's name
// 100 characters, an organisation 200, a phone 20, a purpose 500, a
// reason 500, an actor's name 64): a control character (C0, C1, DEL), a
// bidi mark, override or isolate, a zero-width or other invisible
// character, a space other than U+0020, a line break outside the fields
// of several lines (purpose, reasons), bytes not UTF-8 or too many
// characters are refused with 400 naming the field. A request that is
// well formed but that the workflow refuses is a 422: a window longer
// than hub.yaml's max_permit_window (720h by default), more than
// workflow.MaxEntries entries, a door the hub does not serve (hub.yaml
// doors). A command to a door the hub does not serve is a 404.
//
// Routes (JSON bodies and answers; errors are {"error": "..."} with a 4xx
// naming the problem, 5xx only for the hub's own failures):
//
//	GET    /healthz                              200 {"ok":true}
//	GET    /api/whoami                           Whoami
//	POST   /api/permits          requester       PermitRequest -> 201 Permit
//	GET    /api/permits[?state=S]                []Permit (a page: see Lists below)
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
//	GET    /api/events?site=&door=[&type=&permit=]  []wire.Event: the most recent page, oldest first; its
//	                                             next page is the older events (503 while Options.EventReads run)
//	GET    /api/watch                            NDJSON stream of hub.Update, one per line: a "state"
//	                                             per door first, then the changes; {"kind":"beat"} every 15 s when idle
//	POST   /api/doors/{site}/{door}/commands  admin  {"command":"lockdown"|"release"|"unlock-once"|"resync"} -> 202 permit.Command
//	GET    /api/alarms[?open=1&site=&door=&kind=]  []AlarmRecord, newest first (a page)
//	GET    /api/alarms/{id}                      AlarmRecord
//	POST   /api/alarms/{id}/ack  admin           {"note":"..."} -> AlarmRecord (409 if acknowledged already)
//	GET    /api/tokens           admin           []auth.Info
//	POST   /api/tokens           admin           {"name":"...","roles":["approver"],"expires":"RFC 3339"?} -> 201 NewToken
//	DELETE /api/tokens/{id}      admin           204
//	POST   /api/purge            admin           {} -> PurgeResult (the configured retention)
//	GET    /api/backup           admin           -> a tar archive of the stores (hub/backup), one at a time
//	GET    /metrics, /api/metrics                the hub's metrics, Prometheus text (README.md); any role
//
// Alarms are acknowledged by admins: design.md's console gives them the
// doors to watch and the alarms to acknowledge; the SOP's other roles
// (desk, coordinator, approver, auditor) read them. A request waiting
// past its step's time clears when the step is taken, and an admin
// acknowledges it as any other.
//
// Lists: GET /api/permits, staff, guestbook (JSON), events, alarms,
// tokens and users answer a page: ?limit=N (1 to MaxPage, 10,000; DefaultPage, 1000,
// if absent) and ?after=CURSOR. A page that is not the last has a header
// Link: </api/...?after=CURSOR&...>; rel="next" (RFC 8288), the same
// request for the next page; the body is the page's JSON array. Cursors
// are opaque. Permits, staff, users are in id order, tokens by creation,
// the guest book by entry (a page's rows stay put as visits are added),
// alarms from the newest back;
// events from the newest back, each page oldest first. A page of permits
// in one state, or of events of one type and one permit, may end short of
// limit with a next page: it reads at most limit+10,000 records. The
// guest book's CSV is the whole selection. hub/client follows the pages.
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
