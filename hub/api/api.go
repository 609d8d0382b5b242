package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/httpjson"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/strictjson"
	"github.com/kunci-project/kunci/wire"
)

// Options configure the API.
type Options struct {
	// Publisher is the hub's MQTT link, for door commands; without it
	// commands are refused with 503.
	Publisher hub.Publisher
	// Retention is how long personal data is kept after a permit ended
	// (POST /api/purge); zero: purge is refused.
	Retention time.Duration
	// Location reads dates without a zone in from and to (time.Local).
	Location *time.Location
	Log      *slog.Logger
	// Users are the console's people, managed at /api/users; without them
	// those routes answer 404.
	Users *auth.Users
	// Console serves every path the API does not take (/api/, /metrics,
	// /healthz): the web console. Without it they are 404.
	Console http.Handler
	// WatchWrite bounds each write of a watch stream (DefaultWatchWrite
	// when zero): a caller that has not taken it by then is dropped.
	WatchWrite time.Duration
	// Backup writes a copy of the hub's stores (GET /api/backup, admin);
	// without it the route answers 404.
	Backup func(io.Writer) (backup.Manifest, error)
	// EventReads bounds the GET /api/events read at once
	// (DefaultEventReads if 0); the others are answered 503.
	EventReads int
}

// DefaultEventReads is Options.EventReads if zero.
const DefaultEventReads = 4

// API is the hub's HTTP handler.
type API struct {
	h      *hub.Hub
	tokens *auth.Tokens
	o      Options
	mux    *http.ServeMux

	requests, clientErrors, serverErrors *metrics.Counter
	watchDropped, watchEnded             *metrics.Counter
	eventReads                           chan struct{} // a semaphore of Options.EventReads
	eventsBusy                           *metrics.Counter
	backups                              chan struct{} // one backup at a time
}

// New returns the API of h, its callers known by tokens. Its metrics go
// on the hub's registry, which it serves at /metrics.
func New(h *hub.Hub, tokens *auth.Tokens, o Options) (*API, error) {
	if h == nil || tokens == nil {
		return nil, errors.New("api: a hub and its tokens are required")
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.WatchWrite <= 0 {
		o.WatchWrite = DefaultWatchWrite
	}
	if o.EventReads <= 0 {
		o.EventReads = DefaultEventReads
	}
	reg := h.Metrics()
	a := &API{h: h, tokens: tokens, o: o, mux: http.NewServeMux(),
		requests:     reg.Counter("kunci_hub_api_requests_total", "Requests of the hub's HTTP API."),
		clientErrors: reg.Counter("kunci_hub_api_client_errors_total", "Requests of the hub's API refused with a 4xx status."),
		serverErrors: reg.Counter("kunci_hub_api_server_errors_total", "Requests of the hub's API that failed with a 5xx status."),
		watchDropped: reg.Counter("kunci_hub_api_watch_dropped_total",
			"Watch streams ended because the caller did not take a write within the write timeout."),
		watchEnded: reg.Counter("kunci_hub_api_watch_ended_total", "Watch streams ended because their token was revoked or expired."),
		eventReads: make(chan struct{}, o.EventReads), backups: make(chan struct{}, 1),
		eventsBusy: reg.Counter("kunci_hub_api_events_busy_total", "GET /api/events answered 503: as many event reads as allowed were running."),
	}
	readers := []auth.Role{auth.Requester, auth.Coordinator, auth.Approver, auth.Viewer} // every role reads
	route := func(pattern string, roles []auth.Role, fn func(http.ResponseWriter, *http.Request, auth.Principal) error) {
		a.mux.Handle(pattern, tokens.Middleware(tokens.Require(roles...)(a.handler(fn))))
	}
	one := func(r auth.Role) []auth.Role { return []auth.Role{r} }
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]bool{"ok": true})
	})
	// the counters tell who failed to sign in and what the doors did:
	// a token of any role reads them (Prometheus sends it with
	// authorization.credentials_file), as it reads the rest
	metricsOf := func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		reg.ServeHTTP(w, r)
		return nil
	}
	route("GET /metrics", readers, metricsOf)
	route("GET /api/metrics", readers, metricsOf) // where kunci dev's door has /metrics
	route("GET /api/whoami", readers, a.whoami)
	route("POST /api/permits", one(auth.Requester), a.request)
	route("GET /api/permits", readers, a.listPermits)
	route("GET /api/permits/{id}", readers, a.showPermit)
	route("POST /api/permits/{id}/coordinate", one(auth.Coordinator), a.coordinate)
	route("POST /api/permits/{id}/approve", one(auth.Approver), a.approve)
	route("POST /api/permits/{id}/escort", one(auth.Approver), a.escort)
	route("POST /api/permits/{id}/reject", []auth.Role{auth.Coordinator, auth.Approver}, a.reject)
	route("POST /api/permits/{id}/revoke", one(auth.Approver), a.revoke)
	route("GET /api/staff", readers, a.listStaff)
	route("POST /api/staff", one(auth.Admin), a.putStaff)
	route("GET /api/guestbook", readers, a.guestbook)
	route("GET /api/sla", readers, a.sla)
	route("GET /api/doors", readers, a.doors)
	route("GET /api/events", readers, a.events)
	route("GET /api/watch", readers, a.watch)
	route("POST /api/doors/{site}/{door}/commands", one(auth.Admin), a.command)
	route("POST /api/doors/{site}/{door}/gap", one(auth.Admin), a.acceptGap)
	route("GET /api/alarms", readers, a.listAlarms)
	route("GET /api/alarms/{id}", readers, a.showAlarm)
	route("POST /api/alarms/{id}/ack", one(auth.Admin), a.ackAlarm)
	route("GET /api/tokens", one(auth.Admin), a.listTokens)
	route("POST /api/tokens", one(auth.Admin), a.issueToken)
	route("DELETE /api/tokens/{id}", one(auth.Admin), a.revokeToken)
	route("POST /api/purge", one(auth.Admin), a.purge)
	if o.Backup != nil {
		route("GET /api/backup", one(auth.Admin), a.backup)
	}
	if o.Users != nil {
		route("GET /api/users", one(auth.Admin), a.listUsers)
		route("POST /api/users", one(auth.Admin), a.addUser)
		route("POST /api/users/{login}", one(auth.Admin), a.changeUser)
	}
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, fmt.Errorf("no route %s %s", r.Method, r.URL.Path))
	})
	if o.Console != nil {
		a.mux.Handle("/", o.Console)
	}
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := a.mux.Handler(r); pattern != "/" { // the console counts its own
		a.requests.Add(1)
	}
	a.mux.ServeHTTP(w, r)
}

// statusError is an error with its HTTP status.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func withStatus(code int, format string, a ...any) error {
	return &statusError{code, fmt.Errorf(format, a...)}
}

// statusOf maps an error to its status.
func statusOf(err error) int {
	var se *statusError
	var mbe *http.MaxBytesError
	var te *permit.TextError
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &te):
		return http.StatusBadRequest // a field's text: see the package doc
	case errors.Is(err, workflow.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, workflow.ErrExists), errors.Is(err, workflow.ErrTransition):
		return http.StatusConflict
	case errors.Is(err, workflow.ErrSelfApproval):
		return http.StatusForbidden
	case errors.Is(err, workflow.ErrInvalid), errors.Is(err, workflow.ErrNotEscort),
		errors.Is(err, workflow.ErrNoSiteKey), errors.Is(err, permit.ErrInvalid):
		return http.StatusUnprocessableEntity
	case errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, auth.ErrInvalid):
		return http.StatusUnprocessableEntity
	case errors.Is(err, auth.ErrExists):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (a *API) handler(fn func(http.ResponseWriter, *http.Request, auth.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			a.fail(w, r, http.StatusUnauthorized, errors.New("no caller"))
			return
		}
		if err := fn(w, r, p); err != nil {
			a.fail(w, r, statusOf(err), err)
		}
	})
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if code >= 500 {
		a.serverErrors.Add(1)
		a.o.Log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		err = errors.New("the hub failed to answer; its log says why")
	} else {
		a.clientErrors.Add(1)
		a.o.Log.Info("api: request refused", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	httpjson.Error(w, code, err)
}

// decode reads the body into v: one JSON object of at most MaxBody bytes,
// sent within the server's body deadline (internal/httplimit), no
// unknown field, no key twice in an object and none that names a field
// only when case is ignored (internal/strictjson). An empty body is an
// empty object.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return withStatus(http.StatusUnsupportedMediaType, "body: Content-Type %q, want application/json", ct)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return withStatus(http.StatusRequestEntityTooLarge, "body: larger than %d bytes", MaxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return withStatus(http.StatusRequestTimeout, "body: not sent in time (%d bytes came)", len(raw))
	case err != nil:
		return withStatus(http.StatusBadRequest, "body: %v", err)
	}
	if err := strictjson.Check(raw, v); err != nil {
		return withStatus(http.StatusBadRequest, "body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tm *time.ParseError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &syn):
		return withStatus(http.StatusBadRequest, "body: not valid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return withStatus(http.StatusBadRequest, "body: field %q: got a JSON %s, want %s", typ.Field, typ.Value, typ.Type)
	case errors.As(err, &tm):
		return withStatus(http.StatusBadRequest, "body: a time is not RFC 3339: %v", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return withStatus(http.StatusBadRequest, "body: JSON cut short")
	default:
		// unknown field, and the rest encoding/json names
		return withStatus(http.StatusBadRequest, "body: %v", err)
	}
	// not dec.More, which misses a stray ']' or '}'
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) != 0 {
		return withStatus(http.StatusBadRequest, "body: more than one JSON value")
	}
	return nil
}

func (a *API) whoami(w http.ResponseWriter, _ *http.Request, p auth.Principal) error {
	httpjson.Write(w, http.StatusOK, Whoami{Name: p.Name, Roles: roleNames(p.Roles)})
	return nil
}

func roleNames(rs []auth.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// view is a permit as p may see it: the NIK and the phone masked but for
// an admin, the guest's name masked for a viewer.
func view(p auth.Principal, r workflow.Record) Permit {
	return r.For(p.CanSeeNIK(), p.SeesGuestNames())
}

func (a *API) request(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req PermitRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	rec, err := a.h.Request(workflow.Request{ID: req.ID, Site: req.Site, Door: req.Door, Guest: req.Guest,
		NIK: req.NIK, Organisation: req.Organisation, Phone: req.Phone, Purpose: req.Purpose,
		Equipment: req.Equipment, NotBefore: req.NotBefore, NotAfter: req.NotAfter, Entries: req.Entries,
		CardUID: req.CardUID, FormOpened: req.FormOpened, By: p.Name})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusCreated, view(p, rec))
	return nil
}

func (a *API) listPermits(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	state := workflow.State(r.URL.Query().Get("state"))
	switch state {
	case "", workflow.Requested, workflow.Coordinated, workflow.Approved, workflow.Escorted, workflow.Issued,
		workflow.Rejected, workflow.Revoked:
	default:
		return withStatus(http.StatusBadRequest, "state %q: want requested, coordinated, approved, escorted, issued, rejected or revoked", state)
	}
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	var keep func(*workflow.Record) bool
	if state != "" {
		keep = func(rec *workflow.Record) bool { return rec.State == state }
	}
	recs, next, err := a.h.Workflow().Page(pq.after, pq.limit, keep)
	if err != nil {
		return err
	}
	out := make([]Permit, 0, len(recs))
	for _, rec := range recs {
		out = append(out, view(p, rec))
	}
	setNext(w, r, next)
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func (a *API) showPermit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rec, err := a.h.Workflow().Get(r.PathValue("id"))
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, view(p, rec))
	return nil
}

// act decodes body, runs fn on permit {id} and answers the record.
func act[T any](a *API, w http.ResponseWriter, r *http.Request, p auth.Principal, fn func(id string, body T) (workflow.Record, error)) error {
	var body T
	if err := decode(w, r, &body); err != nil {
		return err
	}
	rec, err := fn(r.PathValue("id"), body)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, view(p, rec))
	return nil
}

func (a *API) coordinate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return act(a, w, r, p, func(id string, b CoordinateRequest) (workflow.Record, error) {
		if b.Category != permit.Network && b.Category != permit.Server {
			return workflow.Record{}, withStatus(http.StatusBadRequest, "category %q: want network or server", b.Category)
		}
		return a.h.Coordinate(id, b.Category, p.Name)
	})
}

func (a *API) approve(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return act(a, w, r, p, func(id string, _ struct{}) (workflow.Record, error) { return a.h.Approve(id, p.Name) })
}

func (a *API) escort(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return act(a, w, r, p, func(id string, b EscortRequest) (workflow.Record, error) {
		if b.Staff == "" {
			return workflow.Record{}, withStatus(http.StatusBadRequest, "staff: missing (the escort's staff id)")
		}
		return a.h.Escort(id, b.Staff, p.Name)
	})
}

func (a *API) reject(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return act(a, w, r, p, func(id string, b ReasonRequest) (workflow.Record, error) {
		if strings.TrimSpace(b.Reason) == "" {
			return workflow.Record{}, withStatus(http.StatusBadRequest, "reason: missing")
		}
		return a.h.Reject(id, p.Name, b.Reason)
	})
}

func (a *API) revoke(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return act(a, w, r, p, func(id string, b ReasonRequest) (workflow.Record, error) {
		if strings.TrimSpace(b.Reason) == "" {
			return workflow.Record{}, withStatus(http.StatusBadRequest, "reason: missing")
		}
		return a.h.Revoke(id, p.Name, b.Reason)
	})
}

func (a *API) listStaff(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	staff, next, err := a.h.Workflow().StaffPage(pq.after, pq.limit)
	if err != nil {
		return err
	}
	if staff == nil {
		staff = []workflow.StaffMember{}
	}
	setNext(w, r, next)
	httpjson.Write(w, http.StatusOK, staff)
	return nil
}

func (a *API) putStaff(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req StaffRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.CardUIDs) == 0 {
		return withStatus(http.StatusBadRequest, "card_uids: at least one card is needed")
	}
	m := workflow.StaffMember{ID: req.ID, Name: req.Name, Site: req.Site, Doors: req.Doors,
		Escort: req.Escort, Solo: req.Solo, Disabled: req.Disabled}
	for i, uid := range req.CardUIDs {
		fp, err := a.h.Workflow().Fingerprint(req.Site, uid)
		if err != nil {
			return withStatus(statusOf(err), "card_uids[%d]: %v", i, err)
		}
		m.Cards = append(m.Cards, fp)
	}
	m, err := a.h.PutStaff(m, p.Name)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, m)
	return nil
}

// filter reads site, door, from, to and permit of the query.
func (a *API) filter(r *http.Request) (workflow.Filter, error) {
	q := r.URL.Query()
	f := workflow.Filter{Site: q.Get("site"), Door: q.Get("door"), Permit: q.Get("permit"), Organisation: q.Get("organisation")}
	var err error
	if f.From, err = a.when(q.Get("from")); err != nil {
		return f, withStatus(http.StatusBadRequest, "from: %v", err)
	}
	if f.To, err = a.when(q.Get("to")); err != nil {
		return f, withStatus(http.StatusBadRequest, "to: %v", err)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, withStatus(http.StatusBadRequest, "to %s is not after from %s", q.Get("to"), q.Get("from"))
	}
	return f, nil
}

func (a *API) when(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, s, a.o.Location)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 nor a date (2006-01-02)", s)
	}
	return t, nil
}

func (a *API) guestbook(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := a.filter(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "csv" && format != "json" {
		return withStatus(http.StatusBadRequest, "format %q: want json or csv", format)
	}
	if format == "csv" {
		// the export is the whole selection, for a spreadsheet: from and
		// to bound it
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="buku-tamu.csv"`)
		return a.h.WriteGuestCSV(w, f, p.CanSeeNIK())
	}
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	after := -1
	if pq.after != "" {
		if after, err = strconv.Atoi(pq.after); err != nil || after < 0 {
			return withStatus(http.StatusBadRequest, "after: not a cursor of the guest book")
		}
	}
	rows, next := a.h.GuestRowsAfter(f, after, pq.limit, p.CanSeeNIK())
	if next >= 0 {
		setNext(w, r, strconv.Itoa(next))
	}
	out := make([]GuestRow, len(rows))
	for i, row := range rows {
		g := GuestRow{Site: row.Site, Door: row.Door, Permit: row.Permit, Guest: row.Guest, NIK: row.NIK,
			Organisation: row.Organisation, Purpose: row.Purpose, Category: row.Category, Escort: row.Escort,
			Approver: row.Approver, Entered: row.Entered, Exited: row.Exited, Secured: row.Secured,
			NotSecured: row.NotSecured, Equipment: row.Equipment}
		for _, al := range row.Alarms {
			g.Alarms = append(g.Alarms, Alarm{Type: al.Type, At: al.At, Rack: al.Rack, Detail: al.Detail})
		}
		out[i] = g
	}
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

func (a *API) sla(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	f, err := a.filter(r)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, Report(a.h.ServiceTimes(f)))
	return nil
}

// Report turns service times into the API's report.
func Report(sts []workflow.ServiceTime) SLAReport {
	rep := SLAReport{Permits: make([]PermitTimes, 0, len(sts))}
	for i := 1; i <= workflow.Steps; i++ {
		var std wire.Duration
		if workflow.Timed(i) {
			std = wire.Duration(workflow.Standard[i])
		}
		rep.Standard = append(rep.Standard, StepStandard{Step: fmt.Sprint(i), Name: StepNames[i], Standard: std})
	}
	rep.Standard = append(rep.Standard, StepStandard{Step: "total", Name: "total", Standard: wire.Duration(workflow.StandardTotal)})
	stepTime := func(step string, s workflow.StepTime) StepTime {
		return StepTime{Step: step, Known: s.Known, Duration: wire.Duration(s.Duration), Within: s.Within}
	}
	for _, st := range sts {
		pt := PermitTimes{Permit: st.Permit}
		for i := 1; i <= workflow.Steps; i++ {
			pt.Steps = append(pt.Steps, stepTime(fmt.Sprint(i), st.Step[i]))
		}
		pt.Steps = append(pt.Steps, stepTime("total", st.Total))
		for _, n := range workflow.Notified {
			pt.Response = append(pt.Response, stepTime(fmt.Sprint(n), st.Response[n]))
		}
		rep.Permits = append(rep.Permits, pt)
	}
	sum := workflow.Summarise(sts)
	agg := func(step string, g workflow.Aggregate) StepSummary {
		return StepSummary{Step: step, Count: g.Count, Median: wire.Duration(g.Median), P90: wire.Duration(g.P90), Within: g.Within}
	}
	for i := 1; i <= workflow.Steps; i++ {
		rep.Summary = append(rep.Summary, agg(fmt.Sprint(i), sum.Step[i]))
	}
	rep.Summary = append(rep.Summary, agg("total", sum.Total))
	for _, n := range workflow.Notified {
		rep.Response = append(rep.Response, agg(fmt.Sprint(n), sum.Response[n]))
	}
	return rep
}

func (a *API) doors(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	httpjson.Write(w, http.StatusOK, a.h.Doors())
	return nil
}

// events answers a door's stored events, filtered by type and permit: a
// page of the most recent (limit, DefaultPage), oldest first, and a next
// page of the older ones. The store reads the page back from the end of
// the door's log, or through its index when a type or a permit is given,
// never the whole log; at most Options.EventReads read at once, the
// others are answered 503.
func (a *API) events(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	q := r.URL.Query()
	site, door := q.Get("site"), q.Get("door")
	if site == "" || door == "" {
		return withStatus(http.StatusBadRequest, "site and door: both are needed")
	}
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	select {
	case a.eventReads <- struct{}{}:
		defer func() { <-a.eventReads }()
	default:
		a.eventsBusy.Inc()
		w.Header().Set("Retry-After", "1")
		return withStatus(http.StatusServiceUnavailable, "too many event reads at once: try again")
	}
	pg, err := a.h.Events().Recent(ingest.Query{Site: site, Door: door, Type: wire.EventType(q.Get("type")),
		Permit: q.Get("permit"), Before: pq.after, Limit: pq.limit})
	if errors.Is(err, ingest.ErrCursor) {
		return withStatus(http.StatusBadRequest, "after: not a cursor of these events")
	}
	if err != nil {
		return err
	}
	out := pg.Events
	if out == nil {
		out = []wire.Event{}
	}
	slices.Reverse(out)
	setNext(w, r, pg.Next)
	httpjson.Write(w, http.StatusOK, out)
	return nil
}

// watchBeat is how often an idle watch stream says it is alive.
const watchBeat = 15 * time.Second

// DefaultWatchWrite is Options.WatchWrite when zero.
const DefaultWatchWrite = 10 * time.Second

// watch streams the doors' state and changes until the caller goes, its
// token is revoked or expires, or the hub stops. A write that has not
// gone within Options.WatchWrite ends it, counted: a caller that does not
// read is dropped, never held.
func (a *API) watch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rc := http.NewResponseController(w)
	ctx := r.Context()
	updates, err := a.h.Watch(ctx)
	if errors.Is(err, hub.ErrBusy) {
		// answered here, not by fail, which hides a 5xx's cause; the
		// hub counted it
		w.Header().Set("Retry-After", "30")
		httpjson.Error(w, http.StatusServiceUnavailable, fmt.Errorf("%v; try again later", err))
		return nil
	}
	if err != nil {
		return err
	}
	ended, release := a.tokens.Ended(p.TokenID)
	defer release()
	var expired <-chan time.Time
	if !p.Expires.IsZero() {
		t := time.NewTimer(time.Until(p.Expires))
		defer t.Stop()
		expired = t.C
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	// each write gets its deadline; errors.Is(err, os.ErrDeadlineExceeded)
	// afterwards: the caller stopped reading
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(a.o.WatchWrite)) }
	// the server sets no write deadline of its own: one left here would
	// fail the connection's next answer
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	dropped := func(err error) error {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			a.watchDropped.Inc()
			a.o.Log.Info("api: a watch stream that did not read was dropped", "token", p.TokenID, "write_timeout", a.o.WatchWrite)
		}
		return nil
	}
	deadline()
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	// the current state first, then the changes
	for _, d := range a.h.Doors() {
		d := d
		if err := enc.Encode(hub.Update{Kind: "state", Site: d.Site, Door: d.Door, State: &d}); err != nil {
			return dropped(err)
		}
	}
	if err := rc.Flush(); err != nil {
		return dropped(err)
	}
	beat := time.NewTicker(watchBeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-ended:
			a.watchEnded.Inc()
			return nil
		case <-expired:
			a.watchEnded.Inc()
			return nil
		case <-beat.C:
			deadline()
			_, err = io.WriteString(w, "{\"kind\":\"beat\"}\n")
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			deadline()
			err = enc.Encode(u)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return dropped(err)
		}
	}
}

func (a *API) command(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CommandRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	switch req.Command {
	case wire.CmdLockdown, wire.CmdRelease, wire.CmdUnlockOnce, wire.CmdResync:
	default:
		return withStatus(http.StatusBadRequest, "command %q: want lockdown, release, unlock-once or resync", req.Command)
	}
	if a.o.Publisher == nil {
		return withStatus(http.StatusServiceUnavailable, "this hub has no MQTT link for commands")
	}
	if err := permit.CheckLines("reason", req.Reason, permit.MaxReason); err != nil {
		return err
	}
	c, err := a.h.Command(r.Context(), a.o.Publisher, r.PathValue("site"), r.PathValue("door"), req.Command, p.Name, req.Reason)
	if err != nil {
		switch {
		case errors.Is(err, hub.ErrUnknownDoor):
			return withStatus(http.StatusNotFound, "%v", err)
		case errors.Is(err, workflow.ErrInvalid):
			return withStatus(http.StatusBadRequest, "%v", err)
		}
		return withStatus(http.StatusServiceUnavailable, "%v", err)
	}
	httpjson.Write(w, http.StatusAccepted, c)
	return nil
}

// acceptGap accepts as lost the seqs a door's stalled epoch is missing
// (its hub store lost): the answer is the run as the store keeps it.
func (a *API) acceptGap(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req GapRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	reason := strings.TrimSpace(req.Reason)
	switch {
	case req.Epoch == "":
		return withStatus(http.StatusBadRequest, "epoch: which of the door's epochs (see its gaps in GET /api/doors)")
	case req.Through == 0:
		return withStatus(http.StatusBadRequest, "through: the last seq to accept as lost, from 1")
	case reason == "":
		return withStatus(http.StatusBadRequest, "reason: say why the events are lost; it is kept with your name")
	case len(reason) > MaxGapReason || strings.ContainsFunc(reason, unicode.IsControl):
		return withStatus(http.StatusBadRequest, "reason: at most %d bytes, no control characters", MaxGapReason)
	}
	l, err := a.h.AcceptLost(r.Context(), ingest.LostRequest{Site: r.PathValue("site"), Door: r.PathValue("door"),
		Epoch: req.Epoch, Through: req.Through, By: p.Name, Reason: reason})
	switch {
	case errors.Is(err, ingest.ErrNoGap):
		return withStatus(http.StatusConflict, "%v", err)
	case errors.Is(err, ingest.ErrLostRange):
		return withStatus(http.StatusUnprocessableEntity, "%v", err)
	case err != nil:
		return err
	}
	httpjson.Write(w, http.StatusOK, l)
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	infos, err := a.tokens.List()
	if err != nil {
		return err
	}
	// List's order: by creation, then id
	page, next := pageOf(infos, func(i *auth.Info) string {
		return i.Created.UTC().Format("20060102T150405.000000000") + "/" + i.ID
	}, pq)
	if page == nil {
		page = []auth.Info{}
	}
	setNext(w, r, next)
	httpjson.Write(w, http.StatusOK, page)
	return nil
}

// TokenRequest is the body of POST /api/tokens.
type TokenRequest struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Expires time.Time `json:"expires,omitzero"`
}

func (a *API) issueToken(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var req TokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	roles := make([]auth.Role, 0, len(req.Roles))
	for _, s := range req.Roles {
		role, err := auth.ParseRole(s)
		if err != nil {
			return withStatus(http.StatusBadRequest, "roles: %v", err)
		}
		roles = append(roles, role)
	}
	tok, info, err := a.tokens.Issue(req.Name, roles, req.Expires)
	switch {
	case errors.Is(err, auth.ErrExists):
		return withStatus(http.StatusConflict, "%v", err)
	case err != nil:
		return withStatus(http.StatusBadRequest, "%v", err)
	}
	httpjson.Write(w, http.StatusCreated, NewToken{Token: tok, ID: info.ID, Name: info.Name, Roles: roleNames(info.Roles), Expires: info.Expires})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if err := a.tokens.Revoke(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// backup streams a copy of the hub's stores, one at a time: the second
// caller is answered 503. A copy that fails half-way cuts the connection,
// so that the caller holds no archive that looks whole (the archive's
// sums come last).
func (a *API) backup(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	select {
	case a.backups <- struct{}{}:
		defer func() { <-a.backups }()
	default:
		return withStatus(http.StatusServiceUnavailable, "a backup is being written; try again when it is done")
	}
	start := time.Now()
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition",
		fmt.Sprintf(`attachment; filename="kunci-backup-%s.tar"`, start.UTC().Format("20060102-150405")))
	m, err := a.o.Backup(w)
	if errors.Is(err, backup.ErrNothing) { // nothing written yet
		w.Header().Del("Content-Disposition")
		return withStatus(http.StatusConflict, "%v", err)
	}
	if err != nil {
		a.serverErrors.Add(1)
		a.o.Log.Error("api: backup failed", "by", p.Name, "err", err)
		panic(http.ErrAbortHandler)
	}
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	a.o.Log.Info("api: backup written", "by", p.Name, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (a *API) purge(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var body struct{}
	if err := decode(w, r, &body); err != nil {
		return err
	}
	if a.o.Retention <= 0 {
		return withStatus(http.StatusConflict, "no retention is configured (hub.yaml retention)")
	}
	res, err := a.h.Purge(a.o.Retention)
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, PurgeResult{Retention: wire.Duration(a.o.Retention), Examined: res.Examined, Purged: res.Purged})
	return nil
}
