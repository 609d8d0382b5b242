package hub_test

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// issueP1 adds escort S-004 and issues permit P-1 for an hour from now,
// through the API.
func issueP1(t *testing.T, e *hubtest.Env, now time.Time) {
	t.Helper()
	hubtest.Issue(t, e.Client(t, e.Admin), e.Client(t, e.Token(t, "desk", auth.Requester)),
		e.Client(t, e.Token(t, "kasi-infra", auth.Approver, auth.Coordinator)), now)
}

// TestKeyRotation: restarted with a new signing key, the hub signs every
// record again with it; an agent trusting both keys during the change
// takes the old and the new documents, one trusting only the new key the
// new ones.
func TestKeyRotation(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	old := e.Signer
	issueP1(t, e, time.Now())
	topics := []string{"kunci/v1/demo/server-room/permits/P-1", "kunci/v1/demo/server-room/staff/S-004"}
	signedBy := func(k permit.KeyID) func([]byte) bool {
		return func(d []byte) bool {
			r, err := e.Keyring.Decode(d)
			return err == nil && r.Key == k
		}
	}
	var before [][]byte
	for _, tp := range topics {
		d, ok := e.Pub.RetainedDoc(tp, signedBy(old.ID()))
		if !ok {
			t.Fatalf("%s not signed by the first key", tp)
		}
		before = append(before, d)
	}

	priv, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	next := permit.NewSigner(priv)
	e.Restart(t, hubtest.Options{Signer: next})
	both := permit.Keyring{}
	both.Add(old.Public())
	both.Add(next.Public())
	onlyNew := permit.Keyring{}
	onlyNew.Add(next.Public())
	for i, tp := range topics {
		d, ok := e.Pub.RetainedDoc(tp, signedBy(next.ID()))
		if !ok {
			t.Fatalf("%s not signed again with the new key: %s", tp, d)
		}
		if _, err := both.Decode(d); err != nil {
			t.Errorf("%s: agent trusting both keys refuses the new document: %v", tp, err)
		}
		if _, err := both.Decode(before[i]); err != nil {
			t.Errorf("%s: agent trusting both keys refuses the old document: %v", tp, err)
		}
		if _, err := onlyNew.Decode(d); err != nil {
			t.Errorf("%s: agent trusting the new key refuses the new document: %v", tp, err)
		}
		if _, err := onlyNew.Decode(before[i]); err == nil {
			t.Errorf("%s: agent trusting only the new key takes the old document", tp)
		}
	}
}

// TestExpiredPermitCleared: a day after its window ended, a permit's
// retained topic is cleared (an empty retained message).
func TestExpiredPermitCleared(t *testing.T) {
	clock := hubtest.NewClock(time.Now())
	now := clock.Now()
	e := hubtest.New(t, hubtest.Options{Now: clock.Now})
	issueP1(t, e, now)
	tp := "kunci/v1/demo/server-room/permits/P-1"
	if _, ok := e.Pub.RetainedDoc(tp, func(d []byte) bool { return len(d) > 0 }); !ok {
		t.Fatal("permit not published")
	}
	clock.Add(time.Hour + hub.ClearAfter - time.Minute)
	if err := e.Hub.Refresh(); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Pub.RetainedDoc(tp, func(d []byte) bool { return len(d) > 0 }); len(d) == 0 {
		t.Fatal("cleared before ClearAfter")
	}
	clock.Add(2 * time.Minute)
	if err := e.Hub.Refresh(); err != nil {
		t.Fatal(err)
	}
	if d, ok := e.Pub.RetainedDoc(tp, func(d []byte) bool { return len(d) == 0 }); !ok {
		t.Errorf("retained %s after ClearAfter; want it cleared", d)
	}
	if d, _ := e.Pub.RetainedDoc("kunci/v1/demo/server-room/staff/S-004", func(d []byte) bool { return len(d) > 0 }); len(d) == 0 {
		t.Error("the staff record was cleared too")
	}
}

// TestRepublishWhen: a hub that does not lead the republishing (a
// replica on PostgreSQL whose peer leads it) publishes nothing again on a
// connection; leading, every record again.
func TestRepublishWhen(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{})
	issueP1(t, e, time.Now())
	settled := func() uint64 {
		var n uint64
		waitfor.Until(t, 5*time.Second, "the records published", func() bool {
			s := e.Hub.Stats()
			n = s.RecordsPublished
			return s.RecordsPending == 0
		})
		return n
	}
	before := settled()
	var leading atomic.Bool
	e.Hub.RepublishWhen(leading.Load)
	onConnect := e.Hub.LinkOptions(mqttlink.Options{}, false).OnConnect
	onConnect()
	time.Sleep(200 * time.Millisecond) // what it would queue goes within milliseconds
	if n := settled(); n != before {
		t.Fatalf("a hub not leading the republishing published %d records on a connection", n-before)
	}
	leading.Store(true)
	onConnect()
	waitfor.Until(t, 5*time.Second, "every record published again", func() bool {
		return e.Hub.Stats().RecordsPublished >= before+2 // the permit and the escort's staff record
	})
}
