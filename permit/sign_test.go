package permit_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/permittest"
)

// testKey returns a fixed key, so that signed documents in testdata/fuzz
// stay valid from run to run.
var testKey = permittest.Key

// signByHand signs body as kind without Signer.Sign, so that bodies Sign
// would refuse can be tested. It follows the documented message: kind and
// body under a "kunci/v1" prefix.
func signByHand(priv ed25519.PrivateKey, kind permit.Kind, body []byte) []byte {
	msg := []byte("kunci/v1\n" + string(kind) + "\n" + string(body))
	doc := permit.Signed{
		Kind: kind,
		Key:  permit.IDOf(priv.Public().(ed25519.PublicKey)),
		Body: body,
		Sig:  ed25519.Sign(priv, msg),
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

func mustSign(t testing.TB, s *permit.Signer, kind permit.Kind, v interface{ Validate() error }) []byte {
	t.Helper()
	b, err := s.Sign(kind, v)
	if err != nil {
		t.Fatalf("Sign(%s) = %v", kind, err)
	}
	return b
}

func unmarshalSigned(t testing.TB, b []byte) permit.Signed {
	t.Helper()
	var doc permit.Signed
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func marshalSigned(t testing.TB, doc permit.Signed) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyringOf(keys ...ed25519.PrivateKey) permit.Keyring {
	r := permit.Keyring{}
	for _, k := range keys {
		r.Add(k.Public().(ed25519.PublicKey))
	}
	return r
}

// signedRecords returns one valid record of every kind.
func signedRecords() []struct {
	kind permit.Kind
	v    interface{ Validate() error }
} {
	return []struct {
		kind permit.Kind
		v    interface{ Validate() error }
	}{
		{permit.KindPermit, validPermit()},
		{permit.KindRevocation, validRevocation()},
		{permit.KindStaff, validStaff()},
	}
}

// recordOf returns the one record set in rec, or an error naming how many
// are set.
func recordOf(rec permit.Record) (permit.Kind, interface{ Validate() error }, int) {
	var kind permit.Kind
	var v interface{ Validate() error }
	n := 0
	if rec.Permit != nil {
		kind, v = permit.KindPermit, rec.Permit
		n++
	}
	if rec.Revocation != nil {
		kind, v = permit.KindRevocation, rec.Revocation
		n++
	}
	if rec.Staff != nil {
		kind, v = permit.KindStaff, rec.Staff
		n++
	}
	return kind, v, n
}

func TestSignDecodeRoundTrip(t *testing.T) {
	priv := testKey(1)
	s := permit.NewSigner(priv)
	r := keyringOf(priv)
	for _, tt := range signedRecords() {
		t.Run(string(tt.kind), func(t *testing.T) {
			b := mustSign(t, s, tt.kind, tt.v)
			rec, err := r.Decode(b)
			if err != nil {
				t.Fatalf("Decode(Sign(%s)) = %v", tt.kind, err)
			}
			if rec.Key != s.ID() {
				t.Errorf("Decode().Key = %s; want %s", rec.Key, s.ID())
			}
			kind, v, n := recordOf(rec)
			if n != 1 || kind != tt.kind {
				t.Fatalf("Decode() = %+v; want exactly one %s", rec, tt.kind)
			}
			if !reflect.DeepEqual(v, tt.v) {
				t.Errorf("Decode() = %+v; want %+v", v, tt.v)
			}

			// The wire form: body is the record's JSON, the signature
			// covers the documented message.
			doc := unmarshalSigned(t, b)
			body, _ := json.Marshal(tt.v)
			if doc.Kind != tt.kind || doc.Key != s.ID() || !bytes.Equal(doc.Body, body) {
				t.Errorf("Sign() = %s; want kind %s, key %s, body %s", b, tt.kind, s.ID(), body)
			}
			msg := []byte("kunci/v1\n" + string(tt.kind) + "\n" + string(body))
			if !ed25519.Verify(s.Public(), msg, doc.Sig) {
				t.Error("signature does not verify over \"kunci/v1\\n\" + kind + \"\\n\" + body")
			}

			opened, err := r.Open(b)
			if err != nil || !reflect.DeepEqual(opened, doc) {
				t.Errorf("Open() = %+v, %v; want %+v, nil", opened, err, doc)
			}
		})
	}
}

func TestSignRefusesInvalid(t *testing.T) {
	s := permit.NewSigner(testKey(1))
	p := validPermit()
	p.ApprovedBy = ""
	b, err := s.Sign(permit.KindPermit, p)
	if !errors.Is(err, permit.ErrInvalid) || b != nil {
		t.Errorf("Sign(unapproved permit) = %s, %v; want nil, ErrInvalid", b, err)
	}
}

func TestDecodeTampered(t *testing.T) {
	priv, other := testKey(1), testKey(2)
	s := permit.NewSigner(priv)
	r := keyringOf(priv)
	permitDoc := mustSign(t, s, permit.KindPermit, validPermit())
	staffDoc := mustSign(t, s, permit.KindStaff, validStaff())
	otherDoc := mustSign(t, permit.NewSigner(other), permit.KindPermit, validPermit())

	tests := []struct {
		name   string
		doc    []byte
		change func(d *permit.Signed)
		want   error
	}{
		{"body byte flipped", permitDoc, func(d *permit.Signed) { d.Body[10] ^= 0x01 }, permit.ErrBadSignature},
		{"body version raised", permitDoc, func(d *permit.Signed) {
			d.Body = bytes.Replace(d.Body, []byte(`"version":3`), []byte(`"version":9`), 1)
		}, permit.ErrBadSignature},
		{"body extended", permitDoc, func(d *permit.Signed) { d.Body = append(d.Body, ' ') }, permit.ErrBadSignature},
		{"body from another document", permitDoc, func(d *permit.Signed) {
			d.Body = unmarshalSigned(t, staffDoc).Body
		}, permit.ErrBadSignature},
		{"signature byte flipped", permitDoc, func(d *permit.Signed) { d.Sig[0] ^= 0x80 }, permit.ErrBadSignature},
		{"signature last byte flipped", permitDoc, func(d *permit.Signed) { d.Sig[63] ^= 0x01 }, permit.ErrBadSignature},
		{"signature truncated", permitDoc, func(d *permit.Signed) { d.Sig = d.Sig[:63] }, permit.ErrBadSignature},
		{"signature extended", permitDoc, func(d *permit.Signed) { d.Sig = append(d.Sig, 0) }, permit.ErrBadSignature},
		{"no signature", permitDoc, func(d *permit.Signed) { d.Sig = nil }, permit.ErrBadSignature},
		{"staff relabelled as permit", staffDoc, func(d *permit.Signed) { d.Kind = permit.KindPermit }, permit.ErrBadSignature},
		{"staff relabelled as revocation", staffDoc, func(d *permit.Signed) { d.Kind = permit.KindRevocation }, permit.ErrBadSignature},
		{"permit relabelled as staff", permitDoc, func(d *permit.Signed) { d.Kind = permit.KindStaff }, permit.ErrBadSignature},
		{"unknown kind", permitDoc, func(d *permit.Signed) { d.Kind = "firmware" }, permit.ErrMalformed},
		{"no kind", permitDoc, func(d *permit.Signed) { d.Kind = "" }, permit.ErrMalformed},
		{"kind with newline", permitDoc, func(d *permit.Signed) { d.Kind = "permit\n" }, permit.ErrMalformed},
		{"unknown key id", permitDoc, func(d *permit.Signed) { d.Key = "0011223344556677" }, permit.ErrUnknownKey},
		{"no key id", permitDoc, func(d *permit.Signed) { d.Key = "" }, permit.ErrUnknownKey},
		{"upper-case key id", permitDoc, func(d *permit.Signed) { d.Key = permit.KeyID(strings.ToUpper(string(d.Key))) }, permit.ErrUnknownKey},
		{"untrusted signer", otherDoc, func(d *permit.Signed) {}, permit.ErrUnknownKey},
		{"untrusted signer claims trusted key id", otherDoc, func(d *permit.Signed) { d.Key = s.ID() }, permit.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := unmarshalSigned(t, tt.doc)
			tt.change(&d)
			b := marshalSigned(t, d)
			rec, err := r.Decode(b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%s) = %+v, %v; want %v", b, rec, err, tt.want)
			}
			if _, _, n := recordOf(rec); n != 0 {
				t.Errorf("Decode(%s) returned a record with an error", b)
			}
			if _, err := r.Open(b); !errors.Is(err, tt.want) {
				t.Errorf("Open(%s) = %v; want %v", b, err, tt.want)
			}
		})
	}
}

func TestDecodeEmptyKeyring(t *testing.T) {
	b := mustSign(t, permit.NewSigner(testKey(1)), permit.KindPermit, validPermit())
	for _, r := range []permit.Keyring{nil, {}} {
		if _, err := r.Decode(b); !errors.Is(err, permit.ErrUnknownKey) {
			t.Errorf("Keyring(%v).Decode() = %v; want ErrUnknownKey", r, err)
		}
	}
}

func TestDecodeSize(t *testing.T) {
	priv := testKey(1)
	r := keyringOf(priv)
	b := mustSign(t, permit.NewSigner(priv), permit.KindPermit, validPermit())
	pad := func(n int) []byte { return append(bytes.Repeat([]byte{' '}, n-len(b)), b...) }

	if _, err := r.Decode(pad(permit.MaxSigned)); err != nil {
		t.Errorf("Decode(%d bytes) = %v; want nil", permit.MaxSigned, err)
	}
	for _, n := range []int{permit.MaxSigned + 1, 10 * permit.MaxSigned} {
		if _, err := r.Decode(pad(n)); !errors.Is(err, permit.ErrTooLarge) {
			t.Errorf("Decode(%d bytes) = %v; want ErrTooLarge", n, err)
		}
	}
	// Too large is refused before parsing: even garbage gets ErrTooLarge.
	if _, err := r.Decode(bytes.Repeat([]byte{'{'}, permit.MaxSigned+1)); !errors.Is(err, permit.ErrTooLarge) {
		t.Errorf("Decode(oversize garbage) = %v; want ErrTooLarge", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	priv := testKey(1)
	s := permit.NewSigner(priv)
	r := keyringOf(priv)
	good := mustSign(t, s, permit.KindPermit, validPermit())
	goodDoc := unmarshalSigned(t, good)
	withField := func(field string) []byte {
		return append([]byte(`{`+field+`,`), good[1:]...)
	}
	permitBody := func(change func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(goodDoc.Body, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, permit.ErrMalformed},
		{"white space", []byte(" \n"), permit.ErrMalformed},
		{"null", []byte("null"), permit.ErrMalformed},
		{"empty object", []byte("{}"), permit.ErrMalformed},
		{"array", []byte("[]"), permit.ErrMalformed},
		{"string", []byte(`"permit"`), permit.ErrMalformed},
		{"truncated", good[:len(good)-1], permit.ErrMalformed},
		{"half", good[:len(good)/2], permit.ErrMalformed},
		{"trailing object", append(bytes.Clone(good), "{}"...), permit.ErrMalformed},
		{"trailing copy", append(bytes.Clone(good), good...), permit.ErrMalformed},
		{"trailing brace", append(bytes.Clone(good), '}'), permit.ErrMalformed},
		{"trailing bracket", append(bytes.Clone(good), ']'), permit.ErrMalformed},
		{"trailing brace after space", append(bytes.Clone(good), " \n}"...), permit.ErrMalformed},
		{"trailing letter", append(bytes.Clone(good), 'x'), permit.ErrMalformed},
		{"trailing NUL", append(bytes.Clone(good), 0), permit.ErrMalformed},
		{"unknown field", withField(`"extra":1`), permit.ErrMalformed},
		{"unknown null field", withField(`"expires":null`), permit.ErrMalformed},
		{"body not base64", withField(`"body":"!!!"`), permit.ErrMalformed},
		{"sig a number", withField(`"sig":1`), permit.ErrMalformed},
		{"kind a number", withField(`"kind":1`), permit.ErrMalformed},
		{"in an array", append(append([]byte("["), good...), ']'), permit.ErrMalformed},
		{"kind twice", withField(`"kind":"staff"`), permit.ErrMalformed},
		{"a key in upper case", withField(`"KIND":"permit"`), permit.ErrMalformed},

		{"body not JSON", signByHand(priv, permit.KindPermit, []byte("not json")), permit.ErrMalformed},
		{"body empty", signByHand(priv, permit.KindPermit, nil), permit.ErrMalformed},
		{"body with unknown field", signByHand(priv, permit.KindPermit, permitBody(func(m map[string]any) { m["nik"] = "3174" })), permit.ErrMalformed},
		{"body field of wrong type", signByHand(priv, permit.KindPermit, permitBody(func(m map[string]any) { m["version"] = "3" })), permit.ErrMalformed},
		{"body with trailing data", signByHand(priv, permit.KindPermit, append(bytes.Clone(goodDoc.Body), '}')), permit.ErrMalformed},
		{"body with trailing object", signByHand(priv, permit.KindPermit, append(bytes.Clone(goodDoc.Body), goodDoc.Body...)), permit.ErrMalformed},
		{"body with a key twice", signByHand(priv, permit.KindPermit, append([]byte(`{"id":"P-x",`), goodDoc.Body[1:]...)), permit.ErrMalformed},
		{"body with a key but for case", signByHand(priv, permit.KindPermit, permitBody(func(m map[string]any) { m["ID"] = m["id"]; delete(m, "id") })), permit.ErrMalformed},
		{"body of another kind", signByHand(priv, permit.KindStaff, permitBody(func(map[string]any) {})), permit.ErrMalformed},
		{"body an array", signByHand(priv, permit.KindStaff, []byte("[]")), permit.ErrMalformed},

		{"body null", signByHand(priv, permit.KindPermit, []byte("null")), permit.ErrInvalid},
		{"body empty object", signByHand(priv, permit.KindRevocation, []byte("{}")), permit.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := r.Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%q) = %+v, %v; want %v", tt.in, rec, err, tt.want)
			}
			if _, _, n := recordOf(rec); n != 0 {
				t.Errorf("Decode(%q) returned a record with an error", tt.in)
			}
		})
	}
}

func TestDecodeSignedButInvalid(t *testing.T) {
	priv := testKey(1)
	r := keyringOf(priv)
	p := validPermit()
	p.NotAfter = p.NotBefore // an empty window: Sign would refuse it
	rv := validRevocation()
	rv.Version = 0
	st := validStaff()
	st.Doors = []string{"a/b"}
	for _, tt := range []struct {
		kind permit.Kind
		v    any
	}{
		{permit.KindPermit, p},
		{permit.KindRevocation, rv},
		{permit.KindStaff, st},
	} {
		body, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		b := signByHand(priv, tt.kind, body)
		if _, err := r.Open(b); err != nil {
			t.Fatalf("Open(hand-signed %s) = %v; want nil: the signature is good", tt.kind, err)
		}
		rec, err := r.Decode(b)
		if !errors.Is(err, permit.ErrInvalid) || errors.Is(err, permit.ErrBadSignature) {
			t.Errorf("Decode(signed invalid %s) = %+v, %v; want ErrInvalid", tt.kind, rec, err)
		}
		if _, _, n := recordOf(rec); n != 0 {
			t.Errorf("Decode(signed invalid %s) returned a record with an error", tt.kind)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	oldSigner, newSigner := permit.NewSigner(oldKey), permit.NewSigner(newKey)
	if oldSigner.ID() == newSigner.ID() {
		t.Fatal("two keys have the same id")
	}
	both := keyringOf(oldKey, newKey)
	if len(both) != 2 {
		t.Fatalf("keyring of two keys has %d entries", len(both))
	}
	for _, s := range []*permit.Signer{oldSigner, newSigner} {
		for _, tt := range signedRecords() {
			rec, err := both.Decode(mustSign(t, s, tt.kind, tt.v))
			if err != nil || rec.Key != s.ID() {
				t.Errorf("Decode(%s signed by %s) = key %s, %v; want key %s, nil", tt.kind, s.ID(), rec.Key, err, s.ID())
			}
		}
	}

	// After the rotation ends, the old key's documents are refused.
	onlyNew := keyringOf(newKey)
	if _, err := onlyNew.Decode(mustSign(t, oldSigner, permit.KindPermit, validPermit())); !errors.Is(err, permit.ErrUnknownKey) {
		t.Errorf("Decode(old key) after rotation = %v; want ErrUnknownKey", err)
	}
	if _, err := onlyNew.Decode(mustSign(t, newSigner, permit.KindPermit, validPermit())); err != nil {
		t.Errorf("Decode(new key) after rotation = %v; want nil", err)
	}
}

func TestKeyID(t *testing.T) {
	priv := testKey(3)
	pub := priv.Public().(ed25519.PublicKey)
	h := sha256.Sum256(pub)
	want := permit.KeyID(hex.EncodeToString(h[:8]))
	if got := permit.IDOf(pub); got != want {
		t.Errorf("IDOf() = %s; want %s", got, want)
	}
	s := permit.NewSigner(priv)
	if s.ID() != want || !s.Public().Equal(pub) {
		t.Errorf("NewSigner() = id %s, public %x; want %s, %x", s.ID(), s.Public(), want, pub)
	}
	r := permit.Keyring{}
	r.Add(pub)
	r.Add(pub)
	if len(r) != 1 || !r[want].Equal(pub) {
		t.Errorf("Keyring after adding one key twice = %v; want one entry %s", r, want)
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ed25519.PrivateKeySize || a.Equal(b) {
		t.Errorf("GenerateKey() twice = %d-byte keys, equal %v; want two different %d-byte keys", len(a), a.Equal(b), ed25519.PrivateKeySize)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	priv := testKey(4)
	pub := priv.Public().(ed25519.PublicKey)

	privPEM, err := permit.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(privPEM); blk == nil || blk.Type != "PRIVATE KEY" {
		t.Errorf("MarshalPrivateKey() = %s; want a PRIVATE KEY block", privPEM)
	}
	gotPriv, err := permit.ParsePrivateKey(privPEM)
	if err != nil || !gotPriv.Equal(priv) {
		t.Errorf("ParsePrivateKey(MarshalPrivateKey(k)) = %x, %v; want k", gotPriv, err)
	}

	pubPEM, err := permit.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(pubPEM); blk == nil || blk.Type != "PUBLIC KEY" {
		t.Errorf("MarshalPublicKey() = %s; want a PUBLIC KEY block", pubPEM)
	}
	gotPub, err := permit.ParsePublicKey(pubPEM)
	if err != nil || !gotPub.Equal(pub) {
		t.Errorf("ParsePublicKey(MarshalPublicKey(k)) = %x, %v; want k", gotPub, err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	priv := testKey(4)
	privPEM, _ := permit.MarshalPrivateKey(priv)
	pubPEM, _ := permit.MarshalPublicKey(priv.Public().(ed25519.PublicKey))
	privBlk, _ := pem.Decode(privPEM)
	pubBlk, _ := pem.Decode(pubPEM)
	retype := func(der []byte, typ string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)

	privTests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("hello")},
		{"raw DER", privBlk.Bytes},
		{"public key", pubPEM},
		{"wrong PEM type", retype(privBlk.Bytes, "RSA PRIVATE KEY")},
		{"OpenSSH type", retype(privBlk.Bytes, "OPENSSH PRIVATE KEY")},
		{"public DER in private type", retype(pubBlk.Bytes, "PRIVATE KEY")},
		{"garbage DER", retype([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, "PRIVATE KEY")},
		{"ECDSA key", retype(ecPriv, "PRIVATE KEY")},
		{"truncated", privPEM[:len(privPEM)/2]},
	}
	for _, tt := range privTests {
		if k, err := permit.ParsePrivateKey(tt.in); err == nil || k != nil {
			t.Errorf("ParsePrivateKey(%s) = %x, %v; want an error", tt.name, k, err)
		}
	}

	pubTests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("hello")},
		{"raw DER", pubBlk.Bytes},
		{"private key", privPEM},
		{"wrong PEM type", retype(pubBlk.Bytes, "CERTIFICATE")},
		{"private DER in public type", retype(privBlk.Bytes, "PUBLIC KEY")},
		{"garbage DER", retype([]byte{0x30, 0x00}, "PUBLIC KEY")},
		{"ECDSA key", retype(ecPub, "PUBLIC KEY")},
		{"truncated", pubPEM[:len(pubPEM)/2]},
	}
	for _, tt := range pubTests {
		if k, err := permit.ParsePublicKey(tt.in); err == nil || k != nil {
			t.Errorf("ParsePublicKey(%s) = %x, %v; want an error", tt.name, k, err)
		}
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSignerAndKeyring(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := testKey(5), testKey(6)
	var privPaths, pubPaths []string
	for i, k := range []ed25519.PrivateKey{oldKey, newKey} {
		privPEM, err := permit.MarshalPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pubPEM, err := permit.MarshalPublicKey(k.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		privPaths = append(privPaths, writeFile(t, dir, "hub"+string(rune('1'+i))+".key", privPEM))
		pubPaths = append(pubPaths, writeFile(t, dir, "hub"+string(rune('1'+i))+".pub", pubPEM))
	}

	r, err := permit.LoadKeyring(pubPaths...)
	if err != nil || len(r) != 2 {
		t.Fatalf("LoadKeyring(two files) = %v, %v; want two keys", r, err)
	}
	for i, p := range privPaths {
		s, err := permit.LoadSigner(p)
		if err != nil {
			t.Fatalf("LoadSigner(%s) = %v", p, err)
		}
		want := permit.IDOf([]ed25519.PrivateKey{oldKey, newKey}[i].Public().(ed25519.PublicKey))
		if s.ID() != want {
			t.Errorf("LoadSigner(%s).ID() = %s; want %s", p, s.ID(), want)
		}
		rec, err := r.Decode(mustSign(t, s, permit.KindStaff, validStaff()))
		if err != nil || rec.Key != want || rec.Staff == nil {
			t.Errorf("Decode(signed by %s) = %+v, %v; want staff from key %s", p, rec, err, want)
		}
	}

	empty, err := permit.LoadKeyring()
	if err != nil || len(empty) != 0 {
		t.Errorf("LoadKeyring() = %v, %v; want an empty keyring", empty, err)
	}
	if _, err := empty.Decode(mustSign(t, permit.NewSigner(oldKey), permit.KindPermit, validPermit())); !errors.Is(err, permit.ErrUnknownKey) {
		t.Errorf("empty keyring Decode() = %v; want ErrUnknownKey", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	privPEM, _ := permit.MarshalPrivateKey(testKey(7))
	pubPEM, _ := permit.MarshalPublicKey(testKey(7).Public().(ed25519.PublicKey))
	privPath := writeFile(t, dir, "hub.key", privPEM)
	pubPath := writeFile(t, dir, "hub.pub", pubPEM)
	junkPath := writeFile(t, dir, "junk", []byte("junk\n"))

	if _, err := permit.LoadSigner(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadSigner(missing) = %v; want os.ErrNotExist", err)
	}
	if _, err := permit.LoadKeyring(pubPath, missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKeyring(good, missing) = %v; want os.ErrNotExist", err)
	}
	for _, p := range []string{pubPath, junkPath} {
		if s, err := permit.LoadSigner(p); err == nil || s != nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadSigner(%s) = %v, %v; want an error naming the file", p, s, err)
		}
	}
	for _, p := range []string{privPath, junkPath} {
		if r, err := permit.LoadKeyring(pubPath, p); err == nil || r != nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadKeyring(good, %s) = %v, %v; want an error naming the file", p, r, err)
		}
	}
}

func TestSignRefusesWrongKind(t *testing.T) {
	priv, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := validPermit()
	if _, err := permit.NewSigner(priv).Sign(permit.KindStaff, p); !errors.Is(err, permit.ErrWrongKind) {
		t.Fatalf("Sign(staff, permit) = %v; want ErrWrongKind", err)
	}
}

func TestKeyringAddRefusesShortKey(t *testing.T) {
	if err := (permit.Keyring{}).Add(ed25519.PublicKey{1, 2, 3}); err == nil {
		t.Fatal("Add(3-byte key) = nil; want an error")
	}
}

// BenchmarkDecodeRefused: what a door pays for each message of a flood of
// refused documents (a cut-off one, one signed by a key it does not
// trust): the allocations are the garbage its collector runs for.
func BenchmarkDecodeRefused(b *testing.B) {
	good := mustSign(b, permit.NewSigner(testKey(1)), permit.KindPermit, validPermit())
	r := keyringOf(testKey(2))
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"cut", good[:len(good)/2], permit.ErrMalformed},
		{"foreign key", good, permit.ErrUnknownKey},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Decode(c.in); !errors.Is(err, c.want) {
					b.Fatalf("Decode = %v; want %v", err, c.want)
				}
			}
		})
	}
}
