package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kunci-project/kunci/hub/api"
)

// Users lists the console's users (role admin).
func (c *Client) Users(ctx context.Context) ([]api.User, error) {
	return list[api.User](ctx, c, "/api/users", nil)
}

// AddUser adds a console user (role admin).
func (c *Client) AddUser(ctx context.Context, u api.UserRequest) (*api.User, error) {
	return call[*api.User](ctx, c, http.MethodPost, "/api/users", nil, u)
}

// ChangeUser sets every field of user u.Login (role admin); an empty
// password keeps the old one. The user's sessions end.
func (c *Client) ChangeUser(ctx context.Context, u api.UserRequest) (*api.User, error) {
	return call[*api.User](ctx, c, http.MethodPost, "/api/users/"+url.PathEscape(u.Login), nil, u)
}
