package mqttlink_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// fakeBroker accepts MQTT connections, answers each CONNECT with a
// CONNACK, then sends what send writes and keeps the connection open.
func fakeBroker(t *testing.T, send func(w io.Writer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if _, err := r.ReadByte(); err != nil { // CONNECT
					return
				}
				n, mult := 0, 1
				for {
					b, err := r.ReadByte()
					if err != nil {
						return
					}
					n += int(b&0x7f) * mult
					mult *= 128
					if b&0x80 == 0 {
						break
					}
				}
				if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
					return
				}
				if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil { // CONNACK, accepted
					return
				}
				send(c)
				io.Copy(io.Discard, r) // until the client goes
			})
		}
	})
	return "tcp://" + ln.Addr().String()
}

// publishHeader is the fixed header of a QoS 0 PUBLISH of n bytes after it.
func publishHeader(n int) []byte {
	hdr := []byte{0x30}
	for {
		b := byte(n % 128)
		if n /= 128; n > 0 {
			b |= 0x80
		}
		hdr = append(hdr, b)
		if n == 0 {
			return hdr
		}
	}
}

// A broker that announces a 200 MB PUBLISH loses the connection as soon as
// the packet's fixed header is read: paho never allocates it, the link
// counts it and connects again, and the process's allocations stay far
// below the packet's size. (paho alone reads the whole packet first.)
func TestPacketTooLarge(t *testing.T) {
	const huge = 200 << 20
	broker := fakeBroker(t, func(w io.Writer) {
		// PUBLISH QoS 0, remaining length 200 MiB, then a topic and the
		// first MiB of its payload
		hdr := append(publishHeader(huge), 0, 1, 't')
		if _, err := w.Write(hdr); err != nil {
			return
		}
		w.Write(make([]byte, 1<<20))
	})
	reg := metrics.NewRegistry()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "door", CleanSession: true, Metrics: reg,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, l)
	waitfor.Until(t, 20*time.Second, "three connections dropped for the packet", func() bool {
		return l.PacketsTooLarge() >= 3 && strings.Contains(string(reg.Text()), "kunci_mqtt_packet_too_large_total")
	})
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("the process allocated %d MiB while three 200 MiB packets were announced; want the packets never allocated", grew>>20)
	}
}

// A payload larger than MaxMessage but inside MaxPacket reaches the
// handler cut, with its size: the door refuses it with an event, the
// connection stays up, and the queue never holds the rest of it.
func TestMessageCut(t *testing.T) {
	const size = 1 << 20
	broker := fakeBroker(t, func(w io.Writer) {
		topic := "kunci/v1/demo/server-room/permits/P-1"
		hdr := append(publishHeader(2+len(topic)+size), 0, byte(len(topic)))
		w.Write(append(hdr, topic...))
		w.Write([]byte(strings.Repeat("x", size)))
	})
	got := make(chan mqttlink.Message, 1)
	l, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "door", CleanSession: true, MaxMessage: 1000,
		Subscriptions: map[string]byte{}}, func(m mqttlink.Message) {
		select {
		case got <- m:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, l)
	select {
	case m := <-got:
		if m.Size != size || len(m.Payload) != 1001 {
			t.Errorf("message of %d bytes, %d kept; want %d, 1001 kept", m.Size, len(m.Payload), size)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no message")
	}
	if n := l.Connections(); n != 1 {
		t.Errorf("%d connections; want the first kept", n)
	}
}

// scanRef is the packet scanner's reference: it walks a whole stream.
func scanRef(b []byte, max int) error {
	for len(b) > 0 {
		b = b[1:]
		n, shift := 0, uint(0)
		for i := 0; ; i++ {
			if len(b) == 0 {
				return nil
			}
			if i == 4 {
				return errors.New("malformed")
			}
			c := b[0]
			b = b[1:]
			n |= int(c&0x7f) << shift
			shift += 7
			if n > max {
				return mqttlink.ErrPacketTooLarge
			}
			if c&0x80 == 0 {
				break
			}
		}
		b = b[min(n, len(b)):]
	}
	return nil
}

// FuzzPacketScanner: the scanner, fed a stream in reads of any size, finds
// what the reference finds in the whole stream, and never panics.
func FuzzPacketScanner(f *testing.F) {
	f.Add([]byte{0x20, 0x02, 0, 0, 0x30, 0x03, 0, 1, 't'}, uint16(100), uint8(3))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, uint16(1000), uint8(1))
	f.Add([]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, uint16(1000), uint8(2))
	f.Add([]byte{0x30, 0x81, 0x01, 0x00}, uint16(128), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, max uint16, chunk uint8) {
		want := scanRef(stream, int(max))
		got := mqttlink.ScanPackets(stream, int(max), int(chunk)+1)
		switch {
		case want == nil && got != nil, want != nil && got == nil:
			t.Fatalf("scan = %v; the reference says %v", got, want)
		case errors.Is(want, mqttlink.ErrPacketTooLarge) != errors.Is(got, mqttlink.ErrPacketTooLarge):
			t.Fatalf("scan = %v; the reference says %v", got, want)
		}
	})
}
