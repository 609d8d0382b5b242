package downlink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/downlink"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

const base = "kunci/v1/demo/server-room/"

// tcase is one message and what the downlink must make of it.
type tcase struct {
	name     string
	topic    string
	payload  []byte
	retained bool
	applyErr error // the door's answer to ApplySigned
	cmdErr   error // the door's answer to Command
	// want
	applied   bool           // handed to ApplySigned
	commanded bool           // handed to Command
	cleared   bool           // ignored as a cleared topic
	reason    wire.Reason    // refused for this reason ("" when taken)
	event     wire.EventType // event the downlink records itself ("" when none)
}

// cases are the table of TestHandle and the seeds of the fuzz tests.
func cases(tb testing.TB) []tcase {
	tb.Helper()
	p1 := signed(tb, hub, guestPermit("P-0001", 1, testDoor))
	rev1 := signed(tb, hub, revocation("P-0001", 1))
	staff := signed(tb, hub, staffRecord("S-ESC", 1))
	lockdown := signed(tb, hub, command("C-1", wire.CmdLockdown, t0))
	unlock := signed(tb, hub, command("C-2", wire.CmdUnlockOnce, t0))
	invalidPermit := guestPermit("P-0001", 1, testDoor)
	invalidPermit.Version = 0
	invalidBody := fmt.Appendf(nil, `{"id":"P-0001","version":0,"site":"demo","door":"server-room","card":%q,`+
		`"escort":"S-ESC","category":"server","not_before":"2026-11-27T08:00:00Z","not_after":"2026-11-27T17:00:00Z",`+
		`"entries":0,"approved_by":"head-ict","approved_at":"2026-11-27T07:00:00Z"}`, invalidPermit.Card)
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	justTooBig := append(bytes.Repeat([]byte{' '}, permit.MaxSigned+1-len(p1)), p1...)
	pr, ps, pc := base+"permits/", base+"staff/", base+"cmd"
	bad := wire.ReasonBadSignature
	return []tcase{
		// permits/<id>
		{name: "permit", topic: pr + "P-0001", payload: p1, applied: true},
		{name: "permit retained", topic: pr + "P-0001", payload: p1, retained: true, applied: true},
		{name: "revocation", topic: pr + "P-0001", payload: rev1, retained: true, applied: true},
		{name: "permit under another id", topic: pr + "P-0002", payload: p1, reason: wire.ReasonIDMismatch, event: wire.EvPermitRejected},
		{name: "revocation under another id", topic: pr + "P-0002", payload: rev1, reason: wire.ReasonIDMismatch, event: wire.EvPermitRejected},
		{name: "staff record on a permit topic", topic: pr + "S-ESC", payload: staff, reason: wire.ReasonWrongKind, event: wire.EvPermitRejected},
		{name: "command on a permit topic", topic: pr + "C-1", payload: lockdown, reason: wire.ReasonWrongKind, event: wire.EvPermitRejected},
		{name: "malformed JSON", topic: pr + "P-0001", payload: []byte(`{"kind":`), reason: wire.ReasonMalformed, event: wire.EvPermitRejected},
		{name: "JSON array", topic: pr + "P-0001", payload: []byte(`[1,2]`), reason: wire.ReasonMalformed, event: wire.EvPermitRejected},
		{name: "not JSON", topic: pr + "P-0001", payload: []byte("\x00\xff\xfe garbage"), reason: wire.ReasonMalformed, event: wire.EvPermitRejected},
		{name: "trailing data", topic: pr + "P-0001", payload: append(slices.Clone(p1), '}'), reason: wire.ReasonMalformed, event: wire.EvPermitRejected},
		{name: "unknown kind", topic: pr + "P-0001", payload: bytes.Replace(p1, []byte(`"kind":"permit"`), []byte(`"kind":"key"`), 1),
			reason: wire.ReasonMalformed, event: wire.EvPermitRejected},
		{name: "body of another kind, signed", topic: pr + "P-0001", payload: signRaw(permit.KindPermit, bodyOf(tb, staff)),
			reason: wire.ReasonMalformed, event: wire.EvPermitRejected},
		{name: "body altered after signing", topic: pr + "P-0001", payload: tampered(tb, p1, `"entries":0`, `"entries":9`),
			reason: bad, event: wire.EvPermitRejected},
		{name: "signature removed", topic: pr + "P-0001", payload: unsigned(tb, p1), reason: bad, event: wire.EvPermitRejected},
		{name: "signed by an untrusted key", topic: pr + "P-0001", payload: signed(tb, rogue, guestPermit("P-0001", 1, testDoor)),
			reason: wire.ReasonUntrustedKey, event: wire.EvPermitRejected},
		{name: "signed but invalid", topic: pr + "P-0001", payload: signRaw(permit.KindPermit, invalidBody),
			reason: wire.ReasonInvalid, event: wire.EvPermitRejected},
		{name: "another door", topic: pr + "P-LAB", payload: signed(tb, hub, guestPermit("P-LAB", 1, "lab")),
			applyErr: fmt.Errorf("%w: permit P-LAB is for demo/lab", agent.ErrWrongDoor), applied: true, reason: wire.ReasonWrongDoor, event: wire.EvPermitRejected},
		{name: "older version", topic: pr + "P-0001", payload: p1,
			applyErr: fmt.Errorf("%w: p/P-0001 version 1, applied 2", agent.ErrRollback), applied: true, reason: wire.ReasonRollback, event: wire.EvPermitRejected},
		{name: "one byte too large", topic: pr + "P-0001", payload: justTooBig, reason: wire.ReasonTooLarge, event: wire.EvPermitRejected},
		{name: "1 MiB", topic: pr + "P-0001", payload: big, retained: true, reason: wire.ReasonTooLarge, event: wire.EvPermitRejected},
		{name: "cleared retained permit", topic: pr + "P-0001", payload: nil, retained: true, cleared: true},
		{name: "cleared permit, forwarded live", topic: pr + "P-0001", payload: []byte{}, cleared: true},
		{name: "door stopped", topic: pr + "P-0001", payload: p1, applyErr: agent.ErrStopped, applied: true},

		// staff/<id>
		{name: "staff record", topic: ps + "S-ESC", payload: staff, retained: true, applied: true},
		{name: "staff record under another id", topic: ps + "S-OTHER", payload: staff, reason: wire.ReasonIDMismatch, event: wire.EvPermitRejected},
		{name: "permit on a staff topic", topic: ps + "P-0001", payload: p1, reason: wire.ReasonWrongKind, event: wire.EvPermitRejected},
		{name: "revocation on a staff topic", topic: ps + "P-0001", payload: rev1, reason: wire.ReasonWrongKind, event: wire.EvPermitRejected},
		{name: "staff record altered", topic: ps + "S-ESC", payload: tampered(tb, staff, `"escort":true`, `"solo":true,"escort":true`),
			reason: bad, event: wire.EvPermitRejected},
		{name: "1 MiB staff", topic: ps + "S-ESC", payload: big, reason: wire.ReasonTooLarge, event: wire.EvPermitRejected},

		// cmd
		{name: "command", topic: pc, payload: lockdown, commanded: true},
		{name: "retained command", topic: pc, payload: unlock, retained: true, reason: wire.ReasonRetained, event: wire.EvCmdRejected},
		{name: "retained forged command", topic: pc, payload: tampered(tb, unlock, `"C-2"`, `"C-3"`), retained: true,
			reason: wire.ReasonRetained, event: wire.EvCmdRejected},
		{name: "permit on the command topic", topic: pc, payload: p1, reason: wire.ReasonWrongKind, event: wire.EvCmdRejected},
		{name: "staff record on the command topic", topic: pc, payload: staff, reason: wire.ReasonWrongKind, event: wire.EvCmdRejected},
		{name: "unsigned command, bare JSON", topic: pc, payload: bodyOf(tb, unlock), reason: wire.ReasonMalformed, event: wire.EvCmdRejected},
		{name: "command without signature", topic: pc, payload: unsigned(tb, unlock), reason: bad, event: wire.EvCmdRejected},
		{name: "command altered", topic: pc, payload: tampered(tb, lockdown, `"lockdown"`, `"unlock-once"`), reason: bad, event: wire.EvCmdRejected},
		{name: "command by an untrusted key", topic: pc, payload: signed(tb, rogue, command("C-9", wire.CmdUnlockOnce, t0)),
			reason: wire.ReasonUntrustedKey, event: wire.EvCmdRejected},
		{name: "expired command", topic: pc, payload: unlock, cmdErr: fmt.Errorf("%w: command C-2", agent.ErrCommandExpired),
			commanded: true, reason: wire.ReasonExpired, event: wire.EvCmdRejected},
		{name: "replayed command", topic: pc, payload: unlock, cmdErr: fmt.Errorf("%w: command C-2", agent.ErrReplayed),
			commanded: true, reason: wire.ReasonReplayed, event: wire.EvCmdRejected},
		{name: "command for another door", topic: pc, payload: unlock, cmdErr: fmt.Errorf("%w: command C-2", agent.ErrWrongDoor),
			commanded: true, reason: wire.ReasonWrongDoor, event: wire.EvCmdRejected},
		{name: "command, clock untrusted", topic: pc, payload: unlock, cmdErr: fmt.Errorf("%w: command C-2", agent.ErrClockUntrusted),
			commanded: true, reason: wire.ReasonClockUntrusted, event: wire.EvCmdRejected},
		{name: "1 MiB command", topic: pc, payload: big, reason: wire.ReasonTooLarge, event: wire.EvCmdRejected},
		{name: "cleared command topic", topic: pc, payload: nil, retained: true, cleared: true},

		// topics
		{name: "another door's permit topic", topic: "kunci/v1/demo/lab/permits/P-0001", payload: p1,
			reason: wire.ReasonWrongTopic, event: wire.EvPermitRejected},
		{name: "another door's command topic", topic: "kunci/v1/demo/lab/cmd", payload: lockdown,
			reason: wire.ReasonWrongTopic, event: wire.EvCmdRejected},
		{name: "another prefix", topic: "kunci/v2/demo/server-room/cmd", payload: lockdown,
			reason: wire.ReasonWrongTopic, event: wire.EvPermitRejected},
		{name: "events ack topic", topic: base + "events/ack", payload: []byte(`{"epoch":"x","through":1}`),
			reason: wire.ReasonWrongTopic, event: wire.EvPermitRejected},
		{name: "status topic", topic: base + "status", payload: []byte(`{}`), reason: wire.ReasonWrongTopic, event: wire.EvPermitRejected},
		{name: "permit topic without id", topic: pr, payload: p1, reason: wire.ReasonWrongTopic, event: wire.EvPermitRejected},
		{name: "permit topic one level deeper", topic: pr + "P-0001/x", payload: p1, reason: wire.ReasonWrongTopic, event: wire.EvPermitRejected},
		{name: "long topic", topic: pr + strings.Repeat("P", 70000), payload: p1, reason: wire.ReasonIDMismatch, event: wire.EvPermitRejected},
	}
}

func newHandler(tb testing.TB, d downlink.Door) *downlink.Handler {
	tb.Helper()
	h, err := downlink.New(downlink.Config{Topics: doorTopics(tb), Keys: keyring(tb), Door: d})
	if err != nil {
		tb.Fatalf("New = %v", err)
	}
	return h
}

// TestHandle: Handle(topic, payload, retained) = what the door is asked,
// the refusal's reason and the event the downlink records; want the table.
func TestHandle(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			door := &fakeDoor{applyErr: c.applyErr, cmdErr: c.cmdErr}
			h := newHandler(t, door)
			err := h.Handle(context.Background(), mqttlink.Message{Topic: c.topic, Payload: c.payload, QoS: 1, Retained: c.retained})
			applied, commands, events := door.snapshot()

			var rej *downlink.Rejection
			switch {
			case c.reason != "":
				if !errors.As(err, &rej) || rej.Reason != c.reason {
					t.Fatalf("Handle = %v; want a rejection for %s", err, c.reason)
				}
				if n := h.Metrics().Rejected.With(c.reason).Value(); n != 1 {
					t.Errorf("counter kunci_agent_downlink_rejected_total{reason=%q} = %d; want 1", c.reason, n)
				}
			case c.applyErr != nil || c.cmdErr != nil:
				if err == nil || errors.As(err, &rej) {
					t.Fatalf("Handle = %v; want the door's error, not a rejection", err)
				}
				if n := h.Metrics().DoorErrors.Value(); n != 1 {
					t.Errorf("counter door_errors = %d; want 1", n)
				}
			case err != nil:
				t.Fatalf("Handle = %v; want nil", err)
			}

			if want := c.applied; (len(applied) == 1) != want || len(applied) > 1 {
				t.Errorf("ApplySigned calls %v; want %v", applied, want)
			} else if want && applied[0] != c.topic {
				t.Errorf("ApplySigned source %q; want the topic %q", applied[0], c.topic)
			}
			if want := c.commanded; (len(commands) == 1) != want || len(commands) > 1 {
				t.Errorf("Command calls %v; want %v", commands, want)
			}
			if c.cleared != (h.Metrics().Cleared.Value() == 1) {
				t.Errorf("counter cleared = %d; want cleared %v", h.Metrics().Cleared.Value(), c.cleared)
			}

			if c.event == "" {
				if len(events) != 0 {
					t.Errorf("recorded %s; want no event from the downlink", eventList(events))
				}
				return
			}
			if len(events) != 1 || events[0].Type != c.event {
				t.Fatalf("recorded %s; want one %s", eventList(events), c.event)
			}
			e := events[0]
			if len(e.Detail) > 512 {
				t.Errorf("detail of %d bytes; want at most 512", len(e.Detail))
			}
			wantTopic := c.topic
			if len(wantTopic) > 100 {
				wantTopic = wantTopic[:100]
			}
			if !strings.Contains(e.Detail, wantTopic) {
				t.Errorf("detail %q does not name the topic", e.Detail)
			}
			if e.Reason != c.reason {
				t.Errorf("%s reason %q; want %q", e.Type, e.Reason, c.reason)
			}
		})
	}
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	_, err := downlink.New(downlink.Config{})
	if err == nil {
		t.Fatal("New(empty config) = nil error")
	}
	for _, want := range []string{"topics", "keys", "door"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New(empty config) = %v; want it to name %s", err, want)
		}
	}
}

func TestSubscriptionsAndMatches(t *testing.T) {
	h := newHandler(t, &fakeDoor{})
	td := doorTopics(t)
	want := map[string]byte{td.Permits(): 1, td.StaffAll(): 1, td.Cmd(): 1}
	if got := h.Subscriptions(); !maps.Equal(got, want) {
		t.Errorf("Subscriptions() = %v; want %v", got, want)
	}
	for topic, want := range map[string]bool{
		td.Permit("P-0001"): true, td.Staff("S-ESC"): true, td.Cmd(): true,
		td.EventsAck(): false, td.Status(): false, "kunci/v1/demo/lab/cmd": false, td.Permits(): true,
	} {
		if got := h.Matches(topic); got != want {
			t.Errorf("Matches(%q) = %v; want %v", topic, got, want)
		}
	}
}

// TestFuncHandsMessagesToTheDoor: the mqttlink handler Func returns is
// Handle with the context given.
func TestFuncHandsMessagesToTheDoor(t *testing.T) {
	door := &fakeDoor{}
	h := newHandler(t, door)
	f := h.Func(context.Background())
	f(mqttlink.Message{Topic: doorTopics(t).Cmd(), Payload: signed(t, hub, command("C-1", wire.CmdLockdown, t0)), QoS: 1})
	f(mqttlink.Message{Topic: doorTopics(t).Cmd(), Payload: []byte("junk"), QoS: 1})
	_, commands, events := door.snapshot()
	if len(commands) != 1 || commands[0].ID != "C-1" || len(events) != 1 || events[0].Type != wire.EvCmdRejected {
		t.Errorf("after a command and junk: commands %v, events %s; want C-1 and one command.rejected", commands, eventList(events))
	}
}

// TestRefusalFloodCoalesced: a flood of refused messages costs the door a
// few events per topic and reason, each window, and one summary with the
// count; the counters keep the exact number and the door is asked for
// nothing else.
func TestRefusalFloodCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		door := &fakeDoor{}
		h := newHandler(t, door)
		ctx := context.Background()
		hot := "kunci/v1/demo/server-room/permits/P-1"
		garbage := []byte("garbage")
		for range 1000 {
			h.Handle(ctx, mqttlink.Message{Topic: hot, Payload: garbage, QoS: 1})
		}
		for i := range 200 { // each on a topic of its own
			h.Handle(ctx, mqttlink.Message{Topic: fmt.Sprintf("kunci/v1/demo/server-room/permits/X-%d", i), Payload: garbage, QoS: 1})
		}
		time.Sleep(downlink.DefaultRefusalInterval) // the held ones are written
		synctest.Wait()
		_, _, events := door.snapshot()
		if n := door.writes(); n != 2 {
			t.Errorf("the door was written %d times; want 2, the first refusal and the rest of the interval", n)
		}
		if n := h.Metrics().Rejected.With(wire.ReasonMalformed).Value(); n != 1200 {
			t.Errorf("rejected malformed = %d; want 1200", n)
		}
		// 5 for the hot topic, 1 for each of the 63 other topics tracked
		// apart, 5 for the 137 topics beyond them
		if len(events) != 5+63+5 {
			t.Errorf("recorded %d events in the window; want %d", len(events), 5+63+5)
		}
		time.Sleep(downlink.DefaultRefusalWindow + downlink.DefaultRefusalInterval)
		synctest.Wait()
		_, commands, after := door.snapshot()
		summaries := after[len(events):]
		var held uint64
		for _, e := range summaries {
			if e.Type != wire.EvPermitRejected || e.Reason != wire.ReasonMalformed || e.Count == 0 {
				t.Errorf("summary %+v; want permit.rejected malformed with a count", e)
			}
			held += e.Count
		}
		if held != 1200-uint64(len(events)) || len(summaries) != 2 {
			t.Errorf("%d summaries hold %d refusals; want 2 holding %d (the hot topic's and the other topics')",
				len(summaries), held, 1200-len(events))
		}
		for _, e := range summaries {
			if e.Permit == "P-1" && !strings.Contains(e.Detail, "995 more refused") {
				t.Errorf("the hot topic's summary says %q", e.Detail)
			}
		}
		if len(commands) != 0 {
			t.Errorf("the door was asked %v", commands)
		}
		// the flood goes on: one summary a window, nothing apart
		for range 100 {
			h.Handle(ctx, mqttlink.Message{Topic: hot, Payload: garbage, QoS: 1})
		}
		time.Sleep(downlink.DefaultRefusalWindow)
		synctest.Wait()
		_, _, last := door.snapshot()
		if got := last[len(after):]; len(got) != 1 || got[0].Count != 100 {
			t.Errorf("next window: %s; want one summary of 100", eventList(got))
		}
	})
}

// TestRefusalsWrittenOnceAnInterval: a refusal after a quiet interval is
// written at once, the refusals that follow within the interval are held
// and written in one transaction of the door's when it ends, and a flood
// over many topics costs the door one write an interval, while every
// refusal is counted.
func TestRefusalsWrittenOnceAnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		door := &fakeDoor{}
		h := newHandler(t, door)
		ctx := context.Background()
		garbage := []byte("garbage")
		refuse := func(topic string) {
			t.Helper()
			if err := h.Handle(ctx, mqttlink.Message{Topic: "kunci/v1/demo/server-room/permits/" + topic, Payload: garbage, QoS: 1}); err == nil {
				t.Fatalf("garbage on %s taken", topic)
			}
		}
		check := func(step string, writes, events int) {
			t.Helper()
			synctest.Wait()
			if _, _, evs := door.snapshot(); door.writes() != writes || len(evs) != events {
				t.Errorf("%s: %d writes of %d events; want %d of %d", step, door.writes(), len(evs), writes, events)
			}
		}
		refuse("P-1")
		check("the first refusal", 1, 1)
		for i := range 9 {
			refuse(fmt.Sprintf("P-%d", i+2))
		}
		check("nine more within the interval", 1, 1)
		time.Sleep(downlink.DefaultRefusalInterval)
		check("the interval's end", 2, 10)

		// a minute of 1,000 refusals a second on 5,000 topics, in turn, as
		// BenchmarkTapUnderLoad sends them
		writes := door.writes()
		start := time.Now()
		for i := range 60_000 {
			refuse(fmt.Sprintf("P-X%d", i%5000))
			if i%1000 == 999 {
				time.Sleep(time.Second)
			}
		}
		time.Sleep(downlink.DefaultRefusalInterval)
		synctest.Wait()
		if n, most := door.writes()-writes, int(time.Since(start)/downlink.DefaultRefusalInterval)+1; n > most {
			t.Errorf("a minute of flood: %d writes; want at most one an interval, %d", n, most)
		}
		if n := h.Metrics().Rejected.With(wire.ReasonMalformed).Value(); n != 60_010 {
			t.Errorf("rejected malformed = %d; want 60010", n)
		}
	})
}
