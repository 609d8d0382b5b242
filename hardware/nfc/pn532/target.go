package pn532

import (
	"errors"
	"fmt"
)

// Modulation is the BrTy parameter of InListPassiveTarget: baud rate and
// card type (UM0701-02 §7.3.5).
type Modulation byte

// Modulations the driver polls.
const (
	TypeA Modulation = 0x00 // 106 kbps ISO/IEC 14443-3 type A
	TypeB Modulation = 0x03 // 106 kbps ISO/IEC 14443-3 type B
)

func (m Modulation) String() string {
	switch m {
	case TypeA:
		return "ISO 14443 A"
	case TypeB:
		return "ISO 14443 B"
	}
	return fmt.Sprintf("BrTy %02X", byte(m))
}

// Target is a card found by InListPassiveTarget.
type Target struct {
	Type Modulation
	// UID is the NFCID1 of a type A card (4, 7 or 10 bytes, without
	// cascade tags) or the PUPI of a type B card (4 bytes).
	UID  []byte
	ATQA [2]byte // type A: SENS_RES, as the PN532 gives it
	SAK  byte    // type A: SEL_RES
	ATS  []byte  // type A cards with ISO/IEC 14443-4: the ATS after its length byte
	ATQB []byte  // type B: the 12-byte ATQB (50, PUPI, application data, protocol info)
}

// String describes the card without its UID.
func (t Target) String() string {
	if t.Type == TypeB {
		return fmt.Sprintf("%s card, %d-byte PUPI", t.Type, len(t.UID))
	}
	return fmt.Sprintf("%s card, %d-byte UID, ATQA %02X%02X, SAK %02X", t.Type, len(t.UID), t.ATQA[0], t.ATQA[1], t.SAK)
}

// ErrTarget is wrapped by the errors of ParseTargets. They never repeat the
// target data, which holds the card's UID.
var ErrTarget = errors.New("bad target data")

// cascadeTag marks an incomplete UID in a cascade level (ISO/IEC 14443-3).
const cascadeTag = 0x88

// ParseTargets decodes the parameters of an InListPassiveTarget answer (the
// bytes after the response code 4B: NbTg, then the target data) for
// modulation m. It returns the first target, and found false when NbTg is 0.
func ParseTargets(m Modulation, p []byte) (t Target, found bool, err error) {
	t, found, err = parseTargets(m, p)
	if err != nil {
		return Target{}, false, fmt.Errorf("pn532: %w", err)
	}
	return t, found, nil
}

func parseTargets(m Modulation, p []byte) (t Target, found bool, err error) {
	if len(p) == 0 {
		return Target{}, false, fmt.Errorf("%w: empty answer", ErrTarget)
	}
	nb, p := p[0], p[1:]
	switch {
	case nb == 0:
		if len(p) != 0 {
			return Target{}, false, fmt.Errorf("%w: no target but %d more bytes", ErrTarget, len(p))
		}
		return Target{}, false, nil
	case nb > 2:
		return Target{}, false, fmt.Errorf("%w: %d targets, at most 2", ErrTarget, nb)
	}
	var rest []byte
	switch m {
	case TypeA:
		t, rest, err = parseA(p)
	case TypeB:
		t, rest, err = parseB(p)
	default:
		return Target{}, false, fmt.Errorf("%w: modulation %s not supported", ErrTarget, m)
	}
	if err != nil {
		return Target{}, false, err
	}
	// A second target (MaxTg 2) follows the first; the driver asks for one.
	if nb == 1 && len(rest) != 0 {
		return Target{}, false, fmt.Errorf("%w: %d bytes after the target", ErrTarget, len(rest))
	}
	return t, true, nil
}

// parseA decodes Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1 and, for a
// card with ISO/IEC 14443-4, the ATS whose first byte counts itself.
func parseA(p []byte) (Target, []byte, error) {
	const head = 5 // Tg, SENS_RES, SEL_RES, NFCIDLength
	if len(p) < head {
		return Target{}, nil, fmt.Errorf("%w: type A target of %d bytes", ErrTarget, len(p))
	}
	t := Target{Type: TypeA, ATQA: [2]byte{p[1], p[2]}, SAK: p[3]}
	n := int(p[4])
	p = p[head:]
	if n > len(p) {
		return Target{}, nil, fmt.Errorf("%w: %d-byte UID in %d bytes", ErrTarget, n, len(p))
	}
	uid := p[:n]
	p = p[n:]
	// Some PN53x firmware keeps the cascade tags; strip them like libnfc.
	switch {
	case n == 8 && uid[0] == cascadeTag:
		uid = uid[1:]
	case n == 12 && uid[0] == cascadeTag && uid[4] == cascadeTag:
		uid = append(append([]byte(nil), uid[1:4]...), uid[5:]...)
	}
	switch len(uid) {
	case 4, 7, 10:
	default:
		return Target{}, nil, fmt.Errorf("%w: type A target with a %d-byte UID", ErrTarget, n)
	}
	t.UID = append([]byte(nil), uid...)
	if t.SAK&0x20 != 0 && len(p) > 0 {
		tl := int(p[0])
		if tl < 1 || tl > len(p) {
			return Target{}, nil, fmt.Errorf("%w: ATS length %d in %d bytes", ErrTarget, tl, len(p))
		}
		t.ATS = append([]byte(nil), p[1:tl]...)
		p = p[tl:]
	}
	return t, p, nil
}

// parseB decodes Tg, ATQB (12), ATTRIB_RES length and ATTRIB_RES.
func parseB(p []byte) (Target, []byte, error) {
	const head = 1 + 12 + 1
	if len(p) < head {
		return Target{}, nil, fmt.Errorf("%w: type B target of %d bytes", ErrTarget, len(p))
	}
	atqb := p[1:13]
	if atqb[0] != 0x50 {
		return Target{}, nil, fmt.Errorf("%w: ATQB does not start with 50", ErrTarget)
	}
	n := int(p[13])
	p = p[head:]
	if n > len(p) {
		return Target{}, nil, fmt.Errorf("%w: ATTRIB_RES of %d bytes in %d", ErrTarget, n, len(p))
	}
	t := Target{
		Type: TypeB,
		UID:  append([]byte(nil), atqb[1:5]...),
		ATQB: append([]byte(nil), atqb...),
	}
	return t, p[n:], nil
}
