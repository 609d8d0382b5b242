package lifecycle

import (
	"context"
	"sync"
)

// Gate holds a forced exit back while a relay may be unlocked. main puts
// one in the process's context (WithGate) and, at a second signal, calls
// Wait before it exits; every Group holds it from New until its Safe
// phase is done. A nil Gate holds nothing.
type Gate struct {
	mu   sync.Mutex
	held int
	idle chan struct{} // closed when held drops to zero, while a Wait waits
}

// Hold holds g until release is called; release may be called any number
// of times.
func (g *Gate) Hold() (release func()) {
	if g == nil {
		return func() {}
	}
	g.mu.Lock()
	g.held++
	g.mu.Unlock()
	return sync.OnceFunc(func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.held--; g.held == 0 && g.idle != nil {
			close(g.idle)
			g.idle = nil
		}
	})
}

// Wait returns once nothing holds g.
func (g *Gate) Wait() {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.held == 0 {
		g.mu.Unlock()
		return
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	<-idle
}

type gateKey struct{}

// WithGate returns ctx carrying g, for the Groups made from it.
func WithGate(ctx context.Context, g *Gate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

func gateOf(ctx context.Context) *Gate {
	g, _ := ctx.Value(gateKey{}).(*Gate)
	return g
}
