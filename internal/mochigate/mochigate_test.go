package mochigate_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/mochigate"
)

// TestGate: two connections' processing, between a read and the next,
// never overlaps; a closed connection frees the gate.
func TestGate(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := mochigate.Listen(raw)
	defer l.Close()
	const clients, msgs = 4, 200
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for range clients {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 1)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					// processing: nobody else may be here
					if inside.Add(1) > 1 {
						overlaps.Add(1)
					}
					time.Sleep(10 * time.Microsecond)
					inside.Add(-1)
				}
			})
		}
	})
	var senders sync.WaitGroup
	for range clients {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		senders.Go(func() {
			defer c.Close()
			for range msgs {
				if _, err := c.Write([]byte{1}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	senders.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the readers did not finish: the gate was not given back")
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d times two connections processed at once", n)
	}
}
