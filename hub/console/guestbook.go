package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
)

// Buku Tamu: the guest book the doors keep, as the paper one has it:
// filtered, paged on the server, as CSV, and as an A4 print view with the
// office's heading and blanks for signatures.

// pageSize is how many visits a page of the guest book shows.
const pageSize = 50

// bookFilter is the guest book's filter as the query has it: pintu,
// dari, sampai (dates in the site's zone, both days included), izin,
// instansi, hal (the page, from 1).
type bookFilter struct {
	Door, From, Until, Permit, Organisation string
	Page                                    int
	Doors                                   []option
	Error                                   string
}

func (c *Console) bookFilter(l L, q url.Values) (bookFilter, workflow.Filter) {
	bf := bookFilter{Door: q.Get("pintu"), From: q.Get("dari"), Until: q.Get("sampai"), Permit: strings.TrimSpace(q.Get("izin")),
		Organisation: strings.TrimSpace(q.Get("instansi")), Page: 1}
	if n, err := strconv.Atoi(q.Get("hal")); err == nil && n > 1 && n < 1_000_000 {
		bf.Page = n
	}
	bf.Doors = c.doorOptions(bf.Door)
	f := workflow.Filter{Permit: bf.Permit, Organisation: bf.Organisation}
	if site, door, ok := strings.Cut(bf.Door, "/"); ok {
		f.Site, f.Door = site, door
	} else if bf.Door != "" {
		bf.Error = l.T("book.err.door")
	}
	if bf.From != "" {
		t, err := time.ParseInLocation(time.DateOnly, bf.From, c.o.Location)
		if err != nil {
			bf.Error = l.T("book.err.date")
		}
		f.From = t
	}
	if bf.Until != "" {
		t, err := time.ParseInLocation(time.DateOnly, bf.Until, c.o.Location)
		if err != nil {
			bf.Error = l.T("book.err.date")
		}
		f.To = t.AddDate(0, 0, 1) // the whole last day
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		bf.Error = l.T("book.err.range")
	}
	return bf, f
}

// query returns the filter as a query string, with page n (0: none).
func (bf bookFilter) query(n int) string {
	q := url.Values{}
	for k, v := range map[string]string{"pintu": bf.Door, "dari": bf.From, "sampai": bf.Until, "izin": bf.Permit, "instansi": bf.Organisation} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if n > 1 {
		q.Set("hal", strconv.Itoa(n))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// visit is one row of the guest book, ready to show.
type visit struct {
	N                                                         int
	Date, Guest, NIK, Organisation, Purpose, Category, Escort string
	Permit, Door, Entered, Exited, Secured, Approver, Alarms  string
	Equipment                                                 string
	NotSecured, Inside                                        bool
}

type bookData struct {
	Filter              bookFilter
	Visits              []visit
	Total, Page, Pages  int
	Prev, Next          string // links to the neighbouring pages
	CSV, Print          string
	Office              []string // the print view's heading
	Printed             string
	First, Last         int
	HasFilter, Truncate bool
}

func (c *Console) visits(l L, rows []workflow.Row, first int) []visit {
	n := c.names()
	out := make([]visit, 0, len(rows))
	for i, r := range rows {
		v := visit{N: first + i, Date: l.Date(r.Entered), Guest: r.Guest, NIK: r.NIK, Organisation: r.Organisation, Purpose: r.Purpose,
			Escort: n.staffName(r.Escort), Permit: r.Permit, Door: r.Site + "/" + r.Door, Entered: l.Clock(r.Entered),
			Exited: l.Clock(r.Exited), Secured: l.Clock(r.Secured), Approver: r.Approver, NotSecured: r.NotSecured,
			Inside: r.Exited.IsZero(), Equipment: strings.Join(r.Equipment, ", ")}
		if r.Category != "" {
			v.Category = l.T("category." + string(r.Category))
		}
		var alarms []string
		for _, a := range r.Alarms {
			alarms = append(alarms, l.T("book.alarm", string(a.Type), l.Clock(a.At)))
		}
		v.Alarms = strings.Join(alarms, "; ")
		out = append(out, v)
	}
	return out
}

func (c *Console) guestBook(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	bf, f := c.bookFilter(pg.L, r.URL.Query())
	d := bookData{Filter: bf, Page: bf.Page, CSV: "/buku-tamu.csv" + bf.query(0), Print: "/buku-tamu/cetak" + bf.query(0),
		HasFilter: bf.query(0) != ""}
	if bf.Error == "" {
		rows, total := c.o.Hub.GuestRows(f, (bf.Page-1)*pageSize, pageSize, p.CanSeeNIK())
		d.Total, d.Pages = total, max(1, (total+pageSize-1)/pageSize)
		// numbered as the paper book is: the oldest visit is 1
		d.First = total - (bf.Page-1)*pageSize
		d.Last = d.First - len(rows) + 1
		d.Visits = c.visits(pg.L, rows, 0)
		for i := range d.Visits {
			d.Visits[i].N = d.First - i
		}
		if bf.Page > 1 {
			d.Prev = "/buku-tamu" + bf.query(bf.Page-1)
		}
		if bf.Page < d.Pages {
			d.Next = "/buku-tamu" + bf.query(bf.Page+1)
		}
	}
	pg.Nav, pg.Title, pg.Data = "book", pg.L.T("book.title"), d
	status := http.StatusOK
	if bf.Error != "" {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "guestbook", pg)
}

// maxPrint bounds the print view: a month of a busy room is a few
// hundred visits; more is cut, and the view says so.
const maxPrint = 2000

func (c *Console) printBook(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	bf, f := c.bookFilter(pg.L, r.URL.Query())
	if bf.Error != "" {
		c.fail(w, r, http.StatusBadRequest, "book.err.filter", nil)
		return
	}
	// the first maxPrint rows only, in order of entry, and the count
	rows, next := c.o.Hub.GuestRowsAfter(f, -1, maxPrint, p.CanSeeNIK())
	_, total := c.o.Hub.GuestRows(f, 0, 0, false)
	d := bookData{Filter: bf, Total: total, Office: c.o.Office, Printed: pg.L.Time(time.Now()), Truncate: next >= 0}
	d.Visits = c.visits(pg.L, rows, 1)
	pg.Nav, pg.Title, pg.Data = "print", pg.L.T("book.print.title"), d
	c.render(w, r, http.StatusOK, "guestbook_print", pg)
}

func (c *Console) bookCSV(w http.ResponseWriter, r *http.Request, p auth.Principal, _ auth.Session) {
	l := c.newPage(r, p, "").L
	bf, f := c.bookFilter(l, r.URL.Query())
	if bf.Error != "" {
		c.fail(w, r, http.StatusBadRequest, "book.err.filter", nil)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="buku-tamu.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := c.o.Hub.WriteGuestCSV(w, f, p.CanSeeNIK()); err != nil {
		c.o.Log.Warn("console: guest book CSV cut short", "err", err)
	}
}

func (c *Console) bookRoutes() {
	c.mux.Handle("GET /buku-tamu", c.page(nil, c.guestBook))
	c.mux.Handle("GET /buku-tamu/cetak", c.page(nil, c.printBook))
	c.mux.Handle("GET /buku-tamu.csv", c.page(nil, c.bookCSV))
}
