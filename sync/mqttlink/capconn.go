package mqttlink

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// DefaultMaxPacket is the largest MQTT packet a link reads unless its
// Options set another: 2 MiB, which paho allocates at most. Kunci's own
// messages are at most 16 KiB of payload (a signed record, an event) plus
// the topic; one larger than that but within the packet bound reaches the
// handler cut to DefaultMaxMessage, which refuses it with an event (the
// door's too_large), and the connection stays up. A larger packet could
// only mean a hostile or broken broker.
const DefaultMaxPacket = 2 << 20

// DefaultMaxMessage is how much of a payload a link keeps for its handler
// unless its Options say otherwise: 64 KiB. The queue of 1,024 messages
// then holds at most 64 MiB, whatever the broker sends.
const DefaultMaxMessage = 64 << 10

// ErrPacketTooLarge is wrapped by the read error of a connection whose
// broker announced a packet larger than the link's MaxPacket. paho would
// allocate the whole packet before anyone could look at it; the link
// drops the connection instead, as soon as the packet's fixed header says
// how large it is, and connects again after its backoff.
var ErrPacketTooLarge = errors.New("mqtt: packet too large")

// errMalformedLength is a remaining length of more than four bytes, which
// MQTT 3.1.1 does not allow (2.2.3).
var errMalformedLength = errors.New("mqtt: malformed packet length")

// packetScanner follows the MQTT packets of a byte stream, a fixed header
// (a byte, then the remaining length in one to four bytes of seven bits)
// and a body of that length, across reads of any size.
type packetScanner struct {
	max       int
	inLength  bool // reading the remaining length
	length    int  // so far
	shift     uint // of the next length byte
	lenBytes  int
	remaining int // body bytes still to come
}

// scan takes the next bytes of the stream. It returns ErrPacketTooLarge
// (wrapped, with the size) as soon as a packet's remaining length is
// known to exceed max, and errMalformedLength for a length of five bytes.
func (s *packetScanner) scan(b []byte) error {
	for len(b) > 0 {
		switch {
		case s.remaining > 0:
			n := min(s.remaining, len(b))
			s.remaining -= n
			b = b[n:]
		case !s.inLength: // the packet type byte
			s.inLength, s.length, s.shift, s.lenBytes = true, 0, 0, 0
			b = b[1:]
		default:
			c := b[0]
			b = b[1:]
			s.lenBytes++
			if s.lenBytes > 4 {
				return errMalformedLength
			}
			s.length |= int(c&0x7f) << s.shift
			s.shift += 7
			if s.length > s.max {
				return fmt.Errorf("%w: the broker announced a packet of at least %d bytes, at most %d are read", ErrPacketTooLarge, s.length, s.max)
			}
			if c&0x80 == 0 {
				s.inLength, s.remaining = false, s.length
			}
		}
	}
	return nil
}

// capConn is a connection to the broker whose reads stop at the first
// packet larger than the scanner's max: the read that carries its header
// fails, and paho never sees its length.
type capConn struct {
	net.Conn
	scanner  packetScanner
	tooLarge func(error)
	mu       sync.Mutex // paho reads from one goroutine; Close may come from another
	err      error
}

func (c *capConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if err := c.err; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	if serr := c.scanner.scan(p[:n]); serr != nil {
		c.mu.Lock()
		c.err = serr
		c.mu.Unlock()
		c.tooLarge(serr)
		c.Conn.Close()
		return 0, serr
	}
	return n, err
}

// open is the link's connection to the broker for paho: TCP or TLS, as
// paho's own (no proxy from the environment, no websockets: Kunci's brokers
// are tcp://, mqtt://, ssl://, tls:// or mqtts://), wrapped in a capConn.
func (l *Link) open(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	var conn net.Conn
	var err error
	switch uri.Scheme {
	case "tcp", "mqtt":
		conn, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		conn, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		return nil, fmt.Errorf("mqtt: broker scheme %q: want tcp, mqtt, ssl, tls or mqtts", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return &capConn{Conn: conn, scanner: packetScanner{max: l.o.MaxPacket}, tooLarge: func(err error) {
		l.tooLarge.Inc()
		l.o.Log.Warn("mqtt: connection dropped: the broker sent a packet too large or malformed", "broker", uri.Redacted(), "err", err)
	}}, nil
}
