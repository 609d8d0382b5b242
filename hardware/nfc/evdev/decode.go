package evdev

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/kunci-project/kunci/hardware/nfc"
)

// EventSize is the size of a struct input_event for this process: a
// timeval of two C longs, then 8 bytes of type, code and value.
const EventSize = 2*strconv.IntSize/8 + 8

// Event sizes a Decoder takes.
const (
	EventSize32 = 16 // 32-bit processes
	EventSize64 = 24 // 64-bit processes
)

// Event types and codes (linux/input-event-codes.h).
const (
	EvSyn       = 0x00
	EvKey       = 0x01
	EvMsc       = 0x04
	SynReport   = 0
	SynDropped  = 3
	KeyEnter    = 28
	KeyKPEnter  = 96
	KeyReleased = 0
	KeyPressed  = 1
	KeyRepeated = 2
)

// keyDigits maps the key codes of hex digits, on the main keys and the
// keypad, to their characters.
var keyDigits = map[uint16]byte{
	2: '1', 3: '2', 4: '3', 5: '4', 6: '5', 7: '6', 8: '7', 9: '8', 10: '9', 11: '0',
	79: '1', 80: '2', 81: '3', 75: '4', 76: '5', 77: '6', 71: '7', 72: '8', 73: '9', 82: '0',
	30: 'a', 48: 'b', 46: 'c', 32: 'd', 18: 'e', 33: 'f',
}

// Event is one struct input_event.
type Event struct {
	Sec, Usec int64
	Type      uint16
	Code      uint16
	Value     int32
}

// Time returns the event's timestamp.
func (e Event) Time() time.Duration {
	return time.Duration(e.Sec)*time.Second + time.Duration(e.Usec)*time.Microsecond
}

// ErrEvent is wrapped by the errors of DecodeEvent.
var ErrEvent = errors.New("evdev: bad input event")

// DecodeEvent decodes one struct input_event of 16 or 24 bytes, in the
// machine's byte order; its length says which layout it has.
func DecodeEvent(b []byte) (Event, error) {
	o := binary.NativeEndian
	switch len(b) {
	case EventSize32:
		return Event{
			Sec:  int64(int32(o.Uint32(b[0:]))),
			Usec: int64(int32(o.Uint32(b[4:]))),
			Type: o.Uint16(b[8:]), Code: o.Uint16(b[10:]), Value: int32(o.Uint32(b[12:])),
		}, nil
	case EventSize64:
		return Event{
			Sec:  int64(o.Uint64(b[0:])),
			Usec: int64(o.Uint64(b[8:])),
			Type: o.Uint16(b[16:]), Code: o.Uint16(b[18:]), Value: int32(o.Uint32(b[20:])),
		}, nil
	}
	return Event{}, fmt.Errorf("%w: %d bytes, want %d or %d", ErrEvent, len(b), EventSize32, EventSize64)
}

// AppendEvent appends e in the layout of size (16 or 24) and the machine's
// byte order, as the kernel writes it.
func AppendEvent(dst []byte, size int, e Event) ([]byte, error) {
	o := binary.NativeEndian
	switch size {
	case EventSize32:
		dst = o.AppendUint32(dst, uint32(e.Sec))
		dst = o.AppendUint32(dst, uint32(e.Usec))
	case EventSize64:
		dst = o.AppendUint64(dst, uint64(e.Sec))
		dst = o.AppendUint64(dst, uint64(e.Usec))
	default:
		return dst, fmt.Errorf("%w: size %d, want %d or %d", ErrEvent, size, EventSize32, EventSize64)
	}
	dst = o.AppendUint16(dst, e.Type)
	dst = o.AppendUint16(dst, e.Code)
	return o.AppendUint32(dst, uint32(e.Value)), nil
}

// Format is how the reader types a UID.
type Format int

// Formats.
const (
	// Hex: the UID's bytes as hex digits, 8, 14 or 20 of them.
	Hex Format = iota
	// Decimal: a 4-byte UID as one 10-digit decimal number.
	Decimal
)

func (f Format) String() string {
	switch f {
	case Hex:
		return "hex"
	case Decimal:
		return "decimal"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Options say what the reader types.
type Options struct {
	Format Format
	// Reverse: the reader types the UID's bytes last first (many decimal
	// wedges read the UID as a little-endian number). Compare one card with
	// a PN532 or a phone to find out.
	Reverse bool
	// KeyGap is the longest pause between two keys of one UID, by the
	// events' timestamps (default 500 ms). A partial line older than that
	// is dropped: someone typing, or a line cut short.
	KeyGap time.Duration
}

// ErrLine is wrapped when the reader typed a line that is not a UID. The
// error gives only counts, never the digits.
var ErrLine = errors.New("evdev: the reader typed a line that is not a UID")

// maxLine bounds the digits kept for one line: 20 hex digits for a 10-byte
// UID, and some room.
const maxLine = 32

// Decoder turns the input events of a keyboard-wedge reader into UIDs.
type Decoder struct {
	r    io.Reader
	size int
	o    Options

	buf  []byte
	have int // bytes of buf holding events not yet decoded

	line    [maxLine]byte
	n       int
	long    bool
	lastKey time.Duration
}

// NewDecoder returns a decoder of the events of size eventSize (EventSize,
// or EventSize32 / EventSize64) read from r.
func NewDecoder(r io.Reader, eventSize int, o Options) (*Decoder, error) {
	if eventSize != EventSize32 && eventSize != EventSize64 {
		return nil, fmt.Errorf("%w: size %d, want %d or %d", ErrEvent, eventSize, EventSize32, EventSize64)
	}
	if o.Format != Hex && o.Format != Decimal {
		return nil, fmt.Errorf("evdev: unknown format %v", o.Format)
	}
	if o.KeyGap <= 0 {
		o.KeyGap = 500 * time.Millisecond
	}
	// The kernel returns whole events only, and fails a read shorter than
	// one: keep room for many.
	return &Decoder{r: r, size: eventSize, o: o, buf: make([]byte, 64*eventSize)}, nil
}

// ReadUID reads events until Enter ends a line and returns the UID. A UID
// with a warning (wrapping nfc.ErrSuspectUID) comes with a non-nil error;
// a line that is not a UID gives ErrLine; errors of the reader (io.EOF, a
// deadline) are returned as they are, and a partly read event is kept for
// the next call.
func (d *Decoder) ReadUID() ([]byte, error) {
	for {
		e, err := d.next()
		if err != nil {
			return nil, err
		}
		if uid, err, done := d.event(e); done {
			return uid, err
		}
	}
}

func (d *Decoder) next() (Event, error) {
	for d.have < d.size {
		n, err := d.r.Read(d.buf[d.have:])
		d.have += n
		if d.have >= d.size {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) && d.have > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
	}
	e, err := DecodeEvent(d.buf[:d.size])
	copy(d.buf, d.buf[d.size:d.have])
	d.have -= d.size
	clear(d.buf[d.have : d.have+d.size]) // key codes are UID digits
	return e, err
}

// event handles one event; done is true when a line ended.
func (d *Decoder) event(e Event) (uid []byte, err error, done bool) {
	switch {
	case e.Type == EvSyn && e.Code == SynDropped:
		// The kernel's buffer overflowed: keys were lost.
		d.reset()
		return nil, nil, false
	case e.Type != EvKey || e.Value != KeyPressed:
		return nil, nil, false
	}
	t := e.Time()
	if d.n > 0 || d.long {
		if gap := t - d.lastKey; gap > d.o.KeyGap || gap < 0 {
			d.reset()
		}
	}
	if e.Code == KeyEnter || e.Code == KeyKPEnter {
		if d.n == 0 && !d.long {
			return nil, nil, false
		}
		uid, err = d.parse()
		d.reset()
		return uid, err, true
	}
	c, ok := keyDigits[e.Code]
	if !ok || d.o.Format == Decimal && c > '9' {
		return nil, nil, false
	}
	d.lastKey = t
	if d.n == maxLine {
		d.long = true
		return nil, nil, false
	}
	d.line[d.n] = c
	d.n++
	return nil, nil, false
}

func (d *Decoder) reset() {
	clear(d.line[:])
	d.n, d.long = 0, false
}

func (d *Decoder) parse() ([]byte, error) {
	if d.long {
		return nil, fmt.Errorf("%w: more than %d digits", ErrLine, maxLine)
	}
	digits := d.line[:d.n]
	var uid []byte
	switch d.o.Format {
	case Hex:
		switch d.n {
		case 8, 14, 20:
		default:
			return nil, fmt.Errorf("%w: %d hex digits, want 8, 14 or 20", ErrLine, d.n)
		}
		uid = make([]byte, d.n/2)
		if _, err := hex.Decode(uid, digits); err != nil {
			return nil, fmt.Errorf("%w: not hex", ErrLine)
		}
	case Decimal:
		if d.n != 10 {
			return nil, fmt.Errorf("%w: %d decimal digits, want 10", ErrLine, d.n)
		}
		v, err := strconv.ParseUint(string(digits), 10, 64)
		if err != nil || v > 0xFFFFFFFF {
			return nil, fmt.Errorf("%w: decimal number above 4294967295", ErrLine)
		}
		uid = binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	if d.o.Reverse {
		for i, j := 0, len(uid)-1; i < j; i, j = i+1, j-1 {
			uid[i], uid[j] = uid[j], uid[i]
		}
	}
	switch {
	case d.o.Format == Decimal:
		return uid, fmt.Errorf("evdev: %w: a decimal wedge types 4 bytes; 7- and 10-byte UIDs are cut short and may collide", nfc.ErrSuspectUID)
	case len(uid) == 4 && uid[0] == 0x04:
		return uid, fmt.Errorf("evdev: %w: a 4-byte UID starting with 04 is most likely a 7-byte NXP UID the reader cut short; such UIDs collide", nfc.ErrSuspectUID)
	}
	return uid, nil
}
