package permit_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/permit"
)

func FuzzParseUID(f *testing.F) {
	for _, tt := range parseUIDTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		uid, err := permit.ParseUID(in)
		if err != nil {
			if !errors.Is(err, permit.ErrUID) || uid != nil {
				t.Fatalf("ParseUID(%q) = %x, %v; want nil and an error wrapping ErrUID", in, uid, err)
			}
			checkNoUIDLeakFuzz(t, in, err.Error())
			return
		}
		if n := len(uid); n != 4 && n != 7 && n != 10 {
			t.Fatalf("ParseUID(%q) = %x, %d bytes; want 4, 7 or 10", in, uid, n)
		}
		if len(in) > permit.MaxUIDText {
			t.Fatalf("ParseUID(%d characters) succeeded; want at most %d", len(in), permit.MaxUIDText)
		}
		lower := hex.EncodeToString(uid)
		for _, again := range []string{lower, strings.ToUpper(lower), colons(lower)} {
			got, err := permit.ParseUID(again)
			if err != nil || !bytes.Equal(got, uid) {
				t.Fatalf("ParseUID(%q) = %x, %v; want %x, nil (first parsed from %q)", again, got, err, uid, in)
			}
		}
	})
}

// colons writes hex as reader tools print it: "04:A1:...".
func colons(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(h[i : i+2]))
	}
	return b.String()
}

// checkNoUIDLeakFuzz fails if msg holds eight hex digits of the input in a
// row: a whole 4-byte UID. Shorter runs may match numbers in the message by
// chance.
func checkNoUIDLeakFuzz(t *testing.T, in, msg string) {
	t.Helper()
	if w := leakedDigits(in[:min(len(in), 4*permit.MaxUIDText)], msg, 8); w != "" {
		t.Fatalf("ParseUID(%q) error %q contains the input's digits %q", in, msg, w)
	}
}

// FuzzKeyringDecode feeds Decode whole documents, and also signs the input
// as the body of every kind, so that the body decoder is fuzzed behind a
// good signature as well.
func FuzzKeyringDecode(f *testing.F) {
	priv := testKey(1)
	s := permit.NewSigner(priv)
	r := keyringOf(priv)

	for _, tt := range signedRecords() {
		good, err := s.Sign(tt.kind, tt.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(good)
		var doc permit.Signed
		if err := json.Unmarshal(good, &doc); err != nil {
			f.Fatal(err)
		}
		f.Add(doc.Body)

		flipped := doc
		flipped.Body = bytes.Clone(doc.Body)
		flipped.Body[len(flipped.Body)/2] ^= 0x01
		badSig := doc
		badSig.Sig = bytes.Clone(doc.Sig)
		badSig.Sig[0] ^= 0x01
		relabelled := doc
		relabelled.Kind = permit.KindPermit
		if tt.kind == permit.KindPermit {
			relabelled.Kind = permit.KindStaff
		}
		unknownKey := doc
		unknownKey.Key = "0011223344556677"
		for _, d := range []permit.Signed{flipped, badSig, relabelled, unknownKey} {
			b, err := json.Marshal(d)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
		f.Add(good[:len(good)/2])
		f.Add(append(bytes.Clone(good), '}'))
		f.Add(append(bytes.Clone(good), good...))
		f.Add(append([]byte(`{"extra":1,`), good[1:]...))
		f.Add(signByHand(priv, tt.kind, append(bytes.Clone(doc.Body), ']')))
		f.Add(signByHand(priv, tt.kind, []byte("{}")))
	}
	p := validPermit()
	p.Entries = -1
	body, _ := json.Marshal(p)
	f.Add(signByHand(priv, permit.KindPermit, body))
	f.Add(signByHand(priv, permit.KindPermit, []byte(`{"id":"P-1","nik":"3174"}`)))
	f.Add([]byte(`{"site":"demo","door":"server-room","epoch":"e1","through":7,"issued":"2026-11-27T03:02:03Z"}`))
	for _, seed := range []string{"", "null", "{}", "[]", `{"kind":"permit"}`, `{"kind":"command","key":"","body":"","sig":""}`} {
		f.Add([]byte(seed))
	}

	check := func(t *testing.T, what string, data []byte, wantKind permit.Kind) {
		t.Helper()
		rec, err := r.Decode(data)
		kind, v, n := recordOf(rec)
		if err != nil {
			if n != 0 {
				t.Fatalf("Decode(%s %q) = %+v, %v; want no record with an error", what, data, rec, err)
			}
			return
		}
		if n != 1 {
			t.Fatalf("Decode(%s %q) = %+v; want exactly one record", what, data, rec)
		}
		if wantKind != "" && kind != wantKind {
			t.Fatalf("Decode(%s %q) = %s; want %s", what, data, kind, wantKind)
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("Decode(%s %q) = %+v, which fails Validate: %v", what, data, v, err)
		}
		if rec.Key != s.ID() {
			t.Fatalf("Decode(%s %q).Key = %s; want %s", what, data, rec.Key, s.ID())
		}
		if len(data) > permit.MaxSigned {
			t.Fatalf("Decode(%s of %d bytes) succeeded; want ErrTooLarge", what, len(data))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, "document", data, "")
		for _, kind := range []permit.Kind{permit.KindPermit, permit.KindRevocation, permit.KindStaff} {
			check(t, string(kind)+" body", signByHand(priv, kind, data), kind)
		}
		// no record is an ack: Decode refuses every one
		check(t, "ack body", signByHand(priv, permit.KindAck, data), permit.KindAck)
		ackDoc := signByHand(priv, permit.KindAck, data)
		if a, err := r.DecodeAck(ackDoc); err == nil {
			if verr := a.Validate(); verr != nil {
				t.Fatalf("DecodeAck(ack body %q) = %+v, which fails Validate: %v", data, a, verr)
			}
		} else if a != (permit.Ack{}) {
			t.Fatalf("DecodeAck(ack body %q) = %+v with %v; want no ack with an error", data, a, err)
		}
	})
}
