package downlink_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/downlink"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/topic"
)

const prefix = "kunci/v1/"

// checkHandled feeds one message to a handler over a door that takes
// everything, and checks what any message must lead to: the door gets only
// verified records of the topic's kind and id, and commands never
// retained; everything else is refused with exactly one bounded event.
func checkHandled(t *testing.T, keys permit.Keyring, tp string, payload []byte, retained bool) {
	t.Helper()
	door := &fakeDoor{}
	h, err := downlink.New(downlink.Config{Topics: doorTopics(t), Keys: keys, Door: door})
	if err != nil {
		t.Fatal(err)
	}
	herr := h.Handle(context.Background(), mqttlink.Message{Topic: tp, Payload: payload, QoS: 1, Retained: retained})
	applied, commands, events := door.snapshot()
	var rej *downlink.Rejection
	refused := errors.As(herr, &rej)
	if herr != nil && !refused {
		t.Fatalf("Handle = %v; want nil or a rejection from a door that takes everything", herr)
	}
	outcomes := len(applied) + len(commands) + len(events)
	if h.Metrics().Cleared.Value() == 1 {
		if len(payload) != 0 || outcomes != 0 || herr != nil {
			t.Fatalf("ignored as cleared: payload of %d bytes, applied %v, commands %v, events %s, Handle = %v",
				len(payload), applied, commands, eventList(events), herr)
		}
		return
	}
	if outcomes != 1 {
		t.Fatalf("applied %v, commands %v, events %s; want exactly one of them", applied, commands, eventList(events))
	}
	if refused != (len(events) == 1) {
		t.Fatalf("Handle = %v with events %s; a refusal and its event go together", herr, eventList(events))
	}
	for _, e := range events {
		if len(e.Detail) > 512 || !utf8.ValidString(e.Detail) {
			t.Fatalf("event detail of %d bytes, valid UTF-8 %v; want at most 512, valid", len(e.Detail), utf8.ValidString(e.Detail))
		}
	}
	if len(applied) == 0 && len(commands) == 0 {
		return
	}
	if len(payload) > permit.MaxSigned {
		t.Fatalf("a payload of %d bytes reached the door", len(payload))
	}
	rec, err := keys.Decode(payload)
	if err != nil {
		t.Fatalf("the door got a message that does not verify: %v", err)
	}
	site, door2, kind, id := topic.Parse(strings.TrimSuffix(prefix, "/"), tp)
	if site != testSite || door2 != testDoor {
		t.Fatalf("the door got a message of topic %q", tp)
	}
	switch {
	case len(commands) == 1:
		if kind != topic.KindCmd || retained || rec.Command == nil || !reflect.DeepEqual(*rec.Command, commands[0]) {
			t.Fatalf("command %+v from topic %q retained %v, record %+v", commands[0], tp, retained, rec)
		}
	case kind == topic.KindPermit:
		if !(rec.Permit != nil && rec.Permit.ID == id || rec.Revocation != nil && rec.Revocation.Permit == id) || applied[0] != tp {
			t.Fatalf("record %+v applied from topic %q", rec, tp)
		}
	case kind == topic.KindStaff:
		if rec.Staff == nil || rec.Staff.ID != id || applied[0] != tp {
			t.Fatalf("record %+v applied from topic %q", rec, tp)
		}
	default:
		t.Fatalf("record %+v applied from topic %q", rec, tp)
	}
}

// FuzzHandle: any topic under the prefix, any payload, retained or not.
func FuzzHandle(f *testing.F) {
	for _, c := range cases(f) {
		if s, ok := strings.CutPrefix(c.topic, prefix); ok && len(c.payload) <= permit.MaxSigned+1 {
			f.Add(s, c.payload, c.retained)
		}
	}
	keys := keyring(f)
	f.Fuzz(func(t *testing.T, suffix string, payload []byte, retained bool) {
		checkHandled(t, keys, prefix+suffix, payload, retained)
	})
}

// FuzzSignedBody: any body under any kind, signed with the trusted key, so
// that the input gets past the signature to the record decoders and the
// kind and id checks.
func FuzzSignedBody(f *testing.F) {
	for _, c := range cases(f) {
		var d permit.Signed
		s, ok := strings.CutPrefix(c.topic, prefix)
		if !ok || json.Unmarshal(c.payload, &d) != nil {
			continue
		}
		f.Add(s, string(d.Kind), d.Body, c.retained)
	}
	keys := keyring(f)
	f.Fuzz(func(t *testing.T, suffix, kind string, body []byte, retained bool) {
		checkHandled(t, keys, prefix+suffix, signRaw(permit.Kind(kind), body), retained)
	})
}
