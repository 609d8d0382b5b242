package pn532_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/hardware/nfc/pn532"
)

type targetCase struct {
	name  string
	m     pn532.Modulation
	in    []byte // the answer's parameters after 4B
	want  pn532.Target
	found bool
	err   string
}

func targetCases() []targetCase {
	a := func(atqa0, atqa1, sak byte, uid []byte, tail ...byte) []byte {
		return cat([]byte{0x01, 0x01, atqa0, atqa1, sak, byte(len(uid))}, uid, tail)
	}
	b := cat([]byte{0x01, 0x01, 0x50}, pupi, []byte{0, 0, 0, 0, 0x00, 0x81, 0x81, 0x01, 0x00})
	ct7 := cat([]byte{0x88}, uid7)
	ct10 := cat([]byte{0x88}, uid10[:3], []byte{0x88}, uid10[3:])
	return []targetCase{
		{name: "none", m: pn532.TypeA, in: []byte{0x00}},
		{name: "A 4", m: pn532.TypeA, in: a(0x00, 0x04, 0x08, uid4), found: true,
			want: pn532.Target{Type: pn532.TypeA, UID: uid4, ATQA: [2]byte{0x00, 0x04}, SAK: 0x08}},
		{name: "A 7", m: pn532.TypeA, in: a(0x00, 0x44, 0x00, uid7), found: true,
			want: pn532.Target{Type: pn532.TypeA, UID: uid7, ATQA: [2]byte{0x00, 0x44}}},
		{name: "A 10", m: pn532.TypeA, in: a(0x00, 0x84, 0x00, uid10), found: true,
			want: pn532.Target{Type: pn532.TypeA, UID: uid10, ATQA: [2]byte{0x00, 0x84}}},
		{name: "A 7 with cascade tag", m: pn532.TypeA, in: a(0x00, 0x44, 0x00, ct7), found: true,
			want: pn532.Target{Type: pn532.TypeA, UID: uid7, ATQA: [2]byte{0x00, 0x44}}},
		{name: "A 10 with cascade tags", m: pn532.TypeA, in: a(0x00, 0x84, 0x00, ct10), found: true,
			want: pn532.Target{Type: pn532.TypeA, UID: uid10, ATQA: [2]byte{0x00, 0x84}}},
		{name: "A 7 with ATS", m: pn532.TypeA, in: a(0x03, 0x44, 0x20, uid7, 0x06, 0x75, 0x77, 0x81, 0x02, 0x80), found: true,
			want: pn532.Target{Type: pn532.TypeA, UID: uid7, ATQA: [2]byte{0x03, 0x44}, SAK: 0x20, ATS: []byte{0x75, 0x77, 0x81, 0x02, 0x80}}},
		{name: "B", m: pn532.TypeB, in: b, found: true,
			want: pn532.Target{Type: pn532.TypeB, UID: pupi, ATQB: cat([]byte{0x50}, pupi, []byte{0, 0, 0, 0, 0x00, 0x81, 0x81})}},

		{name: "empty", m: pn532.TypeA, in: nil, err: "empty"},
		{name: "none with more bytes", m: pn532.TypeA, in: []byte{0x00, 0x01}, err: "no target but 1 more"},
		{name: "3 targets", m: pn532.TypeA, in: []byte{0x03}, err: "3 targets"},
		{name: "A short", m: pn532.TypeA, in: []byte{0x01, 0x01, 0x00, 0x04}, err: "type A target of 3 bytes"},
		{name: "A 5-byte UID", m: pn532.TypeA, in: a(0x00, 0x04, 0x08, uid7[:5]), err: "5-byte UID"},
		{name: "A UID longer than the data", m: pn532.TypeA, in: a(0x00, 0x04, 0x08, uid7)[:9], err: "7-byte UID in 3 bytes"},
		{name: "A ATS longer than the data", m: pn532.TypeA, in: a(0x03, 0x44, 0x20, uid7, 0x09, 0x75), err: "ATS length 9"},
		{name: "A ATS length 0", m: pn532.TypeA, in: a(0x03, 0x44, 0x20, uid7, 0x00), err: "ATS length 0"},
		// The DCS a frame with LEN+1 swallows (frame_test.go) ends up here.
		{name: "A extra byte", m: pn532.TypeA, in: a(0x00, 0x04, 0x08, uid4, 0x42), err: "1 bytes after the target"},
		{name: "B short", m: pn532.TypeB, in: b[:10], err: "type B target of 9 bytes"},
		{name: "B not 50", m: pn532.TypeB, in: cat(b[:2], []byte{0x51}, b[3:]), err: "does not start with 50"},
		{name: "B ATTRIB_RES too long", m: pn532.TypeB, in: cat(b[:len(b)-2], []byte{0x05, 0x00}), err: "ATTRIB_RES of 5 bytes"},
		{name: "FeliCa", m: pn532.Modulation(0x01), in: []byte{0x01, 0x01}, err: "not supported"},
	}
}

func TestParseTargets(t *testing.T) {
	for _, tc := range targetCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := pn532.ParseTargets(tc.m, tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, pn532.ErrTarget) {
					t.Fatalf("ParseTargets = %v, %v, %v; want an ErrTarget with %q", got, found, err, tc.err)
				}
				return
			}
			if err != nil || found != tc.found {
				t.Fatalf("ParseTargets = %v, %v, %v; want found %v", got, found, err, tc.found)
			}
			w := tc.want
			if got.Type != w.Type || !bytes.Equal(got.UID, w.UID) || got.ATQA != w.ATQA || got.SAK != w.SAK ||
				!bytes.Equal(got.ATS, w.ATS) || !bytes.Equal(got.ATQB, w.ATQB) {
				t.Errorf("ParseTargets = %+v; want %+v", got, w)
			}
			if s := got.String(); found && strings.Contains(strings.ToUpper(s), "A1B2") {
				t.Errorf("String() = %q shows the UID", s)
			}
		})
	}
}
