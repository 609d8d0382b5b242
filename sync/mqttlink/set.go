package mqttlink

import (
	"context"
	"errors"
	"sync"

	"github.com/kunci-project/kunci/internal/metrics"
)

// Set is one link to each of several brokers, all kept up at once: the
// hub of a site that runs two brokers (Mosquitto does not cluster), whose
// doors may be on either. Its handler gets the messages of every link,
// from each link's own goroutine, Message.Broker telling which; Publish
// goes to every broker connected.
type Set struct {
	links []*Link
	stop  chan struct{} // closed when Run ends
	once  sync.Once
}

// NewSet prepares a link to each broker of o (Options.Brokers, or Broker
// alone), each with o's options; Run connects them. The links share o's
// metrics: kunci_mqtt_connected counts the brokers connected.
func NewSet(o Options, handler func(Message)) (*Set, error) {
	brokers, err := o.brokerList()
	if err != nil {
		return nil, err
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewRegistry()
	}
	m := newLinkMetrics(o.Metrics)
	s := &Set{stop: make(chan struct{})}
	for i, b := range brokers {
		l := newLink(o, []string{b}, handler, m)
		l.base = i
		s.links = append(s.links, l)
	}
	o.Metrics.GaugeFunc("kunci_mqtt_connected", "Whether the MQTT link is connected to the broker now (1) or not (0); "+
		"the hub's, how many of its brokers.", func() float64 {
		n := 0
		for _, l := range s.links {
			if l.Connected() {
				n++
			}
		}
		return float64(n)
	})
	return s, nil
}

// Links returns the set's links, one per broker in order.
func (s *Set) Links() []*Link { return s.links }

// Connected reports whether a link is up now.
func (s *Set) Connected() bool {
	for _, l := range s.links {
		if l.Connected() {
			return true
		}
	}
	return false
}

// Run runs every link until ctx ends. It runs once.
func (s *Set) Run(ctx context.Context) error {
	defer s.once.Do(func() { close(s.stop) })
	errs := make([]error, len(s.links))
	var wg sync.WaitGroup
	for i, l := range s.links {
		wg.Go(func() { errs[i] = l.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Publish sends payload through every link that is connected. The token
// is done when each of those publishes is; its error is the first of
// theirs, or ErrNotConnected when no link was up. A broker that was down
// misses the message: a retained record is published again on each
// connection (the hub's OnConnect), an ack or a command is a live message
// that only a door on a connected broker can take.
func (s *Set) Publish(topic string, qos byte, retained bool, payload []byte) Token {
	var toks []Token
	for _, l := range s.links {
		t := l.Publish(topic, qos, retained, payload)
		select {
		case <-t.Done():
			if errors.Is(t.Error(), ErrNotConnected) {
				continue
			}
		default:
		}
		toks = append(toks, t)
	}
	switch len(toks) {
	case 0:
		return Completed(ErrNotConnected)
	case 1:
		return toks[0]
	}
	all := &allTokens{done: make(chan struct{})}
	go func() {
		defer close(all.done)
		for _, t := range toks {
			select {
			case <-t.Done():
				if err := t.Error(); err != nil && all.err == nil {
					all.err = err
				}
			case <-s.stop:
				// a persistent session's publish stays pending while
				// its broker is away; the set is done with it
				all.err = ErrNotConnected
				return
			}
		}
	}()
	return all
}

// allTokens is done when all its tokens are, with the first error.
type allTokens struct {
	done chan struct{}
	err  error // set before done closes
}

func (a *allTokens) Done() <-chan struct{} { return a.done }

func (a *allTokens) Error() error {
	select {
	case <-a.done:
		return a.err
	default:
		return nil
	}
}
