package console

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
)

// Pengguna (admin): the people who sign in to the console, their roles
// and language, and the API tokens of scripts. A change to a user ends
// their sessions at once; a token's secret is shown once, when issued.

// roleOrder is every role, in the order of the SOP.
var roleOrder = []auth.Role{auth.Requester, auth.Coordinator, auth.Approver, auth.Viewer, auth.Admin}

type userRow struct {
	Login, Name, Roles, Lang string
	Disabled                 bool
}

type tokenRow struct {
	ID, Name, Roles, Created, Expires string
	Active                            bool
}

type usersData struct {
	Users    []userRow
	Tokens   []tokenRow
	NewToken string // shown once, after issuing
	Form     userForm
}

// userForm is a user's form as typed; the password is never shown back.
type userForm struct {
	New               bool
	Login, Name, Lang string
	Roles             []option
	Langs             []option
	Disabled          bool
	Errors            map[string]string
}

// state shows the form again (form); never the password.
func (f userForm) state() formState {
	return formState{Values: map[string]string{"login": f.Login, "name": f.Name}, Errors: f.Errors,
		Options: map[string][]option{"lang": f.Langs}}
}

func roleText(l L, rs []auth.Role) string {
	var out []string
	for _, r := range rs {
		out = append(out, l.T("role."+string(r)))
	}
	return strings.Join(out, ", ")
}

func (c *Console) userForm(l L, u auth.User, isNew bool) userForm {
	f := userForm{New: isNew, Login: u.Login, Name: u.Name, Lang: u.Lang, Disabled: u.Disabled, Errors: map[string]string{}}
	for _, r := range roleOrder {
		f.Roles = append(f.Roles, option{string(r), l.T("role." + string(r)), slices.Contains(u.Roles, r)})
	}
	for _, lang := range auth.Languages {
		f.Langs = append(f.Langs, option{lang, l.T("lang." + lang), lang == u.Lang})
	}
	return f
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	c.usersPage(w, r, p, s, http.StatusOK, c.userForm(c.newPage(r, p, "").L, auth.User{Lang: auth.Languages[0]}, true), "")
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session, status int, f userForm, newToken string) {
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	d := usersData{Form: f, NewToken: newToken}
	users, err := c.o.Users.List()
	if !c.found(w, r, err) {
		return
	}
	for _, u := range users {
		d.Users = append(d.Users, userRow{Login: u.Login, Name: u.Name, Roles: roleText(l, u.Roles), Lang: l.T("lang." + u.Lang), Disabled: u.Disabled})
	}
	if c.o.Tokens != nil {
		infos, err := c.o.Tokens.List()
		if !c.found(w, r, err) {
			return
		}
		now := time.Now()
		for _, t := range infos {
			row := tokenRow{ID: t.ID, Name: t.Name, Roles: roleText(l, t.Roles), Created: l.Time(t.Created), Active: t.Active(now)}
			if !t.Expires.IsZero() {
				row.Expires = l.Time(t.Expires)
			}
			d.Tokens = append(d.Tokens, row)
		}
	}
	pg.Nav, pg.Title, pg.Data = "users", l.T("users.title"), d
	c.render(w, r, status, "users", pg)
}

func (c *Console) editUser(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	u, err := c.o.Users.Get(r.PathValue("login"))
	if errors.Is(err, auth.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
		return
	}
	if !c.found(w, r, err) {
		return
	}
	pg := c.newPage(r, p, s.CSRF)
	pg.Nav, pg.Title, pg.Data = "users", pg.L.T("users.edit", u.Login), c.userForm(pg.L, u, false)
	c.render(w, r, http.StatusOK, "user_form", pg)
}

// saveUser adds a user (POST /pengguna) or changes one (POST
// /pengguna/{login}); the auth package checks the fields, and its
// refusals are shown on the form.
func (c *Console) saveUser(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	l := c.newPage(r, p, s.CSRF).L
	login := r.PathValue("login")
	isNew := login == ""
	if isNew {
		login = strings.ToLower(strings.TrimSpace(r.PostFormValue("login")))
	}
	n := auth.NewUser{Login: login, Name: strings.TrimSpace(r.PostFormValue("name")), Lang: r.PostFormValue("lang"),
		Password: r.PostFormValue("password"), Disabled: r.PostFormValue("disabled") != ""}
	for _, v := range r.PostForm["role"] {
		if role, err := auth.ParseRole(v); err == nil {
			n.Roles = append(n.Roles, role)
		}
	}
	var err error
	if isNew {
		_, err = c.o.Users.Add(n)
	} else {
		_, err = c.o.Users.Change(n)
	}
	if err == nil {
		c.o.Log.Info("console: user saved", "login", login, "roles", n.Roles, "disabled", n.Disabled, "by", p.Name)
		http.Redirect(w, r, "/pengguna", http.StatusSeeOther)
		return
	}
	if !errors.Is(err, auth.ErrInvalid) && !errors.Is(err, auth.ErrExists) && !errors.Is(err, auth.ErrNotFound) {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	f := c.userForm(l, auth.User{Login: n.Login, Name: n.Name, Roles: n.Roles, Lang: n.Lang, Disabled: n.Disabled}, isNew)
	f.Errors["form"] = l.T("users.err", err.Error())
	if isNew {
		c.usersPage(w, r, p, s, http.StatusUnprocessableEntity, f, "")
		return
	}
	pg := c.newPage(r, p, s.CSRF)
	pg.Nav, pg.Title, pg.Data = "users", l.T("users.edit", login), f
	c.render(w, r, http.StatusUnprocessableEntity, "user_form", pg)
}

func (c *Console) issueToken(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	l := c.newPage(r, p, s.CSRF).L
	var roles []auth.Role
	for _, v := range r.PostForm["role"] {
		if role, err := auth.ParseRole(v); err == nil {
			roles = append(roles, role)
		}
	}
	var expires time.Time
	if n, err := strconv.Atoi(r.PostFormValue("days")); err == nil && n > 0 && n <= 3650 {
		expires = time.Now().AddDate(0, 0, n)
	}
	tok, info, err := c.o.Tokens.Issue(strings.TrimSpace(r.PostFormValue("name")), roles, expires)
	if err != nil {
		f := c.userForm(l, auth.User{Lang: auth.Languages[0]}, true)
		f.Errors["token"] = l.T("users.err", err.Error())
		c.usersPage(w, r, p, s, http.StatusUnprocessableEntity, f, "")
		return
	}
	c.o.Log.Info("console: token issued", "token", info.ID, "name", info.Name, "by", p.Name)
	c.usersPage(w, r, p, s, http.StatusOK, c.userForm(l, auth.User{Lang: auth.Languages[0]}, true), tok)
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal, _ auth.Session) {
	if err := c.o.Tokens.Revoke(r.PathValue("id")); err != nil && !errors.Is(err, auth.ErrNotFound) {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	c.o.Log.Info("console: token revoked", "token", r.PathValue("id"), "by", p.Name)
	http.Redirect(w, r, "/pengguna", http.StatusSeeOther)
}

func (c *Console) userRoutes() {
	admin := []auth.Role{auth.Admin}
	c.mux.Handle("GET /pengguna", c.page(admin, c.users))
	c.mux.Handle("POST /pengguna", c.action(admin, c.saveUser))
	c.mux.Handle("GET /pengguna/{login}", c.page(admin, c.editUser))
	c.mux.Handle("POST /pengguna/{login}", c.action(admin, c.saveUser))
	if c.o.Tokens != nil {
		c.mux.Handle("POST /token", c.action(admin, c.issueToken))
		c.mux.Handle("POST /token/{id}/cabut", c.action(admin, c.revokeToken))
	}
}
