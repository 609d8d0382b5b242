package gpio

import (
	"time"

	"periph.io/x/conn/v3/gpio"
)

// The two timeouts that stand in for periph's special values. periph's
// gpio.PinIn documents WaitForEdge(-1) as "no timeout" and, by the usual
// meaning of a timeout, WaitForEdge(0) as "do not wait". The Raspberry Pi's
// driver (host/gpioioctl, used by every bcm283x pin for edges) does the
// opposite: it turns the timeout into a read deadline on the line's file,
// where a zero deadline means none (0 waits for ever) and a deadline in the
// past fails at once (-1 returns false even with an edge queued). gpiotest
// and sysfs follow the documented contract, so code tested with gpiotest
// behaves differently on the board unless every call passes a positive
// timeout. Inside Kunci every WaitForEdge gets one.
const (
	// LongTimeout replaces a negative timeout ("wait for ever"). A false
	// return is always possible under periph's contract (In called while
	// waiting), so a caller that passed -1 must handle it anyway; it sees
	// one at most once a day.
	LongTimeout = 24 * time.Hour
	// ShortTimeout replaces a zero timeout ("do not wait"). It is not one
	// nanosecond: Go's poller checks the deadline before it tries the read,
	// and a deadline that has already passed by then fails without reading,
	// so a queued edge would be missed. A millisecond leaves time for the
	// read, which returns at once when an edge is queued.
	ShortTimeout = time.Millisecond
)

// PositiveTimeout maps a WaitForEdge timeout to one that means the same on
// every periph driver: negative to LongTimeout, zero to ShortTimeout,
// anything else unchanged.
func PositiveTimeout(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return LongTimeout
	case d == 0:
		return ShortTimeout
	}
	return d
}

// PositiveTimeouts returns p with WaitForEdge passing only positive timeouts
// to p (see PositiveTimeout), so that a driver written against periph's
// contract, such as mfrc522 which drains its IRQ with WaitForEdge(0), does
// not hang on the Pi. Everything else passes through.
func PositiveTimeouts(p gpio.PinIO) gpio.PinIO {
	if _, ok := p.(*positiveIO); ok {
		return p
	}
	return &positiveIO{PinIO: p}
}

// PositiveTimeoutsIn is PositiveTimeouts for an input-only pin.
func PositiveTimeoutsIn(p gpio.PinIn) gpio.PinIn {
	switch p.(type) {
	case *positiveIn, *positiveIO:
		return p
	}
	return &positiveIn{PinIn: p}
}

type positiveIO struct{ gpio.PinIO }

func (p *positiveIO) WaitForEdge(timeout time.Duration) bool {
	return p.PinIO.WaitForEdge(PositiveTimeout(timeout))
}

// Real implements gpio.RealPin.
func (p *positiveIO) Real() gpio.PinIO {
	if r, ok := p.PinIO.(gpio.RealPin); ok {
		return r.Real()
	}
	return p.PinIO
}

type positiveIn struct{ gpio.PinIn }

func (p *positiveIn) WaitForEdge(timeout time.Duration) bool {
	return p.PinIn.WaitForEdge(PositiveTimeout(timeout))
}

var (
	_ gpio.PinIO   = (*positiveIO)(nil)
	_ gpio.RealPin = (*positiveIO)(nil)
	_ gpio.PinIn   = (*positiveIn)(nil)
)
