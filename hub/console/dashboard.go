package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/wire"
)

// doorView is one door's card on the dashboard, every field already in
// the reader's language: the template only places them.
type doorView struct {
	L            L
	ID           string // element id and stream event name
	Name         string // site/door
	Availability string // online, offline, unknown: the card's class
	AvailText    string
	LastSeen     string
	HasStatus    bool
	Locked       bool
	Closed       bool
	Lockdown     bool
	Secured      bool
	Racks        []rackView
	Inside       []string
	Alarms       []string
	LastEvent    string
}

// gridData is the dashboard's grid of doors.
type gridData struct {
	L     L
	Doors []doorView
	Set   string // the page's doorSet, for its stream's URL
}

type rackView struct {
	Name string
	Open bool
}

// eventID names a door's element and its events on the stream: the hex
// of site/door, so that any name the doors use is a valid id.
func eventID(site, door string) string {
	return "pintu-" + hex.EncodeToString([]byte(site+"/"+door))
}

// names looks up the people a door's status names: a permit's guest and
// staff by id. What cannot be found shows as its id.
type names struct {
	h     *hub.Hub
	staff map[string]string
}

// staffFresh is how long the staff names read for one page or stream
// update serve the next: a burst of door events to 100 open dashboards
// reads the register once, not once per stream and event. A renamed
// staff member shows within it.
const staffFresh = time.Second

func (c *Console) names() *names {
	c.staffMu.Lock()
	defer c.staffMu.Unlock()
	if c.staff == nil || time.Since(c.staffAt) >= staffFresh {
		staff := map[string]string{}
		if list, err := c.o.Hub.Workflow().ListStaff(); err == nil {
			for _, m := range list {
				staff[m.ID] = m.Name
			}
		}
		c.staff, c.staffAt = staff, time.Now()
	}
	return &names{h: c.o.Hub, staff: c.staff} // read only, shared
}

func (n *names) staffName(id string) string {
	if v, ok := n.staff[id]; ok && v != "" {
		return v
	}
	return id
}

func (n *names) guest(permitID string) string {
	if r, err := n.h.Workflow().Get(permitID); err == nil && r.Guest != "" {
		return r.Guest
	}
	return permitID
}

func (c *Console) doorView(l L, n *names, d hub.Door) doorView {
	v := doorView{L: l, ID: eventID(d.Site, d.Door), Name: d.Site + "/" + d.Door, Availability: d.Availability}
	switch d.Availability {
	case wire.Online:
		v.AvailText = l.T("card.online")
	case wire.Offline:
		v.AvailText = l.T("card.offline")
	default:
		v.Availability, v.AvailText = "unknown", l.T("card.unknown")
	}
	if !d.LastSeen.IsZero() {
		v.LastSeen = l.T("card.lastseen", l.Time(d.LastSeen))
	}
	if d.LastEvent != "" {
		v.LastEvent = l.T("card.lastevent", eventText(l, d.LastEvent), l.Time(d.LastEventAt))
	}
	for _, g := range d.Gaps {
		v.Alarms = append(v.Alarms, l.T("alarm.gap", g.Epoch, g.From, g.To))
	}
	s := d.Status
	if s == nil {
		return v
	}
	v.HasStatus = true
	v.Locked = s.Lock == wire.Locked
	v.Closed = s.Door == wire.Closed
	v.Lockdown = s.Mode == wire.ModeLockdown
	v.Secured = s.Secured
	for _, name := range slices.Sorted(maps.Keys(s.Racks)) {
		v.Racks = append(v.Racks, rackView{Name: name, Open: s.Racks[name] != wire.Closed})
	}
	for _, o := range s.Occupancy {
		if o.Permit != "" {
			v.Inside = append(v.Inside, l.T("card.guest", n.guest(o.Permit), o.Permit, n.staffName(o.Escort), l.Clock(o.Since)))
		} else {
			v.Inside = append(v.Inside, l.T("card.staff", n.staffName(o.Staff), l.Clock(o.Since)))
		}
	}
	for _, a := range s.Alarms {
		v.Alarms = append(v.Alarms, alarmText(l, a))
	}
	return v
}

// alarmText names an alarm in l's language.
func alarmText(l L, a wire.Alarm) string {
	key := "alarm." + string(a.Kind())
	if _, ok := catalog[key]; !ok {
		return string(a)
	}
	if _, rack, ok := strings.Cut(string(a), ":"); ok {
		return l.T(key, rack)
	}
	return l.T(key)
}

func (c *Console) doorViews(l L) []doorView {
	n := c.names()
	doors := c.o.Hub.Doors()
	out := make([]doorView, 0, len(doors))
	for _, d := range doors {
		out = append(out, c.doorView(l, n, d))
	}
	return out
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	pg := c.newPage(r, p, s.CSRF)
	pg.Nav, pg.Title = "dashboard", pg.L.T("dash.title")
	views := c.doorViews(pg.L)
	pg.Data = gridData{L: pg.L, Doors: views, Set: c.doorSet()}
	c.render(w, r, http.StatusOK, "dashboard", pg)
}

// beat is how often an idle stream says it is alive, so that proxies and
// the browser keep it open.
const beat = 15 * time.Second

// streamWrite bounds each write of a dashboard stream.
const streamWrite = 10 * time.Second

// dashboardStream is the dashboard's Server-Sent Events: every door's
// card at once (what changed between the page and the stream is not
// lost), then a door's card again each time the hub sees it change. It
// ends when the session does (signed out, user disabled): the page is
// told, and shows the sign-in.
func (c *Console) dashboardStream(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		c.fail(w, r, http.StatusInternalServerError, "error.internal", fmt.Errorf("no flushing"))
		return
	}
	ctx := r.Context()
	updates, err := c.o.Hub.Watch(ctx)
	if err != nil {
		// the browser's EventSource tries again by itself
		w.Header().Set("Retry-After", "30")
		c.fail(w, r, http.StatusServiceUnavailable, "error.busy", err)
		return
	}
	c.streams.Add(1)
	defer c.streams.Add(-1)
	// every write has streamWrite to go: a browser that stopped reading
	// is dropped, counted, not held
	rc := http.NewResponseController(w)
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(streamWrite)) }
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // for the connection's next answer
	deadline()
	l := c.newPage(r, p, s.CSRF).L
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	known := map[string]bool{}
	sendDoor := func(n *names, d hub.Door) error {
		v := c.doorView(l, n, d)
		if !known[v.ID] { // a door the page does not have: the whole grid again
			return c.sendGrid(w, l, known)
		}
		html, err := c.fragment("dashboard", "door", v)
		if err != nil {
			return err
		}
		return sse(w, v.ID, html)
	}
	// what changed between the page and the stream: the cards again, in
	// the elements the page has (their listeners are in place since the
	// page loaded); the whole grid only when the page has other doors
	// (a grid swapped in now would take its cards' listeners a moment,
	// and a card sent in that moment would be lost)
	alarms := func() error { return c.sendAlarms(w, l, p) }
	if err := errors.Join(c.resync(w, l, known, r.URL.Query().Get("pintu")), alarms()); err != nil {
		c.logRender("dashboard stream", err)
		return
	}
	fl.Flush()
	expires := time.NewTimer(time.Until(s.Expires))
	defer expires.Stop()
	tick := time.NewTicker(beat)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-s.Ended:
			deadline()
			c.endStream(w, l)
			fl.Flush()
			return
		case <-expires.C:
			deadline()
			c.endStream(w, l)
			fl.Flush()
			return
		case <-tick.C:
			deadline()
			_, err = io.WriteString(w, ": beat\n\n")
		case u, ok := <-updates:
			if !ok {
				return
			}
			deadline()
			err = c.update(u, sendDoor, func() error { return c.sendGrid(w, l, known) }, alarms)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.dropped.Inc()
		}
		if err != nil {
			return // the browser went away; it reconnects if it can
		}
		fl.Flush()
	}
}

// update sends what changed with u: the door's card, the badge and
// banner of the alarms, or after lost updates the whole grid and the
// alarms' count.
func (c *Console) update(u hub.Update, sendDoor func(*names, hub.Door) error, grid, alarms func() error) error {
	switch u.Kind {
	case "lagged":
		return errors.Join(grid(), alarms())
	case "alarm":
		// an alarm record's change comes with the status that caused it,
		// which sends the card; the count of unacknowledged ones changes
		// the layout's badge and banner
		return alarms()
	}
	for _, d := range c.o.Hub.Doors() {
		if d.Site == u.Site && d.Door == u.Door {
			return sendDoor(c.names(), d)
		}
	}
	return nil
}

// doorSet names the hub's doors (their cards' ids), so that a stream
// knows whether its page shows the doors the hub has.
func (c *Console) doorSet() string {
	doors := c.o.Hub.Doors()
	ids := make([]string, len(doors))
	for i, d := range doors {
		ids[i] = eventID(d.Site, d.Door)
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return hex.EncodeToString(sum[:8])
}

// resync sends a new stream its page's cards again, or the whole grid
// when the page's set of doors (pageSet) is not the hub's.
func (c *Console) resync(w io.Writer, l L, known map[string]bool, pageSet string) error {
	if c.doorSet() != pageSet {
		return c.sendGrid(w, l, known)
	}
	for _, v := range c.doorViews(l) {
		known[v.ID] = true
		html, err := c.fragment("dashboard", "door", v)
		if err != nil {
			return err
		}
		if err := sse(w, v.ID, html); err != nil {
			return err
		}
	}
	return nil
}

// sendAlarms sends the layout's badge and banner as they are now, which
// the page swaps in by their ids (hx-swap-oob).
func (c *Console) sendAlarms(w io.Writer, l L, p auth.Principal) error {
	pg := page{L: l, P: p}
	if c.o.Hub.Alarms() != nil {
		pg.Unacked = c.o.Hub.Alarms().Unacked()
	}
	html, err := c.fragment("dashboard", "alarms-live", pg)
	if err != nil {
		return err
	}
	return sse(w, "alarms", html)
}

func (c *Console) sendGrid(w io.Writer, l L, known map[string]bool) error {
	views := c.doorViews(l)
	clear(known)
	for _, v := range views {
		known[v.ID] = true
	}
	html, err := c.fragment("dashboard", "grid", gridData{L: l, Doors: views})
	if err != nil {
		return err
	}
	return sse(w, "grid", html)
}

func (c *Console) endStream(w io.Writer, l L) {
	html, err := c.fragment("dashboard", "ended", l)
	if err == nil {
		sse(w, "ended", html)
	}
}

// sse writes one event: its name, then its data a line at a time, as the
// format wants for data with newlines.
func sse(w io.Writer, event, data string) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	for line := range strings.Lines(data) {
		b.WriteString("data: ")
		b.WriteString(strings.TrimRight(line, "\r\n"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
