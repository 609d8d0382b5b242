package evdev_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/evdev"
)

// FuzzDecoder: any byte stream, in either event size and format, gives
// UIDs of 4, 7 or 10 bytes, ErrLine, ErrEvent or the end of the stream;
// never a panic or an endless loop.
func FuzzDecoder(f *testing.F) {
	for _, in := range []string{"deadbeef\n", "04a1b2c3d4e5f6\n", "04112233445566778899\n", "3735928559\n", "04a1b2c3\n", "xqx\n", "\n"} {
		for _, size := range []int{evdev.EventSize32, evdev.EventSize64} {
			f.Add(typing(f, size, time.Second, ms(3), in), size == evdev.EventSize64, in[0] == '3', false)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, big, decimal, reverse bool) {
		size := evdev.EventSize32
		if big {
			size = evdev.EventSize64
		}
		o := evdev.Options{Reverse: reverse}
		if decimal {
			o.Format = evdev.Decimal
		}
		d, err := evdev.NewDecoder(bytes.NewReader(b), size, o)
		if err != nil {
			t.Fatal(err)
		}
		for range len(b)/size + 2 {
			uid, err := d.ReadUID()
			if uid != nil {
				if n := len(uid); n != 4 && n != 7 && n != 10 || decimal && n != 4 {
					t.Fatalf("%d-byte UID", n)
				}
				if err != nil && !errors.Is(err, nfc.ErrSuspectUID) {
					t.Fatalf("UID with error %v", err)
				}
				continue
			}
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				return
			case errors.Is(err, evdev.ErrLine):
			default:
				t.Fatalf("ReadUID = %v", err)
			}
		}
		t.Fatalf("more lines than events")
	})
}

// FuzzDecodeEvent: both layouts round-trip.
func FuzzDecodeEvent(f *testing.F) {
	for _, size := range []int{evdev.EventSize32, evdev.EventSize64} {
		f.Add(typing(f, size, time.Second, ms(1), "1")[:size])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := evdev.DecodeEvent(b)
		if err != nil {
			if len(b) == evdev.EventSize32 || len(b) == evdev.EventSize64 {
				t.Fatalf("DecodeEvent(%d bytes) = %v", len(b), err)
			}
			return
		}
		again, err := evdev.AppendEvent(nil, len(b), e)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip: % X, %v; want % X", again, err, b)
		}
	})
}
