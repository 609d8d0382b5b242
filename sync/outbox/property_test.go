package outbox_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/sync/outbox"
	"github.com/kunci-project/kunci/wire"
)

type action struct {
	kind int // append, puback, disconnect, connect, ack, wait, fail next publish
	n    int // events, PUBACKs, per cent of the hub's progress to ack, ms to wait
}

func (a action) String() string {
	return [...]string{"append", "puback", "disconnect", "connect", "ack%", "wait ms", "fail next publish"}[a.kind] +
		fmt.Sprint(" ", a.n)
}

// TestPumpProperties drives a pump through random appends, PUBACKs, link
// drops, reconnects, hub acks and waits, and checks after every step: no
// more publishes open than the window, first publications in seq order
// without a gap, the log holding exactly the unacked events (deleting at
// every ack) or the events after the log's ack, which is never beyond the
// hub's (deleting once a DeleteInterval); and at the end, with the link up
// and the hub acking, every event reaches the hub and the log empties.
func TestPumpProperties(t *testing.T) {
	dir := t.TempDir()
	run := 0
	rapid.Check(t, func(rt *rapid.T) {
		acts := rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) action {
			a := action{kind: rapid.IntRange(0, 6).Draw(rt, "kind")}
			switch a.kind {
			case 0:
				a.n = rapid.IntRange(1, 20).Draw(rt, "events")
			case 1:
				a.n = rapid.IntRange(1, 8).Draw(rt, "pubacks")
			case 4:
				a.n = rapid.IntRange(0, 100).Draw(rt, "ack%")
			case 5:
				a.n = rapid.IntRange(1, 3000).Draw(rt, "ms")
			}
			return a
		}), 1, 60).Draw(rt, "actions")
		run++
		every := rapid.Bool().Draw(rt, "delete at every ack")
		path := filepath.Join(dir, fmt.Sprintf("agent-%d.db", run))
		var failure error
		synctest.Test(t, func(t *testing.T) { failure = playPump(t, path, acts, every) })
		if failure != nil {
			rt.Fatal(failure)
		}
	})
}

// playPump plays acts against a pump in a synctest bubble, deleting at
// every ack or with the default DeleteInterval; it returns the first
// broken property.
func playPump(t *testing.T, path string, acts []action, every bool) error {
	st, err := agent.OpenStore(path, door.Site, door.Door)
	if err != nil {
		return err
	}
	defer st.Close()
	const window, timeout = 8, time.Second
	pub := newFakePub(t)
	notify := make(chan struct{}, 1)
	o := outbox.Options{Door: door, Keys: hubKeys, Window: window, AckTimeout: timeout, MaxAckTimeout: 4 * timeout, RetryDelay: timeout / 2}
	if every {
		o.DeleteInterval = -1
	}
	p, err := outbox.New(st, pub, notify, o)
	if err != nil {
		return err
	}
	stop := runPump(p)
	defer stop()
	var appended, acked uint64
	hubThrough := func() uint64 { // what a hub would have stored
		seen := map[uint64]bool{}
		sent, _ := published(t, pub)
		for _, s := range sent {
			seen[s] = true
		}
		var n uint64
		for seen[n+1] {
			n++
		}
		return n
	}
	check := func(step string) error {
		synctest.Wait()
		if open, _ := pub.Pending(); open > window {
			return fmt.Errorf("after %s: %d publishes open, window %d", step, open, window)
		}
		sent, _ := published(t, pub)
		for i, s := range firstOrder(sent) {
			if s != uint64(i+1) {
				return fmt.Errorf("after %s: first publication #%d is seq %d (order %v)", step, i, s, firstOrder(sent))
			}
		}
		evs, err := st.Events(0, 1<<20)
		if err != nil {
			return err
		}
		deleted, err := st.Acked()
		if err != nil {
			return err
		}
		if deleted > acked || every && deleted != acked {
			return fmt.Errorf("after %s: the log's ack is %d, the hub's %d", step, deleted, acked)
		}
		if uint64(len(evs)) != appended-deleted || len(evs) > 0 && evs[0].Seq != deleted+1 {
			return fmt.Errorf("after %s: log holds %d events; want %d..%d", step, len(evs), deleted+1, appended)
		}
		return nil
	}
	for _, a := range acts {
		switch a.kind {
		case 0:
			b := &agent.Batch{}
			for range a.n {
				b.Events = append(b.Events, agent.Event{Type: wire.EvTap})
			}
			if err := st.Append(b); err != nil {
				return err
			}
			appended += uint64(a.n)
			poke(notify)
		case 1:
			pub.Complete(a.n, nil)
		case 2:
			pub.Drop(errLost)
		case 3:
			if !pub.Connected() {
				pub.Connect()
			}
		case 4:
			th := acked + (hubThrough()-acked)*uint64(a.n)/100
			if err := p.HandleAck(ack(st.Epoch(), th)); err != nil {
				return fmt.Errorf("ack %d: %w", th, err)
			}
			acked = max(acked, th)
		case 5:
			time.Sleep(time.Duration(a.n) * time.Millisecond)
		case 6:
			pub.FailNext(fmt.Errorf("write: broken pipe"))
		}
		if err := check(a.String()); err != nil {
			return err
		}
	}
	// the link comes up for good and the hub acks what it has
	pub.SetAuto(true)
	pub.Complete(-1, nil)
	if !pub.Connected() {
		pub.Connect()
	}
	for range 50 {
		if acked == appended {
			break
		}
		time.Sleep(timeout)
		synctest.Wait()
		if th := hubThrough(); th > acked {
			if err := p.HandleAck(ack(st.Epoch(), th)); err != nil {
				return err
			}
			acked = th
		}
	}
	time.Sleep(outbox.DefaultDeleteInterval) // the last deletion falls due
	if err := check("the end"); err != nil {
		return err
	}
	if acked != appended {
		return fmt.Errorf("the hub got %d of %d events; pump %+v", acked, appended, p.Stats())
	}
	if deleted, err := st.Acked(); deleted != appended || err != nil {
		return fmt.Errorf("the log's ack is %d, %v, an interval after the hub's last, %d", deleted, err, appended)
	}
	return nil
}
