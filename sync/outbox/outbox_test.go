package outbox_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/permittest"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var door = topic.Door{Prefix: topic.DefaultPrefix, Site: "demo", Door: "server-room"}

// openLog opens a real agent store in t.TempDir and checks its integrity
// when the test ends.
func openLog(t *testing.T) *agent.Store {
	t.Helper()
	st, err := agent.OpenStore(filepath.Join(t.TempDir(), "agent.db"), door.Site, door.Door)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := boltcheck.Check(st.DB())
		if err != nil {
			t.Errorf("agent store inconsistent: %v", err)
		}
		st.Close()
	})
	return st
}

// appendN appends n events in one batch.
func appendN(t *testing.T, st *agent.Store, n int) {
	t.Helper()
	b := &agent.Batch{}
	for range n {
		b.Events = append(b.Events, agent.Event{Type: wire.EvTap, Reader: "entry"})
	}
	if err := st.Append(b); err != nil {
		t.Fatal(err)
	}
}

// start runs a pump until the returned stop is called.
func start(t *testing.T, st outbox.Log, pub outbox.Publisher, notify chan struct{}, o outbox.Options) (*outbox.Pump, func()) {
	t.Helper()
	o.Door = door
	if o.Keys == nil {
		o.Keys = hubKeys
	}
	p, err := outbox.New(st, pub, notify, o)
	if err != nil {
		t.Fatal(err)
	}
	return p, runPump(p)
}

// runPump runs p until the returned stop is called.
func runPump(p *outbox.Pump) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			panic(fmt.Sprintf("Run = %v", err))
		}
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// hubKey signs the tests' acks; hubKeys, the door's keyring, trusts it.
var (
	hubKey  = permittest.Signer(1)
	hubKeys = permittest.Keyring(hubKey)
)

// ack returns a genuine ack of the tests' door, as the hub signs it.
func ack(epoch string, through uint64) []byte {
	return signedAck(hubKey, door.Site, door.Door, epoch, through, time.Now())
}

// signedAck returns the ack that s signs for site/door, epoch and through,
// issued at issued.
func signedAck(s *permit.Signer, site, door, epoch string, through uint64, issued time.Time) []byte {
	b, err := s.SignAck(&permit.Ack{Site: site, Door: door, Epoch: epoch, Through: through, Issued: issued})
	if err != nil {
		panic(err)
	}
	return b
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestPumpWindow: never more publishes open than the window, the first
// publications in seq order, however the broker's PUBACKs come.
func TestPumpWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openLog(t)
		appendN(t, st, 1000)
		pub := newFakePub(t)
		pub.Connect()
		_, stop := start(t, st, pub, nil, outbox.Options{Window: 16})
		defer stop()
		synctest.Wait()
		if open, _ := pub.Pending(); open != 16 {
			t.Fatalf("open publishes = %d; want the window, 16", open)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 10000 {
			sent, _ := published(t, pub)
			if len(sent) == 1000 {
				break
			}
			pub.Complete(1+rng.IntN(16), nil)
			synctest.Wait()
		}
		pub.Complete(-1, nil)
		synctest.Wait()
		sent, replayed := published(t, pub)
		if !slices.Equal(sent, seqs(1, 1000)) {
			t.Fatalf("published %d events, %v...; want 1..1000 once each in order", len(sent), sent[:min(len(sent), 20)])
		}
		if _, maxOpen := pub.Pending(); maxOpen != 16 {
			t.Errorf("at most %d publishes open; want 16", maxOpen)
		}
		// stored before the connection the pump started on: backlog
		if slices.Contains(replayed, false) {
			t.Errorf("backlog published with replayed:false")
		}
		if n := topics(pub)[door.Events()]; n != 1000 {
			t.Errorf("%d publishes to %s; want 1000 (topics %v)", n, door.Events(), topics(pub))
		}
	})
}

// TestPumpReplayedFlag: events stored before the current connection came up
// are replayed, those stored after are live; a reconnect resends from the
// hub's ack.
func TestPumpReplayedFlag(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openLog(t)
		pub := newFakePub(t)
		pub.SetAuto(true)
		notify := make(chan struct{}, 1)
		p, stop := start(t, st, pub, notify, outbox.Options{})
		defer stop()
		appendN(t, st, 5) // while down
		poke(notify)
		synctest.Wait()
		if sent, _ := published(t, pub); len(sent) != 0 {
			t.Fatalf("published %v while the link is down", sent)
		}
		pub.Connect()
		synctest.Wait()
		appendN(t, st, 3) // live
		poke(notify)
		synctest.Wait()
		sent, replayed := published(t, pub)
		if !slices.Equal(sent, seqs(1, 8)) ||
			!slices.Equal(replayed, []bool{true, true, true, true, true, false, false, false}) {
			t.Fatalf("published %v replayed %v; want 1..8, the first 5 replayed", sent, replayed)
		}
		if err := p.HandleAck(ack(st.Epoch(), 6)); err != nil {
			t.Fatal(err)
		}
		pub.Drop(errLost)
		appendN(t, st, 2) // while down again
		poke(notify)
		synctest.Wait()
		pub.Connect()
		synctest.Wait()
		sent, replayed = published(t, pub)
		if !slices.Equal(sent[8:], seqs(7, 10)) || slices.Contains(replayed[8:], false) {
			t.Fatalf("after reconnect published %v replayed %v; want 7..10 all replayed", sent[8:], replayed[8:])
		}
		checkFirstOrder(t, sent, 1, 10)
		if s := p.Stats(); s.Resends != 2 || s.Acks != 1 {
			t.Errorf("stats %+v; want 2 resends (two connections), 1 ack", s)
		}
	})
}

// TestPumpResendsOnReconnect: publishes open when the link drops are lost
// to paho; the next connection goes back to the hub's ack.
func TestPumpResendsOnReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openLog(t)
		appendN(t, st, 40)
		pub := newFakePub(t)
		pub.Connect()
		p, stop := start(t, st, pub, nil, outbox.Options{Window: 8})
		defer stop()
		synctest.Wait()
		pub.Complete(5, nil)
		synctest.Wait()
		if err := p.HandleAck(ack(st.Epoch(), 3)); err != nil {
			t.Fatal(err)
		}
		pub.Drop(errLost)
		synctest.Wait()
		pub.SetAuto(true)
		pub.Connect()
		synctest.Wait()
		sent, _ := published(t, pub)
		// 1..13 before the drop (8 open, 5 completed and refilled), then 4..40
		want := append(seqs(1, 13), seqs(4, 40)...)
		if !slices.Equal(sent, want) {
			t.Fatalf("published %v; want %v", sent, want)
		}
		if s := p.Stats(); s.PublishErrors != 1 {
			// only the first failed token is looked at: the window is dropped with it
			t.Errorf("publish errors = %d; want 1", s.PublishErrors)
		}
	})
}

// TestPumpResendsOnAckTimeout: PUBACKed events the hub never acks (lost
// between broker and hub) are published again after AckTimeout, from the
// hub's ack on.
func TestPumpResendsOnAckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 3 * time.Second
		st := openLog(t)
		appendN(t, st, 10)
		pub := newFakePub(t)
		pub.SetAuto(true)
		pub.Connect()
		p, stop := start(t, st, pub, nil, outbox.Options{AckTimeout: timeout})
		defer stop()
		synctest.Wait()
		time.Sleep(timeout - time.Millisecond)
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent, seqs(1, 10)) {
			t.Fatalf("before the timeout published %v; want 1..10 once", sent)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent[10:], seqs(1, 10)) {
			t.Fatalf("after the timeout published %v; want 1..10 again", sent[10:])
		}
		if err := p.HandleAck(ack(st.Epoch(), 4)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(timeout - time.Millisecond)
		synctest.Wait()
		if sent, _ := published(t, pub); len(sent) != 20 {
			t.Fatalf("ack progress did not restart the timeout: %v", sent[20:])
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent[20:], seqs(5, 10)) {
			t.Fatalf("after the second timeout published %v; want 5..10", sent[20:])
		}
		if err := p.HandleAck(ack(st.Epoch(), 10)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * timeout)
		synctest.Wait()
		if sent, _ := published(t, pub); len(sent) != 26 {
			t.Fatalf("published %v after everything was acked", sent[26:])
		}
		if s := p.Stats(); s.AckTimeouts != 2 || s.Resends != 2 {
			t.Errorf("stats %+v; want 2 ack timeouts, 2 resends", s)
		}
		if evs, _ := st.Events(0, 100); len(evs) != 0 {
			t.Errorf("%d events left after ack through 10", len(evs))
		}
	})
}

// TestPumpAckTimeoutBacksOff: while the hub stays silent the resends
// come ever more rarely, up to MaxAckTimeout; ack progress or a new
// connection brings the wait back to AckTimeout.
func TestPumpAckTimeoutBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = time.Second
		st := openLog(t)
		appendN(t, st, 3)
		pub := newFakePub(t)
		pub.SetAuto(true)
		pub.Connect()
		p, stop := start(t, st, pub, nil, outbox.Options{AckTimeout: timeout, MaxAckTimeout: 4 * timeout})
		defer stop()
		synctest.Wait()
		t0 := time.Now()
		var at []time.Duration // when each resend came
		for len(at) < 5 {
			n, _ := published(t, pub)
			time.Sleep(time.Millisecond)
			synctest.Wait()
			if m, _ := published(t, pub); len(m) > len(n) {
				at = append(at, time.Since(t0).Truncate(timeout))
			}
		}
		if want := []time.Duration{1, 3, 7, 11, 15}; !slices.Equal(at, scale(want, timeout)) {
			t.Errorf("resends at %v; want %v", at, scale(want, timeout))
		}
		pub.Drop(errLost)
		pub.Connect()
		synctest.Wait()
		n, _ := published(t, pub)
		time.Sleep(timeout + time.Millisecond)
		synctest.Wait()
		if m, _ := published(t, pub); len(m) != len(n)+3 {
			t.Errorf("after a reconnect the first resend did not come after AckTimeout")
		}
		if s := p.Stats(); s.AckTimeouts != 6 {
			t.Errorf("ack timeouts %d; want 6", s.AckTimeouts)
		}
	})
}

func scale(ds []time.Duration, unit time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d * unit
	}
	return out
}

// TestPumpRetriesFailedPublish: a publish that fails on a link that still
// says it is up is retried after RetryDelay, from its own seq.
func TestPumpRetriesFailedPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openLog(t)
		appendN(t, st, 5)
		pub := newFakePub(t)
		pub.SetAuto(true)
		pub.Connect()
		pub.FailNext(errors.New("write: broken pipe"))
		p, stop := start(t, st, pub, nil, outbox.Options{RetryDelay: time.Second})
		defer stop()
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent, []uint64{1}) {
			t.Fatalf("published %v before the retry; want [1]", sent)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent, []uint64{1, 1, 2, 3, 4, 5}) {
			t.Fatalf("published %v; want 1, then 1..5", sent)
		}
		if s := p.Stats(); s.PublishErrors != 1 || s.Published != 5 {
			t.Errorf("stats %+v; want 1 publish error, 5 published", s)
		}
	})
}

// TestPumpNotifyWakes: new events go out on the notify signal alone.
func TestPumpNotifyWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openLog(t)
		pub := newFakePub(t)
		pub.SetAuto(true)
		pub.Connect()
		notify := make(chan struct{}, 1)
		_, stop := start(t, st, pub, notify, outbox.Options{})
		defer stop()
		synctest.Wait() // the pump is up before the first event
		for i := range 5 {
			appendN(t, st, 2)
			poke(notify)
			synctest.Wait()
			sent, replayed := published(t, pub)
			if !slices.Equal(sent, seqs(1, uint64(2*i+2))) || slices.Contains(replayed, true) {
				t.Fatalf("published %v replayed %v; want 1..%d live", sent, replayed, 2*i+2)
			}
		}
	})
}

// flakyLog is an agent store whose reads fail while fail is above zero.
type flakyLog struct {
	*agent.Store
	fail atomic.Int32
}

func (l *flakyLog) EventsJSON(after uint64, limit int) ([]agent.RawEvent, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, errors.New("read: input/output error")
	}
	return l.Store.EventsJSON(after, limit)
}

func (l *flakyLog) Acked() (uint64, error) {
	if l.fail.Add(-1) >= 0 {
		return 0, errors.New("read: input/output error")
	}
	return l.Store.Acked()
}

// TestPumpLogErrors: a log that cannot be read is counted and read again
// after RetryDelay; Run goes on.
func TestPumpLogErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &flakyLog{Store: openLog(t)}
		appendN(t, l.Store, 4)
		l.fail.Store(2) // the read of the ack at the start, the first read of events
		pub := newFakePub(t)
		pub.SetAuto(true)
		pub.Connect()
		p, stop := start(t, l, pub, nil, outbox.Options{RetryDelay: time.Second})
		defer stop()
		synctest.Wait()
		if sent, _ := published(t, pub); len(sent) != 0 {
			t.Fatalf("published %v from a log that failed", sent)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent, seqs(1, 4)) {
			t.Fatalf("published %v; want 1..4 after the retries", sent)
		}
		if s := p.Stats(); s.StoreErrors != 2 {
			t.Errorf("store errors %d; want 2", s.StoreErrors)
		}
	})
}

// ackCase is an ack of the log of TestHandleAck, 10 events, in order, made
// from the log's epoch.
type ackCase struct {
	name    string
	payload func(epoch string) []byte
	want    error
	counter string // the Stats counter it adds to
	acked   uint64 // the log's ack after it
}

// raw is a payload written by hand, EPOCH standing for the log's epoch.
func raw(payload string) func(string) []byte {
	return func(epoch string) []byte { return []byte(strings.ReplaceAll(payload, "EPOCH", epoch)) }
}

// tampered is the ack of base, changed by change.
func tampered(base func(string) []byte, change func(p *permit.AckPayload, d *permit.Signed)) func(string) []byte {
	return func(epoch string) []byte {
		var p permit.AckPayload
		var d permit.Signed
		if json.Unmarshal(base(epoch), &p) != nil || json.Unmarshal(p.Signed, &d) != nil {
			panic("ack does not parse")
		}
		change(&p, &d)
		var err error
		if p.Signed, err = json.Marshal(d); err != nil {
			panic(err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			panic(err)
		}
		return b
	}
}

// signedBy is an ack that s signs for site/door, epoch ("" the log's) and
// through, issued at issued.
func signedBy(s *permit.Signer, site, door, epoch string, through uint64, issued time.Time) func(string) []byte {
	return func(logEpoch string) []byte {
		return signedAck(s, site, door, cmp.Or(epoch, logEpoch), through, issued)
	}
}

var (
	now      = time.Now()
	otherKey = permittest.Signer(2)
	genuine5 = signedBy(hubKey, "demo", "server-room", "", 5, now)
	genuine7 = signedBy(hubKey, "demo", "server-room", "", 7, now)
	ackCases = []ackCase{
		{"genuine", signedBy(hubKey, "demo", "server-room", "", 4, now), nil, "Acks", 4},
		{"older", signedBy(hubKey, "demo", "server-room", "", 2, now), nil, "Acks", 4},
		{"replayed", signedBy(hubKey, "demo", "server-room", "", 4, now.Add(-400*24*time.Hour)), nil, "Acks", 4},
		{"more members in the clear", func(epoch string) []byte {
			return append([]byte(`{"by":"hub-1",`), ack(epoch, 4)[1:]...)
		}, nil, "Acks", 4},
		// the finding of issue 12: this deleted 7 events the hub never stored
		{"unsigned", raw(`{"epoch":"EPOCH","through":7}`), outbox.ErrUnsignedAck, "UnsignedAcks", 4},
		{"signed null", raw(`{"epoch":"EPOCH","through":7,"signed":null}`), outbox.ErrUnsignedAck, "UnsignedAcks", 4},
		{"empty", raw(``), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"null", raw(`null`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"array", raw(`[]`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"no through", raw(`{"epoch":"EPOCH"}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"no epoch", raw(`{"through":5}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"empty epoch", raw(`{"epoch":"","through":5}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"quoted through", raw(`{"epoch":"EPOCH","through":"5"}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"negative through", raw(`{"epoch":"EPOCH","through":-5}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"fraction", raw(`{"epoch":"EPOCH","through":5.0}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"exponent", raw(`{"epoch":"EPOCH","through":5e0}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"null through", raw(`{"epoch":"EPOCH","through":null}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"through past uint64", raw(`{"epoch":"EPOCH","through":18446744073709551616}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"two objects", raw(`{"epoch":"EPOCH","through":5}{}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"number epoch", raw(`{"epoch":7,"through":5}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"signed is no document", raw(`{"epoch":"EPOCH","through":7,"signed":{}}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"signed is a string", raw(`{"epoch":"EPOCH","through":7,"signed":"sig"}`), outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"signed is a permit", func(epoch string) []byte {
			doc, err := hubKey.Sign(permit.KindRevocation, &permit.Revocation{Permit: "P-1", Version: 1, Site: "demo",
				Door: "server-room"})
			if err != nil {
				panic(err)
			}
			b, _ := json.Marshal(permit.AckPayload{Epoch: epoch, Through: 7, Signed: doc})
			return b
		}, outbox.ErrMalformedAck, "MalformedAcks", 4},
		{"untrusted key", signedBy(otherKey, "demo", "server-room", "", 7, now), permit.ErrUnknownKey, "UntrustedAcks", 4},
		{"untrusted key claims the trusted id", tampered(signedBy(otherKey, "demo", "server-room", "", 7, now),
			func(_ *permit.AckPayload, d *permit.Signed) { d.Key = hubKey.ID() }), permit.ErrBadSignature, "BadSigAcks", 4},
		{"through raised in the clear", tampered(genuine5, func(p *permit.AckPayload, _ *permit.Signed) { p.Through = 7 }),
			outbox.ErrForgedAck, "BadSigAcks", 4},
		{"epoch changed in the clear", tampered(genuine5, func(p *permit.AckPayload, _ *permit.Signed) { p.Epoch = "ffffff0" }),
			outbox.ErrForgedAck, "BadSigAcks", 4},
		{"through raised in the body", tampered(genuine5, func(p *permit.AckPayload, d *permit.Signed) {
			d.Body = bytes.Replace(d.Body, []byte(`"through":5`), []byte(`"through":7`), 1)
			p.Through = 7
		}), permit.ErrBadSignature, "BadSigAcks", 4},
		{"signature flipped", tampered(genuine7, func(_ *permit.AckPayload, d *permit.Signed) { d.Sig[9] ^= 1 }),
			permit.ErrBadSignature, "BadSigAcks", 4},
		{"another door", signedBy(hubKey, "demo", "lab", "", 7, now), outbox.ErrOtherDoor, "OtherDoorAcks", 4},
		{"another site", signedBy(hubKey, "branch", "server-room", "", 7, now), outbox.ErrOtherDoor, "OtherDoorAcks", 4},
		{"another epoch", signedBy(hubKey, "demo", "server-room", "ffffff0", 7, now), outbox.ErrOtherEpoch, "ForeignAcks", 4},
		{"beyond the log", signedBy(hubKey, "demo", "server-room", "", 11, now), outbox.ErrAckBeyondLog, "BeyondAcks", 4},
		{"issued in the future", signedBy(hubKey, "demo", "server-room", "", 7, now.Add(10*365*24*time.Hour)), nil, "Acks", 7},
	}
)

// statsCounter returns the counter of s that name names.
func statsCounter(s outbox.Stats, name string) uint64 {
	return map[string]uint64{"Acks": s.Acks, "MalformedAcks": s.MalformedAcks, "UnsignedAcks": s.UnsignedAcks,
		"UntrustedAcks": s.UntrustedAcks, "BadSigAcks": s.BadSigAcks, "OtherDoorAcks": s.OtherDoorAcks,
		"ForeignAcks": s.ForeignAcks, "BeyondAcks": s.BeyondAcks}[name]
}

// TestHandleAck: a genuine ack deletes the acked events and only those,
// however old or new its issue time; a forged, unsigned, malformed ack,
// or one of another door or epoch or beyond the log, is refused with an
// error and its counter, and deletes nothing.
func TestHandleAck(t *testing.T) {
	st := openLog(t)
	appendN(t, st, 10)
	p, err := outbox.New(st, newFakePub(t), nil, outbox.Options{Door: door, Keys: hubKeys, DeleteInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range ackCases {
		payload := tc.payload(st.Epoch())
		before := p.Stats()
		err := p.HandleAck(payload)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: HandleAck(%s) = %v; want %v", tc.name, payload, err, tc.want)
		}
		if got := statsCounter(p.Stats(), tc.counter) - statsCounter(before, tc.counter); got != 1 {
			t.Errorf("%s: %s went up by %d; want 1 (stats %+v)", tc.name, tc.counter, got, p.Stats())
		}
		acked, err := st.Acked()
		if err != nil {
			t.Fatal(err)
		}
		if acked != tc.acked {
			t.Errorf("%s: after HandleAck(%s) acked = %d; want %d", tc.name, payload, acked, tc.acked)
		}
		evs, err := st.Events(0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != int(10-tc.acked) || evs[0].Seq != tc.acked+1 {
			t.Fatalf("%s: after HandleAck(%s) the log holds %d events from %d; want %d..10", tc.name, payload, len(evs),
				evs[0].Seq, tc.acked+1)
		}
	}
}

// TestNewRequiresKeys: a pump without the hub's keys would have to take
// unsigned acks, or none.
func TestNewRequiresKeys(t *testing.T) {
	if _, err := outbox.New(openLog(t), newFakePub(t), nil, outbox.Options{Door: door}); err == nil {
		t.Error("New without Keys succeeded; want an error")
	}
}

// TestAckSize: the largest ack the hub can sign, with ids of 64
// characters, is within the decoder's bound.
func TestAckSize(t *testing.T) {
	id := strings.Repeat("a", 64)
	b := signedAck(hubKey, id, id, id, 1<<64-1, time.Date(2026, 11, 27, 3, 2, 3, 123456789, time.FixedZone("", 7*3600)))
	if a, err := outbox.DecodeAck(b, hubKeys); err != nil || a.Through != 1<<64-1 {
		t.Errorf("DecodeAck(%d bytes) = %+v, %v; want it accepted", len(b), a, err)
	}
	if typical := len(ack("6f1c2a9b", 123456)); typical > 512 {
		t.Errorf("an ack of demo/server-room is %d bytes; want it small", typical)
	}
}

// countingLog counts the deletions the pump asks of an agent store.
type countingLog struct {
	*agent.Store
	deletions atomic.Int32
}

func (l *countingLog) Ack(through uint64) error {
	l.deletions.Add(1)
	return l.Store.Ack(through)
}

// TestPumpDeletesOnceAnInterval: an ack within DeleteInterval of the last
// deletion moves the pump at once, and its events are deleted with the
// others of the interval when it ends: one durable write where each ack
// was one. Acks still to delete when Run returns are deleted then.
func TestPumpDeletesOnceAnInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &countingLog{Store: openLog(t)}
		appendN(t, l.Store, 100)
		pub := newFakePub(t)
		pub.SetAuto(true)
		pub.Connect()
		p, stop := start(t, l, pub, nil, outbox.Options{AckTimeout: time.Hour})
		synctest.Wait()
		check := func(step string, deletions int32, acked uint64) {
			t.Helper()
			synctest.Wait()
			got, err := l.Acked()
			if err != nil {
				t.Fatal(err)
			}
			evs, err := l.Events(0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if n := l.deletions.Load(); n != deletions || got != acked || len(evs) != int(100-acked) || evs[0].Seq != acked+1 {
				t.Errorf("%s: %d deletions, the log's ack %d, %d events from %d; want %d deletions, events from %d",
					step, n, got, len(evs), evs[0].Seq, deletions, acked+1)
			}
		}
		for _, through := range []uint64{10, 20, 30} {
			if err := p.HandleAck(ack(l.Epoch(), through)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		check("acks through 10, 20, 30 in 300 ms", 1, 10)
		time.Sleep(outbox.DefaultDeleteInterval)
		check("the interval after the first", 2, 30)
		if err := p.HandleAck(ack(l.Epoch(), 40)); err != nil {
			t.Fatal(err)
		}
		check("an ack just after the second deletion", 2, 30)
		stop()
		check("Run returned", 3, 40)
		if sent, _ := published(t, pub); !slices.Equal(sent, seqs(1, 100)) {
			t.Errorf("published %v; want 1..100 once: an ack not yet deleted is an ack", sent)
		}
	})
}

// FuzzDecodeAck: the ack decoder never panics; what it refuses is one of
// its errors with no ack; what it accepts is small, valid, says in the
// clear what is signed, verifies with a key of the ring, and is refused
// by a ring that does not trust that key.
func FuzzDecodeAck(f *testing.F) {
	for _, tc := range ackCases {
		f.Add(tc.payload("6f1c2a"))
	}
	f.Add(ack("6f1c2a", 0))
	f.Add(ack("6f1c2a", 1<<64-1))
	f.Add([]byte(`{"epoch":"a","through":18446744073709551615}`))
	f.Add([]byte(`{"epoch":"\u0000","through":1,"x":[1,{}]}`))
	f.Add([]byte(`{"epoch":"a","through":1,"signed":{"kind":"ack","key":"","body":"","sig":""}}`))
	stranger := permittest.Keyring(permittest.Signer(3))
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := outbox.DecodeAck(payload, hubKeys)
		if err != nil {
			if !errors.Is(err, outbox.ErrMalformedAck) && !errors.Is(err, outbox.ErrUnsignedAck) &&
				!errors.Is(err, outbox.ErrForgedAck) {
				t.Fatalf("DecodeAck(%q) error %v is none of the ack errors", payload, err)
			}
			if a != (permit.Ack{}) {
				t.Fatalf("DecodeAck(%q) = %+v with error %v; want no ack", payload, a, err)
			}
			return
		}
		if len(payload) > 1024 {
			t.Fatalf("DecodeAck accepted %d bytes", len(payload))
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("DecodeAck(%q) = %+v, which fails Validate: %v", payload, a, err)
		}
		var clear permit.AckPayload
		if err := json.Unmarshal(payload, &clear); err != nil || clear.Epoch != a.Epoch || clear.Through != a.Through {
			t.Fatalf("DecodeAck(%q) = %+v; the clear members say %+v (%v)", payload, a, clear, err)
		}
		if signed, err := hubKeys.DecodeAck(clear.Signed); err != nil || signed != a {
			t.Fatalf("DecodeAck(%q) = %+v; its signed document opens as %+v, %v", payload, a, signed, err)
		}
		if b, err := outbox.DecodeAck(payload, stranger); err == nil {
			t.Fatalf("DecodeAck(%q) with a ring of another key = %+v; want it refused", payload, b)
		}
	})
}

// ackingLog handles an ack from inside the pump's second read of the log,
// as the link's goroutine may between the pump's reads.
type ackingLog struct {
	*agent.Store
	reads   int
	onRead2 func()
}

func (l *ackingLog) EventsJSON(after uint64, limit int) ([]agent.RawEvent, error) {
	l.reads++
	if l.reads == 2 {
		l.onRead2()
	}
	return l.Store.EventsJSON(after, limit)
}

// TestPumpAckBetweenReadsIsNoGap: events an ack deleted between two reads
// of the log are no gap, and no error is logged for them.
func TestPumpAckBetweenReadsIsNoGap(t *testing.T) {
	st := openLog(t)
	appendN(t, st, 600)
	var logged bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelError}))
	pub := newFakePub(t)
	pub.SetAuto(true)
	pub.Connect()
	var p *outbox.Pump
	started := make(chan struct{}) // p is set
	l := &ackingLog{Store: st, onRead2: func() {
		<-started
		if err := p.HandleAck(ack(st.Epoch(), 400)); err != nil {
			t.Errorf("HandleAck = %v", err)
		}
	}}
	notify := make(chan struct{}, 1)
	var stop func()
	p, stop = start(t, l, pub, notify, outbox.Options{Window: 256, Log: log})
	close(started)
	waitfor.NoError(t, 10*time.Second, func() error {
		if got, _ := published(t, pub); len(got) == 0 || got[len(got)-1] != 600 {
			return fmt.Errorf("published %d events; want up to seq 600", len(got))
		}
		return nil
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logged.String(), "gap") {
		t.Errorf("logged %q; want no gap alarm", logged.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// BenchmarkDecodeAck is the door's cost of one ack, its verification
// included.
func BenchmarkDecodeAck(b *testing.B) {
	payload := ack("6f1c2a9b", 123456)
	for b.Loop() {
		if _, err := outbox.DecodeAck(payload, hubKeys); err != nil {
			b.Fatal(err)
		}
	}
}

// The pump calls Options.Yield before each read of the log and each
// publish, and does neither while it waits: a tap in hand at the door
// holds the backlog's publishing.
func TestPumpYields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openLog(t)
		appendN(t, st, 10)
		pub := newFakePub(t)
		pub.Connect()
		gate := make(chan struct{})
		var yields atomic.Int32
		_, stop := start(t, st, pub, nil, outbox.Options{Yield: func() {
			yields.Add(1)
			<-gate
		}})
		defer stop()
		synctest.Wait()
		if sent, _ := published(t, pub); len(sent) != 0 {
			t.Fatalf("published %v while Yield held the pump; want nothing", sent)
		}
		close(gate)
		pub.Complete(-1, nil)
		synctest.Wait()
		if sent, _ := published(t, pub); !slices.Equal(sent, seqs(1, 10)) {
			t.Fatalf("published %v once Yield let go; want 1..10", sent)
		}
		if n := yields.Load(); n < 11 {
			t.Errorf("Yield called %d times; want before the read and each of the 10 publishes", n)
		}
	})
}
