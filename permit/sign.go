package permit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/kunci-project/kunci/permit/strictjson"
)

// Kind says what a signed document holds. It is part of the signed message,
// so a signature over a staff record cannot be passed off as a permit.
type Kind string

// Kinds of signed documents.
const (
	KindPermit     Kind = "permit"
	KindRevocation Kind = "revocation"
	KindStaff      Kind = "staff"
	KindCommand    Kind = "command"
	// KindAck is the hub's ack of a door's events (Ack): it is no record,
	// and Decode refuses it, so an ack's signature cannot pass for a
	// permit's, nor a permit's for an ack's.
	KindAck Kind = "ack"
)

// MaxSigned bounds a signed document; larger input is refused before it is
// parsed.
const MaxSigned = 16 << 10

// Errors of signed documents.
var (
	ErrTooLarge     = errors.New("signed document too large")
	ErrMalformed    = errors.New("malformed signed document")
	ErrUnknownKey   = errors.New("signed by an untrusted key")
	ErrBadSignature = errors.New("bad signature")
	ErrWrongKind    = errors.New("wrong kind of document")
)

// Signed is the wire and file form of every record that can open a door:
// the record's JSON as exact bytes, the id of the key that signed it and an
// ed25519 signature over kind and body.
type Signed struct {
	Kind Kind   `json:"kind"`
	Key  KeyID  `json:"key"`
	Body []byte `json:"body"`
	Sig  []byte `json:"sig"`
}

func message(kind Kind, body []byte) []byte {
	m := make([]byte, 0, len("kunci/v1\n\n")+len(kind)+len(body))
	m = append(m, "kunci/v1\n"...)
	m = append(m, kind...)
	m = append(m, '\n')
	return append(m, body...)
}

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex.
type KeyID string

// IDOf returns the key id of pub.
func IDOf(pub ed25519.PublicKey) KeyID {
	h := sha256.Sum256(pub)
	return KeyID(hex.EncodeToString(h[:8]))
}

// Signer signs records with one hub key.
type Signer struct {
	id   KeyID
	priv ed25519.PrivateKey
}

// NewSigner returns a signer for priv.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	return &Signer{id: IDOf(priv.Public().(ed25519.PublicKey)), priv: priv}
}

// ID returns the signer's key id.
func (s *Signer) ID() KeyID { return s.id }

// Public returns the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// Sign validates v and returns its signed document as JSON.
func (s *Signer) Sign(kind Kind, v interface{ Validate() error }) ([]byte, error) {
	var want Kind
	switch v.(type) {
	case *Permit:
		want = KindPermit
	case *Revocation:
		want = KindRevocation
	case *Staff:
		want = KindStaff
	case *Command:
		want = KindCommand
	case *Ack:
		want = KindAck
	}
	if kind != want {
		return nil, fmt.Errorf("%w: %T signed as %q", ErrWrongKind, v, kind)
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", kind, err)
	}
	doc := Signed{Kind: kind, Key: s.id, Body: body, Sig: ed25519.Sign(s.priv, message(kind, body))}
	return json.Marshal(doc)
}

// AckPayload is the JSON of a door's events/ack topic (SignAck).
type AckPayload struct {
	Epoch   string          `json:"epoch"`
	Through uint64          `json:"through"`
	Signed  json.RawMessage `json:"signed"`
}

// SignAck validates a and returns the payload of its door's events/ack
// topic:
//
//	{"epoch":"6f1c2a","through":42,"signed":{"kind":"ack","key":…,"body":…,"sig":…}}
//
// The signed document is the ack. Epoch and through are repeated in the
// clear for agents that predate signed acks, which read only those two
// and ignore other members, and for tools that watch the flow. An agent
// that verifies trusts only the signed document, and refuses a payload
// whose clear members differ from it.
func (s *Signer) SignAck(a *Ack) ([]byte, error) {
	doc, err := s.Sign(KindAck, a)
	if err != nil {
		return nil, err
	}
	return json.Marshal(AckPayload{Epoch: a.Epoch, Through: a.Through, Signed: doc})
}

// Keyring is the set of hub public keys an agent trusts. Several keys are
// trusted at once while the hub rotates its key.
type Keyring map[KeyID]ed25519.PublicKey

// Add trusts pub; a key of the wrong size is refused.
func (r Keyring) Add(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("public key: %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	r[IDOf(pub)] = pub
	return nil
}

// Open checks size, form and signature of data and returns the verified
// document. Nothing in Body may be trusted before Open returned nil.
func (r Keyring) Open(data []byte) (Signed, error) {
	var doc Signed
	if len(data) > MaxSigned {
		return doc, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxSigned)
	}
	if err := decodeStrict(data, &doc); err != nil {
		return doc, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch doc.Kind {
	case KindPermit, KindRevocation, KindStaff, KindCommand, KindAck:
	default:
		return doc, fmt.Errorf("%w: kind %q", ErrMalformed, doc.Kind)
	}
	pub, ok := r[doc.Key]
	if !ok {
		return doc, fmt.Errorf("%w: key %q", ErrUnknownKey, doc.Key)
	}
	if len(doc.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, message(doc.Kind, doc.Body), doc.Sig) {
		return doc, ErrBadSignature
	}
	return doc, nil
}

// decodeStrict decodes the JSON of data into v, refusing what does not
// decode exactly: trailing data (json.Unmarshal's), and a key that names
// no field of v, names one but for case, or is twice in its object
// (strictjson.CheckFields). A refused message costs the syntax check, the
// decode and a scan of its keys, and no copy of data: a door refuses a
// flood of them with little garbage for its collector.
func decodeStrict(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	return strictjson.CheckFields(data, v)
}

// Record is a verified record of any kind: exactly one field is set.
type Record struct {
	Key        KeyID
	Permit     *Permit
	Revocation *Revocation
	Staff      *Staff
	Command    *Command
}

// Decode opens data with r and decodes and validates the record inside.
// An ack is no record: it is refused with ErrWrongKind (DecodeAck opens
// one).
func (r Keyring) Decode(data []byte) (Record, error) {
	doc, err := r.Open(data)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Key: doc.Key}
	var v interface{ Validate() error }
	switch doc.Kind {
	case KindPermit:
		rec.Permit = new(Permit)
		v = rec.Permit
	case KindRevocation:
		rec.Revocation = new(Revocation)
		v = rec.Revocation
	case KindStaff:
		rec.Staff = new(Staff)
		v = rec.Staff
	case KindCommand:
		rec.Command = new(Command)
		v = rec.Command
	default:
		return Record{}, fmt.Errorf("%w: %s is not a record", ErrWrongKind, doc.Kind)
	}
	if err := decodeBody(doc, v); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// DecodeAck opens data with r and decodes and validates the ack inside.
// Any other kind is refused with ErrWrongKind. It does not judge the ack
// against a door: the caller checks that Site, Door and Epoch are its own.
func (r Keyring) DecodeAck(data []byte) (Ack, error) {
	doc, err := r.Open(data)
	if err != nil {
		return Ack{}, err
	}
	if doc.Kind != KindAck {
		return Ack{}, fmt.Errorf("%w: %s, want %s", ErrWrongKind, doc.Kind, KindAck)
	}
	var a Ack
	if err := decodeBody(doc, &a); err != nil {
		return Ack{}, err
	}
	return a, nil
}

// decodeBody decodes the body of an opened document into v, strictly,
// and validates it.
func decodeBody(doc Signed, v interface{ Validate() error }) error {
	if err := decodeStrict(doc.Body, v); err != nil {
		return fmt.Errorf("%w: %s body: %v", ErrMalformed, doc.Kind, err)
	}
	return v.Validate()
}

// GenerateKey returns a new hub signing key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return priv, nil
}

// MarshalPrivateKey returns priv as a PKCS #8 PEM block, readable by openssl.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey returns pub as a PKIX PEM block.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a PEM private key written by MarshalPrivateKey.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("private key: no PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey reads a PEM public key written by MarshalPublicKey.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("public key: no PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: %T, want ed25519", k)
	}
	return pub, nil
}

// LoadSigner reads a private key file.
func LoadSigner(path string) (*Signer, error) {
	b, modeErr, err := readSecret(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	priv, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if modeErr != nil {
		return nil, fmt.Errorf("signing key: %w", modeErr)
	}
	return NewSigner(priv), nil
}

// LoadKeyring reads public key files and trusts every one.
func LoadKeyring(paths ...string) (Keyring, error) {
	r := Keyring{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if err := r.Add(pub); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return r, nil
}
