package mfrc522

import (
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

const (
	// pollTimeout replaces WaitForEdge(0), "return a queued edge or
	// nothing", which waits forever on gpioioctl. 1 ns would not do: the
	// deadline would be past before gpioioctl's read and Go's poller then
	// reports a timeout without reading the queued edge.
	pollTimeout = time.Millisecond
	// waitSlice bounds each wait on the pin, so that Halt, the context and
	// an SPI failure are noticed.
	waitSlice = 20 * time.Millisecond
	// maxDrain bounds the stale edges drained before a read.
	maxDrain = 64
)

// irqPin is the IRQ pin as periph's driver sees it: it passes only
// positive timeouts to the real pin and ends its waits on Halt, on the
// running read's context and on an SPI failure.
type irqPin struct {
	gpio.PinIn
	halt   <-chan struct{}
	failed func() bool

	mu   sync.Mutex
	done <-chan struct{}
	edge bool
}

// WaitForEdge follows the gpio.PinIn contract: 0 returns a queued edge or
// false at once, a negative timeout waits until an edge or a cancellation.
func (p *irqPin) WaitForEdge(timeout time.Duration) bool {
	if timeout == 0 {
		return p.PinIn.WaitForEdge(pollTimeout)
	}
	var end time.Time
	if timeout > 0 {
		end = time.Now().Add(timeout)
	}
	for {
		if p.cancelled() {
			p.record(false)
			return false
		}
		slice := waitSlice
		if !end.IsZero() {
			left := time.Until(end)
			if left <= 0 {
				p.record(false)
				return false
			}
			slice = min(slice, left)
		}
		if p.PinIn.WaitForEdge(slice) {
			p.record(true)
			return true
		}
	}
}

func (p *irqPin) cancelled() bool {
	if p.failed != nil && p.failed() {
		return true
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-p.halt:
		return true
	case <-done:
		return true
	default:
		return false
	}
}

func (p *irqPin) record(edge bool) {
	p.mu.Lock()
	p.edge = edge
	p.mu.Unlock()
}

// sawEdge reports whether the last wait for a card ended with an edge.
func (p *irqPin) sawEdge() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.edge
}

// setDone sets the channel that ends waits: the running read's ctx.Done.
func (p *irqPin) setDone(done <-chan struct{}) {
	p.mu.Lock()
	p.done, p.edge = done, false
	p.mu.Unlock()
}

// drain drops the edges queued since the last read.
func (p *irqPin) drain() {
	for range maxDrain {
		if !p.PinIn.WaitForEdge(pollTimeout) {
			return
		}
	}
}
