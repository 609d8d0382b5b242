package permittest

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
)

// Key returns the private key with seed n repeated: the same for the same
// n, different for different ones.
func Key(n byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{n}, ed25519.SeedSize))
}

// Signer returns a signer of Key(n).
func Signer(n byte) *permit.Signer { return permit.NewSigner(Key(n)) }

// Keyring returns a keyring that trusts every signer of ss.
func Keyring(ss ...*permit.Signer) permit.Keyring {
	r := permit.Keyring{}
	for _, s := range ss {
		if err := r.Add(s.Public()); err != nil {
			panic(err) // a Signer's key has the right size
		}
	}
	return r
}

// Ack returns the events/ack payload that s signs for the door site/door:
// epoch, through, issued now.
func Ack(tb testing.TB, s *permit.Signer, site, door, epoch string, through uint64) []byte {
	tb.Helper()
	b, err := s.SignAck(&permit.Ack{Site: site, Door: door, Epoch: epoch, Through: through, Issued: time.Now()})
	if err != nil {
		tb.Fatalf("permittest: sign ack: %v", err)
	}
	return b
}
