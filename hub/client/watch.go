package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/kunci-project/kunci/hub"
)

// ErrIdle is wrapped by the error of a Stream that heard nothing from the
// hub, not even its beat, for longer than WatchIdle: a link gone dead, not
// a quiet room.
var ErrIdle = errors.New("no word from the hub")

// Stream is the hub's watch stream (GET /api/watch): each door's state
// first, then every change, one update a line, and a beat every 15 s when
// nothing happens. Read it like a bufio.Scanner:
//
//	s, err := c.Watch(ctx)
//	...
//	defer s.Close()
//	for s.Next() {
//		u, err := s.Update()
//		...
//	}
//	return s.Err()
type Stream struct {
	parent context.Context // the caller's: its end is not an error
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   *time.Timer
	wait   time.Duration
	base   string
	body   io.ReadCloser
	sc     *bufio.Scanner
	line   []byte
	err    error
	closed atomic.Bool
}

// Watch opens the hub's watch stream; it ends with ctx, with Close, or
// with the link.
func (c *Client) Watch(ctx context.Context) (*Stream, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	s := &Stream{parent: ctx, ctx: sctx, cancel: cancel, wait: c.watchIdle, base: c.base}
	s.idle = time.AfterFunc(s.wait, func() { cancel(ErrIdle) })
	resp, err := c.open(sctx, c.stream, http.MethodGet, "/api/watch", nil, nil, "application/x-ndjson")
	if err != nil {
		s.idle.Stop()
		cancel(nil)
		if context.Cause(sctx) == ErrIdle && ctx.Err() == nil {
			err = s.idleError()
		}
		return nil, err
	}
	s.body = resp.Body
	s.sc = bufio.NewScanner(resp.Body)
	s.sc.Buffer(make([]byte, 64<<10), 4<<20)
	return s, nil
}

func (s *Stream) idleError() error {
	return fmt.Errorf("watch %s: %w for %s, not even its beat", s.base, ErrIdle, s.wait)
}

// Next waits for the next line of the stream and reports whether there
// is one; when there is none, the stream is closed and Err says why.
func (s *Stream) Next() bool {
	if s.closed.Load() {
		return false
	}
	for s.sc.Scan() {
		s.idle.Reset(s.wait)
		if len(s.sc.Bytes()) == 0 {
			continue
		}
		s.line = s.sc.Bytes()
		return true
	}
	err := s.sc.Err()
	switch {
	case s.closed.Load(), s.parent.Err() != nil:
		err = nil // the caller ended it
	case context.Cause(s.ctx) == ErrIdle:
		err = s.idleError()
	case err == nil:
		err = fmt.Errorf("watch %s: the hub ended the stream (restarted?)", s.base)
	default:
		err = fmt.Errorf("watch %s: %w", s.base, err)
	}
	s.line = nil
	s.Close()
	s.err = err
	return false
}

// Update decodes the line Next found: a hub.Update of kind state, status,
// availability, event, lagged or beat. An update it does not understand
// (from a hub of another version) is an error, and the stream goes on.
func (s *Stream) Update() (hub.Update, error) {
	var u hub.Update
	if err := json.Unmarshal(s.line, &u); err != nil {
		return u, fmt.Errorf("watch %s: an update not understood (a hub of another version?): %w", s.base, err)
	}
	return u, nil
}

// Raw is the line Next found, as the hub sent it, without its newline;
// it is valid until the next call of Next.
func (s *Stream) Raw() []byte { return s.line }

// Err is why the stream ended: nil when the caller ended it (its context,
// or Close).
func (s *Stream) Err() error { return s.err }

// Close ends the stream and frees its connection. It may be called from
// another goroutine to end a Next that waits, and more than once.
func (s *Stream) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.idle.Stop()
	s.cancel(nil)
	return s.body.Close()
}
