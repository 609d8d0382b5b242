package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Health asks whether the hub answers (GET /healthz).
func (c *Client) Health(ctx context.Context) error {
	h, err := call[struct {
		OK bool `json:"ok"`
	}](ctx, c, http.MethodGet, "/healthz", nil, nil)
	if err == nil && !h.OK {
		err = fmt.Errorf("hub: GET /healthz: the hub says it is not ok")
	}
	return err
}

// Whoami is the caller as the hub knows the token.
func (c *Client) Whoami(ctx context.Context) (*api.Whoami, error) {
	return call[*api.Whoami](ctx, c, http.MethodGet, "/api/whoami", nil, nil)
}

// Request files a permit request (SOP step 1; role requester).
func (c *Client) Request(ctx context.Context, r api.PermitRequest) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodPost, "/api/permits", nil, r)
}

func permitPath(id, step string) string {
	p := "/api/permits/" + url.PathEscape(id)
	if step != "" {
		p += "/" + step
	}
	return p
}

// Coordinate classifies permit id (SOP step 2; role coordinator).
func (c *Client) Coordinate(ctx context.Context, id string, category permit.Category) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodPost, permitPath(id, "coordinate"), nil, api.CoordinateRequest{Category: category})
}

// Approve approves permit id (SOP step 3; role approver, never the
// requester).
func (c *Client) Approve(ctx context.Context, id string) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodPost, permitPath(id, "approve"), nil, struct{}{})
}

// Escort appoints staff member staff as the escort of permit id (SOP
// step 4; role approver): the hub signs the permit and publishes it to
// the door.
func (c *Client) Escort(ctx context.Context, id, staff string) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodPost, permitPath(id, "escort"), nil, api.EscortRequest{Staff: staff})
}

// Reject refuses permit id before it is issued (role coordinator or
// approver).
func (c *Client) Reject(ctx context.Context, id, reason string) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodPost, permitPath(id, "reject"), nil, api.ReasonRequest{Reason: reason})
}

// Revoke revokes an issued permit id (role approver): the hub publishes
// a signed revocation in its place.
func (c *Client) Revoke(ctx context.Context, id, reason string) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodPost, permitPath(id, "revoke"), nil, api.ReasonRequest{Reason: reason})
}

// Permits lists the permits in state, or all of them if state is empty,
// every page.
func (c *Client) Permits(ctx context.Context, state workflow.State) ([]api.Permit, error) {
	var q url.Values
	if state != "" {
		q = url.Values{"state": {string(state)}}
	}
	return list[api.Permit](ctx, c, "/api/permits", q)
}

// Permit returns permit id.
func (c *Client) Permit(ctx context.Context, id string) (*api.Permit, error) {
	return call[*api.Permit](ctx, c, http.MethodGet, permitPath(id, ""), nil, nil)
}

// Staff lists the staff register, every page.
func (c *Client) Staff(ctx context.Context) ([]api.Staff, error) {
	return list[api.Staff](ctx, c, "/api/staff", nil)
}

// PutStaff adds a staff member, or changes one of the same id (role
// admin); the hub signs the record and publishes it to the site's doors.
func (c *Client) PutStaff(ctx context.Context, r api.StaffRequest) (*api.Staff, error) {
	return call[*api.Staff](ctx, c, http.MethodPost, "/api/staff", nil, r)
}

// query is f as the guest book and the service-time report read it.
func query(f workflow.Filter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"site": f.Site, "door": f.Door, "permit": f.Permit} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, t := range map[string]time.Time{"from": f.From, "to": f.To} {
		if !t.IsZero() {
			q.Set(k, t.Format(time.RFC3339Nano))
		}
	}
	return q
}

// GuestBook returns the visits of the guest book (Buku Tamu) that f
// selects by entry, every page, NIKs masked but for an admin.
func (c *Client) GuestBook(ctx context.Context, f workflow.Filter) ([]api.GuestRow, error) {
	return list[api.GuestRow](ctx, c, "/api/guestbook", query(f))
}

// GuestBookCSV copies the guest book's CSV (every field, for a
// spreadsheet) that f selects to w, as the hub writes it.
func (c *Client) GuestBookCSV(ctx context.Context, f workflow.Filter, w io.Writer) error {
	q := query(f)
	q.Set("format", "csv")
	return c.copyTo(ctx, "/api/guestbook", q, "text/csv", "the CSV", w)
}

// copyTo copies the answer of GET path to w as it comes.
func (c *Client) copyTo(ctx context.Context, path string, q url.Values, accept, what string, w io.Writer) error {
	resp, err := c.open(ctx, c.stream, http.MethodGet, path, q, nil, accept)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("hub: GET %s: %s: %w", path, what, err)
	}
	return nil
}

// Backup copies an archive of the hub's stores to w, as the hub writes it
// (admin; package hub/backup). An archive cut off on the way has no sums
// at its end: backup.Check and the restore refuse it.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	return c.copyTo(ctx, "/api/backup", nil, "application/x-tar", "the archive", w)
}

// SLA returns the service-time report of the permits f selects by
// request, against the SOP's standard times.
func (c *Client) SLA(ctx context.Context, f workflow.Filter) (*api.SLAReport, error) {
	return call[*api.SLAReport](ctx, c, http.MethodGet, "/api/sla", query(f), nil)
}

// Doors returns every door's live state.
func (c *Client) Doors(ctx context.Context) ([]hub.Door, error) {
	return call[[]hub.Door](ctx, c, http.MethodGet, "/api/doors", nil, nil)
}

// EventQuery chooses a door's stored events.
type EventQuery struct {
	Site, Door string         // both needed
	Type       wire.EventType // only events of this type
	Permit     string         // only events of this permit
	Limit      int            // the most recent Limit (0: the hub's default, api.DefaultPage; at most api.MaxEvents)
	// After is the Next of an EventPage: the page of the events before
	// that page's; "" for the most recent.
	After string
}

// Events returns a door's stored events that q chooses, oldest first:
// the most recent Limit.
func (c *Client) Events(ctx context.Context, q EventQuery) ([]wire.Event, error) {
	evs, _, err := c.EventPage(ctx, q)
	return evs, err
}

// EventPage is Events, and the After of the page of older events ("" if
// there are none).
func (c *Client) EventPage(ctx context.Context, q EventQuery) ([]wire.Event, string, error) {
	v := url.Values{"site": {q.Site}, "door": {q.Door}}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Type != "" {
		v.Set("type", string(q.Type))
	}
	if q.Permit != "" {
		v.Set("permit", q.Permit)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	b, h, err := c.read(ctx, http.MethodGet, "/api/events", v, nil, MaxAnswer)
	if err != nil {
		return nil, "", err
	}
	if c.onAnswer != nil {
		c.onAnswer(b)
	}
	var evs []wire.Event
	if err := json.Unmarshal(b, &evs); err != nil {
		return nil, "", fmt.Errorf("hub: GET /api/events: answer not understood (a hub of another version?): %w", err)
	}
	next, err := nextPage(h)
	if err != nil {
		return nil, "", fmt.Errorf("hub: GET /api/events: %w", err)
	}
	return evs, next.Get("after"), nil
}

// Command sends door site/door a signed command (role admin); the answer
// is the command as the door gets it.
func (c *Client) Command(ctx context.Context, site, door string, name wire.CommandName) (*permit.Command, error) {
	return call[*permit.Command](ctx, c, http.MethodPost, "/api/doors/"+url.PathEscape(site)+"/"+url.PathEscape(door)+"/commands",
		nil, api.CommandRequest{Command: name})
}

// AcceptGap accepts as lost the seqs door site/door's stalled epoch is
// missing, up to r.Through (role admin): for a hub whose event store was
// lost while the door had deleted what it acked. The answer is the run
// as the hub's store keeps it.
func (c *Client) AcceptGap(ctx context.Context, site, door string, r api.GapRequest) (*api.Lost, error) {
	return call[*api.Lost](ctx, c, http.MethodPost, "/api/doors/"+url.PathEscape(site)+"/"+url.PathEscape(door)+"/gap", nil, r)
}

// AddToken issues an API token (role admin); the answer holds the token,
// which the hub shows this once.
func (c *Client) AddToken(ctx context.Context, r api.TokenRequest) (*api.NewToken, error) {
	return call[*api.NewToken](ctx, c, http.MethodPost, "/api/tokens", nil, r)
}

// Tokens lists the API tokens, revoked ones included (role admin), every
// page; never the tokens themselves.
func (c *Client) Tokens(ctx context.Context) ([]auth.Info, error) {
	return list[auth.Info](ctx, c, "/api/tokens", nil)
}

// RevokeToken revokes the token of id (role admin).
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.send(ctx, http.MethodDelete, "/api/tokens/"+url.PathEscape(id), nil, nil)
	return err
}

// Purge purges now the personal data of the permits past the hub's
// retention (role admin).
func (c *Client) Purge(ctx context.Context) (*api.PurgeResult, error) {
	return call[*api.PurgeResult](ctx, c, http.MethodPost, "/api/purge", nil, struct{}{})
}

// Metrics returns the hub's counters (GET /api/metrics, where kunci dev
// serves them too; a token of any role), each sample by its name as the
// hub writes it, labels included.
func (c *Client) Metrics(ctx context.Context) (map[string]float64, error) {
	resp, err := c.open(ctx, c.short, http.MethodGet, "/api/metrics", nil, nil, "text/plain")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, MaxAnswer))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// name{label="a b"} value [timestamp]
		cut := strings.IndexByte(line, ' ')
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			cut = i + 1
		}
		fields := strings.Fields(line[max(cut, 0):])
		if cut <= 0 || len(fields) == 0 {
			return nil, fmt.Errorf("hub: GET /api/metrics: line %d not understood: %.80q", n, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("hub: GET /api/metrics: line %d: %w", n, err)
		}
		m[line[:cut]] = v
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("hub: GET /api/metrics: %w", err)
	}
	return m, nil
}
