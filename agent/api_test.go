package agent_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
)

func recordOf(p permit.Permit) permit.Record { return permit.Record{Permit: &p} }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// apiRig is a running door with its HTTP handler on a test server: a guest
// and escort inside, rack R1 open.
func apiRig(t *testing.T) (*doorRig, *httptest.Server) {
	t.Helper()
	r := testRig(t, staffRecords(escortStaff)...)
	r.apply(recordOf(p1))
	r.start()
	ctx := context.Background()
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(10)))
	r.must(r.d.Tap(ctx, agent.ReaderEntry, uidOf(1)))
	r.must(r.d.SetDoor(ctx, true))
	r.must(r.d.SetDoor(ctx, false))
	r.must(r.d.SetRack(ctx, "R1", true))
	srv := httptest.NewServer(r.d.Handler())
	t.Cleanup(srv.Close)
	return r, srv
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestAPIStatus(t *testing.T) {
	r, srv := apiRig(t)
	code, hdr, body := get(t, srv.URL+"/status")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /status = %d %s; want 200 JSON", code, hdr.Get("Content-Type"))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("GET /status: %v in %s", err, body)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"alarms", "clock_synced", "door", "lock", "mode", "occupancy", "racks", "secured", "seq", "version"}
	if !slices.Equal(keys, want) {
		t.Errorf("GET /status keys = %v; want %v", keys, want)
	}

	var st struct {
		Door      string            `json:"door"`
		Lock      string            `json:"lock"`
		Racks     map[string]string `json:"racks"`
		Mode      string            `json:"mode"`
		Occupancy []struct {
			Permit string `json:"permit"`
			Escort string `json:"escort"`
			Since  string `json:"since"`
		} `json:"occupancy"`
		Secured     bool     `json:"secured"`
		Alarms      []string `json:"alarms"`
		Seq         uint64   `json:"seq"`
		ClockSynced bool     `json:"clock_synced"`
		Version     string   `json:"version"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Door != "closed" || st.Lock != "locked" || st.Mode != "normal" || st.Secured || !st.ClockSynced ||
		st.Version != "v-test" || st.Seq != r.lastSeq() {
		t.Errorf("GET /status = %s", body)
	}
	if len(st.Racks) != 2 || st.Racks["R1"] != "open" || st.Racks["R2"] != "closed" {
		t.Errorf("racks = %v; want R1 open, R2 closed", st.Racks)
	}
	if len(st.Occupancy) != 1 || st.Occupancy[0].Permit != p1.ID || st.Occupancy[0].Escort != "S-ESC" || st.Occupancy[0].Since == "" {
		t.Errorf("occupancy = %+v; want %s with S-ESC", st.Occupancy, p1.ID)
	}
	if st.Alarms == nil || len(st.Alarms) != 0 {
		t.Errorf("alarms = %#v; want an empty array", st.Alarms)
	}
	if strings.Contains(string(body), "null") {
		t.Errorf("GET /status has a null: %s", body)
	}

	if code, _, _ := get(t, srv.URL+"/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /nothing = %d; want 404", code)
	}
	resp, err := http.Post(srv.URL+"/status", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /status = %d; want 405", resp.StatusCode)
	}
}

func TestAPIEvents(t *testing.T) {
	r, srv := apiRig(t)
	last := r.lastSeq()
	if last < 8 {
		t.Fatalf("only %d events stored", last)
	}
	for _, c := range []struct {
		query      string
		first, num uint64
	}{
		{"", 1, last},
		{"?after=0", 1, last},
		{"?after=3", 4, last - 3},
		{"?after=3&limit=2", 4, 2},
		{"?limit=1", 1, 1},
		{"?limit=1000", 1, last},
		{"?after=" + itoa(last), 0, 0},
		{"?after=999999", 0, 0},
		{"?after=18446744073709551615", 0, 0},
	} {
		code, hdr, body := get(t, srv.URL+"/events"+c.query)
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("GET /events%s = %d %s; want 200 JSON", c.query, code, hdr.Get("Content-Type"))
			continue
		}
		var evs []agent.Event
		if err := json.Unmarshal(body, &evs); err != nil || evs == nil {
			t.Errorf("GET /events%s = %s: want a JSON array (%v)", c.query, body, err)
			continue
		}
		if uint64(len(evs)) != c.num {
			t.Errorf("GET /events%s: %d events; want %d", c.query, len(evs), c.num)
			continue
		}
		for i, e := range evs {
			if e.Seq != c.first+uint64(i) || e.ID == "" || e.Epoch != r.st.Epoch() || e.Site != testSite || e.Door != testDoor {
				t.Errorf("GET /events%s: event %d = seq %d id %q; want seq %d of this door", c.query, i, e.Seq, e.ID, c.first+uint64(i))
			}
		}
	}

	// the wire form carries every field of the contract
	_, _, body := get(t, srv.URL+"/events?limit=1")
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) != 1 {
		t.Fatalf("GET /events?limit=1 = %s", body)
	}
	for _, k := range []string{"id", "seq", "epoch", "site", "door", "type", "at", "clock_synced", "boot", "mono_ns",
		"reader", "permit", "escort", "reason", "rack", "replayed"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("event JSON %s lacks %q", body, k)
		}
	}
}

func TestAPIBadRequests(t *testing.T) {
	r, srv := apiRig(t)
	bad := []struct{ query, field string }{
		{"after=-1", "after"},
		{"after=abc", "after"},
		{"after=1.5", "after"},
		{"after=18446744073709551616", "after"},
		{"limit=0", "limit"},
		{"limit=-3", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"after=1&limit=", ""}, // an empty limit is no limit
	}
	want := uint64(0)
	for _, b := range bad {
		code, hdr, body := get(t, srv.URL+"/events?"+b.query)
		if b.field == "" {
			if code != http.StatusOK {
				t.Errorf("GET /events?%s = %d; want 200", b.query, code)
			}
			continue
		}
		want++
		if code != http.StatusBadRequest || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("GET /events?%s = %d %s; want 400 JSON", b.query, code, hdr.Get("Content-Type"))
		}
		var e struct{ Error string }
		if err := json.Unmarshal(body, &e); err != nil || !strings.HasPrefix(e.Error, b.field+":") {
			t.Errorf("GET /events?%s = %s; want an error about %s", b.query, body, b.field)
		}
		if got := r.d.Metrics().BadRequests.Value(); got != want {
			t.Errorf("after GET /events?%s bad_requests = %d; want %d", b.query, got, want)
		}
	}
	if got := r.d.Status(); got.Seq != r.lastSeq() {
		t.Errorf("bad requests changed the door: status seq %d, last seq %d", got.Seq, r.lastSeq())
	}

	code, _, body := get(t, srv.URL+"/metrics")
	if code != http.StatusOK || !strings.Contains(string(body), "\nkunci_agent_http_bad_requests_total 8\n") {
		t.Errorf("GET /metrics = %d %s; want bad_requests 8", code, body)
	}
}
