package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
)

// Permohonan: the permit requests, SOP steps 1 to 4. Each step is a form
// on the permit's page, shown only to the role that takes it; the hub's
// workflow checks the rules again (approval not by the requester, an
// escort who may escort at that door).

// permitRow is a permit in a list, every field ready to show.
type permitRow struct {
	ID, Guest, Organisation, Door, Window, State, StateClass string
}

// stateKey is the catalogue key of a permit's state.
func stateKey(s workflow.State) string { return "state." + string(s) }

// view is the permit as p may see it, as the API shows it
// (workflow.Record.For): the NIK and phone masked for everyone but an
// admin, the guest's name for a viewer. Every page of a permit goes
// through it.
func view(p auth.Principal, r workflow.Record) workflow.Record {
	return r.For(p.CanSeeNIK(), p.SeesGuestNames())
}

func (c *Console) row(l L, r workflow.Record) permitRow {
	return permitRow{ID: r.ID, Guest: r.Guest, Organisation: r.Organisation, Door: r.Site + "/" + r.Door,
		Window: l.Time(r.NotBefore) + " – " + l.Time(r.NotAfter), State: l.T(stateKey(r.State)), StateClass: string(r.State)}
}

// queue is one role's list of permits waiting for it.
type queue struct {
	Title string
	Rows  []permitRow
}

type permitsData struct {
	Queues []queue
	All    []permitRow
	State  string // the list's filter
	States []option
}

type option struct {
	Value, Label string
	Selected     bool
}

var allStates = []workflow.State{workflow.Requested, workflow.Coordinated, workflow.Approved, workflow.Escorted,
	workflow.Issued, workflow.Rejected, workflow.Revoked}

func (c *Console) permits(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	pg.Nav, pg.Title = "permits", pg.L.T("permits.title")
	recs, err := c.o.Hub.Workflow().List()
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	slices.Reverse(recs) // newest first
	state := workflow.State(r.URL.Query().Get("status"))
	if !slices.Contains(allStates, state) {
		state = ""
	}
	d := permitsData{State: string(state)}
	d.States = append(d.States, option{"", pg.L.T("permits.all"), state == ""})
	for _, st := range allStates {
		d.States = append(d.States, option{string(st), pg.L.T(stateKey(st)), st == state})
	}
	waiting := []struct {
		role  auth.Role
		state workflow.State
		title string
	}{
		{auth.Coordinator, workflow.Requested, "permits.queue.coordinate"},
		{auth.Approver, workflow.Coordinated, "permits.queue.approve"},
		{auth.Approver, workflow.Approved, "permits.queue.escort"},
	}
	for _, q := range waiting {
		if !p.Has(q.role) {
			continue
		}
		qu := queue{Title: pg.L.T(q.title)}
		for _, rec := range recs {
			if rec.State == q.state {
				qu.Rows = append(qu.Rows, c.row(pg.L, view(p, rec)))
			}
		}
		d.Queues = append(d.Queues, qu)
	}
	for _, rec := range recs {
		if state == "" || rec.State == state {
			d.All = append(d.All, c.row(pg.L, view(p, rec)))
		}
	}
	pg.Data = d
	c.render(w, r, http.StatusOK, "permits", pg)
}

// requestForm is the step 1 form as typed, and its errors by field. The
// card UID is never kept in it: a form shown again asks for the card
// again.
type requestForm struct {
	Door, Guest, NIK, Organisation, Phone, Purpose, Equipment, From, Until, Entries string
	FormOpened                                                                      string
	Doors                                                                           []option
	Errors                                                                          map[string]string
}

// state shows the form again (form); the card UID above all is never in
// it.
func (f requestForm) state() formState {
	return formState{Values: map[string]string{"door": f.Door, "guest": f.Guest, "nik": f.NIK, "organisation": f.Organisation,
		"phone": f.Phone, "purpose": f.Purpose, "equipment": f.Equipment, "from": f.From, "until": f.Until, "entries": f.Entries},
		Errors: f.Errors, Options: map[string][]option{"door": f.Doors}}
}

const formTime = "2006-01-02T15:04" // an <input type="datetime-local">

func (c *Console) doorOptions(selected string) []option {
	var out []option
	for _, d := range c.o.Hub.Doors() {
		v := d.Site + "/" + d.Door
		out = append(out, option{v, v, v == selected})
	}
	return out
}

func (c *Console) newPermit(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	now := time.Now().In(c.o.Location)
	f := requestForm{From: now.Truncate(time.Hour).Add(time.Hour).Format(formTime),
		Until: now.Truncate(time.Hour).Add(3 * time.Hour).Format(formTime), FormOpened: now.UTC().Format(time.RFC3339)}
	f.Doors = c.doorOptions("")
	if len(f.Doors) == 1 {
		f.Doors[0].Selected = true
	}
	c.showRequestForm(w, r, p, s, http.StatusOK, f)
}

func (c *Console) showRequestForm(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session, status int, f requestForm) {
	pg := c.newPage(r, p, s.CSRF)
	pg.Nav, pg.Title = "permits", pg.L.T("request.title")
	pg.Data = f
	c.render(w, r, status, "permit_new", pg)
}

// parseRequest reads the step 1 form; every field's error is found at
// once, in the reader's language.
func (c *Console) parseRequest(l L, r *http.Request) (workflow.Request, requestForm) {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := requestForm{Door: v("door"), Guest: v("guest"), NIK: v("nik"), Organisation: v("organisation"), Phone: v("phone"),
		Purpose: v("purpose"), Equipment: v("equipment"), From: v("from"), Until: v("until"), Entries: v("entries"),
		FormOpened: v("form_opened"), Errors: map[string]string{}}
	f.Doors = c.doorOptions(f.Door)
	bad := func(field, key string) { f.Errors[field] = l.T(key) }
	req := workflow.Request{Guest: f.Guest, NIK: f.NIK, Organisation: f.Organisation, Phone: f.Phone, Purpose: f.Purpose}
	site, door, ok := strings.Cut(f.Door, "/")
	if !ok || !slices.ContainsFunc(f.Doors, func(o option) bool { return o.Value == f.Door }) {
		bad("door", "request.err.door")
	}
	req.Site, req.Door = site, door
	// the limits and the characters are the workflow's (permit's table),
	// said here in the reader's language
	for _, c := range []struct {
		field, value string
		max          int
	}{{"guest", f.Guest, permit.MaxGuest}, {"organisation", f.Organisation, permit.MaxOrganisation}, {"purpose", f.Purpose, permit.MaxPurpose}} {
		check := permit.CheckText
		if c.field == "purpose" {
			check = permit.CheckLines
			c.value = strings.ReplaceAll(c.value, "\r\n", "\n") // a textarea's line ends
		}
		switch {
		case c.value == "":
			bad(c.field, "request.err.required")
		case utf8.RuneCountInString(c.value) > c.max:
			f.Errors[c.field] = l.T("request.err.long", c.max)
		case check(c.field, c.value, c.max) != nil:
			bad(c.field, "request.err.chars")
		}
	}
	req.Purpose = strings.ReplaceAll(req.Purpose, "\r\n", "\n")
	if len(f.NIK) != 16 || strings.Trim(f.NIK, "0123456789") != "" {
		bad("nik", "request.err.nik")
	}
	if f.Phone != "" && (len(f.Phone) > permit.MaxPhone || strings.Trim(f.Phone, "+0123456789 -") != "") {
		bad("phone", "request.err.phone")
	}
	for e := range strings.SplitSeq(f.Equipment, ",") {
		if e = strings.TrimSpace(e); e != "" {
			req.Equipment = append(req.Equipment, e)
		}
	}
	from, errFrom := time.ParseInLocation(formTime, f.From, c.o.Location)
	until, errUntil := time.ParseInLocation(formTime, f.Until, c.o.Location)
	switch {
	case errFrom != nil:
		bad("from", "request.err.time")
	case errUntil != nil:
		bad("until", "request.err.time")
	case !until.After(from):
		bad("until", "request.err.window")
	}
	req.NotBefore, req.NotAfter = from, until
	if f.Entries != "" {
		n, err := strconv.Atoi(f.Entries)
		if err != nil || n < 0 || n > workflow.MaxEntries {
			f.Errors["entries"] = l.T("request.err.entries", workflow.MaxEntries)
		}
		req.Entries = n
	}
	uid := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("card_uid")), ":", ""))
	if len(uid) < 8 || len(uid) > 20 || len(uid)%2 != 0 || strings.Trim(uid, "0123456789abcdef") != "" {
		bad("card_uid", "request.err.card")
	}
	req.CardUID = uid
	if t, err := time.Parse(time.RFC3339, f.FormOpened); err == nil && t.Before(time.Now()) {
		req.FormOpened = t
	}
	return req, f
}

func (c *Console) createPermit(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	l := c.newPage(r, p, s.CSRF).L
	req, f := c.parseRequest(l, r)
	if len(f.Errors) > 0 {
		c.showRequestForm(w, r, p, s, http.StatusUnprocessableEntity, f)
		return
	}
	req.By = p.Name
	rec, err := c.o.Hub.Request(req)
	if errors.Is(err, workflow.ErrInvalid) || errors.Is(err, permit.ErrInvalid) || errors.Is(err, workflow.ErrNoSiteKey) {
		f.Errors["form"] = err.Error()
		c.showRequestForm(w, r, p, s, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	c.o.Log.Info("console: permit requested", "permit", rec.ID, "by", p.Name)
	http.Redirect(w, r, "/permohonan/"+rec.ID, http.StatusSeeOther)
}

// step is one line of a permit's timeline.
type step struct {
	What, By, At, Took, Standard, Note string
	Late                               bool
}

type permitData struct {
	P        workflow.Record // as the reader may see it
	State    string
	Window   string
	Timeline []step
	Visits   []visitRow
	Escorts  []option // staff who may escort at the permit's door
	Error    string
	// the forms the reader may use on this permit now
	CanCoordinate, CanApprove, CanEscort, CanReject, CanRevoke bool
}

type visitRow struct{ Entered, Exited, Secured, Escort string }

// sopStep is the SOP step each state of the history ends.
var sopStep = map[workflow.State]int{workflow.Requested: 1, workflow.Coordinated: 2, workflow.Approved: 3, workflow.Escorted: 4}

func (c *Console) showPermit(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	c.permitPage(w, r, p, s, http.StatusOK, "")
}

func (c *Console) permitPage(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session, status int, errMsg string) {
	rec, err := c.o.Hub.Workflow().Get(r.PathValue("id"))
	if !c.found(w, r, err) {
		return
	}
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	rec = view(p, rec)
	d := permitData{P: rec, State: l.T(stateKey(rec.State)), Window: l.Time(rec.NotBefore) + " – " + l.Time(rec.NotAfter), Error: errMsg}
	prev := rec.FormOpened
	for _, t := range rec.History {
		st := step{What: l.T(stateKey(t.State)), By: t.By, At: l.Time(t.At), Note: t.Note}
		if c := permit.Category(t.Note); t.State == workflow.Coordinated && (c == permit.Network || c == permit.Server) {
			st.Note = l.T("category." + t.Note) // the workflow notes the category it chose
		}
		if n, ok := sopStep[t.State]; ok {
			st.What = l.T("timeline.step", n, st.What)
			st.Standard = l.T("timeline.standard", workflow.Standard[n].Minutes())
			if !prev.IsZero() {
				took := t.At.Sub(prev)
				st.Took, st.Late = duration(l, took), took > workflow.Standard[n]
			}
		}
		prev = t.At
		d.Timeline = append(d.Timeline, st)
	}
	staffNames := c.names()
	for _, v := range c.o.Hub.Book().Query(workflow.Filter{Permit: rec.ID}) {
		d.Visits = append(d.Visits, visitRow{Entered: l.Time(v.Entered), Exited: l.Time(v.Exited), Secured: l.Time(v.Secured),
			Escort: staffNames.staffName(v.Escort)})
	}
	d.CanCoordinate = p.Has(auth.Coordinator) && rec.State == workflow.Requested
	d.CanApprove = p.Has(auth.Approver) && rec.State == workflow.Coordinated && !permit.SameActor(rec.Requester, p.Name)
	d.CanEscort = p.Has(auth.Approver) && rec.State == workflow.Approved
	d.CanReject = (p.Has(auth.Coordinator) && rec.State == workflow.Requested) ||
		(p.Has(auth.Approver) && (rec.State == workflow.Coordinated || rec.State == workflow.Approved))
	d.CanRevoke = p.Has(auth.Approver) && (rec.State == workflow.Issued || rec.State == workflow.Escorted)
	if d.CanEscort {
		staff, _ := c.o.Hub.Workflow().ListStaff()
		for _, m := range staff {
			if m.Escort && !m.Disabled && m.Site == rec.Site && (len(m.Doors) == 0 || slices.Contains(m.Doors, rec.Door)) {
				d.Escorts = append(d.Escorts, option{m.ID, m.Name + " (" + m.ID + ")", false})
			}
		}
	}
	pg.Nav, pg.Title, pg.Data = "permits", l.T("permit.title", rec.ID), d
	c.render(w, r, status, "permit", pg)
}

func duration(l L, d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return l.T("duration.seconds", int(d.Seconds()))
	}
	if d < time.Hour && d%time.Minute == 0 {
		return l.T("duration.wholeminutes", int(d.Minutes()))
	}
	if d < time.Hour {
		return l.T("duration.minutes", int(d.Minutes()), int(d.Seconds())%60)
	}
	return l.T("duration.hours", int(d.Hours()), int(d.Minutes())%60)
}

// permitStep runs one workflow step of a permit's page and shows the page
// again: the change, or the hub's refusal.
func (c *Console) permitStep(do func(r *http.Request, id string, p auth.Principal) error) func(http.ResponseWriter, *http.Request, auth.Principal, auth.Session) {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
		id := r.PathValue("id")
		err := do(r, id, p)
		l := c.newPage(r, p, s.CSRF).L
		switch {
		case err == nil:
			c.o.Log.Info("console: permit step", "permit", id, "path", r.URL.Path, "by", p.Name)
			http.Redirect(w, r, "/permohonan/"+id, http.StatusSeeOther)
		case errors.Is(err, workflow.ErrNotFound):
			c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
		case errors.Is(err, errReason):
			c.permitPage(w, r, p, s, http.StatusUnprocessableEntity, l.T("permit.err.reason"))
		case errors.Is(err, workflow.ErrSelfApproval):
			c.permitPage(w, r, p, s, http.StatusForbidden, l.T("permit.err.self"))
		case errors.Is(err, workflow.ErrTransition), errors.Is(err, workflow.ErrNotEscort),
			errors.Is(err, workflow.ErrInvalid), errors.Is(err, permit.ErrInvalid):
			c.permitPage(w, r, p, s, http.StatusConflict, l.T("permit.err.refused", err.Error()))
		default:
			c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		}
	}
}

var errReason = errors.New("console: no reason given")

// reason is the form's reason, its textarea's line ends made \n: given,
// and as the workflow takes it (permit.CheckLines, permit.MaxNote).
func reason(r *http.Request) (string, error) {
	v := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("reason")), "\r\n", "\n")
	if v == "" || permit.CheckLines("reason", v, permit.MaxNote) != nil {
		return "", errReason
	}
	return v, nil
}

func (c *Console) permitRoutes() {
	h := c.o.Hub
	steps := []struct {
		pattern string
		roles   []auth.Role
		do      func(r *http.Request, id string, p auth.Principal) error
	}{
		{"POST /permohonan/{id}/klasifikasi", []auth.Role{auth.Coordinator}, func(r *http.Request, id string, p auth.Principal) error {
			_, err := h.Coordinate(id, permit.Category(r.PostFormValue("category")), p.Name)
			return err
		}},
		{"POST /permohonan/{id}/setujui", []auth.Role{auth.Approver}, func(r *http.Request, id string, p auth.Principal) error {
			_, err := h.Approve(id, p.Name)
			return err
		}},
		{"POST /permohonan/{id}/pendamping", []auth.Role{auth.Approver}, func(r *http.Request, id string, p auth.Principal) error {
			_, err := h.Escort(id, r.PostFormValue("staff"), p.Name)
			return err
		}},
		{"POST /permohonan/{id}/tolak", []auth.Role{auth.Coordinator, auth.Approver}, func(r *http.Request, id string, p auth.Principal) error {
			why, err := reason(r)
			if err == nil {
				_, err = h.Reject(id, p.Name, why)
			}
			return err
		}},
		{"POST /permohonan/{id}/cabut", []auth.Role{auth.Approver}, func(r *http.Request, id string, p auth.Principal) error {
			why, err := reason(r)
			if err == nil {
				_, err = h.Revoke(id, p.Name, why)
			}
			return err
		}},
	}
	c.mux.Handle("GET /permohonan", c.page(nil, c.permits))
	c.mux.Handle("GET /permohonan/baru", c.page([]auth.Role{auth.Requester}, c.newPermit))
	c.mux.Handle("POST /permohonan", c.action([]auth.Role{auth.Requester}, c.createPermit))
	c.mux.Handle("GET /permohonan/{id}", c.page(nil, c.showPermit))
	for _, st := range steps {
		c.mux.Handle(st.pattern, c.action(st.roles, c.permitStep(st.do)))
	}
}
