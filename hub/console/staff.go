package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
)

// Pegawai: the staff register (admin): who may escort and who may enter
// alone, at which doors, with which cards. A card is enrolled by tapping
// it on the desk reader, which types its UID into the form; only its
// fingerprint is kept, and a card is shown by its short id.

type staffRow struct {
	ID, Name, Site, Doors, Rights string
	Cards                         int
	Disabled                      bool
}

func (c *Console) staffList(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	list, err := c.o.Hub.Workflow().ListStaff()
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	var rows []staffRow
	for _, m := range list {
		rows = append(rows, staffRow{ID: m.ID, Name: m.Name, Site: m.Site, Doors: doorsText(l, m.Doors), Rights: rights(l, &m),
			Cards: len(m.Cards), Disabled: m.Disabled})
	}
	pg.Nav, pg.Title, pg.Data = "staff", l.T("staff.title"), rows
	c.render(w, r, http.StatusOK, "staff", pg)
}

func doorsText(l L, doors []string) string {
	if len(doors) == 0 {
		return l.T("staff.alldoors")
	}
	return strings.Join(doors, ", ")
}

func rights(l L, m *workflow.StaffMember) string {
	var out []string
	if m.Escort {
		out = append(out, l.T("staff.escort"))
	}
	if m.Solo {
		out = append(out, l.T("staff.solo"))
	}
	if len(out) == 0 {
		return "–"
	}
	return strings.Join(out, ", ")
}

// staffForm is a staff member's form as typed; Cards are the enrolled
// cards' short ids (new ones are typed as UIDs, never shown back).
type staffForm struct {
	New                    bool
	ID, Name, Site, Doors  string
	Escort, Solo, Disabled bool
	Cards                  []option // short id; Selected: kept
	Errors                 map[string]string
	Sites                  []option
}

// state shows the form again (form).
func (f staffForm) state() formState {
	return formState{Values: map[string]string{"id": f.ID, "name": f.Name, "doors": f.Doors}, Errors: f.Errors,
		Options: map[string][]option{"site": f.Sites}}
}

func (c *Console) siteOptions(selected string) []option {
	var out []option
	seen := map[string]bool{}
	for _, d := range c.o.Hub.Doors() {
		if !seen[d.Site] {
			seen[d.Site] = true
			out = append(out, option{d.Site, d.Site, d.Site == selected})
		}
	}
	return out
}

func (c *Console) staffFormOf(m workflow.StaffMember, isNew bool) staffForm {
	f := staffForm{New: isNew, ID: m.ID, Name: m.Name, Site: m.Site, Doors: strings.Join(m.Doors, ", "), Escort: m.Escort,
		Solo: m.Solo, Disabled: m.Disabled, Errors: map[string]string{}, Sites: c.siteOptions(m.Site)}
	for _, fp := range m.Cards {
		f.Cards = append(f.Cards, option{Value: fp.Short(), Label: fp.Short(), Selected: true})
	}
	if len(f.Sites) == 1 && f.Site == "" {
		f.Site, f.Sites[0].Selected = f.Sites[0].Value, true
	}
	return f
}

func (c *Console) showStaffForm(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session, status int, f staffForm) {
	pg := c.newPage(r, p, s.CSRF)
	pg.Nav, pg.Title, pg.Data = "staff", pg.L.T("staff.edit"), f
	if f.New {
		pg.Title = pg.L.T("staff.new")
	}
	c.render(w, r, status, "staff_form", pg)
}

func (c *Console) newStaff(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	c.showStaffForm(w, r, p, s, http.StatusOK, c.staffFormOf(workflow.StaffMember{}, true))
}

func (c *Console) editStaff(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	m, err := c.o.Hub.Workflow().Staff(r.PathValue("id"))
	if !c.found(w, r, err) {
		return
	}
	c.showStaffForm(w, r, p, s, http.StatusOK, c.staffFormOf(m, false))
}

// saveStaff adds a staff member (POST /pegawai) or changes one (POST
// /pegawai/{id}): the cards kept are those still ticked, plus the one
// the desk reader typed, if any.
func (c *Console) saveStaff(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	l := c.newPage(r, p, s.CSRF).L
	id := r.PathValue("id")
	isNew := id == ""
	var old workflow.StaffMember
	if !isNew {
		var err error
		if old, err = c.o.Hub.Workflow().Staff(id); err != nil {
			c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
			return
		}
	} else {
		id = strings.TrimSpace(r.PostFormValue("id"))
	}
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	m := workflow.StaffMember{ID: id, Name: v("name"), Site: v("site"), Escort: v("escort") != "", Solo: v("solo") != "",
		Disabled: v("disabled") != ""}
	for d := range strings.SplitSeq(v("doors"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			m.Doors = append(m.Doors, d)
		}
	}
	if !isNew && m.Site != old.Site {
		m.Site = old.Site // a card's fingerprint is keyed by its site: moving sites is enrolling anew
	}
	f := c.staffFormOf(m, isNew)
	keep := r.PostForm["card"]
	for _, fp := range old.Cards {
		if slices.Contains(keep, fp.Short()) {
			m.Cards = append(m.Cards, fp)
		}
	}
	f.Cards = nil
	for _, fp := range old.Cards {
		f.Cards = append(f.Cards, option{Value: fp.Short(), Label: fp.Short(), Selected: slices.Contains(keep, fp.Short())})
	}
	if err := permit.CheckID("staff id", id); err != nil || (isNew && id == "") {
		f.Errors["id"] = l.T("staff.err.id")
	} else if isNew {
		if _, err := c.o.Hub.Workflow().Staff(id); err == nil {
			f.Errors["id"] = l.T("staff.err.taken")
		}
	}
	switch {
	case m.Name == "":
		f.Errors["name"] = l.T("request.err.required")
	case utf8.RuneCountInString(m.Name) > permit.MaxStaffName:
		f.Errors["name"] = l.T("request.err.long", permit.MaxStaffName)
	case permit.CheckText("name", m.Name, permit.MaxStaffName) != nil:
		f.Errors["name"] = l.T("request.err.chars")
	}
	if !slices.ContainsFunc(f.Sites, func(o option) bool { return o.Value == m.Site }) {
		f.Errors["site"] = l.T("staff.err.site")
	}
	if uid := strings.ToLower(strings.ReplaceAll(v("card_uid"), ":", "")); uid != "" {
		fp, err := c.o.Hub.Workflow().Fingerprint(m.Site, uid)
		if err != nil || len(uid) < 8 || len(uid)%2 != 0 {
			f.Errors["card_uid"] = l.T("request.err.card")
		} else if !slices.Contains(m.Cards, fp) {
			m.Cards = append(m.Cards, fp)
		}
	}
	if len(m.Cards) == 0 && f.Errors["card_uid"] == "" {
		f.Errors["card_uid"] = l.T("staff.err.nocard")
	}
	if len(f.Errors) > 0 {
		c.showStaffForm(w, r, p, s, http.StatusUnprocessableEntity, f)
		return
	}
	saved, err := c.o.Hub.PutStaff(m, p.Name)
	if errors.Is(err, workflow.ErrInvalid) {
		f.Errors["form"] = err.Error()
		c.showStaffForm(w, r, p, s, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	c.o.Log.Info("console: staff saved", "staff", saved.ID, "version", saved.Version, "by", p.Name)
	http.Redirect(w, r, "/pegawai", http.StatusSeeOther)
}

func (c *Console) staffRoutes() {
	admin := []auth.Role{auth.Admin}
	c.mux.Handle("GET /pegawai", c.page(admin, c.staffList))
	c.mux.Handle("GET /pegawai/baru", c.page(admin, c.newStaff))
	c.mux.Handle("POST /pegawai", c.action(admin, c.saveStaff))
	c.mux.Handle("GET /pegawai/{id}", c.page(admin, c.editStaff))
	c.mux.Handle("POST /pegawai/{id}", c.action(admin, c.saveStaff))
}
