package hwcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	kgpio "github.com/kunci-project/kunci/hardware/gpio"
	"github.com/kunci-project/kunci/hardware/nfc"
	"github.com/kunci-project/kunci/hardware/nfc/pn532"
	"github.com/kunci-project/kunci/internal/sleep"
	"github.com/kunci-project/kunci/permit"
)

// cardRetry is how long hwcheck waits after a reader fault before it tries
// the reader again.
const cardRetry = time.Second

// readCards waits for one card on each reader (or on the one named only),
// in the config's order, and prints what it learnt.
func (h *check) readCards(ctx context.Context, only string, showUID bool) error {
	key, keyErr := permit.LoadSiteKey(h.w.SiteKeyFile)
	played := false
	var errs []error
	for _, rc := range h.w.Readers {
		if only != "" && rc.Name != only {
			continue
		}
		h.out.line("")
		r := h.b.Readers[rc.Name]
		if r == nil {
			errs = append(errs, fmt.Errorf("reader %s: not on the board", rc.Name))
			continue
		}
		h.out.line("Reader %s (%s): hold a card on it.", rc.Name, r)
		c, err := readOneCard(ctx, h.out, rc, r)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		h.printCard(rc.Name, c, key, keyErr, showUID)
		if werr, bad := nfc.CheckUID(c.uid); bad != nil {
			errs = append(errs, fmt.Errorf("reader %s: the agent would refuse this card: %w", rc.Name, bad))
		} else if werr != nil {
			h.out.line("  warning: %v", werr)
		}
		if c.warning != nil {
			h.out.line("  warning: %v", c.warning)
		}
		clear(c.uid)
		if h.b.Indicator != nil && h.b.Indicator.Play(kgpio.Granted) == nil {
			h.out.line("  the indicator plays %q: green, one beep", kgpio.Granted)
			played = true
		}
	}
	if played && ctx.Err() == nil {
		// let the pattern finish before the board is halted
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return errors.Join(errs...)
}

func (h *check) printCard(reader string, c card, key permit.SiteKey, keyErr error, showUID bool) {
	h.out.event("reader %s: %s", reader, c.kind)
	if keyErr != nil {
		h.out.line("  fingerprint: not computed: %v", keyErr)
	} else {
		h.out.line("  fingerprint: %s (HMAC-SHA256 with the site key: what the door stores)", key.Fingerprint(c.uid))
	}
	if showUID {
		h.out.line("  UID: %X (as kunci sign --card takes it; keep it out of tickets and chats)", c.uid)
	}
}

// card is what a reader told about a card.
type card struct {
	uid     []byte
	kind    string // type and UID length, never the UID
	warning error  // a suspect UID, from the reader
}

// readOneCard waits for a card on r until ctx ends, printing each new
// fault once and trying again after cardRetry.
func readOneCard(ctx context.Context, out *printer, rc ReaderWiring, r nfc.Reader) (card, error) {
	var last error
	fault := func(err error) {
		if last == nil || err.Error() != last.Error() {
			hint := ""
			if strings.Contains(strings.ToLower(err.Error()), "permission denied") {
				hint = " (is the user in the device's group: dialout, spi or input? see configs/udev/99-kunci.rules)"
			}
			out.event("reader %s: %v%s", rc.Name, err, hint)
		}
		last = err
	}
	announced := false
	for ctx.Err() == nil {
		if d, ok := r.(*pn532.Dev); ok && !announced {
			if err := d.Init(ctx); err != nil {
				if ctx.Err() == nil {
					fault(err)
					sleep.For(ctx, cardRetry)
				}
				continue
			}
			announced = true
			out.event("reader %s: the chip answers: %s", rc.Name, d.Firmware())
		}
		c, err := readCard(ctx, rc, r)
		if ctx.Err() != nil {
			break
		}
		if c.uid == nil {
			if err == nil {
				err = errors.New("the reader returned neither a card nor an error")
			}
			fault(err)
			if !sleep.For(ctx, cardRetry) {
				break
			}
			if rs, ok := r.(nfc.Resetter); ok {
				if _, isPN := r.(*pn532.Dev); !isPN {
					if err := rs.Reset(ctx); err != nil && ctx.Err() == nil {
						fault(fmt.Errorf("reset: %w", err))
					}
				}
			}
			continue
		}
		c.warning = err
		return c, nil
	}
	if last != nil {
		return card{}, fmt.Errorf("reader %s: no card read; last fault: %w", rc.Name, last)
	}
	return card{}, fmt.Errorf("reader %s: no card read", rc.Name)
}

// readCard reads one card, with its type where the reader tells it.
func readCard(ctx context.Context, rc ReaderWiring, r nfc.Reader) (card, error) {
	if d, ok := r.(*pn532.Dev); ok {
		t, err := d.ReadTarget(ctx)
		if err != nil {
			return card{}, err
		}
		return card{uid: t.UID, kind: t.String()}, nil
	}
	uid, err := r.ReadUID(ctx)
	if uid == nil {
		return card{}, err
	}
	kind := fmt.Sprintf("%d-byte UID, card type not known", len(uid))
	if rc.Type == MFRC522 {
		kind = fmt.Sprintf("%s card, %d-byte UID", pn532.TypeA, len(uid))
	}
	return card{uid: uid, kind: kind}, err
}
