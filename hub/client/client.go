package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxAnswer bounds an answer the client reads whole: every one but the
// guest book's CSV and the watch stream.
const MaxAnswer = 64 << 20

// maxError bounds the body of a refusal the client reads for its message.
const maxError = 64 << 10

// ErrUnreachable is wrapped by the error of every request the hub did not
// answer: a refused connection, an unknown host, a TLS failure, a timeout.
var ErrUnreachable = errors.New("cannot reach the hub")

// Error is the hub's refusal of a request: a 4xx (the request is wrong:
// no such permit, the wrong role, a step out of order) or a 5xx (the
// hub failed; its log says why).
type Error struct {
	Method     string // GET, POST, DELETE
	Path       string // the route as asked, without the query: /api/permits/P-000001/approve
	StatusCode int
	Message    string // the hub's own words, its {"error": "..."}
}

func (e *Error) Error() string {
	return fmt.Sprintf("hub: %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Client speaks to one hub as the holder of one token. It is safe for
// concurrent use if its OnAnswer function is.
type Client struct {
	base  string // no trailing slash
	token string
	// short bounds each request whole; stream bounds only the connection
	// and the wait for the answer's header (Watch, GuestBookCSV).
	short, stream *http.Client
	onAnswer      func([]byte)
	watchIdle     time.Duration
}

// Option tunes New.
type Option func(*Client)

// WithTimeout bounds each request but Watch and GuestBookCSV whole, from
// the connection to the answer's last byte (default one minute).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) { c.short.Timeout = d }
}

// OnAnswer hands fn the body of each whole answer (every call but Watch
// and GuestBookCSV) as the hub sent it, before it is decoded: kunci's
// --json prints it. fn must not keep the slice past its return.
func OnAnswer(fn func(raw []byte)) Option {
	return func(c *Client) { c.onAnswer = fn }
}

// WatchIdle is how long a Stream waits for a line, the hub's beat
// (every 15 s) included, before it calls the link dead (default one
// minute).
func WatchIdle(d time.Duration) Option {
	return func(c *Client) { c.watchIdle = d }
}

// New returns a client of the hub at baseURL (http or https, a host, and
// a path prefix if the hub is behind one) with token; an empty token
// sends none (GET /healthz needs none).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: hub URL %q: want http:// or https:// and a host, like http://127.0.0.1:8080", baseURL)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		// no connection outlives its call: nothing idles, nothing leaks
		DisableKeepAlives: true,
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token,
		short:     &http.Client{Transport: tr, Timeout: time.Minute},
		stream:    &http.Client{Transport: tr},
		watchIdle: time.Minute}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// open sends a request and returns the answer of a 2xx; any other status
// is an *Error with the hub's message.
func (c *Client) open(ctx context.Context, hc *http.Client, method, path string, q url.Values, body any, accept string) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("hub: %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("hub: %s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without its repetition of the method and URL
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxError))
	var e struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		msg = e.Error
	} else if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…" // a proxy's page, say
	}
	if msg == "" {
		msg = "(no message)"
	}
	return nil, &Error{Method: method, Path: path, StatusCode: resp.StatusCode, Message: msg}
}

// send sends a request and reads its answer whole, up to MaxAnswer.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	b, _, err := c.read(ctx, method, path, q, body, MaxAnswer)
	if err == nil && c.onAnswer != nil {
		c.onAnswer(b)
	}
	return b, err
}

// read sends a request and reads its answer whole, up to max bytes; it
// returns the answer's header too.
func (c *Client) read(ctx context.Context, method, path string, q url.Values, body any, max int) ([]byte, http.Header, error) {
	resp, err := c.open(ctx, c.short, method, path, q, body, "application/json")
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("hub: %s %s: reading the answer: %w", method, path, err)
	}
	if len(b) > max {
		return nil, nil, fmt.Errorf("hub: %s %s: the answer is larger than %d MiB", method, path, MaxAnswer>>20)
	}
	return b, resp.Header, nil
}

// call sends a request and decodes its JSON answer into a T.
func call[T any](ctx context.Context, c *Client, method, path string, q url.Values, body any) (T, error) {
	var v T
	b, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("hub: %s %s: answer not understood (a hub of another version?): %w", method, path, err)
	}
	return v, nil
}
