package evdev_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/evdev"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// keyCodes of the characters the tests type (linux/input-event-codes.h).
var keyCodes = map[rune]uint16{
	'1': 2, '2': 3, '3': 4, '4': 5, '5': 6, '6': 7, '7': 8, '8': 9, '9': 10, '0': 11,
	'a': 30, 'b': 48, 'c': 46, 'd': 32, 'e': 18, 'f': 33,
	'x': 45, 'q': 16, ' ': 57, '-': 12,
	'\n': 28, // Enter
	'K':  96, // keypad Enter
	'^':  42, // left shift
	// keypad digits
	'⁰': 82, '¹': 79, '²': 80, '³': 81, '⁴': 75, '⁵': 76, '⁶': 77, '⁷': 71, '⁸': 72, '⁹': 73,
}

// typing returns the events a wedge reader sends for text, keys step apart
// from start: for each key a scan code (EV_MSC), a press, a SYN, a release
// and a SYN. An upper-case hex letter is typed with shift.
func typing(t testing.TB, size int, start, step time.Duration, text string) []byte {
	t.Helper()
	var b []byte
	at := start
	add := func(typ, code uint16, val int32) {
		var err error
		b, err = evdev.AppendEvent(b, size, evdev.Event{Sec: int64(at / time.Second), Usec: int64(at % time.Second / time.Microsecond), Type: typ, Code: code, Value: val})
		if err != nil {
			t.Fatal(err)
		}
	}
	key := func(code uint16, val int32) {
		add(evdev.EvMsc, 4, 0x70000+int32(code))
		add(evdev.EvKey, code, val)
		add(evdev.EvSyn, evdev.SynReport, 0)
	}
	for _, r := range text {
		shift := r >= 'A' && r <= 'F'
		if shift {
			key(42, evdev.KeyPressed)
			r += 'a' - 'A'
		}
		code, ok := keyCodes[r]
		if !ok {
			t.Fatalf("no key code for %q", r)
		}
		key(code, evdev.KeyPressed)
		key(code, evdev.KeyReleased)
		if shift {
			key(42, evdev.KeyReleased)
		}
		at += step
	}
	return b
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

type result struct {
	uid     string // hex
	warning bool
	err     string // part of an ErrLine error
}

func decodeAll(t *testing.T, size int, o evdev.Options, in []byte) []result {
	t.Helper()
	d, err := evdev.NewDecoder(bytes.NewReader(in), size, o)
	if err != nil {
		t.Fatal(err)
	}
	var got []result
	for {
		uid, err := d.ReadUID()
		switch {
		case errors.Is(err, io.EOF):
			return got
		case uid != nil:
			if err != nil && !errors.Is(err, nfc.ErrSuspectUID) {
				t.Fatalf("UID with error %v", err)
			}
			got = append(got, result{uid: hex.EncodeToString(uid), warning: err != nil})
		case errors.Is(err, evdev.ErrLine):
			got = append(got, result{err: err.Error()})
		default:
			t.Fatalf("ReadUID = %v", err)
		}
	}
}

func TestDecoder(t *testing.T) {
	hexO := evdev.Options{}
	decO := evdev.Options{Format: evdev.Decimal}
	for _, tc := range []struct {
		name string
		o    evdev.Options
		in   string
		want []result
	}{
		{"hex 4", hexO, "deadbeef\n", []result{{uid: "deadbeef"}}},
		{"hex 7", hexO, "04a1b2c3d4e5f6\n", []result{{uid: "04a1b2c3d4e5f6"}}},
		{"hex 10", hexO, "04112233445566778899\n", []result{{uid: "04112233445566778899"}}},
		{"hex upper case with shift", hexO, "DEADBEEF\n", []result{{uid: "deadbeef"}}},
		{"hex keypad digits and keypad Enter", hexO, "¹²³⁴⁵⁶⁷⁸K", []result{{uid: "12345678"}}},
		{"hex reversed", evdev.Options{Reverse: true}, "efbeadde\n", []result{{uid: "deadbeef"}}},
		{"hex 4 starting 04: truncated 7-byte UID", hexO, "04a1b2c3\n", []result{{uid: "04a1b2c3", warning: true}}},
		{"hex reversed, truncated", evdev.Options{Reverse: true}, "c3b2a104\n", []result{{uid: "04a1b2c3", warning: true}}},
		{"noise keys ignored", hexO, "xd e-a qdbeef\n", []result{{uid: "deadbeef"}}},
		{"empty lines ignored", hexO, "\n\nK12345678\n", []result{{uid: "12345678"}}},
		{"two lines", hexO, "deadbeef\n04a1b2c3d4e5f6\n", []result{{uid: "deadbeef"}, {uid: "04a1b2c3d4e5f6"}}},
		{"no Enter", hexO, "deadbeef", nil},
		{"hex 9 digits", hexO, "deadbeef1\n12345678\n", []result{{err: "9 hex digits"}, {uid: "12345678"}}},
		{"hex 6 digits", hexO, "abcdef\n", []result{{err: "6 hex digits"}}},
		{"too long", hexO, strings.Repeat("a", 40) + "\n12345678\n", []result{{err: "more than 32 digits"}, {uid: "12345678"}}},

		{"decimal", decO, "3735928559\n", []result{{uid: "deadbeef", warning: true}}},
		{"decimal little-endian", evdev.Options{Format: evdev.Decimal, Reverse: true}, "4022250974\n", []result{{uid: "deadbeef", warning: true}}},
		{"decimal leading zeros", decO, "0000000001\n", []result{{uid: "00000001", warning: true}}},
		{"decimal hex letters ignored", decO, "37a35928b559\n", []result{{uid: "deadbeef", warning: true}}},
		{"decimal 8 digits", decO, "12345678\n", []result{{err: "8 decimal digits"}}},
		{"decimal too large", decO, "4294967296\n", []result{{err: "above 4294967295"}}},
	} {
		for _, size := range []int{evdev.EventSize32, evdev.EventSize64} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				got := decodeAll(t, size, tc.o, typing(t, size, 1000*time.Second, ms(5), tc.in))
				if len(got) != len(tc.want) {
					t.Fatalf("got %+v; want %+v", got, tc.want)
				}
				for i := range got {
					g, w := got[i], tc.want[i]
					if g.uid != w.uid || g.warning != w.warning || !strings.Contains(g.err, w.err) || (w.err == "") != (g.err == "") {
						t.Errorf("line %d: got %+v; want %+v", i, g, w)
					}
				}
			})
		}
	}
}

// TestDecoderKeyGap: a partial line older than KeyGap is dropped, by the
// events' own timestamps.
func TestDecoderKeyGap(t *testing.T) {
	size := evdev.EventSize
	in := cat(
		typing(t, size, 100*time.Second, ms(5), "1234"),         // someone typing, then a pause
		typing(t, size, 102*time.Second, ms(5), "deadbeef\n"),   // the reader
		typing(t, size, 104*time.Second, ms(600), "12345678\n"), // keys 600 ms apart: never a line
		typing(t, size, 110*time.Second, ms(5), "cafebabe"),
		typing(t, size, 112*time.Second, ms(5), "\n"), // a late Enter ends nothing
	)
	got := decodeAll(t, size, evdev.Options{}, in)
	if len(got) != 1 || got[0].uid != "deadbeef" {
		t.Errorf("got %+v; want only deadbeef", got)
	}
	got = decodeAll(t, size, evdev.Options{KeyGap: time.Second}, typing(t, size, 0, ms(600), "12345678\n"))
	if len(got) != 1 || got[0].uid != "12345678" {
		t.Errorf("with KeyGap 1s: got %+v; want 12345678", got)
	}
}

// TestDecoderSynDropped: keys lost in the kernel cut the line.
func TestDecoderSynDropped(t *testing.T) {
	size := evdev.EventSize
	drop, _ := evdev.AppendEvent(nil, size, evdev.Event{Sec: 1, Type: evdev.EvSyn, Code: evdev.SynDropped})
	in := cat(typing(t, size, time.Second, ms(1), "dead"), drop, typing(t, size, time.Second+ms(10), ms(1), "beef\n12345678\n"))
	got := decodeAll(t, size, evdev.Options{}, in)
	if len(got) != 2 || got[0].err == "" || got[1].uid != "12345678" {
		t.Errorf("got %+v; want a short line, then 12345678", got)
	}
}

// TestDecoderAutorepeatIgnored: a held key repeats (value 2); only presses count.
func TestDecoderAutorepeatIgnored(t *testing.T) {
	size := evdev.EventSize
	rep, _ := evdev.AppendEvent(nil, size, evdev.Event{Sec: 1, Type: evdev.EvKey, Code: 2, Value: evdev.KeyRepeated})
	in := cat(typing(t, size, time.Second, ms(1), "1234"), rep, rep, typing(t, size, time.Second+ms(5), ms(1), "5678\n"))
	got := decodeAll(t, size, evdev.Options{}, in)
	if len(got) != 1 || got[0].uid != "12345678" {
		t.Errorf("got %+v; want 12345678", got)
	}
}

// TestDecoderSplitReads: events split across reads (a pipe) are put back
// together.
func TestDecoderSplitReads(t *testing.T) {
	for _, size := range []int{evdev.EventSize32, evdev.EventSize64} {
		in := typing(t, size, time.Second, ms(1), "04a1b2c3d4e5f6\n")
		d, err := evdev.NewDecoder(&trickle{b: in, n: 5}, size, evdev.Options{})
		if err != nil {
			t.Fatal(err)
		}
		uid, err := d.ReadUID()
		if err != nil || hex.EncodeToString(uid) != "04a1b2c3d4e5f6" {
			t.Errorf("size %d: ReadUID = %x, %v", size, uid, err)
		}
	}
}

// TestDecoderTruncatedEvent: a stream ending inside an event.
func TestDecoderTruncatedEvent(t *testing.T) {
	in := typing(t, evdev.EventSize64, time.Second, ms(1), "1234")
	d, _ := evdev.NewDecoder(bytes.NewReader(in[:len(in)-3]), evdev.EventSize64, evdev.Options{})
	if _, err := d.ReadUID(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadUID = %v; want io.ErrUnexpectedEOF", err)
	}
}

func TestErrorsNeverShowDigits(t *testing.T) {
	for _, in := range []string{"deadbee\n", "04a1b2c3\n", strings.Repeat("9", 40) + "\n"} {
		d, _ := evdev.NewDecoder(bytes.NewReader(typing(t, evdev.EventSize, 0, ms(1), in)), evdev.EventSize, evdev.Options{})
		_, err := d.ReadUID()
		if err == nil {
			t.Fatalf("%q: no error", in)
		}
		if s := err.Error(); strings.Contains(s, "dead") || strings.Contains(s, "a1b2") || strings.Contains(s, "9999") {
			t.Errorf("error %q shows the digits", s)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	e := evdev.Event{Sec: 1700000000, Usec: 123456, Type: evdev.EvKey, Code: evdev.KeyEnter, Value: 1}
	for _, size := range []int{evdev.EventSize32, evdev.EventSize64} {
		b, err := evdev.AppendEvent(nil, size, e)
		if err != nil || len(b) != size {
			t.Fatalf("AppendEvent(%d) = %d bytes, %v", size, len(b), err)
		}
		got, err := evdev.DecodeEvent(b)
		if err != nil || got != e {
			t.Errorf("DecodeEvent(%d bytes) = %+v, %v; want %+v", size, got, err, e)
		}
	}
	if _, err := evdev.DecodeEvent(make([]byte, 20)); !errors.Is(err, evdev.ErrEvent) {
		t.Errorf("DecodeEvent(20 bytes) = %v; want ErrEvent", err)
	}
	if _, err := evdev.NewDecoder(nil, 20, evdev.Options{}); err == nil {
		t.Error("NewDecoder(size 20) = nil error")
	}
	if _, err := evdev.NewDecoder(nil, 16, evdev.Options{Format: 7}); err == nil {
		t.Error("NewDecoder(format 7) = nil error")
	}
}

// TestEventSize: this process's struct input_event, as the kernel writes
// it: two C longs and 8 bytes.
func TestEventSize(t *testing.T) {
	want := 24
	if ^uint(0)>>32 == 0 {
		want = 16
	}
	if evdev.EventSize != want {
		t.Errorf("EventSize = %d; want %d", evdev.EventSize, want)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// trickle returns at most n bytes per Read.
type trickle struct {
	b []byte
	n int
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}
