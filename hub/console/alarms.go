package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/auth"
)

// Alarm: the hub's alarms, newest first, filtered and paged on the
// server; an admin acknowledges one with a note (the API's rule: admins
// acknowledge, every other role reads). The layout's badge and banner
// count the unacknowledged ones (page.Unacked).

// alarmsPage is how many alarms a page of the list shows.
const alarmsPage = 50

// alarmFilter is the list's filter as the query has it: terbuka (open
// only), pintu (site/door), jenis (a kind), setelah (the page: the id
// the previous page ended at).
type alarmFilter struct {
	Open        bool
	Door, Kind  string
	After       string
	Doors       []option
	Kinds       []option
	Error       string
	HasFilter   bool
	filter      alarm.Filter
	queryNoPage url.Values
}

func (c *Console) alarmFilter(l L, q url.Values) alarmFilter {
	af := alarmFilter{Open: q.Get("terbuka") != "", Door: q.Get("pintu"), Kind: q.Get("jenis"), After: q.Get("setelah")}
	af.Doors = c.doorOptions(af.Door)
	af.filter.Open = af.Open
	if site, door, ok := strings.Cut(af.Door, "/"); ok {
		af.filter.Site, af.filter.Door = site, door
	} else if af.Door != "" {
		af.Error = l.T("alarms.err.door")
	}
	known := false
	for _, k := range alarm.Kinds {
		af.Kinds = append(af.Kinds, option{string(k), kindText(l, k), string(k) == af.Kind})
		known = known || string(k) == af.Kind
	}
	if af.Kind != "" {
		if !known {
			af.Error = l.T("alarms.err.kind")
		}
		af.filter.Kind = alarm.Kind(af.Kind)
	}
	af.queryNoPage = url.Values{}
	for k, v := range map[string]string{"pintu": af.Door, "jenis": af.Kind} {
		if v != "" {
			af.queryNoPage.Set(k, v)
		}
	}
	if af.Open {
		af.queryNoPage.Set("terbuka", "1")
	}
	af.HasFilter = len(af.queryNoPage) > 0
	return af
}

// link returns the list's path with the filter, from after ("" the
// newest).
func (af alarmFilter) link(after string) string {
	q := url.Values{}
	for k, v := range af.queryNoPage {
		q[k] = v
	}
	if after != "" {
		q.Set("setelah", after)
	}
	if len(q) == 0 {
		return "/alarm"
	}
	return "/alarm?" + q.Encode()
}

// kindText is k's name in l's language, as the notifications name it
// (hub.KindText), with a capital for a table's cell.
func kindText(l L, k alarm.Kind) string {
	t := hub.KindText(k)
	s := t.ID
	if l.Lang == "en" {
		s = t.EN
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// alarmRow is one alarm, ready to show.
type alarmRow struct {
	ID, Opened, Door, Kind, Rack, Permit, Detail string
	Active                                       bool
	Cleared                                      string
	Acked                                        bool
	AckBy, AckAt, AckNote                        string
}

type alarmsData struct {
	Filter      alarmFilter
	Rows        []alarmRow
	First, Next string // links to the newest page and the next one
	CanAck      bool
	Back        string // where an acknowledgement comes back to
}

func (c *Console) alarmsList(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	af := c.alarmFilter(l, r.URL.Query())
	d := alarmsData{Filter: af, CanAck: p.Has(auth.Admin), Back: pg.Path}
	status := http.StatusOK
	if af.Error == "" {
		list, next, err := c.o.Hub.Alarms().List(af.filter, af.After, alarmsPage)
		switch {
		case errors.Is(err, alarm.ErrInvalid): // a hand-made setelah
			d.Filter.Error = l.T("alarms.err.page")
		case err != nil:
			c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
			return
		}
		for _, a := range list {
			row := alarmRow{ID: a.ID, Opened: l.Time(a.Opened), Kind: kindText(l, a.Kind), Rack: a.Rack, Permit: a.Permit,
				Detail: a.Detail, Active: a.Active(), Cleared: l.Time(a.Cleared)}
			if a.Site != "" || a.Door != "" {
				row.Door = a.Site + "/" + a.Door
			}
			if a.Acked != nil {
				row.Acked, row.AckBy, row.AckAt, row.AckNote = true, a.Acked.By, l.Time(a.Acked.At), a.Acked.Note
			}
			d.Rows = append(d.Rows, row)
		}
		if next != "" {
			d.Next = af.link(next)
		}
		if af.After != "" {
			d.First = af.link("")
		}
	}
	if d.Filter.Error != "" {
		status = http.StatusBadRequest
	}
	pg.Nav, pg.Title, pg.Data = "alarms", l.T("alarms.title"), d
	c.render(w, r, status, "alarms", pg)
}

// ackAlarm acknowledges the alarm the path names for the admin, with the
// form's note, and goes back to the list the form was on.
func (c *Console) ackAlarm(w http.ResponseWriter, r *http.Request, p auth.Principal, _ auth.Session) {
	_, err := c.o.Hub.AckAlarm(r.PathValue("id"), p.Name, strings.TrimSpace(r.PostFormValue("note")))
	switch {
	case errors.Is(err, alarm.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
		return
	case errors.Is(err, alarm.ErrAcked):
		c.fail(w, r, http.StatusConflict, "alarms.err.acked", nil)
		return
	case errors.Is(err, alarm.ErrInvalid):
		c.fail(w, r, http.StatusUnprocessableEntity, "alarms.err.note", nil)
		return
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, "error.internal", err)
		return
	}
	back := next(r.PostFormValue("lanjut"))
	if back != "/alarm" && !strings.HasPrefix(back, "/alarm?") {
		back = "/alarm"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (c *Console) alarmRoutes() {
	c.mux.Handle("GET /alarm", c.page(nil, c.alarmsList))
	c.mux.Handle("POST /alarm/{id}/akui", c.action([]auth.Role{auth.Admin}, c.ackAlarm))
}
