package mqttlink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/kunci-project/kunci/internal/metrics"
)

// ErrNotConnected is the error of a publish while the link is down.
var ErrNotConnected = errors.New("mqtt: not connected")

// Will is the message the broker publishes when the link dies.
type Will struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Options configure a Link. Zero durations take the defaults noted.
type Options struct {
	Broker string // tcp://127.0.0.1:1883, ssl://host:8883: the one broker
	// Brokers, instead of Broker, are the brokers of a site that runs
	// several (Mosquitto does not cluster), in order: the link connects to
	// the first that answers and stays on it while it works; when it is
	// lost, the link tries the next ones, then the first again (see Run).
	Brokers        []string
	ClientID       string
	Username       string
	Password       string
	TLS            *tls.Config
	CleanSession   bool // false: the broker keeps the session and queues QoS 1 while away
	Will           *Will
	KeepAlive      time.Duration // 30 s
	ConnectTimeout time.Duration // 10 s
	MinBackoff     time.Duration // 500 ms
	MaxBackoff     time.Duration // 30 s
	// Subscriptions are made again on every connection: topic filter -> QoS.
	Subscriptions map[string]byte
	// OnConnect runs after each connection is up and subscribed, in the
	// link's own goroutine; the link does not read messages meanwhile.
	OnConnect  func()
	QueueDepth int // incoming messages held for the handler (1024)
	// Urgent, when set, picks the topics whose messages have a queue of
	// their own, as deep as QueueDepth, which the handler empties first:
	// the live messages that cannot come again (a door's commands and
	// acks), so that a flood on other topics (the retained records,
	// which come again after a drop) neither drops nor delays them. Each
	// queue keeps its own order; Urgent runs in paho's goroutine.
	Urgent func(topic string) bool
	// OnDrop, when set, is told of each message dropped because the
	// queue was full (a counter). It runs in paho's goroutine: it must
	// not block.
	OnDrop func(Message)
	// Backpressure makes a full queue wait instead, holding paho's reader
	// (and with it the link's own acknowledgements) back until the
	// handler catches up, so that the broker holds the rest: for a link
	// whose one job is to take every message in order, the hub's ingest,
	// never for a door.
	Backpressure bool
	// MaxPacket bounds the MQTT packets read from the broker
	// (DefaultMaxPacket): a broker that announces a larger one loses the
	// connection before its payload is read (ErrPacketTooLarge).
	MaxPacket int
	// MaxMessage is how much of a payload is kept for the handler
	// (DefaultMaxMessage); the rest of a larger one is dropped, its
	// Message.Size saying how large it was.
	MaxMessage int
	// Metrics is the process's registry (the agent's, the hub's), for
	// /metrics: kunci_mqtt_*; nil: one of its own.
	Metrics *metrics.Registry
	Log     *slog.Logger
}

// Message is an incoming MQTT message.
type Message struct {
	Topic string
	// Broker is the position, in the link's brokers (a Set's), of the one
	// the message came from: 0 for a link to one broker.
	Broker int
	// Payload is the message's payload, or its first MaxMessage+1 bytes
	// when it was larger (Size says how large).
	Payload   []byte
	Size      int
	QoS       byte
	Retained  bool
	Duplicate bool
}

// Token is a publish under way: Done closes when it is over, Error says
// how. For QoS 1 a nil Error means the broker acknowledged it.
type Token interface {
	Done() <-chan struct{}
	Error() error
}

// Link is one MQTT connection, kept up until its Run ends, to one of its
// brokers at a time.
type Link struct {
	o       Options
	brokers []string
	clients []mqtt.Client // one per broker, the same options but the server
	cur     atomic.Int32  // the broker in use, or last tried
	base    int           // added to cur in Message.Broker (a Set's link)
	handler func(Message)
	inbox   chan Message
	urgent  chan Message // Options.Urgent's messages; nil without it
	lost    chan error

	connected atomic.Bool
	*linkMetrics
	overflowed atomic.Bool // a message was dropped since the last resubscription
	mu         sync.Mutex
	connCh     chan struct{} // closed and replaced at every new connection
}

// linkMetrics are the counters of a link, or shared by the links of a Set.
type linkMetrics struct {
	connections *metrics.Counter
	dropped     *metrics.Counter
	tooLarge    *metrics.Counter
	failovers   *metrics.Counter
}

func newLinkMetrics(reg *metrics.Registry) *linkMetrics {
	return &linkMetrics{
		connections: reg.Counter("kunci_mqtt_connections_total", "Connections the MQTT link made to the broker."),
		dropped: reg.Counter("kunci_mqtt_dropped_total",
			"Incoming MQTT messages dropped because the handler was behind; the link subscribes again for the retained ones."),
		tooLarge: reg.Counter("kunci_mqtt_packet_too_large_total",
			"Connections dropped because the broker announced a packet larger than the link reads (its payload never read)."),
		failovers: reg.Counter("kunci_mqtt_failovers_total",
			"Connections the MQTT link made to another broker of its list than the one it had lost."),
	}
}

// ErrBrokers is wrapped by New's error for a missing or repeated broker.
var ErrBrokers = errors.New("mqtt: brokers")

// brokerList returns o's brokers: Brokers, or Broker alone. It checks
// the client id too, before anything is registered in o.Metrics.
func (o *Options) brokerList() ([]string, error) {
	if o.ClientID == "" {
		return nil, errors.New("mqtt: broker and client id are required")
	}
	if len(o.Brokers) == 0 {
		if o.Broker == "" {
			return nil, fmt.Errorf("%w: a broker is required", ErrBrokers)
		}
		return []string{o.Broker}, nil
	}
	if o.Broker != "" && o.Broker != o.Brokers[0] {
		return nil, fmt.Errorf("%w: Broker %q and Brokers %q: set one of them", ErrBrokers, o.Broker, o.Brokers)
	}
	for i, b := range o.Brokers {
		if b == "" || slices.Contains(o.Brokers[:i], b) {
			return nil, fmt.Errorf("%w: %q: empty or listed twice", ErrBrokers, b)
		}
	}
	return slices.Clone(o.Brokers), nil
}

// New prepares a link; Run connects it. handler gets the messages of the
// subscriptions, one at a time, in the order paho delivers them; see
// receive for those that find it behind.
func New(o Options, handler func(Message)) (*Link, error) {
	brokers, err := o.brokerList()
	if err != nil {
		return nil, err
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	l := newLink(o, brokers, handler, newLinkMetrics(o.Metrics))
	o.Metrics.GaugeFunc("kunci_mqtt_connected", "Whether the MQTT link is connected to the broker now (1) or not (0).",
		func() float64 {
			if l.connected.Load() {
				return 1
			}
			return 0
		})
	o.Metrics.GaugeFunc("kunci_mqtt_broker", "The position in the link's list of brokers (0 the first) of the one it is on, or last tried.",
		func() float64 { return float64(l.cur.Load()) })
	return l, nil
}

// newLink builds a link to brokers (brokerList's) with o's options.
func newLink(o Options, brokers []string, handler func(Message), m *linkMetrics) *Link {
	o.Broker, o.Brokers = brokers[0], brokers
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.KeepAlive, 30*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.MinBackoff, 500*time.Millisecond)
	def(&o.MaxBackoff, 30*time.Second)
	if o.QueueDepth <= 0 {
		o.QueueDepth = 1024
	}
	if o.MaxPacket <= 0 {
		o.MaxPacket = DefaultMaxPacket
	}
	if o.MaxMessage <= 0 {
		o.MaxMessage = DefaultMaxMessage
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if handler == nil {
		handler = func(Message) {}
	}
	l := &Link{o: o, brokers: brokers, handler: handler, inbox: make(chan Message, o.QueueDepth), lost: make(chan error, 1),
		connCh: make(chan struct{}), linkMetrics: m}
	if o.Urgent != nil {
		l.urgent = make(chan Message, o.QueueDepth)
	}
	for _, b := range brokers {
		co := mqtt.NewClientOptions().AddBroker(b).SetClientID(o.ClientID).
			SetCleanSession(o.CleanSession).SetKeepAlive(o.KeepAlive).SetConnectTimeout(o.ConnectTimeout).
			SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true).SetWriteTimeout(o.ConnectTimeout).
			SetDefaultPublishHandler(l.receive).SetCustomOpenConnectionFn(l.open).
			SetConnectionLostHandler(func(_ mqtt.Client, err error) {
				select {
				case l.lost <- err:
				default:
				}
			})
		if o.Username != "" {
			co.SetUsername(o.Username).SetPassword(o.Password)
		}
		if o.TLS != nil {
			co.SetTLSConfig(o.TLS)
		}
		if w := o.Will; w != nil {
			// the same will on every broker: the door's availability
			// says offline wherever its connection dies
			co.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
		}
		l.clients = append(l.clients, mqtt.NewClient(co))
	}
	return l
}

// client is the paho client of the broker in use.
func (l *Link) client() mqtt.Client { return l.clients[l.cur.Load()] }

// broker is the address of the broker in use.
func (l *Link) broker() string { return l.brokers[l.cur.Load()] }

// Broker returns the address of the broker the link is on, or last tried.
func (l *Link) Broker() string { return l.broker() }

// receive is paho's callback: it copies the message and queues it, and
// never waits. Waiting would hold paho's one reader back, and with it the
// acknowledgements of our own publishes and the keepalive, for as long as
// the handler is behind: a flood on one topic would stall the link. A
// message that finds the queue full is dropped, counted and logged, and
// once the queue has drained the link subscribes again, so the broker
// sends every retained message (the signed records) anew. What cannot come
// again is a live message: a command (the hub sees no command.executed and
// may send it again) or an ack (the outbox sends the events again), which
// Options.Urgent gives a queue of its own.
func (l *Link) receive(_ mqtt.Client, m mqtt.Message) {
	p := m.Payload()
	msg := Message{Topic: m.Topic(), Broker: l.base + int(l.cur.Load()), Payload: append([]byte(nil), p[:min(len(p), l.o.MaxMessage+1)]...), Size: len(p),
		QoS: m.Qos(), Retained: m.Retained(), Duplicate: m.Duplicate()}
	q := l.inbox
	if l.urgent != nil && l.o.Urgent(msg.Topic) {
		q = l.urgent
	}
	if l.o.Backpressure {
		q <- msg
		return
	}
	select {
	case q <- msg:
		return
	default:
	}
	l.dropped.Inc()
	n := l.dropped.Value() // paho calls receive from one goroutine
	l.overflowed.Store(true)
	if l.o.OnDrop != nil {
		l.o.OnDrop(msg)
	}
	if n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th, ... drop: a flood leaves a trace, not a log per message
		l.o.Log.Warn("mqtt: incoming queue full, message dropped", "topic", clip(msg.Topic), "dropped", n)
	}
}

// PacketsTooLarge returns how many connections were dropped because the
// broker announced a packet larger than MaxPacket.
func (l *Link) PacketsTooLarge() uint64 { return l.tooLarge.Value() }

// Dropped returns how many incoming messages were dropped because the
// handler was behind.
func (l *Link) Dropped() uint64 { return l.dropped.Value() }

// Queued is how many messages wait for the handler now: in the urgent
// queue (Options.Urgent) and in the other.
func (l *Link) Queued() (urgent, other int) { return len(l.urgent), len(l.inbox) }

// clip bounds a topic for a log line.
func clip(t string) string {
	if len(t) > 160 {
		return t[:160] + "…"
	}
	return t
}

// resubscribe asks the broker for the subscriptions again after messages
// were dropped: it sends the retained ones anew.
func (l *Link) resubscribe(ctx context.Context) {
	if !l.overflowed.CompareAndSwap(true, false) || len(l.o.Subscriptions) == 0 || !l.connected.Load() {
		return
	}
	err := waitTimeout(ctx, l.client().SubscribeMultiple(l.o.Subscriptions, nil), l.o.ConnectTimeout)
	if err != nil && ctx.Err() == nil {
		l.overflowed.Store(true) // again after the next message
		l.o.Log.Warn("mqtt: subscribe again after dropped messages", "err", err)
		return
	}
	l.o.Log.Info("mqtt: subscribed again after dropped messages", "dropped", l.dropped.Value())
}

// Connected reports whether the link is up now.
func (l *Link) Connected() bool { return l.connected.Load() }

// Connections returns how many connections the link has made.
func (l *Link) Connections() uint64 { return l.connections.Value() }

// NextConnection returns a channel closed at the next new connection.
func (l *Link) NextConnection() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connCh
}

// Publish sends payload. While the link is down it fails at once with
// ErrNotConnected rather than queueing in paho's memory.
func (l *Link) Publish(topic string, qos byte, retained bool, payload []byte) Token {
	if !l.connected.Load() {
		return Completed(ErrNotConnected)
	}
	return l.client().Publish(topic, qos, retained, payload)
}

// Completed returns a token that is done, with err (nil: a success): a
// publish refused at once, or a fake link's publish in tests.
func Completed(err error) Token { return completed{err} }

type completed struct{ err error }

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c completed) Done() <-chan struct{} { return closed }
func (c completed) Error() error          { return c.err }

// Wait waits for t, at most until ctx ends.
func Wait(ctx context.Context, t Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run keeps the link connected until ctx ends, then disconnects (without
// the will: a clean stop publishes its own "offline" first if it wants).
//
// With several brokers the link stays on the one it is on while that one
// works, and does not go back to the first when it returns: every move
// costs the door a resend of its unacked events and the broker's retained
// records anew, and a hub on every broker serves a door on any of them.
// When the connection is lost, the link tries the brokers in turn from
// the next one after it, without waiting between them, then after its
// backoff from the first again. Failed attempts are retried after a
// jittered, doubling backoff.
func (l *Link) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer func() { <-done }()
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	go func() {
		defer close(done)
		for {
			var m Message
			select { // the urgent queue first (a nil channel is never ready)
			case m = <-l.urgent:
			case <-dispatchCtx.Done():
				return
			default:
				select {
				case m = <-l.urgent:
				case m = <-l.inbox:
				case <-dispatchCtx.Done():
					return
				}
			}
			l.handler(m)
			if len(l.inbox) == 0 && len(l.urgent) == 0 {
				l.resubscribe(dispatchCtx)
			}
		}
	}()
	backoff := l.o.MinBackoff
	first, lost := 0, -1 // the broker tried first; the one lost, if any
	for {
		err := l.connectAny(ctx, first, lost)
		if err == nil {
			backoff = l.o.MinBackoff
			select {
			case <-ctx.Done():
				l.connected.Store(false)
				l.client().Disconnect(250)
				return nil
			case err = <-l.lost:
				l.connected.Store(false)
				lost = int(l.cur.Load())
				first = (lost + 1) % len(l.clients)
				l.o.Log.Warn("mqtt: connection lost", "broker", l.broker(), "err", err)
			}
		} else {
			if ctx.Err() != nil {
				return nil
			}
			first = 0
			l.o.Log.Warn("mqtt: connect failed", "brokers", len(l.brokers), "err", err, "retry_in", backoff)
		}
		// jitter: a door-full of agents reconnecting after a broker restart
		// must not arrive in one burst
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, l.o.MaxBackoff)
	}
}

// connectAny tries each broker once, from first on, until one connects;
// lost is the broker whose connection was lost (-1: none), for the
// failover counter. It returns the errors of all when none did.
func (l *Link) connectAny(ctx context.Context, first, lost int) error {
	var errs []error
	for i := range l.clients {
		n := (first + i) % len(l.clients)
		l.cur.Store(int32(n))
		lostOther := ""
		if lost >= 0 && n != lost {
			lostOther = l.brokers[lost]
		}
		err := l.connect(ctx, lostOther)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// connect connects to the broker in use; lost names the broker whose
// connection was lost when it is another (a failover), else "".
func (l *Link) connect(ctx context.Context, lost string) error {
	select {
	case <-l.lost: // a stale loss from the previous connection
	default:
	}
	c := l.client()
	t := c.Connect()
	if err := waitTimeout(ctx, t, l.o.ConnectTimeout+time.Second); err != nil {
		return fmt.Errorf("mqtt: connect %s: %w", l.broker(), err)
	}
	// up before subscribing: a persistent session's queued messages arrive
	// at once, and their handlers may publish (acks)
	l.connected.Store(true)
	if len(l.o.Subscriptions) > 0 {
		st := c.SubscribeMultiple(l.o.Subscriptions, nil)
		err := waitTimeout(ctx, st, l.o.ConnectTimeout)
		if s, ok := st.(*mqtt.SubscribeToken); ok && err == nil {
			for topic, code := range s.Result() {
				if code == 0x80 {
					err = fmt.Errorf("%s: refused by the broker", topic)
				}
			}
		}
		if err != nil {
			l.connected.Store(false)
			c.Disconnect(0)
			return fmt.Errorf("mqtt: subscribe at %s: %w", l.broker(), err)
		}
	}
	l.connections.Inc()
	if lost != "" {
		l.failovers.Inc()
		l.o.Log.Warn("mqtt: moved to another broker", "broker", l.broker(), "lost", lost)
	}
	l.o.Log.Info("mqtt: connected", "broker", l.broker(), "client", l.o.ClientID)
	if l.o.OnConnect != nil {
		l.o.OnConnect()
	}
	l.mu.Lock()
	close(l.connCh)
	l.connCh = make(chan struct{})
	l.mu.Unlock()
	return nil
}

func waitTimeout(ctx context.Context, t mqtt.Token, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-tm.C:
		return errors.New("timed out")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TLSConfig builds a TLS configuration from PEM files: the CA that signed
// the broker's certificate, and optionally the client's certificate and key.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: ca %s: no PEM certificate", caFile)
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
