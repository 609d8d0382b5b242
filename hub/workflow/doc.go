// Package workflow is the hub's permit workflow (SOP steps 1-4), its staff
// register, the guest book (Buku Tamu) and the service-time report (SLA).
//
// # Permit workflow
//
// A Store keeps permit requests in its own bbolt file (Open), or in
// another kv.DB, PostgreSQL for hub replicas (OpenDB). A request lives
// through these states, each transition recorded with who did it and when,
// in order, and each bumping the record's version:
//
//	Request       -> requested     (SOP 1, by the requester or desk)
//	Coordinate    -> coordinated   (SOP 2, category network|server)
//	Approve       -> approved      (SOP 3, never by the requester)
//	AssignEscort  -> escorted      (SOP 4, staff with the escort right)
//	Sign          -> issued        (returns the signed permit document)
//	Reject        -> rejected      (any state before issued)
//	Revoke        -> revoked       (issued or escorted after issue; signed revocation)
//
// AssignEscort on an issued permit re-opens it (state escorted); the next
// Sign issues a higher version. Any other action is refused with
// ErrTransition. The card UID typed at the desk is kept only as its
// fingerprint (permit.SiteKey). The NIK is stored; every view but the
// admin's shows it through MaskNIK.
//
// # Guest book
//
// A Book keeps the guest book up to date as the hub stores events: Apply
// takes each wire.Event (ingest.Event) of a door in the door's order and
// updates the rows in O(1) (alarms go to every visit still open or awaiting
// its room's securing); Rows and Query (Filter: site and door, entered in
// [From, To), permit) read the rows without reading the events again.
// Each door (Site, Door) is followed on its own. GuestBook is the batch
// form: NewBook, Apply of every event, the rows. AddPermit updates the
// rows of a changed (or purged) permit too. The Book lives in memory, and
// its state is kept on disk by the event store: Stage applies a commit's
// events and returns what they changed, as keys and values (KV) the store
// writes in the commit's transaction (or Undo when that fails), and
// BookLoader makes the Book again from them at start, without the events;
// AddPermits then gives it the records, which are not kept with it. A
// hub's start gives it the permits' digests instead (Store.Digests,
// AddDigests: what a row and a service time need of a record, nothing
// personal, kept beside each record in its transaction), so that it
// decodes and unseals no record it does not act on; a row of a permit
// known by its digest only gets its guest's name and masked NIK from the
// record the first time a query returns it (SetRecords), and keeps them.
//
// One Row per visit of a door, from the permits and the door's events: a visit
// starts at visit.entered and ends at visit.exited of its permit; Secured
// is the first room.secured after the exit, NotSecured is set by a
// room.not_secured after it. Alarms during a visit (between entry and the
// securing of the room): door.forced, door.held_open, rack.tampered,
// visit.unescorted (its permit only) and room.not_secured.
//
// # Service times
//
// ServiceTimes times each SOP step of a permit against its standard time
// (Standard), from these start and end points:
//
//	step 1 form      FormOpened (if the desk recorded it) -> requested; else 0
//	step 2 coordinate requested -> coordinated
//	step 3 approve    coordinated -> approved
//	step 4 escort     approved -> first escorted
//	step 5 entry      first escort.awaited or access.granted of the permit -> visit.entered
//	step 6 work       not timed (Secukupnya)
//	step 7 exit       last exit.requested (exit tap or button) before visit.exited -> visit.exited
//	                  (0 when no exit request precedes it)
//	step 8 secure     visit.exited -> room.secured (room.not_secured: outside the standard)
//
// Steps 5, 7 and 8 are taken from the permit's first visit. The total is
// the sum of the timed steps against 22 minutes; a step not reached yet is
// left out (Known false) and the total is known only when all are.
// Summarise gives, per step and in total, the median, the 90th percentile
// (nearest rank) and the share within the standard.
//
// The Book also times "notified -> acted" (ServiceTime.Response) for the
// steps the hub notifies someone of: from the moment the step's
// notification was first handed to a channel (Book.Notified, told by the
// hub) until the step was taken, against the same standard:
//
//	step 2 the new request's notification -> coordinated
//	step 3 the classified request's notification -> approved
//	step 4 the reminder of an approved request waiting past 2 minutes -> first escorted
//
// A step taken before its notification went out (the notifier was down,
// or an escort appointed before the reminder was due, which then never
// goes) is left out: nobody acted on a notification.
//
// # Retention
//
// Purge applies the site's retention of personal data. A permit request
// ends when its time window closes, or when it is rejected or revoked if
// that comes first; once it ended the retention ago, Purge replaces the
// guest's name with "(purged)", clears the NIK and the phone, and sets
// Purged. It keeps what makes the guest book an audit record:
// organisation, purpose, category, escort, approver, equipment, the time
// window and the history (write no personal data in its notes). It keeps
// the card fingerprint too: the hub signs an issued permit again from its
// record, and the permit must carry it; a keyed HMAC names no one without
// the site key, and the doors' events carry it anyway. A purge is not a
// transition: the state, the version and the history stay, and the
// permit the doors hold (permit.Permit has no name, NIK or phone) does
// not change.
//
// A request that has not ended (pending, or a permit whose window is
// still open) is never purged, whatever the retention, and a retention
// below MinRetention (24 h) is refused, so that a slip of the unit ("1m")
// cannot wipe yesterday's guest book. A purged record is not touched
// again. In the guest book a purged visit reads guest "(purged)" and an
// empty NIK (the hub gives its Book the purged records: AddPermit updates
// their rows).
//
// Deletion is real (UU PDP 27/2022): bbolt never zeroes the pages it
// frees, and every earlier version of a record stays in one until it is
// reused (PostgreSQL's dead rows likewise, until vacuumed and
// overwritten), so the store never writes the name, NIK or phone in
// clear. Each
// request's are sealed (AES-256-GCM) with a key of its own, in the keys
// file beside the store (Options.KeysPath, the store's path and
// KeysSuffix), and Purge writes the keys file anew, without the keys of
// the purged requests: what is left of them in the store's freed pages is
// unreadable, and no freed page of the small keys file keeps a destroyed
// key. A store written before sealing is sealed at Open and compacted
// once. Back up the keys file with the store: a sealed store whose keys
// file is missing is refused at Open; a request whose key alone is
// missing reads UnreadableGuest. Old backups still hold what was purged.
package workflow
