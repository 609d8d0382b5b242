package wire_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kunci-project/kunci/wire"
)

// TestEventTypesAreDesigns: the event types are design.md's, in its
// order, then the extensions: relay.fault, store.low_space, store.failed.
func TestEventTypesAreDesigns(t *testing.T) {
	design := []wire.EventType{"agent.started", "tap", "escort.awaited", "access.granted", "access.denied",
		"door.unlocked", "door.locked", "door.opened", "door.closed", "door.forced", "door.held_open",
		"exit.requested", "rack.opened", "rack.closed", "rack.tampered", "visit.entered",
		"visit.exited", "visit.unescorted", "room.secured", "room.not_secured", "permit.rejected",
		"command.executed", "command.rejected", "clock.unsynced", "reader.fault", "relay.fault",
		"store.low_space", "store.failed"}
	if !slices.Equal(wire.EventTypes, design) {
		t.Errorf("EventTypes = %v;\nwant design.md's %v", wire.EventTypes, design)
	}
	if got := []wire.CommandName{"lockdown", "release", "unlock-once", "resync"}; !slices.Equal(wire.CommandNames, got) {
		t.Errorf("CommandNames = %v; want %v", wire.CommandNames, got)
	}
}

// TestEventJSON: design.md's example event decodes field for field, and
// the extensions are left out when empty.
func TestEventJSON(t *testing.T) {
	const example = `{"id":"demo/server-room/6f1c2a/42","seq":42,"epoch":"6f1c2a","site":"demo","door":"server-room",
 "type":"access.granted","at":"2026-11-27T03:02:03.123Z","clock_synced":true,
 "boot":"b91e","mono_ns":1234567,"reader":"entry","permit":"P-0012","escort":"S-004",
 "reason":"","rack":"","replayed":false}`
	var e wire.Event
	if err := json.Unmarshal([]byte(example), &e); err != nil {
		t.Fatal(err)
	}
	want := wire.Event{ID: "demo/server-room/6f1c2a/42", Seq: 42, Epoch: "6f1c2a", Site: "demo", Door: "server-room",
		Type: wire.EvGranted, At: time.Date(2026, 11, 27, 3, 2, 3, 123e6, time.UTC), ClockSynced: true, Boot: "b91e",
		MonoNS: 1234567, Reader: "entry", Permit: "P-0012", Escort: "S-004"}
	if !e.At.Equal(want.At) {
		t.Errorf("at %v; want %v", e.At, want.At)
	}
	e.At = want.At
	if b1, b2 := mustJSON(t, e), mustJSON(t, want); b1 != b2 {
		t.Errorf("decoded %s;\nwant %s", b1, b2)
	}
	if b := mustJSON(t, want); b != `{"id":"demo/server-room/6f1c2a/42","seq":42,"epoch":"6f1c2a","site":"demo",`+
		`"door":"server-room","type":"access.granted","at":"2026-11-27T03:02:03.123Z","clock_synced":true,"boot":"b91e",`+
		`"mono_ns":1234567,"reader":"entry","permit":"P-0012","escort":"S-004","reason":"","rack":"","replayed":false}` {
		t.Errorf("encoded %s; want design.md's fields only", b)
	}
	ns := wire.Event{Type: wire.EvNotSecured, Racks: []string{"R1", "R2"}}
	for _, typ := range wire.EventTypes {
		e := wire.Event{Type: typ}
		if e.MovesRelay() != (typ == wire.EvUnlocked || typ == wire.EvLocked) {
			t.Errorf("%s: MovesRelay() = %v", typ, e.MovesRelay())
		}
	}
	var back wire.Event
	if err := json.Unmarshal([]byte(mustJSON(t, ns)), &back); err != nil || !slices.Equal(back.Racks, ns.Racks) {
		t.Errorf("room.not_secured racks %v, %v; want %v", back.Racks, err, ns.Racks)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAlarmKind(t *testing.T) {
	for a, want := range map[wire.Alarm]wire.Alarm{wire.RackTamperedAlarm("R1"): wire.AlarmRackTampered,
		wire.AlarmDoorForced: wire.AlarmDoorForced, "rack_tampered:a:b": wire.AlarmRackTampered} {
		if got := a.Kind(); got != want {
			t.Errorf("%s.Kind() = %s; want %s", a, got, want)
		}
	}
	if got := wire.RackTamperedAlarm("R1"); got != "rack_tampered:R1" {
		t.Errorf("RackTamperedAlarm(R1) = %s", got)
	}
}

// TestDuration: "4m30s" in JSON both ways; YAML refuses zero and a
// non-duration with the line, as a type error so that every bad field is
// reported.
func TestDuration(t *testing.T) {
	var v struct {
		D wire.Duration `json:"d" yaml:"d"`
	}
	if err := json.Unmarshal([]byte(`{"d":"4m30s"}`), &v); err != nil || time.Duration(v.D) != 4*time.Minute+30*time.Second {
		t.Fatalf("JSON 4m30s: %v, %v", time.Duration(v.D), err)
	}
	if got := mustJSON(t, v); got != `{"d":"4m30s"}` {
		t.Errorf("encoded %s", got)
	}
	if err := json.Unmarshal([]byte(`{"d":"soon"}`), &v); err == nil {
		t.Error("JSON soon: no error")
	}
	for doc, want := range map[string]string{"d: 0s\n": `line 1: "0s": want more than 0`, "d: soon\n": `line 1: "soon" is not a duration`,
		"d: [1]\n": "line 1: want a duration"} {
		err := yaml.Unmarshal([]byte(doc), &v)
		var te *yaml.TypeError
		if !errors.As(err, &te) || len(te.Errors) != 1 || !strings.Contains(te.Errors[0], want) {
			t.Errorf("YAML %q: %v; want a type error with %q", doc, err, want)
		}
	}
	if err := yaml.Unmarshal([]byte("d: 2m\n"), &v); err != nil || time.Duration(v.D) != 2*time.Minute {
		t.Errorf("YAML 2m: %v, %v", time.Duration(v.D), err)
	}
	if b, err := yaml.Marshal(v); err != nil || string(b) != "d: 2m0s\n" {
		t.Errorf("YAML out %q, %v", b, err)
	}
}
