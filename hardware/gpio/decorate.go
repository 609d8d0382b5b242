package gpio

import (
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Debounce returns p with its level filtered: a new level counts only once
// it has held for d with no edge in between, so a bouncing contact reports
// one change, and a flicker that returns to the old level reports none.
// Read returns the filtered level; WaitForEdge returns true when the
// filtered level changed.
//
// p must be an input already (In called), with edges (gpio.BothEdges) or
// wrapped in Poll; its level at this call is the starting level. In on the
// result configures p and takes its level as the new starting level.
//
// A change still settling when WaitForEdge's timeout ends is not lost: the
// next call finishes it. When p's WaitForEdge times out, the level is read
// once more, so a change whose edge the driver dropped is still seen. One
// goroutine at a time may wait; Read may be called from any.
//
// d of zero returns p itself.
func Debounce(p gpio.PinIn, d time.Duration) gpio.PinIn {
	if d <= 0 {
		return p
	}
	return &debounced{PinIn: p, d: d, stable: p.Read()}
}

type debounced struct {
	gpio.PinIn
	d time.Duration

	mu       sync.Mutex
	stable   gpio.Level
	pending  bool      // an edge was seen, the level has not held for d yet
	settleAt time.Time // when the level will have held for d
}

func (p *debounced) In(pull gpio.Pull, edge gpio.Edge) error {
	err := p.PinIn.In(pull, edge)
	l := p.PinIn.Read()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stable, p.pending = l, false
	return err
}

func (p *debounced) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stable
}

// WaitForEdge reports whether the filtered level changed within timeout.
// It returns false early when p returns false before its own timeout (p has
// no working edge detection); the caller can then fall back to Poll.
func (p *debounced) WaitForEdge(timeout time.Duration) bool {
	deadline := time.Now().Add(PositiveTimeout(timeout))
	for {
		now := time.Now()
		p.mu.Lock()
		pending, settleAt, stable := p.pending, p.settleAt, p.stable
		p.mu.Unlock()
		if pending && !now.Before(settleAt) {
			l := p.PinIn.Read()
			p.mu.Lock()
			p.pending = false
			changed := l != p.stable
			p.stable = l
			p.mu.Unlock()
			if changed {
				return true
			}
			// it bounced back to where it was
			continue
		}
		wait := deadline.Sub(now)
		if pending {
			wait = min(wait, settleAt.Sub(now))
		}
		if wait <= 0 {
			return false
		}
		if p.PinIn.WaitForEdge(wait) {
			p.startSettle()
			continue
		}
		if !pending {
			// p timed out with no edge: a level that moved anyway had its
			// edge dropped; settle it like any other
			if p.PinIn.Read() != stable {
				p.startSettle()
			}
			return false
		}
		if end := time.Now(); end.Before(settleAt) && end.Before(deadline) {
			// p gave up before its timeout: it delivers no edges
			return false
		}
	}
}

func (p *debounced) startSettle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending, p.settleAt = true, time.Now().Add(p.d)
}

// Real implements gpio.RealPin.
func (p *debounced) Real() gpio.PinIO { return realPin(p.PinIn) }

// Poll returns p with edges found by reading its level every period, for
// a pin whose driver has no edge detection (In with an edge fails) or whose
// WaitForEdge never reports one. In configures p without edge detection;
// WaitForEdge returns true when the level differs from the one it saw last
// and false when its timeout ends or Halt is called; Halt does not halt p.
//
// p must be an input already (In called); its level at this call is the
// starting level. period of zero or less means DefaultPoll.
func Poll(p gpio.PinIn, period time.Duration) gpio.PinIn {
	if period <= 0 {
		period = DefaultPoll
	}
	return &polled{PinIn: p, period: period, last: p.Read(), wake: make(chan struct{}, 1)}
}

type polled struct {
	gpio.PinIn
	period time.Duration
	wake   chan struct{}

	mu   sync.Mutex
	last gpio.Level
}

func (p *polled) In(pull gpio.Pull, _ gpio.Edge) error {
	err := p.PinIn.In(pull, gpio.NoEdge)
	l := p.PinIn.Read()
	p.mu.Lock()
	p.last = l
	p.mu.Unlock()
	p.interrupt()
	return err
}

func (p *polled) WaitForEdge(timeout time.Duration) bool {
	deadline := time.Now().Add(PositiveTimeout(timeout))
	// a stale wake-up from before this call does not end it
	select {
	case <-p.wake:
	default:
	}
	t := time.NewTimer(min(p.period, time.Until(deadline)))
	defer t.Stop()
	for {
		select {
		case <-p.wake:
			return false
		case <-t.C:
		}
		l := p.PinIn.Read()
		p.mu.Lock()
		changed := l != p.last
		p.last = l
		p.mu.Unlock()
		if changed {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		t.Reset(min(p.period, left))
	}
}

// Halt ends a pending WaitForEdge.
func (p *polled) Halt() error {
	p.interrupt()
	return nil
}

func (p *polled) interrupt() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Real implements gpio.RealPin.
func (p *polled) Real() gpio.PinIO { return realPin(p.PinIn) }

// realPin is the pin under the decorators, when it is a PinIO.
func realPin(p gpio.PinIn) gpio.PinIO {
	if r, ok := p.(gpio.RealPin); ok {
		return r.Real()
	}
	if io, ok := p.(gpio.PinIO); ok {
		return io
	}
	return gpio.INVALID
}

var (
	_ gpio.PinIn   = (*debounced)(nil)
	_ gpio.RealPin = (*debounced)(nil)
	_ gpio.PinIn   = (*polled)(nil)
	_ gpio.RealPin = (*polled)(nil)
)
