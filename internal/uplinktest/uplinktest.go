package uplinktest

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// Options say which door to run and where.
type Options struct {
	Broker string     // the broker's URL
	Door   topic.Door // the door's topics, site and name
	// Keys are the hub keys whose acks the door trusts.
	Keys permit.Keyring
	// Outbox are the pump's options; its Door and Keys are set from the
	// above. Zero AckTimeout: a second, for tests that wait for resends.
	Outbox outbox.Options
	// Dir holds the door's store (a new t.TempDir() when empty).
	Dir string
}

// Door is one door's event log and its uplink, running until Stop or the
// end of the test.
type Door struct {
	Store *agent.Store
	Link  *mqttlink.Link
	Pump  *outbox.Pump
	Topic topic.Door

	notify   chan struct{}
	appended atomic.Uint64
	ctx      context.Context // ends at Stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stop     sync.Once

	mu     sync.Mutex
	ackErr error // the first ack refused
}

// Start opens the door's store and runs its pump on a clean-session link
// (client id "agent-<site>-<door>") that takes the hub's acks. t fails if
// the link or the pump end with an error.
func Start(t testing.TB, o Options) *Door {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := agent.OpenStore(filepath.Join(dir, "agent.db"), o.Door.Site, o.Door.Door)
	if err != nil {
		t.Fatal(err)
	}
	d := &Door{Store: st, Topic: o.Door, notify: make(chan struct{}, 1)}
	d.Link, err = mqttlink.New(mqttlink.Options{Broker: o.Broker, ClientID: "agent-" + o.Door.Site + "-" + o.Door.Door,
		CleanSession: true, MinBackoff: 50 * time.Millisecond, MaxBackoff: 250 * time.Millisecond,
		Subscriptions: map[string]byte{o.Door.EventsAck(): 1}}, func(m mqttlink.Message) {
		if err := d.Pump.HandleAck(m.Payload); err != nil {
			d.mu.Lock()
			if d.ackErr == nil {
				d.ackErr = err
			}
			d.mu.Unlock()
		}
	})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	po := o.Outbox
	po.Door, po.Keys = o.Door, o.Keys
	if po.AckTimeout == 0 {
		po.AckTimeout = time.Second
	}
	if d.Pump, err = outbox.New(st, d.Link, d.notify, po); err != nil {
		st.Close()
		t.Fatal(err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for name, run := range map[string]func(context.Context) error{"link": d.Link.Run, "pump": d.Pump.Run} {
		d.wg.Go(func() {
			if err := run(d.ctx); err != nil {
				t.Errorf("door %s: %s: %v", o.Door.Door, name, err)
			}
		})
	}
	t.Cleanup(func() {
		d.Stop()
		st.Close()
	})
	return d
}

// Stop ends the door's pump and link; the store stays open until the
// test ends.
func (d *Door) Stop() {
	d.stop.Do(func() {
		d.cancel()
		d.wg.Wait()
	})
}

// Appended is how many events have been appended to the door's log.
func (d *Door) Appended() uint64 { return d.appended.Load() }

// Append appends n tap events to the log in one batch, as the door
// stores them, and signals the pump.
func (d *Door) Append(t testing.TB, n int) {
	t.Helper()
	if err := d.append(n); err != nil {
		t.Fatal(err)
	}
}

func (d *Door) append(n int) error {
	b := &agent.Batch{}
	for range n {
		b.Events = append(b.Events, agent.Event{Type: wire.EvTap, Reader: "entry", Detail: "uplink test"})
	}
	if err := d.Store.Append(b); err != nil {
		return err
	}
	d.appended.Add(uint64(n))
	select {
	case d.notify <- struct{}{}:
	default:
	}
	return nil
}

// AppendAll appends events until total in batches of 20, one batch every
// 5 ms; done closes at the end.
func (d *Door) AppendAll(t testing.TB, total uint64) (done <-chan struct{}) {
	return d.AppendPaced(t, total, 20, 5*time.Millisecond)
}

// AppendPaced appends events until total in batches of batch, one batch
// every every; done closes at the end, or at Stop. A failed append fails
// t.
func (d *Door) AppendPaced(t testing.TB, total uint64, batch int, every time.Duration) (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := d.appended.Load(); n < total; n = d.appended.Load() {
			if err := d.append(int(min(uint64(batch), total-n))); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-d.ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ch
}

// Outstanding is how many appended events the hub has not acked.
func (d *Door) Outstanding(t testing.TB) uint64 {
	t.Helper()
	acked, err := d.Store.Acked()
	if err != nil {
		t.Fatal(err)
	}
	return d.appended.Load() - acked
}

// AckError returns the first ack of the hub the door refused, nil if it
// refused none so far.
func (d *Door) AckError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ackErr
}
