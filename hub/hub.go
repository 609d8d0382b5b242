package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// Publisher is the hub's MQTT link as the hub needs it.
type Publisher = ingest.Publisher

// Options configure a Hub.
type Options struct {
	Workflow *workflow.Store   // permits and staff (required, with a signer)
	Events   ingest.EventStore // the doors' events (required)
	Signer   *permit.Signer    // signs commands and the ingest's acks (required)
	Prefix   string            // topic prefix (topic.DefaultPrefix)
	// Doors are the doors the hub serves, as site/door pairs: staff
	// records go to every door of their site. Doors that report without
	// being listed are followed too (status, events) but get no staff.
	Doors []DoorName
	// Ingest tunes the event ingest; its Prefix, Signer, Log and OnGaps
	// are the hub's. Its OnStored, if set, is called with each commit's
	// events before the hub applies them (the live state, the alarms; the
	// guest book has them from the commit), as a benchmark's clock of
	// "stored".
	Ingest ingest.Options
	// MaxWatchers bounds the watchers open at once (DefaultMaxWatchers
	// when zero): Watch refuses one more with ErrBusy.
	MaxWatchers int
	// Metrics is the hub's registry, which its API serves at /metrics;
	// the ingest's metrics go there too. nil: one of its own.
	Metrics *metrics.Registry
	// Notifier, if set, is told of every alarm opened and of the permit
	// workflow's steps (hub/notify); nil tells nobody. Tell the hub when
	// it hands a message to a channel (Hub.Handed, notify's OnHanded);
	// one that lists those times too (notify's Handed) is read at start.
	Notifier Notifier
	// Silent is how long a door may send nothing before a door.offline
	// alarm opens (zero: never; the door's last will says offline, and a
	// door publishes its status only when it changes, so a quiet door
	// must not count as gone).
	Silent time.Duration
	// Location is the zone of the times in notifications (Asia/Jakarta
	// when nil).
	Location *time.Location
	Now      func() time.Time
	Log      *slog.Logger
}

// ErrUnknownDoor: a permit request or a command names a door the hub does
// not serve (Options.Doors, hub.yaml doors). A request's is an
// workflow.ErrInvalid too.
var ErrUnknownDoor = errors.New("hub: unknown door")

// DoorName names one door.
type DoorName struct{ Site, Door string }

func (d DoorName) String() string { return d.Site + "/" + d.Door }

// Hub is the central side, wired: see the package doc.
type Hub struct {
	o       Options
	wf      *workflow.Store
	ev      ingest.EventStore
	in      *ingest.Ingest
	book    *workflow.Book
	live    *live
	recs    *records
	doors   map[DoorName]topic.Door
	log     *slog.Logger
	rebuilt time.Duration // time the book took to open at start
	alarms  *alarm.Book
	waits   waits  // the requests not yet issued, timed against the SOP
	handed  handed // alarms notified since the last renotify
	brokers onBroker

	cmds           *metrics.Counter // commands published
	followed       *metrics.Counter // records another replica changed, read again
	republishing   func() bool      // whether this hub republishes on connect (RepublishWhen); nil: always
	notifyFailed   *metrics.Counter // notifications not handed to the notifier
	alarmFailed    *metrics.Counter // alarm records not written
	watchesRefused *metrics.Counter // Watch calls refused, MaxWatchers open
}

// New builds the hub: it signs every current record for publishing and
// builds the guest book from the stored events.
func New(o Options) (*Hub, error) {
	if o.Workflow == nil || o.Events == nil || o.Signer == nil {
		return nil, errors.New("hub: a workflow store, an event store and a signer are required")
	}
	if o.Prefix == "" {
		o.Prefix = topic.DefaultPrefix
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = DefaultMaxWatchers
	}
	if o.Location == nil {
		loc, err := time.LoadLocation(defaultLocation)
		if err != nil {
			return nil, fmt.Errorf("hub: zone: %w", err)
		}
		o.Location = loc
	}
	h := &Hub{o: o, wf: o.Workflow, ev: o.Events, live: newLive(), recs: newRecords(o.Metrics),
		doors: map[DoorName]topic.Door{}, log: o.Log, waits: waits{m: map[string]*pending{}},
		cmds: o.Metrics.Counter("kunci_hub_commands_total", "Signed commands published to the doors."),
		followed: o.Metrics.Counter("kunci_hub_records_followed_total",
			"Permit and staff records another hub replica on the same PostgreSQL store changed, read again by this one (its guest book, waits and retained records)."),
		watchesRefused: o.Metrics.Counter("kunci_hub_watchers_refused_total",
			"Watch streams (the API's and the console's) refused because max_watchers were open.")}
	o.Metrics.GaugeFunc("kunci_hub_watchers", "Watchers of the doors' live state open now (watch and dashboard streams).",
		func() float64 { return float64(h.live.watching()) })
	for _, d := range o.Doors {
		t, err := topic.New(o.Prefix, d.Site, d.Door)
		if err != nil {
			return nil, fmt.Errorf("hub: door %s: %w", d, err)
		}
		h.doors[d] = t
		h.live.known(d.Site, d.Door)
	}
	if err := h.openBook(); err != nil {
		return nil, err
	}
	if err := h.renotify(); err != nil {
		return nil, err
	}
	io := o.Ingest
	io.Prefix, io.Log, io.OnStored, io.OnGaps, io.Metrics = o.Prefix, o.Log, h.stored, h.live.gaps, o.Metrics
	// the other replicas' events (a PostgreSQL store) reach this hub's
	// live view and watchers; their alarms were raised, in the records
	// the replicas share, by the replica that stored them
	io.OnOthers = func(evs []wire.Event) { h.live.events(evs, h.o.Now()) }
	if theirs := o.Ingest.OnStored; theirs != nil {
		io.OnStored = func(evs []wire.Event) {
			theirs(evs)
			h.stored(evs)
		}
	}
	io.Signer = o.Signer // acks are signed as commands are
	var err error
	if h.in, err = ingest.New(o.Events, io); err != nil {
		return nil, err
	}
	start := time.Now()
	recs, err := h.rebuild()
	if err != nil {
		return nil, err
	}
	_, opened := h.ev.Book()
	h.rebuilt = time.Since(start) + opened.Took
	if err := h.loadHanded(); err != nil {
		return nil, err
	}
	o.Metrics.GaugeFunc("kunci_hub_guestbook_rows", "Rows of the guest book.", func() float64 { return float64(h.book.Len()) })
	o.Metrics.GaugeFunc("kunci_hub_guestbook_rebuild_seconds", "Seconds the guest book took to open at start: read from the event store (built from the stored events once, for a store of an older hub), and given the permits.",
		h.rebuilt.Seconds)
	if err := h.sign(recs); err != nil {
		return nil, err
	}
	return h, nil
}

// rebuild follows the stored doors, their lost runs and the permits'
// requests, and takes the guest book the event store keeps, giving it the
// permits by their digests (workflow.Store.Digests: no record decoded nor
// unsealed but those the start needs whole); it returns those records
// (current), which New signs.
func (h *Hub) rebuild() ([]workflow.Record, error) {
	ds, recs, err := h.current()
	if err != nil {
		return nil, err
	}
	doors, err := h.ev.Doors()
	if err != nil {
		return nil, fmt.Errorf("hub: events: %w", err)
	}
	for _, d := range doors {
		h.live.known(d.Site, d.Door)
	}
	lost, err := h.ev.AllLost()
	if err != nil {
		return nil, fmt.Errorf("hub: events: %w", err)
	}
	h.live.lost(lost, false)
	for i := range recs {
		h.waits.follow(&recs[i])
	}
	h.notifyPending(recs)
	book, opened := h.ev.Book()
	if opened.Built {
		h.log.Info("hub: guest book built from the stored events, kept in the event store from now on",
			"rows", opened.Rows, "took", opened.Took.Round(time.Millisecond))
	}
	book.SetRecords(h.wf.Get)
	book.AddDigests(ds)
	h.book = book
	return recs, nil
}

// current returns the digest of every permit and the whole records of
// those a start or a Refresh acts on: the requests waiting for a step of
// the SOP (waits, notifyPending) and the permits and revocations whose
// signed document is still published or to be cleared (publishPermit).
// The rest, the history of every visit, are read as digests only.
func (h *Hub) current() ([]workflow.Digest, []workflow.Record, error) {
	ds, err := h.wf.Digests()
	if err != nil {
		return nil, nil, fmt.Errorf("hub: permits: %w", err)
	}
	now := h.o.Now()
	var recs []workflow.Record
	for i := range ds {
		d := &ds[i]
		published := d.State == workflow.Issued || d.State == workflow.Revoked
		if stepOf(d.State) == 0 && (!published || now.Sub(d.NotAfter) > ClearAfter+clearWithin) {
			continue
		}
		r, err := h.wf.Get(d.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("hub: permits: %w", err)
		}
		recs = append(recs, r)
	}
	return ds, recs, nil
}

// BuildBook makes the guest book of permits from every door's events in
// ev, decoding only the events the book reads (workflow.BookTypes), as
// the hub did at every start before the event store kept the book
// (ingest.EventStore's Book): the reference the kept book is checked and
// measured against.
func BuildBook(ev ingest.EventStore, permits []workflow.Record) (*workflow.Book, error) {
	book, err := ingest.BuildBookOf(ev, permits)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	return book, nil
}

// Refresh signs every record again and clears the retained permits that
// ended more than ClearAfter ago; the hub does it at start, and its
// command runs it daily.
func (h *Hub) Refresh() error { return h.signAll() }

// signAll signs every permit, revocation and staff record for the doors
// that publishPermit publishes or clears (current's records).
func (h *Hub) signAll() error {
	_, recs, err := h.current()
	if err != nil {
		return err
	}
	return h.sign(recs)
}

// sign is signAll of the permits recs (current's).
func (h *Hub) sign(recs []workflow.Record) error {
	for i := range recs {
		if err := h.publishPermit(&recs[i]); err != nil {
			return err
		}
	}
	staff, err := h.wf.ListStaff()
	if err != nil {
		return fmt.Errorf("hub: staff: %w", err)
	}
	for _, m := range staff {
		if err := h.publishStaff(m.ID); err != nil {
			return err
		}
	}
	return nil
}

// ClearAfter is how long after its window ended a permit (or its
// revocation) stays retained for the doors; then the hub clears the topic:
// the door refuses the permit by its window anyway, and the broker's
// retained store does not grow with every visit ever made.
const ClearAfter = 24 * time.Hour

// clearWithin is how long after ClearAfter the hub still sends the clear,
// at each start and daily Refresh; older permits were cleared before (a
// hub down longer leaves their retained documents, which no door obeys).
const clearWithin = 7 * 24 * time.Hour

func (h *Hub) publishPermit(r *workflow.Record) error { return h.retainPermit(r, h.recs.set) }

// retainPermit is publishPermit setting the retained document through
// set: records.set publishes it, records.keep only keeps it for the next
// connection's republishing.
func (h *Hub) retainPermit(r *workflow.Record, set func(topic string, doc []byte)) error {
	if !r.Published() {
		return nil
	}
	ended := h.o.Now().Sub(r.NotAfter)
	if ended > ClearAfter+clearWithin {
		return nil // nothing signed: start-up does not grow with the history
	}
	t, err := topic.New(h.o.Prefix, r.Site, r.Door)
	if err != nil {
		return fmt.Errorf("hub: permit %s: %w", r.ID, err)
	}
	if ended > ClearAfter {
		set(t.Permit(r.ID), []byte{}) // an empty retained message clears the topic
		return nil
	}
	doc, _, err := h.wf.Document(r)
	if err != nil {
		return fmt.Errorf("hub: sign permit %s: %w", r.ID, err)
	}
	set(t.Permit(r.ID), doc)
	return nil
}

func (h *Hub) publishStaff(id string) error { return h.retainStaff(id, h.recs.set) }

func (h *Hub) retainStaff(id string, set func(topic string, doc []byte)) error {
	m, err := h.wf.Staff(id)
	if err != nil {
		return err
	}
	doc, err := h.wf.SignStaff(id)
	if err != nil {
		return fmt.Errorf("hub: sign staff %s: %w", id, err)
	}
	for _, d := range h.siteDoors(m.Site, m.Doors) {
		set(d.Staff(id), doc)
	}
	return nil
}

// Followed takes what another hub replica sharing the store changed of
// the records (hub/kv/pgkv's Watch): the permits of ids, the staff members
// of staff, or every record when all (notifications may have been
// missed). A permit's record reaches the guest book (a purge's too: its
// rows lose the guest), the waits and the notification of its step (sent
// once whoever hands it on: the notifier's queue keys it), and the
// retained record this hub republishes at its next connection, kept but
// not published now: the replica that changed it published it.
func (h *Hub) Followed(ids, staff []string, all bool) error {
	if all {
		// the digests, not every record: only those whose digest is not
		// the book's changed (the rest, this hub has as they are)
		ds, err := h.wf.Digests()
		if err != nil {
			return fmt.Errorf("hub: follow the records: %w", err)
		}
		ids = h.book.Stale(ds)
	}
	var recs []workflow.Record
	for _, id := range ids {
		r, err := h.wf.Get(id)
		if errors.Is(err, workflow.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hub: follow permit %s: %w", id, err)
		}
		h.book.AddPermit(r)
		recs = append(recs, r)
	}
	var errs []error
	for i := range recs {
		h.workflowStep(&recs[i])
		errs = append(errs, h.retainPermit(&recs[i], h.recs.keep))
	}
	if all {
		ms, err := h.wf.ListStaff()
		if err != nil {
			return fmt.Errorf("hub: follow the staff: %w", err)
		}
		staff = staff[:0]
		for _, m := range ms {
			staff = append(staff, m.ID)
		}
	}
	for _, id := range staff {
		if err := h.retainStaff(id, h.recs.keep); err != nil && !errors.Is(err, workflow.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	h.followed.Add(uint64(len(recs) + len(staff)))
	return errors.Join(errs...)
}

// siteDoors returns the configured doors of site, only those named when
// names is not empty.
func (h *Hub) siteDoors(site string, names []string) []topic.Door {
	var out []topic.Door
	for n, t := range h.doors {
		if n.Site == site && (len(names) == 0 || slices.Contains(names, n.Door)) {
			out = append(out, t)
		}
	}
	return out
}

// stored is the ingest's OnStored: the live state and the alarms (which
// write only for an alarm's event). The guest book has the events
// already: the event store's commit applied them (ingest.EventStore's
// Book).
func (h *Hub) stored(evs []wire.Event) {
	h.live.events(evs, h.o.Now())
	for _, e := range evs {
		h.alarmErr("event", h.alarms.Event(e))
	}
}

// Subscriptions are the topics the hub's link subscribes to besides the
// events (LinkOptions adds those): every door's status and availability.
func (h *Hub) Subscriptions() map[string]byte {
	return map[string]byte{
		h.o.Prefix + "/+/+/status":       1,
		h.o.Prefix + "/+/+/availability": 1,
	}
}

// LinkOptions returns o set up for the hub's link: the ingest's persistent
// session and subscriptions (ingest.LinkOptions), the doors' status, and a
// republishing of every record on each connection.
func (h *Hub) LinkOptions(o mqttlink.Options, shared bool) mqttlink.Options {
	o = ingest.LinkOptions(o, h.o.Prefix, shared)
	maps.Copy(o.Subscriptions, h.Subscriptions())
	onConnect := o.OnConnect
	o.OnConnect = func() {
		if h.republishing == nil || h.republishing() {
			h.recs.all()
		}
		if onConnect != nil {
			onConnect()
		}
	}
	return o
}

// RepublishWhen makes the republishing of every record on a connection
// (LinkOptions) wait for leading to say so: among hub replicas on one
// PostgreSQL store, only the one leading the job republishes (each
// publishes what it changes, and every record again when it comes to lead:
// Republish), so that no replica's republishing lands after another's
// newer record. Call it before the link connects.
func (h *Hub) RepublishWhen(leading func() bool) { h.republishing = leading }

// Republish publishes every record again.
func (h *Hub) Republish() { h.recs.all() }

// Handle is the link's message handler.
func (h *Hub) Handle(m mqttlink.Message) {
	site, door, kind, _ := topic.Parse(h.o.Prefix, m.Topic)
	switch kind {
	case topic.KindEvents:
		h.in.Handle(m)
	case topic.KindStatus:
		s, err := decodeStatus(m.Payload)
		if err != nil {
			h.log.Warn("hub: door status refused", "door", site+"/"+door, "err", err)
			return
		}
		if !h.fromDoorsBroker(site, door, m, "") {
			h.log.Debug("hub: door status of a broker the door is not on, ignored", "door", site+"/"+door, "broker", m.Broker)
			return
		}
		now := h.o.Now()
		h.live.status(site, door, s, now)
		h.alarmErr("status", h.alarms.Status(site, door, s, now))
	case topic.KindAvailability:
		v := string(m.Payload)
		if v != wire.Online && v != wire.Offline {
			h.log.Warn("hub: door availability refused", "door", site+"/"+door, "value", v)
			return
		}
		if !h.fromDoorsBroker(site, door, m, v) {
			h.log.Debug("hub: door availability of a broker the door is not on, ignored", "door", site+"/"+door,
				"broker", m.Broker, "value", v)
			return
		}
		now := h.o.Now()
		h.live.availability(site, door, v, now)
		h.alarmErr("availability", h.alarms.Availability(site, door, v == wire.Online, now))
	}
}

// Run runs the ingest and the publishing of records through pub until ctx
// ends. The link itself is the caller's (it must outlive Run).
func (h *Hub) Run(ctx context.Context, pub Publisher) error {
	var wg sync.WaitGroup
	wg.Go(func() { h.recs.run(ctx, pub) })
	wg.Go(func() {
		t := time.NewTicker(TickEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.alarmErr("tick", h.Tick())
			}
		}
	})
	err := h.in.Run(ctx, pub)
	wg.Wait()
	return err
}

// Workflow returns the workflow store, for reading.
func (h *Hub) Workflow() *workflow.Store { return h.wf }

// Events returns the event store, for reading.
func (h *Hub) Events() ingest.EventStore { return h.ev }

// Book returns the guest book, up to date with every stored event.
func (h *Hub) Book() *workflow.Book { return h.book }

// Doors returns the doors' live state, by site and door.
func (h *Hub) Doors() []Door { return h.live.list() }

// DefaultMaxWatchers is Options.MaxWatchers when zero.
const DefaultMaxWatchers = 256

// ErrBusy is Watch's error when Options.MaxWatchers are open.
var ErrBusy = errors.New("hub: too many watch streams are open")

// Watch returns a channel of updates until ctx ends, then closes it; it
// returns ErrBusy, counted, when Options.MaxWatchers are open. At most
// watchDepth updates wait for one watcher: one further behind loses the
// oldest and is told how many with a lagged update, so that a watcher
// that does not read holds a bounded amount and never blocks the hub.
// The streams that read the channel drop a client that stops reading.
func (h *Hub) Watch(ctx context.Context) (<-chan Update, error) {
	w := &watcher{ch: make(chan Update, watchDepth)}
	out := make(chan Update)
	h.live.mu.Lock()
	if len(h.live.watchers) >= h.o.MaxWatchers {
		h.live.mu.Unlock()
		h.watchesRefused.Inc()
		return nil, fmt.Errorf("%w (%d, the hub's max_watchers)", ErrBusy, h.o.MaxWatchers)
	}
	h.live.watchers[w] = struct{}{}
	h.live.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			h.live.mu.Lock()
			delete(h.live.watchers, w)
			h.live.mu.Unlock()
		}()
		for {
			var u Update
			select {
			case <-ctx.Done():
				return
			case u = <-w.ch:
			}
			h.live.mu.Lock()
			missed := w.missed
			w.missed = 0
			h.live.mu.Unlock()
			if missed > 0 {
				select {
				case out <- Update{Kind: "lagged", Missed: missed}:
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Stats are the hub's counters.
type Stats struct {
	Ingest           ingest.Stats
	RecordsPublished uint64
	RecordsFailed    uint64
	RecordsPending   int
	Commands         uint64
	BookRows         int
	BookRebuild      time.Duration
}

// Metrics returns the hub's registry, for its /metrics.
func (h *Hub) Metrics() *metrics.Registry { return h.o.Metrics }

// Stats returns the counters.
func (h *Hub) Stats() Stats {
	p, f, n := h.recs.stats()
	c := h.cmds.Value()
	return Stats{Ingest: h.in.Stats(), RecordsPublished: p, RecordsFailed: f, RecordsPending: n, Commands: c,
		BookRows: h.book.Len(), BookRebuild: h.rebuilt}
}

// The workflow's actions, each publishing what the doors must hold.

// Request files a permit request (SOP step 1) for one of the hub's doors.
func (h *Hub) Request(req workflow.Request) (workflow.Record, error) {
	// a malformed site or door is the workflow's to name
	if permit.CheckID("site", req.Site) == nil && permit.CheckID("door", req.Door) == nil {
		if err := h.serves(req.Site, req.Door); err != nil {
			return workflow.Record{}, fmt.Errorf("%w: %w", workflow.ErrInvalid, err)
		}
	}
	r, err := h.wf.Request(req)
	if err == nil {
		h.book.AddPermit(r)
		h.workflowStep(&r)
	}
	return r, err
}

// Coordinate classifies a request (SOP step 2).
func (h *Hub) Coordinate(id string, c permit.Category, by string) (workflow.Record, error) {
	return h.changed(h.wf.Coordinate(id, c, by))
}

// Approve approves a request (SOP step 3); never by its requester.
func (h *Hub) Approve(id, by string) (workflow.Record, error) { return h.changed(h.wf.Approve(id, by)) }

// Reject refuses a request not issued yet.
func (h *Hub) Reject(id, by, reason string) (workflow.Record, error) {
	return h.changed(h.wf.Reject(id, by, reason))
}

// Escort assigns the escort (SOP step 4), then signs the permit and
// publishes it to its door.
func (h *Hub) Escort(id, staffID, by string) (workflow.Record, error) {
	r, err := h.wf.AssignEscort(id, staffID, by)
	if err != nil {
		return workflow.Record{}, err
	}
	h.book.AddPermit(r) // escorted, even if the signing fails
	h.workflowStep(&r)
	r, _, err = h.wf.Sign(id, by)
	if err != nil {
		return workflow.Record{}, err
	}
	return r, h.afterChange(&r)
}

// Revoke withdraws an issued permit and publishes the signed revocation in
// its place.
func (h *Hub) Revoke(id, by, reason string) (workflow.Record, error) {
	r, _, err := h.wf.Revoke(id, by, reason)
	if err != nil {
		return workflow.Record{}, err
	}
	return r, h.afterChange(&r)
}

// serves returns nil if the hub serves door site/door, else an
// ErrUnknownDoor naming it.
func (h *Hub) serves(site, door string) error {
	if _, ok := h.doors[DoorName{site, door}]; ok {
		return nil
	}
	return fmt.Errorf("%w: door %s/%s is not one of the hub's doors (hub.yaml doors)", ErrUnknownDoor, site, door)
}

func (h *Hub) changed(r workflow.Record, err error) (workflow.Record, error) {
	if err != nil {
		return r, err
	}
	return r, h.afterChange(&r)
}

func (h *Hub) afterChange(r *workflow.Record) error {
	h.book.AddPermit(*r)
	h.workflowStep(r)
	return h.publishPermit(r)
}

// PutStaff adds or changes a staff member and publishes the signed record
// to the doors of the site.
func (h *Hub) PutStaff(m workflow.StaffMember, by string) (workflow.StaffMember, error) {
	m, err := h.wf.PutStaff(m, by)
	if err != nil {
		return m, err
	}
	return m, h.publishStaff(m.ID)
}

// CommandLife is how long a command from the hub stays valid.
const CommandLife = 2 * time.Minute

// Command signs a command (wire.CmdLockdown, CmdRelease, CmdUnlockOnce,
// CmdResync) for a door and publishes it, not retained: a door offline
// longer than CommandLife never obeys it. It returns the command once
// the broker took it.
func (h *Hub) Command(ctx context.Context, pub Publisher, site, door string, name wire.CommandName, by, reason string) (permit.Command, error) {
	t, err := topic.New(h.o.Prefix, site, door)
	if err != nil {
		return permit.Command{}, fmt.Errorf("%w: %v", workflow.ErrInvalid, err)
	}
	if err := h.serves(site, door); err != nil {
		return permit.Command{}, err
	}
	var nonce [12]byte
	rand.Read(nonce[:])
	now := h.o.Now().UTC()
	c := permit.Command{ID: "C-" + hex.EncodeToString(nonce[:]), Site: site, Door: door, Name: name,
		Issued: now, Expires: now.Add(CommandLife), By: by, Reason: reason}
	doc, err := h.o.Signer.Sign(permit.KindCommand, &c)
	if err != nil {
		return c, fmt.Errorf("%w: %v", workflow.ErrInvalid, err)
	}
	wctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := mqttlink.Wait(wctx, pub.Publish(t.Cmd(), 1, false, doc)); err != nil {
		return c, fmt.Errorf("hub: command %s to %s/%s not published: %w", name, site, door, err)
	}
	h.cmds.Inc()
	if err := h.logCommand(c); err != nil {
		h.log.Error("hub: command sent but not logged", "command", c.ID, "err", err)
	}
	return c, nil
}

// AcceptLost accepts as lost the seqs of a door's stalled stream that did
// not come, up to r.Through (ingest.Ingest.AcceptLost): the run is kept
// in the event store, shown with the door, and the stream goes on.
func (h *Hub) AcceptLost(ctx context.Context, r ingest.LostRequest) (ingest.Lost, error) {
	l, err := h.in.AcceptLost(ctx, r)
	if err != nil {
		return l, err
	}
	h.live.lost([]ingest.Lost{l}, true)
	return l, nil
}

// Purge applies the retention (workflow.Store.Purge) and shows the
// guest book the purged records.
func (h *Hub) Purge(retention time.Duration) (workflow.PurgeResult, error) {
	res, err := h.wf.Purge(retention)
	if err != nil {
		return res, err
	}
	for _, id := range res.Purged {
		r, err := h.wf.Get(id)
		if err != nil {
			return res, err
		}
		h.book.AddPermit(r)
	}
	return res, nil
}
