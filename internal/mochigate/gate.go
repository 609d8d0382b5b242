package mochigate

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connectTimeout bounds the wait for a new connection's CONNECT packet:
// mochi sets no deadline before it, so a connection that never sends one
// would hold a goroutine until the broker closes. mochi replaces the
// deadline with the client's keep-alive once connected.
const connectTimeout = 10 * time.Second

// listener is mochi's listeners.Listener over a net.Listener, keeping
// every connection it accepted, each one's goroutine counted, so that
// drain can end them all itself.
type listener struct {
	net.Listener
	id   string
	log  *slog.Logger
	gate sync.Mutex // one retained publish or subscription at a time

	mu       sync.Mutex
	conns    map[*conn]struct{} // whose goroutine has not ended
	draining bool
	drained  chan struct{} // closed when draining and conns is empty
	served   chan struct{} // closed when Serve returns
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id string, l net.Listener, log *slog.Logger) *listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &listener{Listener: l, id: id, log: log, conns: map[*conn]struct{}{},
		drained: make(chan struct{}), served: make(chan struct{})}
}

func (l *listener) Init(*slog.Logger) error { return nil }
func (l *listener) ID() string              { return l.id }
func (l *listener) Address() string         { return l.Addr().String() }
func (l *listener) Protocol() string        { return l.Addr().Network() }

// Serve accepts connections until the listener is closed; each one is
// served by establish (mochi's client loop) in a goroutine of its own.
func (l *listener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	for {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		c := &conn{Conn: nc, gate: &l.gate}
		if !l.add(c) {
			_ = nc.Close()
			return
		}
		_ = nc.SetDeadline(time.Now().Add(connectTimeout))
		go func() {
			defer l.remove(c)
			defer c.leave()
			if err := establish(l.id, c); err != nil && !l.isDraining() {
				l.log.Warn("mochigate: client ended", "remote", nc.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// Close is mochi's: by then drain has ended every client, so
// closeClients has nobody to disconnect.
func (l *listener) Close(closeClients listeners.CloseFn) {
	closeClients(l.id)
	_ = l.Listener.Close()
}

func (l *listener) add(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.draining {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *listener) remove(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	if l.draining && len(l.conns) == 0 {
		close(l.drained)
	}
}

func (l *listener) isDraining() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.draining
}

// drain stops accepting, closes every connection and waits, at most
// until ctx ends, for the accept loop and every client goroutine to end.
// Called again, it waits again.
// A closed connection fails the blocked read or write of its goroutine,
// so that goroutine ends without waiting for a keep-alive.
func (l *listener) drain(ctx context.Context) error {
	l.mu.Lock()
	var conns []*conn
	if !l.draining {
		l.draining = true
		for c := range l.conns {
			conns = append(conns, c)
		}
		if len(l.conns) == 0 {
			close(l.drained)
		}
	}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
	for _, ch := range []chan struct{}{l.served, l.drained} {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s (%w)", ErrCloseTimeout, l.left(), context.Cause(ctx))
		}
	}
	return nil
}

// left names the connections whose goroutine has not ended.
func (l *listener) left() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var rs []string
	for c := range l.conns {
		rs = append(rs, c.RemoteAddr().String())
	}
	if len(rs) == 0 {
		return "the accept loop"
	}
	slices.Sort(rs)
	return fmt.Sprintf("%d connections from %s", len(rs), strings.Join(rs, ", "))
}

// conn is a client connection. Only the client's goroutine (mochi reads
// a connection in that goroutine alone, and runs its hooks there) touches
// held, so it needs no lock of its own.
type conn struct {
	net.Conn
	gate *sync.Mutex
	held bool // this connection's goroutine holds gate
}

func (c *conn) enter() {
	if !c.held {
		c.gate.Lock()
		c.held = true
	}
}

func (c *conn) leave() {
	if c.held {
		c.held = false
		c.gate.Unlock()
	}
}

// Read gives the gate back before waiting on the network: a goroutine
// that waits for its client never holds it.
func (c *conn) Read(p []byte) (int, error) {
	c.leave()
	return c.Conn.Read(p)
}

// retainedGate is the hook that serialises the two sides of mochi's
// retained race: a SUBSCRIBE's retained scan and a retained PUBLISH or
// will's write (see the package doc).
type retainedGate struct{ mochi.HookBase }

func (*retainedGate) ID() string { return "kunci-retained-gate" }

func (*retainedGate) Provides(b byte) bool {
	return b == mochi.OnConnect || b == mochi.OnPacketRead || b == mochi.OnPacketProcessed || b == mochi.OnWill
}

// OnConnect clears a will's delay: mochi fires delayed wills from its own
// loop, where the gate cannot reach.
func (*retainedGate) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	cl.Properties.Will.WillDelayInterval = 0
	return nil
}

func (*retainedGate) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if t := pk.FixedHeader.Type; t == packets.Subscribe || t == packets.Publish && pk.FixedHeader.Retain {
		enter(cl)
	}
	return pk, nil
}

func (*retainedGate) OnPacketProcessed(cl *mochi.Client, _ packets.Packet, _ error) { leave(cl) }

func (*retainedGate) OnWill(cl *mochi.Client, w mochi.Will) (mochi.Will, error) {
	if w.Retain {
		enter(cl)
	}
	return w, nil
}

func enter(cl *mochi.Client) {
	if c, ok := cl.Net.Conn.(*conn); ok {
		c.enter()
	}
}

func leave(cl *mochi.Client) {
	if c, ok := cl.Net.Conn.(*conn); ok {
		c.leave()
	}
}
