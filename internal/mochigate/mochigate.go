// Package mochigate works around a data race in mochi-mqtt v2.7.9, the
// embedded broker of kunci dev and of some tests: TopicsIndex.RetainMessage
// writes a topic particle's retainPath while a subscription's retained
// scan (scanMessages) reads it without the particle's lock
// (mochi-mqtt/server issue #200). A retained publish racing a
// subscription, exactly what a hub publishing signed records while a door
// subscribes does, is then a data race: the race detector reports it, and
// a torn read of the string could crash the broker.
//
// mochi handles each client's packets in that client's reading goroutine,
// between two reads of its connection. Listen hands mochi connections that
// share one gate: a connection takes the gate when a read returns data and
// gives it back when mochi reads again (or closes it), so no two clients'
// packets are processed at once. Writes are not gated. The cost, one
// client's packets at a time, is nothing for the few clients of kunci dev
// and the tests; it must never be used for a broker under load, which is
// Mosquitto's job anyway.
package mochigate

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listen returns l, its connections sharing one gate.
func Listen(l net.Listener) net.Listener { return &listener{Listener: l, gate: new(sync.Mutex)} }

type listener struct {
	net.Listener
	gate *sync.Mutex
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, gate: l.gate}, nil
}

type conn struct {
	net.Conn
	gate *sync.Mutex
	held atomic.Bool // this connection holds the gate
}

func (c *conn) release() {
	if c.held.CompareAndSwap(true, false) {
		c.gate.Unlock()
	}
}

// Read gives the gate back, waits for data, then takes the gate for the
// processing of what it read. A failed read leaves the gate free: mochi
// ends the client.
func (c *conn) Read(p []byte) (int, error) {
	c.release()
	n, err := c.Conn.Read(p)
	if err != nil {
		return n, err
	}
	c.gate.Lock()
	c.held.Store(true)
	return n, nil
}

// Close gives the gate back if this connection holds it: mochi closes a
// client's connection on every way out of its reading goroutine.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
