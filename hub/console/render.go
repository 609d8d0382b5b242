package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/wire"
)

// page is what every template is given.
type page struct {
	L     L
	P     auth.Principal
	CSRF  string // the session's token, for forms and htmx (hx-headers)
	Path  string // the page's own path and query, to come back to
	Nav   string // the section the page belongs to, for the menu
	Title string
	// Can says which actions the principal may take, by name, so that
	// templates leave out the buttons of the others (the server checks
	// again on every request).
	Can map[string]bool
	// Unacked is how many alarms no one has acknowledged, for the
	// layout's badge and banner (0 without a signed-in user).
	Unacked int
	Data    any
}

// abilities are the console's actions and the roles that may take them.
var abilities = map[string][]auth.Role{
	"request":    {auth.Requester},
	"coordinate": {auth.Coordinator},
	"approve":    {auth.Approver},
	"admin":      {auth.Admin},
}

func (c *Console) newPage(r *http.Request, p auth.Principal, csrf string) page {
	lang := p.Lang
	if lang == "" {
		lang = preferred(r)
	}
	can := map[string]bool{}
	for name, roles := range abilities {
		for _, role := range roles {
			can[name] = can[name] || p.Has(role)
		}
	}
	pg := page{L: newL(lang, c.o.Location), P: p, CSRF: csrf, Can: can, Path: r.URL.RequestURI()}
	if p.Name != "" && c.o.Hub.Alarms() != nil {
		pg.Unacked = c.o.Hub.Alarms().Unacked()
	}
	return pg
}

// preferred returns the language of a request without a user: English
// when the browser puts it before Indonesian, else Indonesian.
func preferred(r *http.Request) string {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "id"):
			return "id"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "id"
}

// funcs are the templates' helpers: they only regroup values for a
// partial template, never format or escape (html/template does that).
var funcs = template.FuncMap{
	"userFields": func(l L, f userForm) userFieldsData { return userFieldsData{L: l, F: f, New: f.New} },
	"commands":   func() []wire.CommandName { return wire.CommandNames },
	"width":      func(months int) float64 { return float64(months)*colW + 40 },
	"table":      func(l L, rows []permitRow) tableData { return tableData{l, rows} },
	"reasonForm": func(pg page, action, label, button string) reasonData {
		return reasonData{L: pg.L, CSRF: pg.CSRF, ID: pg.Data.(permitData).P.ID, Action: action, Label: label, Button: button}
	},
	"field": func(l L, f form, name, label, typ string) fieldData {
		st := f.state()
		return fieldData{L: l, Name: name, Label: label, Type: typ, Value: st.Values[name], Error: st.Errors[name],
			Options: st.Options[name]}
	},
}

// reasonData is a step that needs a reason: reject, revoke.
type reasonData struct {
	L                               L
	CSRF, ID, Action, Label, Button string
}

type userFieldsData struct {
	L   L
	F   userForm
	New bool
}

type tableData struct {
	L    L
	Rows []permitRow
}

// form is a form as typed, shown again with its errors.
type form interface{ state() formState }

// formState is a form's fields by name: the values typed, the errors
// found, the choices of its selects.
type formState struct {
	Values  map[string]string
	Errors  map[string]string
	Options map[string][]option
}

type fieldData struct {
	L                               L
	Name, Label, Type, Value, Error string
	Options                         []option
}

// parsePages parses each page with the layout and the partials: the
// files templates/layout.html and templates/_*.html are shared, every
// other file is a page named for it.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	shared := []string{"templates/layout.html"}
	for _, n := range names {
		if strings.HasPrefix(n, "templates/_") {
			shared = append(shared, n)
		}
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, append(shared, n)...)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes the page name with status: the whole page in the layout,
// or only its "content" to an htmx request, which swaps it in. It renders
// into a buffer first, so that a template error is a clean 500 and never
// half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
	t, ok := c.pages[name]
	if !ok {
		c.logRender(name, fmt.Errorf("no such page"))
		http.Error(w, "console: no page "+name, http.StatusInternalServerError)
		return
	}
	what := "layout"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" {
		what = "content"
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, what, pg); err != nil {
		c.logRender(name, err)
		http.Error(w, "console: rendering failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fragment renders the template name of page set into a string, for the
// live stream's events.
func (c *Console) fragment(set, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := c.pages[set].ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
