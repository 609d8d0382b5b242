package mqttlinktest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/kunci-project/kunci/sync/mqttlink"
)

// Publication is one publish the link took.
type Publication struct {
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
}

// Link stands for *mqttlink.Link. New returns it down; while down every
// publish fails at once with mqttlink.ErrNotConnected and is not kept, as
// the real link does. While up it keeps every publish, and completes it at
// once or, after SetAuto(false), when the test calls Complete. Its methods
// are safe to call from any goroutine.
type Link struct {
	t testing.TB

	mu         sync.Mutex
	up         bool
	connCh     chan struct{} // closed and replaced at every Connect
	manual     bool
	expect     *Publication // QoS and Retained every publish must have
	refuse     []error      // refusals of the next publishes, not kept
	failNext   []error      // failures of the next publishes, kept
	pubs       []Publication
	pending    []*token
	maxPending int
}

// New returns a link that is down and, once up, completes every publish at
// once. Expect and Ack failures are reported on t.
func New(t testing.TB) *Link {
	return &Link{t: t, connCh: make(chan struct{})}
}

type token struct {
	done chan struct{}
	err  error
}

func (t *token) Done() <-chan struct{} { return t.done }
func (t *token) Error() error          { return t.err }

func (t *token) end(err error) {
	t.err = err
	close(t.done)
}

// Publish implements the Publish of mqttlink.Link.
func (l *Link) Publish(topic string, qos byte, retained bool, payload []byte) mqttlink.Token {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.up {
		return mqttlink.Completed(mqttlink.ErrNotConnected)
	}
	if len(l.refuse) > 0 {
		err := l.refuse[0]
		l.refuse = l.refuse[1:]
		return mqttlink.Completed(err)
	}
	p := Publication{Topic: topic, QoS: qos, Retained: retained, Payload: bytes.Clone(payload)}
	if l.expect != nil && (qos != l.expect.QoS || retained != l.expect.Retained) {
		l.t.Errorf("mqttlinktest: publish to %s with QoS %d, retained %v; want QoS %d, retained %v",
			topic, qos, retained, l.expect.QoS, l.expect.Retained)
		return mqttlink.Completed(errors.New("mqttlinktest: unexpected QoS or retain flag"))
	}
	l.pubs = append(l.pubs, p)
	if len(l.failNext) > 0 {
		err := l.failNext[0]
		l.failNext = l.failNext[1:]
		return mqttlink.Completed(err)
	}
	if !l.manual {
		return mqttlink.Completed(nil)
	}
	tok := &token{done: make(chan struct{})}
	l.pending = append(l.pending, tok)
	l.maxPending = max(l.maxPending, len(l.pending))
	return tok
}

// Connected reports whether the link is up.
func (l *Link) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

// NextConnection returns a channel closed at the next Connect.
func (l *Link) NextConnection() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connCh
}

// Connect brings the link up, as a new connection: it signals those
// waiting on NextConnection even when the link was up already.
func (l *Link) Connect() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = true
	close(l.connCh)
	l.connCh = make(chan struct{})
}

// Drop takes the link down. The publishes waiting for Complete end with
// err, as paho fails them for a clean session, or, with a nil err, never
// end, as a publish in flight across a reconnect may never hear back.
func (l *Link) Drop(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = false
	if err != nil {
		for _, tok := range l.pending {
			tok.end(err)
		}
	}
	l.pending = nil
}

// SetAuto says whether publishes complete at once (true, the default) or
// wait for Complete (false). It changes only later publishes.
func (l *Link) SetAuto(auto bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.manual = !auto
}

// Complete ends the n oldest publishes waiting (all of them for n < 0 or
// more than wait) with err, nil for the broker's acknowledgement, and
// returns how many it ended.
func (l *Link) Complete(n int, err error) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 0 || n > len(l.pending) {
		n = len(l.pending)
	}
	for _, tok := range l.pending[:n] {
		tok.end(err)
	}
	l.pending = l.pending[n:]
	return n
}

// Ack ends the oldest publish waiting with err; with none waiting it fails
// the test. Call it from the test's goroutine.
func (l *Link) Ack(err error) {
	l.t.Helper()
	if l.Complete(1, err) == 0 {
		l.t.Fatal("mqttlinktest: Ack: no publish is waiting")
	}
}

// Refuse makes the next len(errs) publishes fail at once with these errors
// without being kept, as a link refuses a publish it cannot send.
func (l *Link) Refuse(errs ...error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refuse = append(l.refuse, errs...)
}

// FailNext makes the next len(errs) publishes fail at once with these
// errors; they are kept, as a publish that reached the wire before the
// write failed.
func (l *Link) FailNext(errs ...error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failNext = append(l.failNext, errs...)
}

// Expect makes every later publish with another QoS or retain flag fail
// the test (and the publish, without keeping it).
func (l *Link) Expect(qos byte, retained bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expect = &Publication{QoS: qos, Retained: retained}
}

// Published returns the publishes kept so far, oldest first.
func (l *Link) Published() []Publication {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pubs)
}

// Pending returns how many publishes wait for Complete now, and the most
// that ever waited at once.
func (l *Link) Pending() (now, most int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending), l.maxPending
}
