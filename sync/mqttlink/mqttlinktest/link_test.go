package mqttlinktest_test

import (
	"errors"
	"testing"

	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/mqttlink/mqttlinktest"
)

// done reports whether tok has ended, and how.
func done(tok mqttlink.Token) (bool, error) {
	select {
	case <-tok.Done():
		return true, tok.Error()
	default:
		return false, nil
	}
}

func TestDownRefusesAndKeepsNothing(t *testing.T) {
	l := mqttlinktest.New(t)
	if ended, err := done(l.Publish("a", 1, false, nil)); !ended || !errors.Is(err, mqttlink.ErrNotConnected) {
		t.Fatalf("publish while down: ended %v, %v; want ErrNotConnected at once", ended, err)
	}
	if p := l.Published(); len(p) != 0 {
		t.Errorf("kept %v while down", p)
	}
}

func TestConnectSignals(t *testing.T) {
	l := mqttlinktest.New(t)
	next := l.NextConnection()
	l.Connect()
	select {
	case <-next:
	default:
		t.Fatal("NextConnection not closed by Connect")
	}
	if !l.Connected() {
		t.Fatal("Connected after Connect = false")
	}
}

func TestManualCompletionAndDrop(t *testing.T) {
	l := mqttlinktest.New(t)
	l.Connect()
	l.SetAuto(false)
	a, b, c := l.Publish("a", 1, false, []byte("1")), l.Publish("b", 1, false, []byte("2")), l.Publish("c", 1, false, nil)
	if n, most := l.Pending(); n != 3 || most != 3 {
		t.Fatalf("Pending = %d, %d; want 3, 3", n, most)
	}
	l.Ack(nil)
	if ended, err := done(a); !ended || err != nil {
		t.Fatalf("oldest after Ack: ended %v, %v", ended, err)
	}
	if ended, _ := done(b); ended {
		t.Fatal("second ended by one Ack")
	}
	lost := errors.New("connection lost")
	l.Drop(lost)
	for _, tok := range []mqttlink.Token{b, c} {
		if ended, err := done(tok); !ended || !errors.Is(err, lost) {
			t.Fatalf("after Drop(err): ended %v, %v; want %v", ended, err, lost)
		}
	}
	l.Connect()
	d := l.Publish("d", 1, false, nil)
	l.Drop(nil)
	if ended, _ := done(d); ended {
		t.Fatal("Drop(nil) ended a publish in flight")
	}
	if n := l.Complete(-1, nil); n != 0 {
		t.Errorf("Complete after Drop ended %d; want none left waiting", n)
	}
	if p := l.Published(); len(p) != 4 || p[0].Topic != "a" || string(p[1].Payload) != "2" {
		t.Errorf("Published = %+v", p)
	}
}

func TestRefuseAndFailNext(t *testing.T) {
	l := mqttlinktest.New(t)
	l.Connect()
	no, broken := errors.New("refused"), errors.New("broken pipe")
	l.Refuse(no)
	l.FailNext(broken)
	if _, err := done(l.Publish("a", 1, true, nil)); !errors.Is(err, no) {
		t.Fatalf("first = %v; want the refusal", err)
	}
	if _, err := done(l.Publish("b", 1, true, nil)); !errors.Is(err, broken) {
		t.Fatalf("second = %v; want the failure", err)
	}
	if ended, err := done(l.Publish("c", 1, true, nil)); !ended || err != nil {
		t.Fatalf("third: ended %v, %v; want success at once", ended, err)
	}
	if p := l.Published(); len(p) != 2 || p[0].Topic != "b" || !p[0].Retained {
		t.Errorf("Published = %+v; want b (failed on the wire) and c, not the refused a", p)
	}
}
