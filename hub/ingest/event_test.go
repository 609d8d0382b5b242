package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/wire"
)

const evTopic = "kunci/v1/demo/server-room/events"

var good = `{"id":"demo/server-room/6f1c2a/42","seq":42,"epoch":"6f1c2a","site":"demo","door":"server-room",` +
	`"type":"access.granted","at":"2026-11-27T03:02:03.123Z","clock_synced":true,"boot":"b91e","mono_ns":1234567,` +
	`"reader":"entry","permit":"P-0012","escort":"S-004","reason":"","rack":"","replayed":false}`

var decodeCases = []struct {
	name    string
	topic   string
	payload string
	want    error
}{
	{"design.md's example", evTopic, good, nil},
	{"unknown member ignored", evTopic, strings.Replace(good, `"seq":42`, `"seq":42,"later":{"x":[1]}`, 1), nil},
	{"extensions", evTopic, strings.Replace(good, `"rack":""`, `"rack":"","staff":"S-1","card":"ab12","detail":"R1 open"`, 1), nil},
	{"minimal", evTopic, `{"id":"demo/server-room/e/1","seq":1,"epoch":"e","site":"demo","door":"server-room","type":"tap"}`, nil},
	{"status topic", "kunci/v1/demo/server-room/status", good, ingest.ErrTopic},
	{"ack topic", "kunci/v1/demo/server-room/events/ack", good, ingest.ErrTopic},
	{"other prefix", "other/v1/demo/server-room/events", good, ingest.ErrTopic},
	{"other door's topic", "kunci/v1/demo/lab/events", good, ingest.ErrMismatch},
	{"other site's topic", "kunci/v1/hq/server-room/events", good, ingest.ErrMismatch},
	{"id of another seq", evTopic, strings.Replace(good, `"seq":42`, `"seq":43`, 1), ingest.ErrMismatch},
	{"id of another epoch", evTopic, strings.Replace(good, `"epoch":"6f1c2a"`, `"epoch":"6f1c2b"`, 1), ingest.ErrMismatch},
	{"seq 0", evTopic, strings.Replace(strings.Replace(good, `"seq":42`, `"seq":0`, 1), `6f1c2a/42`, `6f1c2a/0`, 1), ingest.ErrMalformed},
	{"seq negative", evTopic, strings.Replace(good, `"seq":42`, `"seq":-42`, 1), ingest.ErrMalformed},
	{"seq a string", evTopic, strings.Replace(good, `"seq":42`, `"seq":"42"`, 1), ingest.ErrMalformed},
	{"no epoch", evTopic, strings.Replace(good, `"epoch":"6f1c2a",`, ``, 1), ingest.ErrMalformed},
	{"epoch with a slash", evTopic, strings.Replace(strings.Replace(good, `"epoch":"6f1c2a"`, `"epoch":"6f/1c"`, 1), `6f1c2a/42`, `6f/1c/42`, 1), ingest.ErrMalformed},
	{"no type", evTopic, strings.Replace(good, `"type":"access.granted",`, ``, 1), ingest.ErrMalformed},
	{"bad time", evTopic, strings.Replace(good, `2026-11-27T03:02:03.123Z`, `yesterday`, 1), ingest.ErrMalformed},
	{"truncated", evTopic, good[:len(good)-1], ingest.ErrMalformed},
	{"two objects", evTopic, good + good, ingest.ErrMalformed},
	{"data after the object", evTopic, good + " x", ingest.ErrMalformed},
	{"white space after the object", evTopic, good + " \n", nil},
	{"array", evTopic, "[" + good + "]", ingest.ErrMalformed},
	{"null", evTopic, "null", ingest.ErrMalformed},
	{"empty", evTopic, "", ingest.ErrMalformed},
	{"too large", evTopic, strings.Replace(good, `"reason":""`, `"reason":"`+strings.Repeat("x", ingest.DefaultMaxEventSize)+`"`, 1), ingest.ErrTooLarge},
}

func TestDecodeEvent(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ingest.DecodeEvent("kunci/v1", tc.topic, []byte(tc.payload), ingest.DefaultMaxEventSize)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("DecodeEvent = %+v, %v; want %v", e, err, tc.want)
			}
		})
	}
	e, err := ingest.DecodeEvent("kunci/v1", evTopic, []byte(good), ingest.DefaultMaxEventSize)
	if err != nil {
		t.Fatal(err)
	}
	want := ingest.Event{ID: "demo/server-room/6f1c2a/42", Seq: 42, Epoch: "6f1c2a", Site: "demo", Door: "server-room",
		Type: "access.granted", At: time.Date(2026, 11, 27, 3, 2, 3, 123e6, time.UTC), ClockSynced: true, Boot: "b91e",
		MonoNS: 1234567, Reader: "entry", Permit: "P-0012", Escort: "S-004"}
	if !e.At.Equal(want.At) {
		t.Errorf("at = %v; want %v", e.At, want.At)
	}
	e.At = want.At
	if !reflect.DeepEqual(e, want) {
		t.Errorf("DecodeEvent(design.md's example) = %+v; want %+v", e, want)
	}
}

// TestEventMatchesAgent: the hub reads every member the agent writes, and
// stores it as the agent wrote it.
func TestEventMatchesAgent(t *testing.T) {
	a := agent.Event{ID: "demo/server-room/6f1c2a/7", Seq: 7, Epoch: "6f1c2a", Site: "demo", Door: "server-room",
		Type: wire.EvNotSecured, At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ClockSynced: true, Boot: "b1",
		MonoNS: 99, Reader: "exit", Permit: "P-1", Escort: "S-2", Reason: wire.ReasonLockdown, Rack: "R1",
		Replayed: true, Staff: "S-3", Card: "abcd", Detail: "R2 open"}
	j, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ingest.DecodeEvent("kunci/v1", evTopic, j, ingest.DefaultMaxEventSize)
	if err != nil {
		t.Fatal(err)
	}
	back, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != string(j) {
		t.Errorf("the hub's event JSON differs from the agent's:\nhub   %s\nagent %s", back, j)
	}
}

// checkBounds reports a member of e beyond its bound.
func checkBounds(e ingest.Event) error {
	if len(e.Detail) > ingest.MaxDetail || len(e.Racks) > ingest.MaxRacks {
		return fmt.Errorf("detail of %d bytes, %d racks", len(e.Detail), len(e.Racks))
	}
	short := []string{e.Boot, e.Reader, e.Permit, e.Escort, string(e.Reason), e.Rack, e.Staff, e.Card, string(e.Command)}
	for i, v := range append(short, e.Racks...) {
		if len(v) > ingest.MaxMember || !utf8.ValidString(v) {
			return fmt.Errorf("member #%d of %d bytes: %.40q", i, len(v), v)
		}
	}
	return nil
}

// TestDecodeClipsMembers: members beyond their bounds are cut on a rune
// boundary and marked, not refused; within the bounds they are kept as
// they came.
func TestDecodeClipsMembers(t *testing.T) {
	long := strings.Repeat("é", 3000) // two bytes a rune
	racks := make([]string, 100)
	for i := range racks {
		racks[i] = fmt.Sprintf("R%d", i)
	}
	racks[0] = long
	rj, _ := json.Marshal(racks)
	payload := strings.Replace(good, `"rack":""`, `"rack":"`+long[:200]+`","detail":"`+long+`","racks":`+string(rj)+
		`,"staff":"`+strings.Repeat("s", ingest.MaxMember)+`"`, 1)
	payload = strings.Replace(payload, `"permit":"P-0012"`, `"permit":"P-`+long[:1000]+`"`, 1)
	e, err := ingest.DecodeEvent("kunci/v1", evTopic, []byte(payload), ingest.DefaultMaxEventSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBounds(e); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"detail": e.Detail, "rack": e.Rack, "permit": e.Permit, "racks[0]": e.Racks[0]} {
		if !strings.HasSuffix(v, "…") || len(v) < ingest.MaxMember-4 {
			t.Errorf("%s = %.40q… (%d bytes); want it cut to its bound and marked", name, v, len(v))
		}
	}
	if len(e.Detail) < ingest.MaxDetail-4 || !strings.HasPrefix(e.Permit, "P-é") {
		t.Errorf("detail of %d bytes, permit %.10q; want the start kept", len(e.Detail), e.Permit)
	}
	if len(e.Racks) != ingest.MaxRacks || e.Racks[1] != "R1" || e.Staff != strings.Repeat("s", ingest.MaxMember) ||
		e.Reader != "entry" || e.Escort != "S-004" {
		t.Errorf("decoded %+v; want 64 racks, the members within bounds as they came", e)
	}
}

// FuzzDecodeEvent: the decoder never panics; what it accepts is valid,
// and stored (marshalled) it decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add(tc.topic, []byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		e, err := ingest.DecodeEvent("kunci/v1", topic, payload, 4096)
		if err != nil {
			if !errors.Is(err, ingest.ErrMalformed) && !errors.Is(err, ingest.ErrTooLarge) &&
				!errors.Is(err, ingest.ErrTopic) && !errors.Is(err, ingest.ErrMismatch) {
				t.Fatalf("error %v has no sentinel", err)
			}
			return
		}
		if e.Seq == 0 || e.ID == "" || topic != "kunci/v1/"+e.Site+"/"+e.Door+"/events" {
			t.Fatalf("accepted %+v on %q", e, topic)
		}
		if err := checkBounds(e); err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ingest.DecodeEvent("kunci/v1", topic, j, 1<<20)
		if err != nil {
			t.Fatalf("stored form refused: %v\n%s", err, j)
		}
		if !e2.At.Equal(e.At) {
			t.Fatalf("at %v became %v", e.At, e2.At)
		}
		e2.At = e.At
		if !reflect.DeepEqual(e2, e) {
			t.Fatalf("round trip %+v became %+v", e, e2)
		}
	})
}
