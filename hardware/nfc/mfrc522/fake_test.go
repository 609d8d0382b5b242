package mfrc522_test

import (
	"errors"
	"slices"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/spi"
)

// MFRC522 registers and commands the fake implements (NXP MFRC522 data
// sheet §9).
const (
	regCommand    = 0x01
	regComIEn     = 0x02
	regDivIEn     = 0x03
	regComIrq     = 0x04
	regDivIrq     = 0x05
	regError      = 0x06
	regStatus2    = 0x08
	regFIFOData   = 0x09
	regFIFOLevel  = 0x0A
	regControl    = 0x0C
	regBitFraming = 0x0D
	regMode       = 0x11
	regTxControl  = 0x14
	regCRCResultM = 0x21
	regCRCResultL = 0x22
	regVersion    = 0x37

	cmdIdle       = 0x00
	cmdCalcCRC    = 0x03
	cmdTransceive = 0x0C
	cmdSoftReset  = 0x0F
)

// resetValues are the registers' values after a reset (data sheet §9.3)
// that matter to periph's driver.
var resetValues = map[byte]byte{
	regCommand: 0x20, regComIEn: 0x80, regComIrq: 0x14, regControl: 0x10,
	regMode: 0x3F, regTxControl: 0x80, 0x26: 0x48, regVersion: 0x92,
}

// fakeChip is an MFRC522 on SPI with a type A card (ISO/IEC 14443-3) that
// can be put in its field: registers, FIFO, the CalcCRC, Transceive and
// SoftReset commands, the interrupt request bits and the IRQ line, which
// gives an edge on the IRQ pin when it becomes active.
type fakeChip struct {
	irq *ioctlPin

	mu      sync.Mutex
	regs    [64]byte
	fifo    []byte
	card    *picc
	active  bool
	absent  bool // the bus reads FF, as with no chip on MISO
	failTx  int  // fail the transfer after this many more (0: never)
	txs     int
	connect int
}

var errSPI = errors.New("fake spi: input/output error")

func newFakeChip() *fakeChip {
	c := &fakeChip{irq: newIoctlPin()}
	c.softReset()
	return c
}

func (c *fakeChip) String() string { return "fake-spi" }

// Connect implements spi.Port.
func (c *fakeChip) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connect++
	if c.connect > 1 {
		return nil, errors.New("fake spi: already connected")
	}
	return c, nil
}

func (c *fakeChip) Duplex() conn.Duplex { return conn.Full }

func (c *fakeChip) TxPackets(p []spi.Packet) error {
	for _, pk := range p {
		if err := c.Tx(pk.W, pk.R); err != nil {
			return err
		}
	}
	return nil
}

// Tx is one SPI transfer: an address byte (bit 7 read, bits 6-1 address),
// then data to write or, for a read, the next addresses.
func (c *fakeChip) Tx(w, r []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.txs++
	if c.failTx > 0 {
		if c.failTx--; c.failTx == 0 {
			return errSPI
		}
	}
	if c.absent {
		for i := range r {
			r[i] = 0xFF
		}
		return nil
	}
	if len(w) == 0 {
		return nil
	}
	addr := (w[0] >> 1) & 0x3F
	if w[0]&0x80 != 0 {
		for i := 1; i < len(w); i++ {
			v := c.read(addr)
			if i < len(r) {
				r[i] = v
			}
			addr = (w[i] >> 1) & 0x3F
		}
	} else {
		for _, v := range w[1:] {
			c.write(addr, v)
		}
	}
	c.updateIRQ()
	return nil
}

func (c *fakeChip) read(addr byte) byte {
	switch addr {
	case regFIFOData:
		if len(c.fifo) == 0 {
			return 0
		}
		v := c.fifo[0]
		c.fifo = c.fifo[1:]
		return v
	case regFIFOLevel:
		return byte(len(c.fifo))
	}
	return c.regs[addr]
}

func (c *fakeChip) write(addr, v byte) {
	switch addr {
	case regCommand:
		c.regs[regCommand] = v
		c.command(v & 0x0F)
	case regFIFOData:
		if len(c.fifo) < 64 {
			c.fifo = append(c.fifo, v)
		}
	case regFIFOLevel:
		if v&0x80 != 0 {
			c.fifo = nil
		}
	case regComIrq, regDivIrq:
		// Bit 7 (Set1, Set2): 1 sets the marked bits, 0 clears them.
		if v&0x80 != 0 {
			c.regs[addr] |= v & 0x7F
		} else {
			c.regs[addr] &^= v & 0x7F
		}
	case regBitFraming:
		c.regs[addr] = v
		if v&0x80 != 0 && c.regs[regCommand]&0x0F == cmdTransceive {
			c.transceive()
		}
	case regTxControl:
		was := c.antenna()
		c.regs[addr] = v
		if now := c.antenna(); now != was && c.card != nil {
			c.card.power(now)
		}
	default:
		c.regs[addr] = v
	}
}

func (c *fakeChip) antenna() bool { return c.regs[regTxControl]&0x03 != 0 }

func (c *fakeChip) command(cmd byte) {
	switch cmd {
	case cmdSoftReset:
		c.softReset()
	case cmdCalcCRC:
		crc := crcA(c.fifo)
		c.fifo = nil
		c.regs[regCRCResultL], c.regs[regCRCResultM] = byte(crc), byte(crc>>8)
		c.regs[regDivIrq] |= 0x04 // CRCIRq
	}
}

func (c *fakeChip) softReset() {
	c.regs = [64]byte{}
	for a, v := range resetValues {
		c.regs[a] = v
	}
	c.fifo = nil
	if c.card != nil {
		c.card.power(false) // the antenna is off after a reset
	}
}

// transceive sends the FIFO to the card and puts its answer in the FIFO.
func (c *fakeChip) transceive() {
	frame := c.fifo
	c.fifo = nil
	bits := c.regs[regBitFraming] & 0x07
	c.regs[regComIrq] |= 0x40 // TxIRq
	var resp []byte
	if c.antenna() && c.card != nil {
		resp = c.card.handle(frame, bits)
	}
	if resp == nil {
		c.regs[regComIrq] |= 0x01 // TimerIRq: nobody answered
		return
	}
	c.fifo = resp
	c.regs[regControl] &^= 0x07 // whole bytes
	c.regs[regComIrq] |= 0x20   // RxIRq
}

// updateIRQ gives an edge on the IRQ pin when the IRQ line becomes active.
func (c *fakeChip) updateIRQ() {
	on := c.regs[regComIEn]&c.regs[regComIrq]&0x7F != 0 || c.regs[regDivIEn]&c.regs[regDivIrq]&0x14 != 0
	if on && !c.active {
		c.irq.edge()
	}
	c.active = on
}

func (c *fakeChip) present(p *picc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.card = p
	p.power(c.antenna())
}

func (c *fakeChip) remove() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.card = nil
}

func (c *fakeChip) set(f func(c *fakeChip)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// picc is a type A card: states IDLE, READY (per cascade level), ACTIVE,
// HALT; REQA, WUPA, ANTICOLLISION and SELECT of each cascade level.
type picc struct {
	uid    []byte
	sak    byte // SAK of the last cascade level
	badBCC bool // answer anticollision with a wrong check byte

	on    bool
	state string
	level int
}

func newCard(uid ...byte) *picc { return &picc{uid: slices.Clone(uid), sak: 0x08} }

func (p *picc) power(on bool) {
	p.on, p.state, p.level = on, "idle", 0
}

// levels returns the UID's cascade levels, with cascade tags.
func (p *picc) levels() [][]byte {
	u := p.uid
	switch len(u) {
	case 4:
		return [][]byte{u}
	case 7:
		return [][]byte{{0x88, u[0], u[1], u[2]}, u[3:7]}
	default:
		return [][]byte{{0x88, u[0], u[1], u[2]}, {0x88, u[3], u[4], u[5]}, u[6:10]}
	}
}

func (p *picc) atqa() []byte {
	switch len(p.uid) {
	case 4:
		return []byte{0x04, 0x00}
	case 7:
		return []byte{0x44, 0x00}
	}
	return []byte{0x84, 0x00}
}

func (p *picc) handle(f []byte, bits byte) []byte {
	if !p.on {
		return nil
	}
	if bits == 7 && len(f) == 1 {
		if f[0] == 0x26 && p.state == "idle" || f[0] == 0x52 && (p.state == "idle" || p.state == "halt") {
			p.state, p.level = "ready", 1
			return p.atqa()
		}
		return nil
	}
	if p.state != "ready" {
		if p.state == "active" && len(f) == 4 && f[0] == 0x50 && f[1] == 0x00 {
			p.state = "halt"
		}
		return nil
	}
	cl := p.levels()
	if len(f) < 2 || f[0] != []byte{0x93, 0x95, 0x97}[p.level-1] {
		p.state = "idle"
		return nil
	}
	part := cl[p.level-1]
	bcc := part[0] ^ part[1] ^ part[2] ^ part[3]
	switch {
	case len(f) == 2 && f[1] == 0x20: // ANTICOLLISION, NVB 20
		if p.badBCC {
			bcc ^= 0xFF
		}
		return append(slices.Clone(part), bcc)
	case len(f) == 9 && f[1] == 0x70: // SELECT with CRC_A
		crc := crcA(f[:7])
		if f[7] != byte(crc) || f[8] != byte(crc>>8) || !slices.Equal(f[2:6], part) || f[6] != bcc {
			p.state = "idle"
			return nil
		}
		sak := byte(0x04) // cascade bit: UID not complete
		if p.level == len(cl) {
			sak, p.state = p.sak, "active"
		} else {
			p.level++
		}
		crc = crcA([]byte{sak})
		return []byte{sak, byte(crc), byte(crc >> 8)}
	}
	p.state = "idle"
	return nil
}

// crcA is ISO/IEC 14443-3's CRC_A (preset 6363, sent low byte first).
func crcA(data []byte) uint16 {
	crc := uint16(0x6363)
	for _, b := range data {
		b ^= byte(crc)
		b ^= b << 4
		crc = crc>>8 ^ uint16(b)<<8 ^ uint16(b)<<3 ^ uint16(b)>>4
	}
	return crc
}

// ioctlPin is an input pin with gpioioctl's WaitForEdge as measured on a
// Raspberry Pi (notes/hardware.md): 0 waits forever, a negative timeout
// returns false at once even with an edge queued. It records every such
// call, which the adapter must never make.
type ioctlPin struct {
	edges chan struct{}
	stop  chan struct{}

	mu  sync.Mutex
	bad []time.Duration
}

func newIoctlPin() *ioctlPin {
	return &ioctlPin{edges: make(chan struct{}, 64), stop: make(chan struct{})}
}

func (p *ioctlPin) edge() {
	select {
	case p.edges <- struct{}{}:
	default:
	}
}

// release ends a forever wait, so that a failing test does not hang.
func (p *ioctlPin) release() { close(p.stop) }

func (p *ioctlPin) badCalls() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bad)
}

func (p *ioctlPin) WaitForEdge(timeout time.Duration) bool {
	if timeout <= 0 {
		p.mu.Lock()
		p.bad = append(p.bad, timeout)
		p.mu.Unlock()
	}
	switch {
	case timeout < 0:
		return false
	case timeout == 0:
		select {
		case <-p.edges:
			return true
		case <-p.stop:
			return false
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.edges:
		return true
	case <-t.C:
		return false
	}
}

func (p *ioctlPin) String() string                            { return "GPIO24" }
func (p *ioctlPin) Halt() error                               { return nil }
func (p *ioctlPin) Name() string                              { return "GPIO24" }
func (p *ioctlPin) Number() int                               { return 24 }
func (p *ioctlPin) Function() string                          { return "In/High" }
func (p *ioctlPin) In(pull gpio.Pull, edge gpio.Edge) error   { return nil }
func (p *ioctlPin) Read() gpio.Level                          { return gpio.High }
func (p *ioctlPin) Pull() gpio.Pull                           { return gpio.PullUp }
func (p *ioctlPin) DefaultPull() gpio.Pull                    { return gpio.PullUp }
func (p *ioctlPin) Func() pin.Func                            { return gpio.IN }
func (p *ioctlPin) SupportedFuncs() []pin.Func                { return []pin.Func{gpio.IN} }
func (p *ioctlPin) SetFunc(f pin.Func) error                  { return errors.New("not supported") }
func (p *ioctlPin) PWM(d gpio.Duty, f physic.Frequency) error { return errors.New("not supported") }

var _ gpio.PinIn = (*ioctlPin)(nil)

// outPin is the reset pin: it remembers its levels.
type outPin struct {
	mu     sync.Mutex
	levels []gpio.Level
}

func (p *outPin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.levels = append(p.levels, l)
	return nil
}
func (p *outPin) PWM(d gpio.Duty, f physic.Frequency) error { return errors.New("not supported") }
func (p *outPin) String() string                            { return "GPIO25" }
func (p *outPin) Halt() error                               { return nil }
func (p *outPin) Name() string                              { return "GPIO25" }
func (p *outPin) Number() int                               { return 25 }
func (p *outPin) Function() string                          { return "Out" }

var _ gpio.PinOut = (*outPin)(nil)
