package hub_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

// TestDoorStatusRoundTrip: the status JSON a door publishes, with every
// field set (occupants with their since and card id, racks, alarms, the
// mode, seq, clock and version), reaches the hub's state and its API
// without losing or changing a field.
func TestDoorStatusRoundTrip(t *testing.T) {
	since := time.Date(2026, 11, 27, 3, 2, 3, 123e6, time.UTC)
	m := agent.NewMachine("demo", "server-room", agent.DefaultRules(), []string{agent.ReaderEntry, agent.ReaderExit},
		[]string{"R1", "R2"}, agent.Snapshot{Mode: wire.ModeLockdown, Occupancy: []wire.Occupant{
			{Permit: "P-0012", Escort: "S-004", Card: "0123456789abcdef", Since: since},
			{Staff: "S-001", Card: "fedcba9876543210", Since: since.Add(time.Minute)}}})
	now := agent.Time{Now: since.Add(2 * time.Minute), Trusted: true}
	m.Handle(agent.RackInput{Rack: "R2", Open: true}, now)
	m.Handle(agent.DoorInput{Open: true}, now) // locked and no exit request: forced
	st := m.Status()
	st.Seq, st.ClockSynced, st.Version = 42, true, "v1.2.3"
	if len(st.Occupancy) != 2 || len(st.Alarms) < 2 || st.Racks["R2"] != wire.Open || st.Mode != wire.ModeLockdown {
		t.Fatalf("the machine's status lacks what the test is about: %+v", st)
	}
	published, err := json.Marshal(st) // as sync/status publishes it
	if err != nil {
		t.Fatal(err)
	}

	e := hubtest.New(t, hubtest.Options{})
	e.Hub.Handle(mqttlink.Message{Topic: "kunci/v1/demo/server-room/status", Payload: published, Retained: true})
	var held *wire.Status
	for _, d := range e.Hub.Doors() {
		if d.Site == "demo" && d.Door == "server-room" {
			held = d.Status
		}
	}
	if held == nil {
		t.Fatal("the hub holds no status for demo/server-room")
	}
	if back, _ := json.Marshal(held); string(back) != string(published) {
		t.Errorf("the hub holds\n%s\nthe door published\n%s", back, published)
	}

	code, body := e.Do(t, e.Admin, "GET", "/api/doors", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/doors: %d %s", code, body)
	}
	var doors []struct {
		Site, Door string
		Status     map[string]any
	}
	if err := json.Unmarshal(body, &doors); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(published, &want); err != nil {
		t.Fatal(err)
	}
	for _, d := range doors {
		if d.Site == "demo" && d.Door == "server-room" && !reflect.DeepEqual(d.Status, want) {
			t.Errorf("GET /api/doors gives status\n%v\nthe door published\n%v", d.Status, want)
		}
	}
	var typed []hub.Door
	if err := json.Unmarshal(body, &typed); err != nil {
		t.Errorf("GET /api/doors does not decode into []hub.Door: %v", err)
	}
}
