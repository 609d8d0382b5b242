package api_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
	bolt "go.etcd.io/bbolt"
)

// get asks the hub for path as the holder of token and returns the status,
// the body and the Link header.
func get(t *testing.T, e *hubtest.Env, token, path string) (int, []byte, string) {
	t.Helper()
	resp, b := e.DoResponse(t, token, http.MethodGet, path, nil)
	return resp.StatusCode, b, resp.Header.Get("Link")
}

// follow reads path a page at a time, from its Link rel="next" to the
// next, and returns each page's items.
func follow(t *testing.T, e *hubtest.Env, path string) [][]json.RawMessage {
	t.Helper()
	var pages [][]json.RawMessage
	for len(pages) <= 100 {
		code, b, link := get(t, e, e.Admin, path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		var page []json.RawMessage
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
		pages = append(pages, page)
		if link == "" {
			return pages
		}
		target, rel, ok := strings.Cut(link, ">; ")
		if !ok || rel != `rel="next"` || !strings.HasPrefix(target, "</api/") {
			t.Fatalf("GET %s: Link %q", path, link)
		}
		path = target[1:]
	}
	t.Fatalf("%s: more than 100 pages", path)
	return nil
}

// TestPagination: every list answers a page at a time (limit, after),
// the next page's address in a Link header; followed from the first, the
// pages are the whole list, once each, in its order. Bad page parameters
// are refused with 400 (issue 13).
func TestPagination(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	p := staffUp(t, e)
	ctx := t.Context()
	for i := range 4 {
		if _, err := e.Client(t, e.Admin).PutStaff(ctx, api.StaffRequest{ID: fmt.Sprintf("S-1%02d", i), Name: "Staf",
			Site: "demo", CardUIDs: []string{fmt.Sprintf("04E5F6A1B2C3%02d", i)}, Escort: true}); err != nil {
			t.Fatal(err)
		}
		e.User(t, fmt.Sprintf("orang%d", i), fmt.Sprintf("Orang %d", i), auth.Viewer)
	}
	var evs []wire.Event
	for i := range 5 {
		rec := issue(t, e, p)
		for _, ev := range visit(rec.ID, time.Now().UTC()) {
			ev.Seq += uint64(14 * i)
			ev.ID = fmt.Sprintf("demo/server-room/e1/%d", ev.Seq)
			evs = append(evs, ev)
		}
	}
	e.Feed(t, evs...)
	for _, c := range []struct {
		path string
		n    int
	}{
		{"/api/permits", 5},
		{"/api/permits?state=issued", 5},
		{"/api/staff", 5},
		{"/api/guestbook", 5},
		{"/api/guestbook?permit=P-000003", 1},
		{"/api/tokens", 5},
		{"/api/users", 4},
		{"/api/events?site=demo&door=server-room", 70},
		{"/api/events?site=demo&door=server-room&type=visit.entered", 5},
		{"/api/events?site=demo&door=server-room&permit=P-000002", 4},
	} {
		sep := "?"
		if strings.Contains(c.path, "?") {
			sep = "&"
		}
		whole := follow(t, e, c.path+sep+"limit=10000")
		if len(whole) != 1 || len(whole[0]) != c.n {
			t.Errorf("%s: %d pages, %d items; want one page of %d", c.path, len(whole), len(whole[0]), c.n)
			continue
		}
		for _, limit := range []int{1, 2, 3} {
			pages := follow(t, e, fmt.Sprintf("%s%slimit=%d", c.path, sep, limit))
			if strings.HasPrefix(c.path, "/api/events") {
				slices.Reverse(pages) // the next page of events is the older one
			}
			var got []json.RawMessage
			for i, pg := range pages {
				if len(pg) > limit || len(pg) < limit && i != len(pages)-1 && !strings.HasPrefix(c.path, "/api/events") || len(pg) == 0 && c.n > 0 {
					t.Errorf("%s limit %d: page %d of %d holds %d", c.path, limit, i, len(pages), len(pg))
				}
				got = append(got, pg...)
			}
			if !slices.EqualFunc(got, whole[0], func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
				t.Errorf("%s limit %d: the pages hold %d items, not the list's %d in order", c.path, limit, len(got), c.n)
			}
		}
		for _, bad := range []string{"limit=0", "limit=10001", "limit=x", "after=%25%25", "after=" + "bm90LWEtY3Vyc29y"} {
			if strings.HasPrefix(c.path, "/api/permits") || strings.HasPrefix(c.path, "/api/staff") ||
				strings.HasPrefix(c.path, "/api/tokens") || strings.HasPrefix(c.path, "/api/users") {
				if strings.HasPrefix(bad, "after=bm9") {
					continue // an id cursor: any text is a place in the list
				}
			}
			if code, b, _ := get(t, e, e.Admin, c.path+sep+bad); code != http.StatusBadRequest {
				t.Errorf("%s%s%s: %d %s; want 400", c.path, sep, bad, code, b)
			}
		}
	}
}

// TestClientFollowsPages: the client's lists hold every item of a list
// longer than a page, and OnAnswer gets them as one JSON array.
func TestClientFollowsPages(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	recs := make([]workflow.Record, api.DefaultPage+3)
	for i := range recs {
		recs[i] = workflow.Record{ID: fmt.Sprintf("P-%06d", i+1), State: workflow.Requested, Site: "demo", Door: "server-room",
			Guest: "Andi", NIK: hubtest.NIK, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
			History: []workflow.Transition{{State: workflow.Requested, By: "desk", At: time.Now(), Version: 1}}}
	}
	if err := e.WF.Import(recs); err != nil {
		t.Fatal(err)
	}
	var answer []byte
	c := e.Client(t, e.Admin, client.OnAnswer(func(raw []byte) { answer = append([]byte(nil), raw...) }))
	got := must(c.Permits(t.Context(), ""))(t)
	if len(got) != len(recs) || got[0].ID != recs[0].ID || got[len(got)-1].ID != recs[len(recs)-1].ID {
		t.Fatalf("Permits: %d, want %d", len(got), len(recs))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(answer, &raw); err != nil || len(raw) != len(recs) {
		t.Fatalf("OnAnswer got %d items (%v)", len(raw), err)
	}
}

// TestEventsReadLittle: a page of a door's events reads the newest events
// and little else: an unreadable old event does not fail the page of the
// last one, with or without a type (before the fix the whole log was read
// for limit=1, and the request failed on it).
func TestEventsReadLittle(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.Feed(t, visit("P-000001", time.Now().UTC())...)
	if err := e.Events.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Bucket([]byte("demo/server-room/e1")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "&type=door.locked", "&permit=P-000001"} {
		code, b, link := get(t, e, e.Admin, "/api/events?site=demo&door=server-room&limit=1"+q)
		var evs []wire.Event
		if err := json.Unmarshal(b, &evs); code != http.StatusOK || err != nil || len(evs) != 1 || link == "" {
			t.Errorf("limit=1%s: %d %s (Link %q)", q, code, b, link)
		}
	}
	if code, b, _ := get(t, e, e.Admin, "/api/events?site=demo&door=server-room"); code != http.StatusInternalServerError {
		t.Errorf("the whole log, its first event unreadable: %d %s; want 500", code, b)
	}
}

// TestEventReadsBounded: while as many event reads as allowed run, the
// next is answered 503 and counted, and the reads resume after.
func TestEventReadsBounded(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	e.Feed(t, visit("P-000001", time.Now().UTC())...)
	c := e.Client(t, e.Admin)
	release := api.HoldEventReads(e.API)
	_, err := c.Events(t.Context(), client.EventQuery{Site: "demo", Door: "server-room"})
	refused(t, err, http.StatusServiceUnavailable)
	if m := must(c.Metrics(t.Context()))(t); m["kunci_hub_api_events_busy_total"] != 1 {
		t.Errorf("busy counter %v; want 1", m["kunci_hub_api_events_busy_total"])
	}
	release()
	if evs := must(c.Events(t.Context(), client.EventQuery{Site: "demo", Door: "server-room"}))(t); len(evs) != 14 {
		t.Errorf("%d events after the reads ended; want 14", len(evs))
	}
}

// BenchmarkEvents: GET /api/events?limit=100 of a door of 50,000 and of
// 1,000,000 stored events, of any type, of one type and of one permit,
// through the API's handler: the time does not grow with the log (it read
// the whole log before, 0.44 s at 50,000).
func BenchmarkEvents(b *testing.B) {
	types := []wire.EventType{wire.EvTap, wire.EvLocked, wire.EvOpened, wire.EvUnlocked}
	for _, n := range []int{50_000, 1_000_000} {
		dir := b.TempDir()
		st, err := ingest.OpenStore(filepath.Join(dir, "events.db"))
		if err != nil {
			b.Fatal(err)
		}
		evs := make([]wire.Event, n)
		at := time.Now().UTC().Add(-time.Duration(n) * time.Second)
		for i := range evs {
			seq := uint64(i + 1)
			evs[i] = wire.Event{ID: fmt.Sprintf("demo/server-room/e1/%d", seq), Seq: seq, Epoch: "e1", Site: "demo",
				Door: "server-room", Type: types[i%len(types)], At: at.Add(time.Duration(i) * time.Second)}
			if i%3 == 0 {
				evs[i].Permit = fmt.Sprintf("P-%06d", i%7)
			}
		}
		if err := errors.Join(st.Import(evs), st.Close()); err != nil {
			b.Fatal(err)
		}
		e := hubtest.New(b, hubtest.Options{Dir: dir})
		for _, q := range []string{"", "&type=door.locked", "&permit=P-000003"} {
			b.Run(fmt.Sprintf("events=%d/%s", n, strings.TrimPrefix(q, "&")), func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/api/events?site=demo&door=server-room&limit=100"+q, nil)
				req.Header.Set("Authorization", "Bearer "+e.Admin)
				for b.Loop() {
					w := httptest.NewRecorder()
					e.API.ServeHTTP(w, req)
					if w.Code != http.StatusOK || w.Header().Get("Link") == "" {
						b.Fatalf("%d %.200s", w.Code, w.Body)
					}
				}
			})
		}
		e.Stop()
	}
}
