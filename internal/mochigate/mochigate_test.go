package mochigate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// closeTimeout bounds every Close here: a broker that does not close in
// it is hung, and the test says so instead of hanging.
const closeTimeout = 5 * time.Second

func start(t *testing.T) *Broker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Start(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// closeWithin closes b within closeTimeout, failing the test if it could
// not, and returns how long Close took.
func closeWithin(t *testing.T, b *Broker) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	began := time.Now()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("Close = %v", err)
	}
	return time.Since(began)
}

func dialPaho(t *testing.T, b *Broker, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr().String()).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", id, tok.Error())
	}
	return c
}

func wait(t *testing.T, what string, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Errorf("%s: %v (or timed out)", what, tok.Error())
	}
}

// rawConnect is an MQTT 3.1.1 CONNECT with a clean session, a keep-alive
// of a minute and, where willTopic is set, a retained QoS 0 will.
func rawConnect(id, willTopic string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	flags := byte(0x02)
	body := append(str("MQTT"), 4)
	payload := str(id)
	if willTopic != "" {
		flags |= 0x04 | 0x20
		payload = append(append(payload, str(willTopic)...), str("gone")...)
	}
	body = append(append(body, flags, 0, 60), payload...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// rawSubscribe is a SUBSCRIBE to filter at QoS 0.
func rawSubscribe(filter string) []byte {
	body := append([]byte{0, 1, byte(len(filter) >> 8), byte(len(filter))}, filter...)
	body = append(body, 0)
	return append([]byte{0x82, byte(len(body))}, body...)
}

func dialRaw(t *testing.T, b *Broker, packets ...[]byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packets {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// connectRaw connects as id, with a retained will on willTopic if set,
// and waits for the CONNACK.
func connectRaw(b *Broker, id, willTopic string) (net.Conn, error) {
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(rawConnect(id, willTopic)); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("%s: CONNACK % x, %v", id, ack, err)
	}
	return c, nil
}

// TestRetainedRace: retained publishes (and deletions), retained wills
// and wildcard subscriptions of many clients at once, the pattern of
// mochi-mqtt/server#200. Under -race, mochi's unlocked read of a topic's
// retainPath is reported unless the gate keeps the two sides apart; the
// subscribers must still get retained messages.
func TestRetainedRace(t *testing.T) {
	b := start(t)
	defer closeWithin(t, b)
	const publishers, subscribers, rounds = 4, 4, 60
	var retainedSeen atomic.Int64
	var wg sync.WaitGroup
	for p := range publishers {
		c := dialPaho(t, b, fmt.Sprintf("pub-%d", p))
		wg.Go(func() {
			defer c.Disconnect(0)
			for i := range rounds {
				payload := []byte("on")
				if i%5 == 4 {
					payload = nil // deletes the retained message
				}
				wait(t, "retained publish", c.Publish(fmt.Sprintf("r/%d/%d", p, i%8), 1, true, payload))
			}
		})
	}
	for s := range subscribers {
		c := dialPaho(t, b, fmt.Sprintf("sub-%d", s))
		wg.Go(func() {
			defer c.Disconnect(0)
			for i := range rounds {
				filter := []string{"r/#", "r/+/+", "r/+/#"}[i%3]
				wait(t, "subscribe", c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
					if m.Retained() {
						retainedSeen.Add(1)
					}
				}))
				wait(t, "unsubscribe", c.Unsubscribe(filter))
			}
		})
	}
	// clients whose retained will fires when their connection drops
	wg.Go(func() {
		for i := range rounds {
			c, err := connectRaw(b, fmt.Sprintf("will-%d", i), fmt.Sprintf("r/will/%d", i%8))
			if err != nil {
				t.Error(err)
				return
			}
			_ = c.Close() // fires the will
		}
	})
	wg.Wait()
	if retainedSeen.Load() == 0 {
		t.Error("no subscriber got a retained message: the test raced nothing")
	}
	if n := b.InflightDropped(); n != 0 {
		t.Errorf("InflightDropped = %d", n)
	}
}

// TestGate: the gate is held by one connection at a time, a connection
// that waits to read does not hold it, and one whose goroutine ends
// without reading again (as mochi's does when another goroutine closed
// the client) still gives it back.
func TestGate(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newListener("test", raw, nil)
	const clients, msgs = 4, 200
	var inside, overlaps atomic.Int32
	var served sync.WaitGroup
	served.Add(clients)
	go l.Serve(func(_ string, nc net.Conn) error {
		c := nc.(*conn)
		buf := make([]byte, 1)
		for {
			if _, err := c.Read(buf); err != nil {
				return err
			}
			c.enter() // as the hook does for a retained publish
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(10 * time.Microsecond)
			inside.Add(-1)
			if buf[0] == 'q' {
				served.Done()
				return nil // ends holding the gate: leaving is the listener's job
			}
		}
	})
	var senders sync.WaitGroup
	for range clients {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		senders.Go(func() {
			defer c.Close()
			for i := range msgs {
				b := byte(1)
				if i == msgs-1 {
					b = 'q'
				}
				if _, err := c.Write([]byte{b}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	senders.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	allServed := make(chan struct{})
	go func() { served.Wait(); close(allServed) }()
	select {
	case <-allServed:
	case <-ctx.Done():
		t.Fatal("the connections were not all served: the gate was not given back")
	}
	if err := l.drain(ctx); err != nil {
		t.Fatalf("drain = %v", err)
	}
	if !l.gate.TryLock() {
		t.Error("the gate is still held after every connection ended")
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d times two connections held the gate at once", n)
	}
}

// TestCloseBounded: Close returns, promptly and with no error, in each
// way mochi's own Close hangs: a connection that never sent CONNECT
// (mochi waits for it without a deadline), clients leaving while the
// broker closes (mochi's Clients.GetByListener takes its read lock twice
// and deadlocks against their Clients.Delete), and a subscriber that
// stopped reading (mochi's disconnect waits for its write).
func TestCloseBounded(t *testing.T) {
	t.Run("silent connection", func(t *testing.T) {
		b := start(t)
		c := dialRaw(t, b)
		defer c.Close()
		t.Logf("Close took %v", closeWithin(t, b))
	})
	t.Run("clients leaving", func(t *testing.T) {
		const rounds, clients = 50, 32
		var longest time.Duration
		for range rounds {
			b := start(t)
			var cs []net.Conn
			for i := range clients {
				c, err := connectRaw(b, fmt.Sprintf("c-%d", i), "")
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for _, c := range cs {
					_ = c.Close()
				}
			})
			longest = max(longest, closeWithin(t, b))
			wg.Wait()
		}
		t.Logf("the longest of %d Closes took %v", rounds, longest)
	})
	t.Run("subscriber not reading", func(t *testing.T) {
		b := start(t)
		sub := dialRaw(t, b, rawConnect("stuck", ""), rawSubscribe("big"))
		defer sub.Close()
		if tc, ok := sub.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		pub := dialPaho(t, b, "pub")
		defer pub.Disconnect(0)
		payload := []byte(strings.Repeat("x", 64<<10))
		for range 128 { // 8 MiB: more than the sockets hold
			wait(t, "publish", pub.Publish("big", 0, false, payload))
		}
		t.Logf("Close took %v", closeWithin(t, b))
	})
	t.Run("twice", func(t *testing.T) {
		b := start(t)
		closeWithin(t, b)
		closeWithin(t, b)
	})
}

// TestCloseGivesUp: a client goroutine that does not end when its
// connection is closed makes Close return ErrCloseTimeout, naming the
// connection, when its context ends; Close never blocks past it.
func TestCloseGivesUp(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newListener("test", raw, nil)
	release, inServe := make(chan struct{}), make(chan struct{})
	go l.Serve(func(string, net.Conn) error {
		close(inServe)
		<-release // deaf to its connection's close
		return nil
	})
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-inServe
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = l.drain(ctx)
	if !errors.Is(err, ErrCloseTimeout) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "1 connections from 127.0.0.1:") {
		t.Errorf("drain with a stuck client = %v; want ErrCloseTimeout naming the connection", err)
	}
	close(release)
	ctx2, cancel2 := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel2()
	if err := l.drain(ctx2); err != nil {
		t.Errorf("after the client ended: %v", err)
	}
}
