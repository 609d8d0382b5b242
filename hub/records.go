package hub

import (
	"context"
	"sync"
	"time"

	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// publishTimeout bounds the wait for one retained record's PUBACK.
const publishTimeout = 10 * time.Second

// retryAfter is the wait before publishing again what failed.
const retryAfter = time.Second

// records keeps the retained document of every topic the hub owns and
// publishes what changed, again and again until the broker took it. On
// every connection all of them go again: a broker that lost its retained
// store gets them back. A clear (an empty document) goes until the broker
// took it once.
type records struct {
	mu      sync.Mutex
	docs    map[string][]byte // topic -> document
	pending map[string]bool   // topics to publish
	kick    chan struct{}

	published, failed *metrics.Counter
}

func newRecords(reg *metrics.Registry) *records {
	r := &records{docs: map[string][]byte{}, pending: map[string]bool{}, kick: make(chan struct{}, 1),
		published: reg.Counter("kunci_hub_records_published_total",
			"Retained records (permits, revocations, staff, clears) the broker took."),
		failed: reg.Counter("kunci_hub_records_publish_failed_total",
			"Publishes of retained records that failed; each is published again."),
	}
	reg.GaugeFunc("kunci_hub_records_pending", "Retained records waiting to be published.", func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.pending))
	})
	return r
}

// set makes doc the retained document of topic and queues it.
func (r *records) set(topic string, doc []byte) {
	r.mu.Lock()
	r.docs[topic] = doc
	r.pending[topic] = true
	r.mu.Unlock()
	r.wake()
}

// keep makes doc the retained document of topic without queueing it:
// another hub published it; this one publishes it with every document at
// its next connection (all).
// A clear (empty) forgets the topic: the other hub cleared it.
func (r *records) keep(topic string, doc []byte) {
	r.mu.Lock()
	if len(doc) == 0 {
		delete(r.docs, topic)
	} else {
		r.docs[topic] = doc
	}
	r.mu.Unlock()
}

// all queues every document again (a new connection).
func (r *records) all() {
	r.mu.Lock()
	for t := range r.docs {
		r.pending[t] = true
	}
	r.mu.Unlock()
	r.wake()
}

func (r *records) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// take returns the queued topics and their documents.
func (r *records) take() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.pending))
	for t := range r.pending {
		out[t] = r.docs[t]
	}
	clear(r.pending)
	return out
}

// requeue puts back what could not be published, unless it changed since.
func (r *records) requeue(topic string) {
	r.mu.Lock()
	r.pending[topic] = true
	r.failed.Inc()
	r.mu.Unlock()
}

func (r *records) stats() (published, failed uint64, pending int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.published.Value(), r.failed.Value(), len(r.pending)
}

// run publishes until ctx ends.
func (r *records) run(ctx context.Context, pub Publisher) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-retry.C:
		}
		batch := r.take()
		type sent struct {
			topic string
			tok   mqttlink.Token
		}
		toks := make([]sent, 0, len(batch))
		for t, doc := range batch {
			toks = append(toks, sent{t, pub.Publish(t, 1, true, doc)})
		}
		failed := false
		for _, s := range toks {
			wctx, cancel := context.WithTimeout(ctx, publishTimeout)
			err := mqttlink.Wait(wctx, s.tok)
			cancel()
			if err != nil {
				r.requeue(s.topic)
				failed = true
				continue
			}
			r.mu.Lock()
			r.published.Inc()
			if d, ok := r.docs[s.topic]; ok && len(d) == 0 && !r.pending[s.topic] {
				// a clear is sent once: not again on every connection
				delete(r.docs, s.topic)
			}
			r.mu.Unlock()
		}
		if failed && ctx.Err() == nil {
			retry.Reset(retryAfter)
		}
	}
}
