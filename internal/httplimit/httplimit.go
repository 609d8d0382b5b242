package httplimit

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
)

// The defaults of Limits.
const (
	DefaultMaxConns          = 1024
	DefaultMaxConnsPerClient = 64
	DefaultBodyTimeout       = 10 * time.Second
)

// Limits bound what clients may hold. A zero field takes its default.
type Limits struct {
	// MaxConns is how many connections may be open at once
	// (DefaultMaxConns); keep it well under the process's open-file limit.
	MaxConns int
	// MaxConnsPerClient is how many of them one client address may hold
	// (DefaultMaxConnsPerClient). A browser opens six at most; the
	// command line one a call.
	MaxConnsPerClient int
	// BodyTimeout is how long a request has, from the start of its
	// handler, to send its body (DefaultBodyTimeout).
	BodyTimeout time.Duration
}

// WithDefaults returns l with every zero field at its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerClient <= 0 {
		l.MaxConnsPerClient = DefaultMaxConnsPerClient
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	return l
}

// refusal is the reason label of kunci_http_connections_refused_total.
type refusal string

// Listener is a net.Listener that holds at most Limits.MaxConns
// connections, and Limits.MaxConnsPerClient from one address, closing
// every other one as it is accepted.
type Listener struct {
	net.Listener
	lim Limits

	mu     sync.Mutex
	open   int
	client map[netip.Addr]int

	full, perClient *metrics.Counter
}

// NewListener returns l capped by lim, its refusals and open connections
// on reg.
func NewListener(l net.Listener, lim Limits, reg *metrics.Registry) *Listener {
	lim = lim.WithDefaults()
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	refused := metrics.NewCounterVec[refusal](reg, "kunci_http_connections_refused_total",
		"HTTP connections closed as they were accepted, by reason: full (max_connections open), client (max_connections_per_client open from its address).",
		"reason")
	cl := &Listener{Listener: l, lim: lim, client: map[netip.Addr]int{},
		full: refused.With("full"), perClient: refused.With("client")}
	reg.GaugeFunc("kunci_http_connections_open", "HTTP connections open now.", func() float64 {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return float64(cl.open)
	})
	return cl
}

// Accept returns the next connection within the limits; it closes the
// others on the way.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientAddr(c)
		l.mu.Lock()
		switch {
		case l.open >= l.lim.MaxConns:
			l.mu.Unlock()
			l.full.Inc()
			c.Close()
			continue
		case l.client[addr] >= l.lim.MaxConnsPerClient:
			l.mu.Unlock()
			l.perClient.Inc()
			c.Close()
			continue
		}
		l.open++
		l.client[addr]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, addr: addr}, nil
	}
}

func (l *Listener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.client[addr]--; l.client[addr] <= 0 {
		delete(l.client, addr)
	}
}

// Open returns how many connections are open, and from addr.
func (l *Listener) Open(addr netip.Addr) (all, fromAddr int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.client[addr]
}

// clientAddr is the address a connection counts against: its remote IP
// (an IPv4 address in IPv6 form as the IPv4 one); the zero Addr for a
// connection that has none (a unix socket, a pipe).
func clientAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// conn gives its place back once, at its first Close.
type conn struct {
	net.Conn
	l    *Listener
	addr netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}

// Deadline returns next with a deadline of d (DefaultBodyTimeout when
// zero) on reading the body of each request that has one, set before next
// runs and lifted once the body has been read to its end: a body that has
// not come by then fails to read (os.ErrDeadlineExceeded), and a body next
// leaves unread holds its answer back until then at most (the server
// reads what is left of a body before it answers). A request without a
// body (a GET: a page, a watch stream) gets no deadline, so that a
// stream, or an answer longer to write than d, is not ended by the
// server's read of the idle connection.
func Deadline(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// an error: a ResponseWriter without deadlines (a test's
			// recorder), which has no connection to hold either
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &liftAtEOF{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// liftAtEOF lifts the read deadline once the body is read to its end.
type liftAtEOF struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted bool
}

func (b *liftAtEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
