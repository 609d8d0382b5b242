package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// list reads every page of the list at path (api.DefaultPage): it
// follows each answer's Link rel="next" until the last page. The pages
// together are bounded as one answer is, by MaxAnswer; OnAnswer gets
// them as one JSON array, the hub's bytes.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	out := []T{}
	var raws [][]byte
	left := MaxAnswer
	for {
		b, h, err := c.read(ctx, http.MethodGet, path, q, nil, left)
		if err != nil {
			return nil, err
		}
		var page []T
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("hub: GET %s: answer not understood (a hub of another version?): %w", path, err)
		}
		out, raws, left = append(out, page...), append(raws, b), left-len(b)
		next, err := nextPage(h)
		if err != nil {
			return nil, fmt.Errorf("hub: GET %s: %w", path, err)
		}
		if next == nil {
			break
		}
		q = next
	}
	if c.onAnswer != nil {
		c.onAnswer(joinArrays(raws))
	}
	return out, nil
}

// nextPage returns the query of the answer's Link rel="next" (RFC 8288),
// nil if it has none: the page after, at the same path.
func nextPage(h http.Header) (url.Values, error) {
	for _, v := range h.Values("Link") {
		for link := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			next := false
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				next = next || strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next"
			}
			if !next {
				continue
			}
			u, err := url.Parse(target[1 : len(target)-1])
			if err != nil {
				return nil, fmt.Errorf("the Link header's %q: %w", target, err)
			}
			return u.Query(), nil
		}
	}
	return nil, nil
}

// joinArrays returns the JSON arrays of raws as one array.
func joinArrays(raws [][]byte) []byte {
	if len(raws) == 1 {
		return raws[0]
	}
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	for _, raw := range raws {
		raw = bytes.TrimSpace(raw)
		if len(raw) < 2 {
			continue
		}
		inner := bytes.TrimSpace(raw[1 : len(raw)-1])
		if len(inner) == 0 {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(inner)
		n++
	}
	b.WriteString("]\n")
	return b.Bytes()
}
