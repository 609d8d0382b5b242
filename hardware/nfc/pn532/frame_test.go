package pn532_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/hardware/nfc/pn532"
)

var (
	uid4  = []byte{0xDE, 0xAD, 0xBE, 0xEF}
	uid7  = []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}
	uid10 = []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99}
	pupi  = []byte{0x5A, 0x6B, 0x7C, 0x8D}
)

// info builds an information frame by hand, independently of AppendFrame.
func info(tfi byte, data ...byte) []byte {
	body := append([]byte{tfi}, data...)
	n := len(body)
	var b []byte
	if n <= 255 {
		b = []byte{0x00, 0x00, 0xFF, byte(n), byte(-n)}
	} else {
		hi, lo := byte(n>>8), byte(n)
		b = []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, hi, lo, byte(-int(hi) - int(lo))}
	}
	sum := 0
	for _, x := range body {
		sum += int(x)
	}
	b = append(b, body...)
	return append(b, byte(-sum), 0x00)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// answerA is the InListPassiveTarget answer for one type A card.
func answerA(atqa0, atqa1, sak byte, uid []byte, ats ...byte) []byte {
	d := cat([]byte{0x4B, 0x01, 0x01, atqa0, atqa1, sak, byte(len(uid))}, uid)
	if len(ats) > 0 {
		d = append(append(d, byte(len(ats)+1)), ats...)
	}
	return info(pn532.TFIChip, d...)
}

func answerB(pupi []byte) []byte {
	d := cat([]byte{0x4B, 0x01, 0x01, 0x50}, pupi, []byte{0, 0, 0, 0, 0x00, 0x81, 0x81, 0x01, 0x00})
	return info(pn532.TFIChip, d...)
}

var (
	ack        = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nack       = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	errorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
	// The user manual's example answer to GetFirmwareVersion.
	firmware = []byte{0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, 0xE8, 0x00}
)

type decodeCase struct {
	name string
	in   []byte
	want pn532.Frame // Kind 0: an error is wanted
	n    int         // bytes used; 0 means all of in
	err  string      // part of the error
}

func decodeCases() []decodeCase {
	a4 := answerA(0x00, 0x04, 0x08, uid4)
	a7 := answerA(0x00, 0x44, 0x00, uid7)
	a10 := answerA(0x00, 0x84, 0x00, uid10)
	ats := answerA(0x03, 0x44, 0x20, uid7, 0x75, 0x77, 0x81, 0x02, 0x80)
	b := answerB(pupi)
	big := make([]byte, 300)
	for i := range big {
		big[i] = byte(i)
	}
	mod := func(f []byte, i int, v byte) []byte { f = bytes.Clone(f); f[i] = v; return f }
	return []decodeCase{
		{name: "ACK", in: ack, want: pn532.Frame{Kind: pn532.Ack}},
		{name: "NACK", in: nack, want: pn532.Frame{Kind: pn532.Nack}},
		{name: "error frame", in: errorFrame, want: pn532.Frame{Kind: pn532.ErrorFrame}},
		{name: "firmware (user manual)", in: firmware, want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: []byte{0x03, 0x32, 0x01, 0x06, 0x07}}},
		{name: "command", in: info(pn532.TFIHost, 0x4A, 0x01, 0x00), want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIHost, Data: []byte{0x4A, 0x01, 0x00}}},
		{name: "type A 4-byte UID", in: a4, want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x00, 0x04, 0x08, 4}, uid4)}},
		{name: "type A 7-byte UID", in: a7, want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x00, 0x44, 0x00, 7}, uid7)}},
		{name: "type A 10-byte UID", in: a10, want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x00, 0x84, 0x00, 10}, uid10)}},
		{name: "type A with ATS", in: ats, want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x03, 0x44, 0x20, 7}, uid7, []byte{6, 0x75, 0x77, 0x81, 0x02, 0x80})}},
		{name: "type B", in: b, want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x50}, pupi, []byte{0, 0, 0, 0, 0x00, 0x81, 0x81, 0x01, 0x00})}},
		{name: "no target", in: info(pn532.TFIChip, 0x4B, 0x00), want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: []byte{0x4B, 0x00}}},
		{name: "255-byte body (LEN FF, LCS 01)", in: info(pn532.TFIChip, big[:254]...), want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: big[:254]}},
		{name: "extended frame", in: info(pn532.TFIChip, big[:264]...), want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: big[:264]}},
		{name: "noise before the preamble", in: cat([]byte{0x13, 0x37, 0xAA, 0x55, 0xF0}, a7), want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x00, 0x44, 0x00, 7}, uid7)}},
		{name: "wake-up preamble", in: cat([]byte{0x55, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ack), want: ackF()},
		{name: "frame then another", in: cat(ack, a4), want: ackF(), n: len(ack)},

		{name: "bad length checksum", in: mod(a7, 4, a7[4]+1), err: "bad length checksum", n: 5},
		{name: "bad data checksum", in: mod(a7, len(a7)-2, a7[len(a7)-2]+1), err: "bad data checksum", n: len(a7) - 1},
		{name: "bad postamble", in: mod(a7, len(a7)-1, 0x42), err: "bad postamble"},
		{name: "bad ACK postamble", in: mod(ack, 5, 0xFF), err: "bad postamble"},
		{name: "truncated", in: a10[:len(a10)-3], err: "truncated"},
		{name: "truncated ACK", in: ack[:4], err: "truncated"},
		{name: "empty", in: nil, err: "truncated"},
		// LEN+1 with a matching LCS swallows the DCS as data and takes the
		// postamble for the DCS: the checksums cannot tell. ParseTargets
		// refuses the extra byte (TestParseTargets).
		{name: "wrong length (LEN+1) swallows the DCS", in: cat(mod(mod(a4, 3, a4[3]+1), 4, a4[4]-1), a4), want: pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: cat([]byte{0x4B, 1, 1, 0x00, 0x04, 0x08, 4}, uid4, a4[len(a4)-2:len(a4)-1])}, n: len(a4) + 1},
		{name: "wrong length (LEN+2)", in: mod(mod(a4, 3, a4[3]+2), 4, a4[4]-2), err: "truncated"},
		{name: "wrong length (LEN-1)", in: mod(mod(a4, 3, a4[3]-1), 4, a4[4]+1), err: "bad data checksum", n: len(a4) - 2},
		{name: "length 0", in: []byte{0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00}, err: "length 0", n: 5},
		{name: "unknown TFI", in: info(0xD6, 0x4B, 0x00), err: "unknown TFI", n: 9},
		{name: "long error frame", in: info(0x7F, 0x01), err: "error frame of 2 bytes", n: 8},
		{name: "noise flood", in: cat(bytes.Repeat([]byte{0xAA}, 40), a4), err: "no start code", n: pn532.MaxNoise + 3},
		{name: "extended, bad length checksum", in: mod(info(pn532.TFIChip, big[:264]...), 7, 0), err: "bad length checksum of an extended frame", n: 8},
		{name: "extended, length 0", in: []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xD5, 0x2B, 0x00}, err: "extended frame of 0 bytes", n: 8},
		{name: "extended, too long", in: []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x0A, 0xF5}, err: "extended frame of 266 bytes", n: 8},
	}
}

func ackF() pn532.Frame { return pn532.Frame{Kind: pn532.Ack} }

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := pn532.Decode(tc.in)
			wantN := tc.n
			if wantN == 0 {
				wantN = len(tc.in)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, pn532.ErrFrame) {
					t.Fatalf("Decode = %v, %v; want an ErrFrame with %q", f, err, tc.err)
				}
				if n != wantN {
					t.Errorf("Decode used %d bytes; want %d", n, wantN)
				}
				if strings.Contains(strings.ToLower(err.Error()), hex.EncodeToString(uid7)[2:10]) {
					t.Errorf("error %q repeats the frame's data", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode = %v", err)
			}
			if f.Kind != tc.want.Kind || f.TFI != tc.want.TFI || !bytes.Equal(f.Data, tc.want.Data) {
				t.Errorf("Decode = %+v; want %+v", f, tc.want)
			}
			if n != wantN {
				t.Errorf("Decode used %d bytes; want %d", n, wantN)
			}
		})
	}
}

// TestDecodeEveryPrefixIsTruncated: a frame cut anywhere asks for more.
func TestDecodeEveryPrefixIsTruncated(t *testing.T) {
	for _, tc := range decodeCases() {
		if tc.err != "" {
			continue
		}
		end := tc.n
		if end == 0 {
			end = len(tc.in)
		}
		for i := range end {
			if _, _, err := pn532.Decode(tc.in[:i]); !errors.Is(err, pn532.ErrTruncated) {
				t.Errorf("%s cut to %d bytes: %v; want ErrTruncated", tc.name, i, err)
			}
		}
	}
}

// TestDecodeEveryFlippedByteIsAnError: one damaged byte after the preamble
// never yields a frame.
func TestDecodeEveryFlippedByteIsAnError(t *testing.T) {
	for _, in := range [][]byte{ack, nack, errorFrame, firmware, answerA(0, 0x44, 0, uid7), answerB(pupi)} {
		for i := 1; i < len(in); i++ {
			for _, x := range []byte{0x01, 0x80, 0xFF} {
				b := bytes.Clone(in)
				b[i] ^= x
				if f, _, err := pn532.Decode(b); err == nil {
					t.Errorf("% X with byte %d ^ %02X decoded as %v", in, i, x, f)
				}
			}
		}
	}
}

func TestAppendFrame(t *testing.T) {
	big := bytes.Repeat([]byte{0x5A}, 264)
	for _, tc := range []struct {
		f    pn532.Frame
		want []byte
	}{
		{pn532.Frame{Kind: pn532.Ack}, ack},
		{pn532.Frame{Kind: pn532.Nack}, nack},
		{pn532.Frame{Kind: pn532.ErrorFrame}, errorFrame},
		{pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: []byte{0x03, 0x32, 0x01, 0x06, 0x07}}, firmware},
		{pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIHost, Data: []byte{0x14, 0x01, 0x14, 0x01}}, info(0xD4, 0x14, 0x01, 0x14, 0x01)},
		{pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: big[:254]}, info(0xD5, big[:254]...)},
		{pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: big[:255]}, info(0xD5, big[:255]...)},
		{pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: big}, info(0xD5, big...)},
	} {
		got, err := pn532.AppendFrame(nil, tc.f)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("AppendFrame(%v) = % X, %v; want % X", tc.f, got, err, tc.want)
		}
	}
	for _, bad := range []pn532.Frame{
		{},
		{Kind: pn532.Info, TFI: 0x7F},
		{Kind: pn532.Info, TFI: pn532.TFIHost, Data: make([]byte, pn532.MaxData+1)},
	} {
		if _, err := pn532.AppendFrame(nil, bad); err == nil {
			t.Errorf("AppendFrame(%v) = nil error", bad)
		}
	}
}

func TestFrameStringHidesData(t *testing.T) {
	f, _, err := pn532.Decode(answerA(0, 0x44, 0, uid7))
	if err != nil {
		t.Fatal(err)
	}
	if s := f.String(); strings.Contains(s, "A1") || strings.Contains(s, "a1") {
		t.Errorf("String() = %q shows the data", s)
	}
}
