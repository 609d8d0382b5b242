package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Pintu: a door's live card, its events paged (newest first), the
// commands sent to it with who sent them and why, and, for an admin, the
// commands themselves. Lockdown and release are confirmed on a page of
// their own; unlock-once also wants the door's name typed and a reason,
// recorded with the actor in the signed command.

const eventsPage = 50

type eventRow struct {
	Seq                                          uint64
	At, Type, Permit, Escort, Reason, Card, What string
	Alarm                                        bool
}

type commandRow struct {
	At, Name, By, Reason string
}

type doorData struct {
	Card      doorView
	Set       string // the hub's doors (doorSet), for the live stream
	Site      string
	Door      string
	Epoch     string
	Epochs    []option
	Events    []eventRow
	Page      int
	Pages     int
	Prev      string
	Next      string
	Commands  []commandRow
	CanDoor   bool // an admin: the command forms
	Published bool // a command was just sent
	Error     string
}

// alarmEvents are shown in red in a door's events.
var alarmEvents = map[wire.EventType]bool{wire.EvForced: true, wire.EvHeldOpen: true, wire.EvRackTampered: true,
	wire.EvNotSecured: true, wire.EvUnescorted: true, wire.EvRelayFault: true, wire.EvReaderFault: true, wire.EvPermitRejected: true,
	wire.EvCmdRejected: true, wire.EvClockUnsynced: true}

func eventText(l L, t wire.EventType) string {
	if _, ok := catalog["event."+string(t)]; ok {
		return l.T("event." + string(t))
	}
	return string(t)
}

func reasonText(l L, r wire.Reason) string {
	if r == "" {
		return ""
	}
	if _, ok := catalog["reason."+string(r)]; ok {
		return l.T("reason." + string(r))
	}
	return string(r)
}

// door finds the door the path names among those the hub knows, or
// answers 404.
func (c *Console) door(w http.ResponseWriter, r *http.Request) (hub.Door, bool) {
	site, door := r.PathValue("site"), r.PathValue("door")
	for _, d := range c.o.Hub.Doors() {
		if d.Site == site && d.Door == door {
			return d, true
		}
	}
	c.fail(w, r, http.StatusNotFound, "error.notfound", nil)
	return hub.Door{}, false
}

func (c *Console) doorPage(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	c.showDoor(w, r, p, s, http.StatusOK, "", r.URL.Query().Get("terkirim") != "")
}

func (c *Console) showDoor(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session, status int, errMsg string, published bool) {
	d, ok := c.door(w, r)
	if !ok {
		return
	}
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	n := c.names()
	data := doorData{Set: c.doorSet(), Card: c.doorView(l, n, d), Site: d.Site, Door: d.Door, CanDoor: p.Has(auth.Admin), Error: errMsg, Published: published}
	stored, err := c.o.Hub.Events().Door(d.Site, d.Door)
	if !c.found(w, r, err) {
		return
	}
	q := r.URL.Query()
	var through uint64
	for i, e := range stored.Epochs { // the last epoch unless one is asked for
		if e.Epoch == q.Get("epoch") || (q.Get("epoch") == "" && i == len(stored.Epochs)-1) {
			data.Epoch, through = e.Epoch, e.Through
		}
	}
	for _, e := range stored.Epochs {
		data.Epochs = append(data.Epochs, option{e.Epoch, l.T("door.epoch", e.Epoch, e.Through), e.Epoch == data.Epoch})
	}
	data.Page = 1
	if v, err := strconv.Atoi(q.Get("hal")); err == nil && v > 1 {
		data.Page = v
	}
	data.Pages = max(1, int((through+eventsPage-1)/eventsPage))
	if data.Epoch != "" && data.Page <= data.Pages {
		hi := through - uint64(data.Page-1)*eventsPage
		lo := hi - min(hi, eventsPage)
		evs, err := c.o.Hub.Events().Events(d.Site, d.Door, data.Epoch, lo, int(hi-lo))
		if !c.found(w, r, err) {
			return
		}
		for i := len(evs) - 1; i >= 0; i-- {
			e := evs[i]
			row := eventRow{Seq: e.Seq, At: l.Time(e.At), Type: eventText(l, e.Type), Permit: e.Permit, Reason: reasonText(l, e.Reason),
				Card: e.Card, Alarm: alarmEvents[e.Type]}
			if e.Escort != "" {
				row.Escort = n.staffName(e.Escort)
			}
			if e.Staff != "" {
				row.Escort = n.staffName(e.Staff)
			}
			var what []string
			for _, v := range []string{e.Rack, strings.Join(e.Racks, ", "), string(e.Command), e.Detail} {
				if v != "" {
					what = append(what, v)
				}
			}
			if e.Count > 1 {
				what = append(what, l.T("door.count", e.Count))
			}
			row.What = strings.Join(what, " · ")
			data.Events = append(data.Events, row)
		}
	}
	base := "/pintu/" + d.Site + "/" + d.Door + "?epoch=" + data.Epoch
	if data.Page > 1 {
		data.Prev = base + "&hal=" + strconv.Itoa(data.Page-1)
	}
	if data.Page < data.Pages {
		data.Next = base + "&hal=" + strconv.Itoa(data.Page+1)
	}
	cmds, err := c.o.Hub.Commands(d.Site, d.Door, 20)
	if !c.found(w, r, err) {
		return
	}
	for _, cmd := range cmds {
		data.Commands = append(data.Commands, commandRow{At: l.Time(cmd.Issued), Name: l.T("cmd." + string(cmd.Name)), By: cmd.By, Reason: cmd.Reason})
	}
	pg.Nav, pg.Title, pg.Data = "dashboard", l.T("door.title", d.Site+"/"+d.Door), data
	c.render(w, r, status, "door", pg)
}

type confirmData struct {
	Site, Door, Command, Question string
	Typed                         bool // unlock-once: the door's name typed, and a reason
	Error                         string
}

// command sends a door command once confirmed: the first POST (no
// "confirm") shows the confirmation page, whose form posts again with it.
func (c *Console) command(w http.ResponseWriter, r *http.Request, p auth.Principal, s auth.Session) {
	d, ok := c.door(w, r)
	if !ok {
		return
	}
	pg := c.newPage(r, p, s.CSRF)
	l := pg.L
	name := wire.CommandName(r.PostFormValue("command"))
	switch name {
	case wire.CmdLockdown, wire.CmdRelease, wire.CmdUnlockOnce, wire.CmdResync:
	default:
		c.showDoor(w, r, p, s, http.StatusUnprocessableEntity, l.T("door.err.command"), false)
		return
	}
	typed := name == wire.CmdUnlockOnce
	cd := confirmData{Site: d.Site, Door: d.Door, Command: string(name), Typed: typed,
		Question: l.T("cmd.confirm."+string(name), d.Site+"/"+d.Door)}
	reason := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("reason")), "\r\n", "\n")
	if r.PostFormValue("confirm") == "" {
		pg.Nav, pg.Title, pg.Data = "dashboard", l.T("cmd.confirm.title"), cd
		c.render(w, r, http.StatusOK, "confirm", pg)
		return
	}
	if typed {
		switch {
		case r.PostFormValue("typed") != d.Door:
			cd.Error = l.T("cmd.err.typed", d.Door)
		case reason == "" || permit.CheckLines("reason", reason, permit.MaxReason) != nil:
			cd.Error = l.T("permit.err.reason")
		}
		if cd.Error != "" {
			pg.Nav, pg.Title, pg.Data = "dashboard", l.T("cmd.confirm.title"), cd
			c.render(w, r, http.StatusUnprocessableEntity, "confirm", pg)
			return
		}
	}
	if c.o.Publisher == nil {
		c.showDoor(w, r, p, s, http.StatusServiceUnavailable, l.T("door.err.nolink"), false)
		return
	}
	cmd, err := c.o.Hub.Command(r.Context(), c.o.Publisher, d.Site, d.Door, name, p.Name, reason)
	if err != nil {
		c.o.Log.Warn("console: command not sent", "door", d.Site+"/"+d.Door, "command", name, "by", p.Name, "err", err)
		status := http.StatusBadGateway
		if errors.Is(err, r.Context().Err()) {
			status = http.StatusServiceUnavailable
		}
		c.showDoor(w, r, p, s, status, l.T("door.err.send", err.Error()), false)
		return
	}
	c.o.Log.Info("console: command sent", "door", d.Site+"/"+d.Door, "command", cmd.ID, "name", name, "by", p.Name)
	http.Redirect(w, r, "/pintu/"+d.Site+"/"+d.Door+"?terkirim=1", http.StatusSeeOther)
}

func (c *Console) doorRoutes() {
	c.mux.Handle("GET /pintu/{site}/{door}", c.page(nil, c.doorPage))
	c.mux.Handle("POST /pintu/{site}/{door}/perintah", c.action([]auth.Role{auth.Admin}, c.command))
}
