package api

import (
	"net/http"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/internal/httpjson"
)

// User is a console user as the API shows it: never a password or its
// hash.
type User = auth.User

// UserRequest is the body of POST /api/users (a new user) and of POST
// /api/users/{login} (a change: every field as it should be; an empty
// password keeps the old one). A change ends the user's sessions.
type UserRequest struct {
	Login    string   `json:"login"`
	Name     string   `json:"name"`
	Roles    []string `json:"roles"`
	Lang     string   `json:"lang,omitempty"`
	Password string   `json:"password,omitempty"`
	Disabled bool     `json:"disabled,omitempty"`
}

func (req *UserRequest) user() (auth.NewUser, error) {
	n := auth.NewUser{Login: req.Login, Name: req.Name, Lang: req.Lang, Password: req.Password, Disabled: req.Disabled}
	for _, s := range req.Roles {
		r, err := auth.ParseRole(s)
		if err != nil {
			return n, withStatus(http.StatusUnprocessableEntity, "roles: %v", err)
		}
		n.Roles = append(n.Roles, r)
	}
	return n, nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	pq, err := readPage(r)
	if err != nil {
		return err
	}
	users, err := a.o.Users.List()
	if err != nil {
		return err
	}
	page, next := pageOf(users, func(u *auth.User) string { return u.Login }, pq) // List's order
	if page == nil {
		page = []auth.User{}
	}
	setNext(w, r, next)
	httpjson.Write(w, http.StatusOK, page)
	return nil
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req UserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	n, err := req.user()
	if err != nil {
		return err
	}
	u, err := a.o.Users.Add(n)
	if err != nil {
		return err
	}
	a.o.Log.Info("api: user added", "login", u.Login, "roles", u.Roles, "by", p.Name)
	httpjson.Write(w, http.StatusCreated, u)
	return nil
}

func (a *API) changeUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req UserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Login == "" {
		req.Login = r.PathValue("login")
	}
	if req.Login != r.PathValue("login") {
		return withStatus(http.StatusUnprocessableEntity, "login: %q in the body, %q in the path", req.Login, r.PathValue("login"))
	}
	n, err := req.user()
	if err != nil {
		return err
	}
	u, err := a.o.Users.Change(n)
	if err != nil {
		return err
	}
	a.o.Log.Info("api: user changed", "login", u.Login, "roles", u.Roles, "disabled", u.Disabled, "by", p.Name)
	httpjson.Write(w, http.StatusOK, u)
	return nil
}
