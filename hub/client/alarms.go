package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/api"
)

// AlarmQuery chooses alarms.
type AlarmQuery struct {
	Open       bool       // only those no one has acknowledged
	Site, Door string     // one door's ("" every door's)
	Kind       alarm.Kind // one kind's
}

// Alarms returns the alarms q chooses, newest first, every page.
func (c *Client) Alarms(ctx context.Context, q AlarmQuery) ([]api.AlarmRecord, error) {
	v := url.Values{}
	if q.Open {
		v.Set("open", "1")
	}
	if q.Site != "" {
		v.Set("site", q.Site)
	}
	if q.Door != "" {
		v.Set("door", q.Door)
	}
	if q.Kind != "" {
		v.Set("kind", string(q.Kind))
	}
	return list[api.AlarmRecord](ctx, c, "/api/alarms", v)
}

// Alarm returns one alarm.
func (c *Client) Alarm(ctx context.Context, id string) (*api.AlarmRecord, error) {
	return call[*api.AlarmRecord](ctx, c, http.MethodGet, "/api/alarms/"+url.PathEscape(id), nil, nil)
}

// AckAlarm acknowledges alarm id with what the caller saw or did (admin).
func (c *Client) AckAlarm(ctx context.Context, id, note string) (*api.AlarmRecord, error) {
	return call[*api.AlarmRecord](ctx, c, http.MethodPost, "/api/alarms/"+url.PathEscape(id)+"/ack", nil,
		api.AckRequest{Note: note})
}
