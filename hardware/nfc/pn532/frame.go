package pn532

import (
	"errors"
	"fmt"
)

// Frame identifiers (TFI) of information frames (UM0701-02 §6.2.1.1).
const (
	TFIHost byte = 0xD4 // host controller to PN532
	TFIChip byte = 0xD5 // PN532 to host controller
)

// tfiError is the single byte of the error frame's body.
const tfiError byte = 0x7F

// Kind is the type of a frame.
type Kind uint8

// Frame kinds (UM0701-02 §6.2.1).
const (
	Info       Kind = iota + 1 // normal or extended information frame
	Ack                        // 00 00 FF 00 FF 00
	Nack                       // 00 00 FF FF 00 00: send the last frame again
	ErrorFrame                 // 00 00 FF 01 FF 7F 81 00: syntax error at application level
)

func (k Kind) String() string {
	switch k {
	case Info:
		return "information frame"
	case Ack:
		return "ACK"
	case Nack:
		return "NACK"
	case ErrorFrame:
		return "error frame"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Frame is one frame of the PN532 host-controller protocol.
type Frame struct {
	Kind Kind
	TFI  byte   // Info only: TFIHost or TFIChip
	Data []byte // Info only: command code and parameters, after the TFI
}

// String describes the frame without its data, which may hold a card's UID.
func (f Frame) String() string {
	if f.Kind != Info {
		return f.Kind.String()
	}
	if len(f.Data) == 0 {
		return fmt.Sprintf("frame %02X, empty", f.TFI)
	}
	return fmt.Sprintf("frame %02X %02X, %d bytes", f.TFI, f.Data[0], len(f.Data))
}

const (
	// MaxNoise is how many bytes before a frame's start code (00 FF) the
	// decoder skips: the preamble, and line noise after a wake-up or a
	// reset. More than that and the stream is not a PN532's.
	MaxNoise = 32
	// MaxData is the most data (command code and parameters, TFI
	// excluded) a frame carries: the PN532 firmware's limit of 265 bytes
	// with the TFI.
	MaxData = 264
	// maxNormal is the largest body (TFI and data) of a normal frame.
	maxNormal = 255
)

var (
	// ErrFrame is wrapped by every decoding error. The errors never repeat
	// a frame's data.
	ErrFrame = errors.New("malformed frame")
	// ErrTruncated is a frame cut short: the input ended in the middle.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrFrame)
)

var (
	ackFrame   = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame  = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	errorFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, tfiError, 0x81, 0x00}
)

// AppendFrame appends the wire form of f to dst: a normal information frame
// up to 255 bytes of body (TFI and data), an extended one above.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	switch f.Kind {
	case Ack:
		return append(dst, ackFrame...), nil
	case Nack:
		return append(dst, nackFrame...), nil
	case ErrorFrame:
		return append(dst, errorFrame...), nil
	case Info:
	default:
		return dst, fmt.Errorf("pn532: encode: unknown frame kind %d", f.Kind)
	}
	if f.TFI != TFIHost && f.TFI != TFIChip {
		return dst, fmt.Errorf("pn532: encode: TFI %02X is neither D4 nor D5", f.TFI)
	}
	if len(f.Data) > MaxData {
		return dst, fmt.Errorf("pn532: encode: %d bytes of data, at most %d", len(f.Data), MaxData)
	}
	n := 1 + len(f.Data)
	dst = append(dst, 0x00, 0x00, 0xFF)
	if n <= maxNormal {
		dst = append(dst, byte(n), -byte(n))
	} else {
		hi, lo := byte(n>>8), byte(n)
		dst = append(dst, 0xFF, 0xFF, hi, lo, -(hi + lo))
	}
	sum := f.TFI
	dst = append(dst, f.TFI)
	for _, b := range f.Data {
		sum += b
	}
	dst = append(dst, f.Data...)
	return append(dst, -sum, 0x00), nil
}

// Command returns the frame that sends command cmd with its parameters to
// the PN532.
func Command(cmd byte, params ...byte) ([]byte, error) {
	return AppendFrame(nil, Frame{Kind: Info, TFI: TFIHost, Data: append([]byte{cmd}, params...)})
}

// Decode decodes the first frame in b, skipping up to MaxNoise bytes before
// its start code. It returns the frame and n, the bytes it used. On error n
// is how far it read before giving up (at least 1 if b is not empty), so
// that a stream can drop them and look for the next start code; a frame cut
// short gives ErrTruncated and n = len(b).
func Decode(b []byte) (f Frame, n int, err error) {
	src := sliceSource{b: b}
	f, err = decode(src.next)
	if err != nil {
		err = fmt.Errorf("pn532: %w", err)
	}
	return f, src.i, err
}

type sliceSource struct {
	b []byte
	i int
}

func (s *sliceSource) next() (byte, error) {
	if s.i >= len(s.b) {
		return 0, ErrTruncated
	}
	c := s.b[s.i]
	s.i++
	return c, nil
}

// decode reads one frame from next. Errors of next are returned as they
// are; a stream source returns ErrTruncated or a timeout when it runs dry.
func decode(next func() (byte, error)) (Frame, error) {
	// Start code 00 FF, after a preamble 00 and maybe some noise.
	prev := byte(0x01)
	for skipped := 0; ; skipped++ {
		c, err := next()
		if err != nil {
			return Frame{}, err
		}
		if prev == 0x00 && c == 0xFF {
			break
		}
		// The preamble and the start code's 00 are not noise.
		if skipped >= MaxNoise+2 {
			return Frame{}, fmt.Errorf("%w: no start code in %d bytes", ErrFrame, skipped+1)
		}
		prev = c
	}
	ln, err := next()
	if err != nil {
		return Frame{}, err
	}
	lcs, err := next()
	if err != nil {
		return Frame{}, err
	}
	var n int
	switch {
	case ln == 0x00 && lcs == 0xFF:
		return postamble(next, Frame{Kind: Ack})
	case ln == 0xFF && lcs == 0x00:
		return postamble(next, Frame{Kind: Nack})
	case ln == 0xFF && lcs == 0xFF:
		var l [3]byte
		for i := range l {
			if l[i], err = next(); err != nil {
				return Frame{}, err
			}
		}
		if l[0]+l[1]+l[2] != 0 {
			return Frame{}, fmt.Errorf("%w: bad length checksum of an extended frame", ErrFrame)
		}
		n = int(l[0])<<8 | int(l[1])
		if n == 0 || n > MaxData+1 {
			return Frame{}, fmt.Errorf("%w: extended frame of %d bytes, want 1 to %d", ErrFrame, n, MaxData+1)
		}
	default:
		if ln+lcs != 0 {
			return Frame{}, fmt.Errorf("%w: bad length checksum", ErrFrame)
		}
		if ln == 0 {
			return Frame{}, fmt.Errorf("%w: frame of length 0", ErrFrame)
		}
		n = int(ln)
	}
	body := make([]byte, n)
	var sum byte
	for i := range body {
		if body[i], err = next(); err != nil {
			return Frame{}, err
		}
		sum += body[i]
	}
	dcs, err := next()
	if err != nil {
		return Frame{}, err
	}
	if sum+dcs != 0 {
		return Frame{}, fmt.Errorf("%w: bad data checksum", ErrFrame)
	}
	var f Frame
	switch tfi := body[0]; tfi {
	case tfiError:
		if n != 1 {
			return Frame{}, fmt.Errorf("%w: error frame of %d bytes", ErrFrame, n)
		}
		f = Frame{Kind: ErrorFrame}
	case TFIHost, TFIChip:
		f = Frame{Kind: Info, TFI: tfi, Data: body[1:]}
	default:
		return Frame{}, fmt.Errorf("%w: unknown TFI", ErrFrame)
	}
	return postamble(next, f)
}

func postamble(next func() (byte, error), f Frame) (Frame, error) {
	c, err := next()
	if err != nil {
		return Frame{}, err
	}
	if c != 0x00 {
		return Frame{}, fmt.Errorf("%w: bad postamble after %s", ErrFrame, f.Kind)
	}
	return f, nil
}
