package outbox_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/wire"
)

// checkPayload: the payload of an event stored as json.Marshal makes
// decodes to the same event with Replayed set, and is byte for byte what
// the pump published before it published the stored bytes (decode, set
// replayed, encode) whenever that gave the stored bytes back.
func checkPayload(t *testing.T, e agent.Event) {
	t.Helper()
	stored, err := json.Marshal(e)
	if err != nil {
		t.Skip("not an event the store can hold:", err)
	}
	for _, r := range []bool{false, true} {
		got, err := outbox.Payload(stored, r)
		if err != nil {
			t.Fatalf("Payload(%s, %v) = %v", stored, r, err)
		}
		var dec agent.Event
		if err := json.Unmarshal(stored, &dec); err != nil {
			t.Fatal(err)
		}
		// a string with invalid UTF-8 is stored as \ufffd and encoded
		// again as the character itself: the same event, other bytes
		again, _ := json.Marshal(dec)
		dec.Replayed = r
		want, _ := json.Marshal(dec)
		if bytes.Equal(again, stored) && !bytes.Equal(got, want) {
			t.Errorf("Payload(%s, %v)\n = %s\nwant %s", stored, r, got, want)
		}
		var back agent.Event
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("payload %s does not decode: %v", got, err)
		}
		if back.Replayed != r {
			t.Errorf("payload %s decodes with replayed %v; want %v", got, back.Replayed, r)
		}
		back.Replayed, dec.Replayed = false, false
		if !back.At.Equal(dec.At) {
			t.Errorf("payload %s: at %v; want %v", got, back.At, dec.At)
		}
		back.At, dec.At = time.Time{}, time.Time{}
		if !reflect.DeepEqual(back, dec) {
			t.Errorf("payload %s decodes to %+v; want %+v", got, back, dec)
		}
	}
}

func TestPayload(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 123456789, time.UTC)
	for _, e := range []agent.Event{
		{ID: "demo/server-room/ab12cd/1", Seq: 1, Epoch: "ab12cd", Site: "demo", Door: "server-room", Type: wire.EvTap, At: at},
		{Seq: 7, Type: wire.EvGranted, At: at.In(time.FixedZone("WIB", 7*3600)), ClockSynced: true, Boot: "b", MonoNS: -5,
			Reader: "entry", Permit: "P-0000001", Escort: "S-0001", Staff: "S-0001", Card: "ab12", Detail: "rack A, rack B"},
		// the pattern inside strings: escaped there, never a match
		{Seq: 2, Type: wire.EvCmdRejected, Detail: `"replayed":false`, Reason: `"replayed":true`, Rack: `\"replayed\":false`},
		{Seq: 3, Type: wire.EvCmdRejected, Detail: "<&> \u2028 \xff ü", Replayed: true},
		{Seq: 4, Type: wire.EvTap, Replayed: true}, // stored replayed (never by the door): decoded and encoded
	} {
		checkPayload(t, e)
	}
}

// TestPayloadOtherJSON: JSON not in json.Marshal's form (no replayed
// member, twice, or true already) is decoded and encoded; broken JSON
// that reaches the decoding is an error.
func TestPayloadOtherJSON(t *testing.T) {
	for _, c := range []struct {
		stored   string
		replayed bool
		want     bool // decodes to replayed
	}{
		{`{"seq":1,"type":"tap"}`, true, true},
		{`{"seq":1,"replayed":false,"type":"tap","replayed":false}`, true, true},
		{`{"seq":1,"replayed":true}`, false, false},
		{`{"seq":1, "replayed" : false}`, true, true},
	} {
		got, err := outbox.Payload([]byte(c.stored), c.replayed)
		if err != nil {
			t.Fatalf("Payload(%s) = %v", c.stored, err)
		}
		var e agent.Event
		if err := json.Unmarshal(got, &e); err != nil || e.Seq != 1 || e.Replayed != c.want {
			t.Errorf("Payload(%s, %v) = %s (%v); want seq 1, replayed %v", c.stored, c.replayed, got, err, c.want)
		}
	}
	if _, err := outbox.Payload([]byte(`{"seq":1,"replayed":`), true); err == nil {
		t.Error("Payload of broken JSON succeeded")
	}
}

func FuzzPayload(f *testing.F) {
	f.Add(uint64(1), "tap", "entry", `"replayed":false`, int64(42), int64(0), true, false)
	f.Add(uint64(1<<63), "x", "\u2028<", "\\\"replayed\\\":false", int64(-1), int64(1e18), false, true)
	f.Fuzz(func(t *testing.T, seq uint64, typ, reader, detail string, mono, unixNano int64, synced, replayed bool) {
		checkPayload(t, agent.Event{
			ID: "demo/d/e/1", Seq: seq, Epoch: "e", Site: "demo", Door: "d", Type: wire.EventType(typ),
			At: time.Unix(0, unixNano).UTC(), ClockSynced: synced, MonoNS: mono, Reader: reader,
			Detail: detail, Replayed: replayed,
		})
	})
}
