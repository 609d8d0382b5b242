package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// Every list of the API (permits, staff, guest book, events, tokens,
// users) is read a page at a time: ?limit=N (1 to MaxPage, DefaultPage
// if absent) and ?after=CURSOR, the cursor of the page before. A page
// that is not the last carries the next one's address in a Link header
// (RFC 8288), rel="next", the request's own with after set; the body is
// the page's JSON array, as before pages. A cursor is opaque: only the
// list that gave it reads it.
const (
	DefaultPage = 1000
	MaxPage     = 10_000
)

// MaxEvents is the most events one GET /api/events answers (MaxPage).
const MaxEvents = MaxPage

// pageQuery is a list request's page: the cursor, decoded, and the size.
type pageQuery struct {
	after string // "" from the first
	limit int
}

// readPage reads ?limit and ?after of r.
func readPage(r *http.Request) (pageQuery, error) {
	q := r.URL.Query()
	pq := pageQuery{limit: DefaultPage}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			return pq, withStatus(http.StatusBadRequest, "limit %q: want 1 to %d", v, MaxPage)
		}
		pq.limit = n
	}
	if v := q.Get("after"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			return pq, withStatus(http.StatusBadRequest, "after %.40q: not a cursor of this list (give the one in the Link header)", v)
		}
		pq.after = string(b)
	}
	return pq, nil
}

// setNext says where the page after this one is, if there is one: next
// is the cursor, "" for none.
func setNext(w http.ResponseWriter, r *http.Request, next string) {
	if next == "" {
		return
	}
	q := r.URL.Query()
	q.Set("after", base64.RawURLEncoding.EncodeToString([]byte(next)))
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
}

// pageOf returns the page of items, sorted by key, that pq asks for, and
// the next page's cursor ("" at the end): for the lists the hub keeps
// whole (tokens, users).
func pageOf[T any](items []T, key func(*T) string, pq pageQuery) ([]T, string) {
	start := 0
	if pq.after != "" {
		start = sort.Search(len(items), func(i int) bool { return key(&items[i]) > pq.after })
	}
	end := min(len(items), start+pq.limit)
	if end == len(items) {
		return items[start:end], ""
	}
	return items[start:end], key(&items[end-1])
}
