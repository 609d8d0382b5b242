package permit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/kunci-project/kunci/wire"
)

// UID lengths defined by ISO/IEC 14443-3: single, double and triple size.
var validUIDLengths = [...]int{4, 7, 10}

// ErrUID is wrapped by every error of ParseUID.
var ErrUID = errors.New("card uid")

// MaxUIDText bounds the text ParseUID looks at, so reader noise cannot make
// it allocate.
const MaxUIDText = 64

// ParseUID normalises a card UID written as hex, in either case, with or
// without ':', '-', '.' or space separators, and checks that it is 4, 7 or
// 10 bytes long. The error never repeats the input, which may be a real UID.
func ParseUID(s string) ([]byte, error) {
	if len(s) > MaxUIDText {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrUID, len(s), MaxUIDText)
	}
	var digits [MaxUIDText]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		case c == ':' || c == '-' || c == ' ' || c == '.':
			continue
		default:
			return nil, fmt.Errorf("%w: character %d is not a hex digit or separator", ErrUID, i+1)
		}
		digits[n] = c
		n++
	}
	if n%2 != 0 {
		return nil, fmt.Errorf("%w: odd number of hex digits (%d)", ErrUID, n)
	}
	uid := make([]byte, n/2)
	if _, err := hex.Decode(uid, digits[:n]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUID, err)
	}
	if err := CheckUIDLength(len(uid)); err != nil {
		return nil, err
	}
	return uid, nil
}

// CheckUIDLength reports whether n is a UID length a reader may return.
func CheckUIDLength(n int) error {
	for _, l := range validUIDLengths {
		if n == l {
			return nil
		}
	}
	return fmt.Errorf("%w: %d bytes, want 4, 7 or 10", ErrUID, n)
}

// Fingerprint names a card without revealing its UID: the hex of
// HMAC-SHA256(site key, UID). Without the site key it cannot be linked to
// the card, and a cloned-UID lookup table for one site is useless at another.
type Fingerprint string

// Short is the card id shown to people and written into events and logs:
// the fingerprint's first wire.CardIDLen hex digits (64 bits, why that is
// enough is said there).
func (f Fingerprint) Short() string {
	if len(f) > wire.CardIDLen {
		return string(f[:wire.CardIDLen])
	}
	return string(f)
}

// SiteKey is the secret that keys card fingerprints for one site. Every
// agent of the site and its hub share it.
type SiteKey []byte

// SiteKeySize is the length of a generated site key.
const SiteKeySize = 32

// NewSiteKey returns a random site key.
func NewSiteKey() (SiteKey, error) {
	k := make(SiteKey, SiteKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("site key: %w", err)
	}
	return k, nil
}

// Fingerprint returns the card fingerprint of uid, which must already be
// normalised by ParseUID or come from a reader.
func (k SiteKey) Fingerprint(uid []byte) Fingerprint {
	m := hmac.New(sha256.New, k)
	m.Write(uid)
	return Fingerprint(hex.EncodeToString(m.Sum(nil)))
}

// FingerprintText parses uid with ParseUID and fingerprints it.
func (k SiteKey) FingerprintText(uid string) (Fingerprint, error) {
	b, err := ParseUID(uid)
	if err != nil {
		return "", err
	}
	return k.Fingerprint(b), nil
}

// String hides the key: a site key printed by mistake must not leak.
func (k SiteKey) String() string { return "SiteKey(redacted)" }

// Format hides the key from every fmt verb, %#v and %d included, which
// would otherwise print the bytes without calling String.
func (k SiteKey) Format(f fmt.State, verb rune) { io.WriteString(f, k.String()) }

// LogValue hides the key from log/slog, whose handlers print a byte slice
// as its bytes without calling String.
func (k SiteKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalSiteKey returns the file form of a site key: hex and a newline.
func MarshalSiteKey(k SiteKey) []byte { return []byte(hex.EncodeToString(k) + "\n") }

// ParseSiteKey reads the file form of a site key.
func ParseSiteKey(b []byte) (SiteKey, error) {
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("site key: not hex: %w", err)
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("site key: %d bytes, want at least 16", len(k))
	}
	return k, nil
}

// LoadSiteKey reads a site key file.
func LoadSiteKey(path string) (SiteKey, error) {
	b, modeErr, err := readSecret(path)
	if err != nil {
		return nil, fmt.Errorf("site key: %w", err)
	}
	k, err := ParseSiteKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if modeErr != nil {
		return nil, fmt.Errorf("site key: %w", modeErr)
	}
	return k, nil
}
