// Package pn532test is an in-memory PN532 that speaks the chip's HSU
// protocol, for tests of the pn532 driver and of what is built on it. It
// sleeps until woken by 55, acknowledges every command it decodes, answers
// SAMConfiguration, GetFirmwareVersion, RFConfiguration, InListPassiveTarget
// (type A with 4-, 7- and 10-byte UIDs, type B) and InRelease, repeats its
// last answer on a NACK, drops a running command on an ACK, and can be told
// to damage its answers or to disappear like an unplugged USB adapter.
//
// It is stricter than the chip where that catches driver bugs: RF commands
// before SAMConfiguration get an error frame. It must never be wired to a
// door.
package pn532test

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hardware/nfc/pn532"
)

// Card is a card the fake chip can find.
type Card struct {
	Type pn532.Modulation
	UID  []byte  // type A: 4, 7 or 10 bytes; type B: the 4-byte PUPI
	ATQA [2]byte // type A
	SAK  byte    // type A
	ATS  []byte  // type A with ISO/IEC 14443-4, without its length byte
}

// CardA returns a type A card with uid and the ATQA a card of its UID size
// shows (bits 7-6: 00 single, 01 double, 10 triple size).
func CardA(uid ...byte) Card {
	c := Card{Type: pn532.TypeA, UID: slices.Clone(uid), SAK: 0x00}
	switch len(uid) {
	case 4:
		c.ATQA, c.SAK = [2]byte{0x00, 0x04}, 0x08 // MIFARE Classic 1K
	case 7:
		c.ATQA = [2]byte{0x00, 0x44} // NTAG / Ultralight
	default:
		c.ATQA = [2]byte{0x00, 0x84}
	}
	return c
}

// CardB returns a type B card with a 4-byte PUPI.
func CardB(pupi ...byte) Card { return Card{Type: pn532.TypeB, UID: slices.Clone(pupi)} }

// Corruption is a way the chip damages an answer on the wire.
type Corruption int

// Damages. A NACK makes the chip send the answer again, undamaged unless
// more damage is queued.
const (
	BadChecksum       Corruption = iota + 1 // wrong DCS
	BadLengthChecksum                       // wrong LCS
	BadPostamble                            // postamble not 00
	Truncated                               // the last 3 bytes never arrive
	WrongLength                             // LEN and LCS one more than the body
	Noise                                   // 5 bytes of noise before the frame
	Garbage                                 // 100 bytes of garbage instead of the frame
	Silence                                 // no answer at all
)

// ErrUnplugged is what a port of an unplugged chip returns.
var ErrUnplugged = errors.New("pn532test: device not configured")

// Chip is a fake PN532 on HSU. Its zero value is not usable: use NewChip.
type Chip struct {
	// TryTime is how long one passive activation attempt lasts: an
	// InListPassiveTarget with no card answers after (retries+1) tries.
	// Set it before use.
	TryTime time.Duration
	// IC is what GetFirmwareVersion reports (0x32 for a PN532).
	IC byte
	// NoTypeB makes the chip answer a type B poll with an error frame.
	NoTypeB bool

	notify chan struct{}

	mu      sync.Mutex
	plugged bool
	gen     int
	awake   bool
	sam     bool
	field   bool
	retries byte
	in      []byte
	out     []byte
	last    []byte
	pending *poll
	card    *Card
	damage  []Corruption
	counts  map[byte]int
	polls   int
	polled  []pn532.Modulation // the first maxPolled polls
}

// maxPolled bounds the polls the chip remembers.
const maxPolled = 1024

type poll struct {
	brty     pn532.Modulation
	deadline time.Time // zero: until a card comes
}

// NewChip returns a plugged-in chip, asleep as after power-up.
func NewChip() *Chip {
	return &Chip{
		TryTime: 2 * time.Millisecond,
		IC:      0x32,
		notify:  make(chan struct{}, 1),
		plugged: true,
		retries: 0xFF,
		counts:  map[byte]int{},
	}
}

func (c *Chip) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Present puts card in the field, replacing any other.
func (c *Chip) Present(card Card) {
	c.mu.Lock()
	card.UID = slices.Clone(card.UID)
	c.card = &card
	c.mu.Unlock()
	c.wake()
}

// Remove takes the card out of the field.
func (c *Chip) Remove() {
	c.mu.Lock()
	c.card = nil
	c.mu.Unlock()
}

// Corrupt damages the next n answers (not the ACKs) in the way k.
func (c *Chip) Corrupt(k Corruption, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.damage = append(c.damage, k)
	}
}

// Unplug makes the chip disappear: its ports fail, opening fails, and it
// loses its state as if powered off.
func (c *Chip) Unplug() {
	c.mu.Lock()
	c.plugged = false
	c.gen++
	c.awake, c.sam, c.field, c.retries = false, false, false, 0xFF
	c.in, c.out, c.last, c.pending = nil, nil, nil, nil
	c.mu.Unlock()
	c.wake()
}

// Plug brings the chip back, asleep.
func (c *Chip) Plug() {
	c.mu.Lock()
	c.plugged = true
	c.mu.Unlock()
}

// Sleep puts the chip in power-down: it ignores everything until woken by
// 55 and configured again.
func (c *Chip) Sleep() {
	c.mu.Lock()
	c.awake, c.sam = false, false
	c.mu.Unlock()
}

// Commands returns how many times the chip ran command cmd.
func (c *Chip) Commands(cmd byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[cmd]
}

// Polls returns how many InListPassiveTarget commands the chip ran.
func (c *Chip) Polls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.polls
}

// Polled returns the modulations of the first 1024 InListPassiveTarget
// commands run, in order.
func (c *Chip) Polled() []pn532.Modulation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.polled)
}

// Field reports whether the RF field is on.
func (c *Chip) Field() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.field
}

// Busy reports whether a command is running (an InListPassiveTarget waiting
// for a card).
func (c *Chip) Busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending != nil
}

// Opener returns an opener for the pn532 driver: it fails while the chip is
// unplugged, and each port it opens fails once the chip is unplugged.
func (c *Chip) Opener() pn532.Opener {
	return func() (pn532.Port, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.plugged {
			return nil, ErrUnplugged
		}
		return &port{c: c, gen: c.gen, timeout: -1}, nil
	}
}

// feed takes bytes from the host. Called with c.mu held.
func (c *Chip) feed(p []byte) {
	for _, b := range p {
		if !c.awake {
			c.awake = b == 0x55
			continue
		}
		c.in = append(c.in, b)
	}
	for len(c.in) > 0 {
		f, n, err := pn532.Decode(c.in)
		if errors.Is(err, pn532.ErrTruncated) {
			if len(c.in) > 1024 {
				c.in = nil
			}
			return
		}
		c.in = c.in[n:]
		if err != nil {
			continue // a damaged frame: the chip ignores it
		}
		c.handle(f)
	}
}

func (c *Chip) handle(f pn532.Frame) {
	switch f.Kind {
	case pn532.Ack:
		c.pending = nil
	case pn532.Nack:
		if c.last != nil {
			c.emit(c.last)
		}
	case pn532.Info:
		if f.TFI != pn532.TFIHost || len(f.Data) == 0 {
			return
		}
		c.out = append(c.out, 0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00)
		c.pending = nil
		c.counts[f.Data[0]]++
		c.exec(f.Data[0], f.Data[1:])
	}
}

func (c *Chip) exec(cmd byte, p []byte) {
	switch cmd {
	case 0x14: // SAMConfiguration
		if len(p) < 1 || p[0] != 0x01 {
			c.errorFrame()
			return
		}
		c.sam = true
		c.reply(0x15)
	case 0x02: // GetFirmwareVersion
		c.reply(0x03, c.IC, 0x01, 0x06, 0x07)
	case 0x32: // RFConfiguration
		if len(p) < 2 {
			c.errorFrame()
			return
		}
		switch p[0] {
		case 0x01:
			c.field = p[1]&0x01 != 0
		case 0x05:
			if len(p) < 4 {
				c.errorFrame()
				return
			}
			c.retries = p[3]
		}
		c.reply(0x33)
	case 0x4A: // InListPassiveTarget
		if !c.sam || len(p) < 2 || p[0] < 1 || p[0] > 2 {
			c.errorFrame()
			return
		}
		m := pn532.Modulation(p[1])
		switch {
		case m == pn532.TypeA:
		case m == pn532.TypeB && len(p) >= 3 && !c.NoTypeB:
		default:
			c.errorFrame()
			return
		}
		c.field = true
		c.polls++
		if len(c.polled) < maxPolled {
			c.polled = append(c.polled, m)
		}
		c.pending = &poll{brty: m}
		if c.retries != 0xFF {
			c.pending.deadline = time.Now().Add(time.Duration(int(c.retries)+1) * c.TryTime)
		}
		c.step(time.Now())
	case 0x52: // InRelease
		c.reply(0x53, 0x00)
	default:
		c.errorFrame()
	}
}

// step finishes a running InListPassiveTarget if a card of its type is in
// the field or its retries are used up.
func (c *Chip) step(now time.Time) {
	p := c.pending
	if p == nil {
		return
	}
	if c.card != nil && c.card.Type == p.brty {
		c.pending = nil
		c.reply(append([]byte{0x4B, 0x01, 0x01}, targetData(c.card)...)...)
		return
	}
	if !p.deadline.IsZero() && !now.Before(p.deadline) {
		c.pending = nil
		c.reply(0x4B, 0x00)
	}
}

func targetData(card *Card) []byte {
	if card.Type == pn532.TypeB {
		atqb := []byte{0x50}
		atqb = append(atqb, card.UID...)
		atqb = append(atqb, 0x00, 0x00, 0x00, 0x00) // application data
		atqb = append(atqb, 0x00, 0x81, 0x81)       // protocol info
		return append(atqb, 0x01, 0x00)             // ATTRIB_RES: 1 byte
	}
	d := []byte{card.ATQA[0], card.ATQA[1], card.SAK, byte(len(card.UID))}
	d = append(d, card.UID...)
	if len(card.ATS) > 0 {
		d = append(d, byte(len(card.ATS)+1))
		d = append(d, card.ATS...)
	}
	return d
}

func (c *Chip) reply(data ...byte) {
	f, err := pn532.AppendFrame(nil, pn532.Frame{Kind: pn532.Info, TFI: pn532.TFIChip, Data: data})
	if err != nil {
		panic(err) // the fake's own answers are short
	}
	c.last = f
	c.emit(f)
}

func (c *Chip) errorFrame() {
	c.last = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
	c.emit(c.last)
}

// emit sends an answer, damaged if damage is queued.
func (c *Chip) emit(frame []byte) {
	f := slices.Clone(frame)
	if len(c.damage) > 0 {
		k := c.damage[0]
		c.damage = c.damage[1:]
		f = corrupt(k, f)
	}
	c.out = append(c.out, f...)
}

func corrupt(k Corruption, f []byte) []byte {
	n := len(f)
	switch k {
	case BadChecksum:
		f[n-2]++
	case BadLengthChecksum:
		f[4]++
	case BadPostamble:
		f[n-1] = 0x42
	case Truncated:
		f = f[:n-3]
	case WrongLength:
		f[3]++
		f[4]--
	case Noise:
		f = append([]byte{0x13, 0x37, 0xAA, 0x55, 0xF0}, f...)
	case Garbage:
		g := make([]byte, 100)
		for i := range g {
			g[i] = byte(0x11 * (i%7 + 1))
		}
		f = g
	case Silence:
		f = nil
	}
	return f
}

// port is one opened handle on the chip, like a go.bug.st/serial Port.
type port struct {
	c       *Chip
	gen     int
	closed  bool
	timeout time.Duration // negative: block until data
}

var _ pn532.Port = (*port)(nil)

var errClosed = errors.New("pn532test: port closed")

// check is called with c.mu held.
func (p *port) check() error {
	if p.closed {
		return errClosed
	}
	if !p.c.plugged || p.gen != p.c.gen {
		return ErrUnplugged
	}
	return nil
}

func (p *port) Write(b []byte) (int, error) {
	c := p.c
	c.mu.Lock()
	if err := p.check(); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.feed(b)
	c.mu.Unlock()
	c.wake()
	return len(b), nil
}

// Read returns what the chip sent, waiting up to the read timeout; like
// go.bug.st/serial it returns 0, nil when the timeout passes.
func (p *port) Read(b []byte) (int, error) {
	c := p.c
	c.mu.Lock()
	timeout := p.timeout
	c.mu.Unlock()
	var end time.Time
	if timeout >= 0 {
		end = time.Now().Add(timeout)
	}
	for {
		c.mu.Lock()
		if err := p.check(); err != nil {
			c.mu.Unlock()
			return 0, err
		}
		now := time.Now()
		c.step(now)
		if len(c.out) > 0 {
			n := copy(b, c.out)
			c.out = c.out[n:]
			c.mu.Unlock()
			return n, nil
		}
		wait := time.Hour
		if !end.IsZero() {
			if wait = end.Sub(now); wait <= 0 {
				c.mu.Unlock()
				return 0, nil
			}
		}
		if c.pending != nil && !c.pending.deadline.IsZero() {
			wait = min(wait, c.pending.deadline.Sub(now))
		}
		c.mu.Unlock()
		t := time.NewTimer(max(wait, 0))
		select {
		case <-c.notify:
		case <-t.C:
		}
		t.Stop()
	}
}

func (p *port) SetReadTimeout(t time.Duration) error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.timeout = t
	return p.check()
}

func (p *port) ResetInputBuffer() error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if err := p.check(); err != nil {
		return err
	}
	p.c.out = nil
	return nil
}

func (p *port) Close() error {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	p.closed = true
	return nil
}
