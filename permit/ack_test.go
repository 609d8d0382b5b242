package permit_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
)

func validAck() *permit.Ack {
	return &permit.Ack{Site: "demo", Door: "server-room", Epoch: "6f1c2a", Through: 42,
		Issued: time.Date(2026, 11, 27, 3, 2, 3, 0, time.UTC)}
}

// TestAckRoundTrip: a signed ack opens with DecodeAck as it was signed.
func TestAckRoundTrip(t *testing.T) {
	priv := testKey(1)
	s := permit.NewSigner(priv)
	for _, through := range []uint64{0, 1, 42, 1<<64 - 1} {
		a := validAck()
		a.Through = through
		b := mustSign(t, s, permit.KindAck, a)
		got, err := keyringOf(priv).DecodeAck(b)
		if err != nil || !reflect.DeepEqual(&got, a) {
			t.Errorf("DecodeAck(Sign(%+v)) = %+v, %v; want it back", a, got, err)
		}
	}
}

// TestAckIsNoRecord: an ack's signature cannot pass for a record's, and a
// record's cannot pass for an ack's, even when the key is trusted.
func TestAckIsNoRecord(t *testing.T) {
	priv := testKey(1)
	s := permit.NewSigner(priv)
	r := keyringOf(priv)
	ack := mustSign(t, s, permit.KindAck, validAck())
	if rec, err := r.Decode(ack); !errors.Is(err, permit.ErrWrongKind) {
		t.Errorf("Decode(ack) = %+v, %v; want ErrWrongKind", rec, err)
	}
	for _, tt := range signedRecords() {
		b := mustSign(t, s, tt.kind, tt.v)
		if a, err := r.DecodeAck(b); !errors.Is(err, permit.ErrWrongKind) {
			t.Errorf("DecodeAck(%s) = %+v, %v; want ErrWrongKind", tt.kind, a, err)
		}
		// a record's body relabelled as an ack: the kind is signed
		d := unmarshalSigned(t, b)
		d.Kind = permit.KindAck
		if a, err := r.DecodeAck(marshalSigned(t, d)); !errors.Is(err, permit.ErrBadSignature) {
			t.Errorf("DecodeAck(%s relabelled as ack) = %+v, %v; want ErrBadSignature", tt.kind, a, err)
		}
	}
	if _, err := s.Sign(permit.KindAck, validPermit()); !errors.Is(err, permit.ErrWrongKind) {
		t.Errorf("Sign(ack, permit) = %v; want ErrWrongKind", err)
	}
	if _, err := s.Sign(permit.KindPermit, validAck()); !errors.Is(err, permit.ErrWrongKind) {
		t.Errorf("Sign(permit, ack) = %v; want ErrWrongKind", err)
	}
}

// TestDecodeAckRefused: a forged, tampered, untrusted or invalid ack is
// refused with the error that says why.
func TestDecodeAckRefused(t *testing.T) {
	priv, other := testKey(1), testKey(2)
	r := keyringOf(priv)
	good := mustSign(t, permit.NewSigner(priv), permit.KindAck, validAck())
	tests := []struct {
		name string
		doc  []byte
		want error
	}{
		{"through raised in the body", func() []byte {
			d := unmarshalSigned(t, good)
			d.Body = bytes.Replace(d.Body, []byte(`"through":42`), []byte(`"through":99`), 1)
			return marshalSigned(t, d)
		}(), permit.ErrBadSignature},
		{"door changed in the body", func() []byte {
			d := unmarshalSigned(t, good)
			d.Body = bytes.Replace(d.Body, []byte(`server-room`), []byte(`lab-room-01`), 1)
			return marshalSigned(t, d)
		}(), permit.ErrBadSignature},
		{"signature flipped", func() []byte {
			d := unmarshalSigned(t, good)
			d.Sig[5] ^= 0x10
			return marshalSigned(t, d)
		}(), permit.ErrBadSignature},
		{"untrusted key", mustSign(t, permit.NewSigner(other), permit.KindAck, validAck()), permit.ErrUnknownKey},
		{"untrusted key claims the trusted id", func() []byte {
			d := unmarshalSigned(t, mustSign(t, permit.NewSigner(other), permit.KindAck, validAck()))
			d.Key = permit.NewSigner(priv).ID()
			return marshalSigned(t, d)
		}(), permit.ErrBadSignature},
		{"no issue time", signByHand(priv, permit.KindAck,
			[]byte(`{"site":"demo","door":"server-room","epoch":"e1","through":1,"issued":"0001-01-01T00:00:00Z"}`)), permit.ErrInvalid},
		{"bad door id", signByHand(priv, permit.KindAck,
			[]byte(`{"site":"demo","door":"a/b","epoch":"e1","through":1,"issued":"2026-11-27T03:02:03Z"}`)), permit.ErrInvalid},
		{"no epoch", signByHand(priv, permit.KindAck,
			[]byte(`{"site":"demo","door":"server-room","through":1,"issued":"2026-11-27T03:02:03Z"}`)), permit.ErrInvalid},
		{"negative through", signByHand(priv, permit.KindAck,
			[]byte(`{"site":"demo","door":"server-room","epoch":"e1","through":-1,"issued":"2026-11-27T03:02:03Z"}`)), permit.ErrMalformed},
		{"unknown member", signByHand(priv, permit.KindAck,
			[]byte(`{"site":"demo","door":"server-room","epoch":"e1","through":1,"issued":"2026-11-27T03:02:03Z","all":true}`)), permit.ErrMalformed},
		{"trailing data in the body", signByHand(priv, permit.KindAck,
			[]byte(`{"site":"demo","door":"server-room","epoch":"e1","through":1,"issued":"2026-11-27T03:02:03Z"}}`)), permit.ErrMalformed},
		{"not JSON", []byte(`{"epoch":"e1","through":7}`), permit.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := r.DecodeAck(tt.doc); !errors.Is(err, tt.want) || a != (permit.Ack{}) {
				t.Errorf("DecodeAck(%s) = %+v, %v; want no ack, %v", tt.doc, a, err, tt.want)
			}
		})
	}
}

func TestAckValidate(t *testing.T) {
	if err := validAck().Validate(); err != nil {
		t.Fatalf("Validate(valid ack) = %v", err)
	}
	for name, change := range map[string]func(a *permit.Ack){
		"no site":     func(a *permit.Ack) { a.Site = "" },
		"no door":     func(a *permit.Ack) { a.Door = "" },
		"no epoch":    func(a *permit.Ack) { a.Epoch = "" },
		"long epoch":  func(a *permit.Ack) { a.Epoch = string(bytes.Repeat([]byte("e"), 65)) },
		"no issue":    func(a *permit.Ack) { a.Issued = time.Time{} },
		"topic level": func(a *permit.Ack) { a.Door = "+" },
	} {
		a := validAck()
		change(a)
		if err := a.Validate(); !errors.Is(err, permit.ErrInvalid) {
			t.Errorf("%s: Validate(%+v) = %v; want ErrInvalid", name, a, err)
		}
	}
}

// BenchmarkSignAck is the hub's cost of one ack: at most one per door
// every AckInterval (50 ms) while its events flow.
func BenchmarkSignAck(b *testing.B) {
	s := permit.NewSigner(testKey(1))
	a := validAck()
	for b.Loop() {
		if _, err := s.SignAck(a); err != nil {
			b.Fatal(err)
		}
	}
}
