package mqtttest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP relay between MQTT clients and a broker that a test can
// break the way networks break: Down kills every connection (the broker
// sees a dead peer and publishes its will), Freeze leaves them half-open
// (a power cut: the broker still believes in the client until keep-alive
// runs out, so a new connection with the same client id takes over).
type Proxy struct {
	t        testing.TB
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	down   bool // refuse new connections
	frozen bool // forward nothing, close nothing
	pairs  map[*pair]struct{}
	wg     sync.WaitGroup
}

type pair struct{ client, broker net.Conn }

func (p *pair) close() {
	p.client.Close()
	p.broker.Close()
}

// StartProxy relays a free loopback port to the broker at url
// (tcp://host:port). It is closed when the test ends.
func StartProxy(t testing.TB, url string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, ln: ln, upstream: strings.TrimPrefix(url, "tcp://"), pairs: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's address for paho.
func (p *Proxy) URL() string { return fmt.Sprintf("tcp://%s", p.ln.Addr()) }

// Down closes every connection, both ends, and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.closePairsLocked()
}

// Up closes the connections that Freeze left half-open (their clients
// notice only now) and accepts and forwards new connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.frozen = false, false
	p.closePairsLocked()
}

// Freeze stops forwarding on every connection without closing any, and
// refuses new ones: each end keeps a socket the other no longer hears.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.frozen = true, true
}

func (p *Proxy) closePairsLocked() {
	for c := range p.pairs {
		c.close()
		delete(p.pairs, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c, broker: b}
		p.mu.Lock()
		p.pairs[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pr, b, c)
		go p.pipe(pr, c, b)
	}
}

func (p *Proxy) pipe(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		frozen := p.frozen
		p.mu.Unlock()
		if n > 0 && !frozen {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if !frozen {
				pr.close()
			}
			return
		}
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closePairsLocked()
	p.mu.Unlock()
	p.wg.Wait()
}
