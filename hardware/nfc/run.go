package nfc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kunci-project/kunci/internal/sleep"
)

// Defaults of Run's options.
const (
	DefaultAbsent      = time.Second
	DefaultBackoffMin  = 500 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
	DefaultRepeatFault = 10 * time.Minute
)

// dupPause is how long Run waits after dropping a repeat of the card on the
// reader, so that a reader answering at once cannot make it spin.
const dupPause = 20 * time.Millisecond

// maxFaultKinds bounds the memory of reported faults.
const maxFaultKinds = 64

// Option changes one of Run's defaults.
type Option func(*config)

type config struct {
	absent      time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration
	repeatFault time.Duration
	log         *slog.Logger
}

// AbsentFor sets how long a card must have been away from the reader before
// the same UID counts as a new tap (default 1 s). A non-positive d keeps the
// default.
func AbsentFor(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.absent = d
		}
	}
}

// Backoff sets the wait after a reader fault before the reader is reset and
// read again: it starts at lo and doubles up to hi (defaults 500 ms and
// 30 s). Non-positive values keep the defaults.
func Backoff(lo, hi time.Duration) Option {
	return func(c *config) {
		if lo > 0 {
			c.backoffMin = lo
		}
		if hi > 0 {
			c.backoffMax = hi
		}
		if c.backoffMax < c.backoffMin {
			c.backoffMax = c.backoffMin
		}
	}
}

// RepeatFaultAfter sets how long a fault with the same text is kept from
// being reported again (default 10 minutes), so that a reader unplugged for
// a day, or a wedge reader that truncates every UID, does not flood the
// event log. Every fault is still logged.
func RepeatFaultAfter(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.repeatFault = d
		}
	}
}

// Logger sets the logger (default: none).
func Logger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// Run reads cards from r until ctx ends or r is halted, and returns nil
// then. Each new UID goes to sink.Tap(ctx, name, uid); the same UID again
// counts only after the card has been away for AbsentFor. A failed read is
// reported to faults (which may be nil), then Run waits a backoff, resets r
// if it is a Resetter and reads again. Run never logs a UID, only its
// length. It does not halt r: whoever opened r does.
func Run(ctx context.Context, r Reader, name string, sink Tapper, faults FaultReporter, opts ...Option) error {
	if r == nil || sink == nil {
		return errors.New("nfc: Run needs a reader and a sink")
	}
	c := config{
		absent:      DefaultAbsent,
		backoffMin:  DefaultBackoffMin,
		backoffMax:  DefaultBackoffMax,
		repeatFault: DefaultRepeatFault,
		log:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&c)
	}
	l := &loop{c: c, r: r, name: name, sink: sink, faults: faults, reported: map[string]time.Time{}}
	return l.run(ctx)
}

type loop struct {
	c        config
	r        Reader
	name     string
	sink     Tapper
	faults   FaultReporter
	last     []byte
	lastSeen time.Time
	reported map[string]time.Time
	failing  bool
}

var errNothing = errors.New("reader returned neither a card nor an error")

func (l *loop) run(ctx context.Context) error {
	backoff := l.c.backoffMin
	for {
		uid, err := l.r.ReadUID(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if uid == nil {
			if errors.Is(err, ErrHalted) {
				return nil
			}
			if err == nil {
				err = errNothing
			}
			l.failing = true
			l.fault(ctx, err)
			if !sleep.For(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, l.c.backoffMax)
			if rs, ok := l.r.(Resetter); ok {
				if err := rs.Reset(ctx); err != nil {
					if ctx.Err() != nil || errors.Is(err, ErrHalted) {
						return nil
					}
					l.fault(ctx, fmt.Errorf("reset: %w", err))
				}
			}
			continue
		}
		if l.failing {
			l.failing = false
			l.c.log.Info("card reader works again", "reader", l.name, "device", l.r.String())
		}
		backoff = l.c.backoffMin
		warning, bad := CheckUID(uid)
		if bad != nil {
			l.fault(ctx, fmt.Errorf("reader returned an unusable uid: %w", bad))
			if !sleep.For(ctx, backoff) {
				return nil
			}
			continue
		}
		now := time.Now()
		if l.last != nil && bytes.Equal(uid, l.last) && now.Sub(l.lastSeen) < l.c.absent {
			l.lastSeen = now
			if !sleep.For(ctx, dupPause) {
				return nil
			}
			continue
		}
		clear(l.last)
		l.last = bytes.Clone(uid)
		l.lastSeen = now
		if err != nil {
			l.fault(ctx, err)
		}
		if warning != nil {
			l.fault(ctx, warning)
		}
		l.c.log.Debug("card read", "reader", l.name, "uid_len", len(uid))
		if err := l.sink.Tap(ctx, l.name, bytes.Clone(uid)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Not a reader fault: the door could not store the tap. Forget
			// the card so that, still on the reader, it is tapped again.
			l.c.log.Error("tap not stored", "reader", l.name, "uid_len", len(uid), "err", err)
			clear(l.last)
			l.last = nil
			if !sleep.For(ctx, l.c.backoffMin) {
				return nil
			}
		}
	}
}

// fault logs err and reports it, unless the same text was reported less
// than repeatFault ago.
func (l *loop) fault(ctx context.Context, err error) {
	msg := err.Error()
	now := time.Now()
	if t, ok := l.reported[msg]; ok && now.Sub(t) < l.c.repeatFault {
		l.c.log.Debug("card reader fault (reported before)", "reader", l.name, "err", msg)
		return
	}
	if len(l.reported) >= maxFaultKinds {
		clear(l.reported)
	}
	l.reported[msg] = now
	l.c.log.Warn("card reader fault", "reader", l.name, "device", l.r.String(), "err", msg)
	if l.faults != nil {
		l.faults(ctx, l.name, err)
	}
}
