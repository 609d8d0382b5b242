package pn532_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kunci-project/kunci/hardware/nfc/pn532"
)

// FuzzDecode: reader garbage gives an error, never a panic; what decodes
// encodes back to a frame that decodes the same.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := pn532.Decode(b)
		if n < 0 || n > len(b) {
			t.Fatalf("Decode used %d of %d bytes", n, len(b))
		}
		if err != nil {
			if !errors.Is(err, pn532.ErrFrame) {
				t.Fatalf("Decode error %v is not an ErrFrame", err)
			}
			if len(b) > 0 && n == 0 {
				t.Fatalf("Decode failed without using a byte: a stream would never move on")
			}
			return
		}
		enc, err := pn532.AppendFrame(nil, fr)
		if err != nil {
			t.Fatalf("AppendFrame(%v) = %v", fr, err)
		}
		again, m, err := pn532.Decode(enc)
		if err != nil || m != len(enc) || again.Kind != fr.Kind || again.TFI != fr.TFI || !bytes.Equal(again.Data, fr.Data) {
			t.Fatalf("round trip of %v: %v, %d, %v", fr, again, m, err)
		}
	})
}

// FuzzParseTargets: never a panic; a target found has a UID of a length a
// card may have.
func FuzzParseTargets(f *testing.F) {
	for _, tc := range targetCases() {
		f.Add(byte(tc.m), tc.in)
	}
	f.Fuzz(func(t *testing.T, m byte, b []byte) {
		tg, found, err := pn532.ParseTargets(pn532.Modulation(m), b)
		if err != nil {
			if !errors.Is(err, pn532.ErrTarget) {
				t.Fatalf("error %v is not an ErrTarget", err)
			}
			return
		}
		if !found {
			return
		}
		switch n := len(tg.UID); {
		case tg.Type == pn532.TypeA && (n == 4 || n == 7 || n == 10):
		case tg.Type == pn532.TypeB && n == 4:
		default:
			t.Fatalf("%v with a %d-byte UID", tg.Type, n)
		}
	})
}
