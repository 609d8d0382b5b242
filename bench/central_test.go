package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// The central side of the stall benchmark runs in a process of its own:
// the hub's ingest, which stores and acks the door's events, and the
// flood of malformed messages. In the field both are other machines; in
// the door's process they would take its Go scheduler's two Ps while the
// backlog drains, and a door goroutine back from an fdatasync would wait
// for one behind them, which no Pi has to. The broker is a process of its
// own already. The machine's two vCPUs stay shared (bench-cores counts
// them all).
const (
	centralProcEnv = "KUNCI_BENCH_CENTRAL_PROC" // the broker URL: this process is the central side
	centralHubEnv  = "KUNCI_BENCH_CENTRAL_HUB"  // the hub's store file
)

// centralStats is what the central side answers to a "stats" line.
type centralStats struct {
	Sent int          // malformed messages published
	Hub  ingest.Stats // the hub's ingest
}

// runCentralProcess is the central side, run by TestMain when
// centralProcEnv is set: it starts the hub's ingest and prints "ready"
// once its link is up; then it answers each line of its input, "flood
// RATE" by starting the flood and printing "ready" once its link is up,
// "stats" with the stats as one JSON line; it stops when the input ends.
func runCentralProcess() error {
	broker, path := os.Getenv(centralProcEnv), os.Getenv(centralHubEnv)
	st, err := ingest.OpenStore(path)
	if err != nil {
		return err
	}
	defer st.Close()
	in, err := ingest.New(st, ingest.Options{Signer: benchHubKey})
	if err != nil {
		return err
	}
	link, err := mqttlink.New(ingest.LinkOptions(mqttlink.Options{Broker: broker, Log: discardLog()}, "", false), in.Handle)
	if err != nil {
		return err
	}
	up := link.NextConnection()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, 2)
	wg.Go(func() { errs <- link.Run(ctx) })
	wg.Go(func() { errs <- in.Run(ctx, link) })
	if err := waitUp(up, "hub link"); err != nil {
		return err
	}
	fmt.Println("ready")
	sent := func() int { return 0 }
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		if r, ok := strings.CutPrefix(lines.Text(), "flood "); ok {
			rate, err := strconv.Atoi(r)
			if err != nil {
				return fmt.Errorf("flood rate: %w", err)
			}
			var stop func()
			if sent, stop, err = startFlood(ctx, broker, rate, malformedPermit); err != nil {
				return err
			}
			defer stop()
			fmt.Println("ready")
			continue
		}
		j, err := json.Marshal(centralStats{Sent: sent(), Hub: in.Stats()})
		if err != nil {
			return err
		}
		fmt.Println(string(j))
	}
	cancel()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func waitUp(up <-chan struct{}, what string) error {
	select {
	case <-up:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s did not connect within 15 s", what)
	}
}

// floodMsg is the i-th message of a flood: its topic and payload.
type floodMsg func(i int64) (string, []byte)

// malformedPermit is the stall benchmark's flood: a cut-off document on
// one of 5,000 permit topics in turn.
func malformedPermit(i int64) (string, []byte) {
	return syncTopics.Permit(fmt.Sprintf("P-X%d", i%5000)), []byte(`{"kind":"permit","body":`)
}

// startFlood publishes rate messages a second, msg's, at QoS 0, under ids
// of their own, until stopped; a sender that fell behind catches up in a
// burst, as a flood would. sent returns how many it published.
func startFlood(ctx context.Context, broker string, rate int, msg floodMsg) (sent func() int, stop func(), err error) {
	l, err := mqttlink.New(mqttlink.Options{Broker: broker, ClientID: "kunci-bench-flood", CleanSession: true,
		Log: discardLog()}, nil)
	if err != nil {
		return nil, nil, err
	}
	up := l.NextConnection()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(ctx) })
	stop = func() { cancel(); wg.Wait() }
	if err := waitUp(up, "flood link"); err != nil {
		stop()
		return nil, nil, err
	}
	var n atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			due := int64(time.Since(start).Seconds() * float64(rate))
			for i := n.Load(); i < due; i++ {
				// QoS 0: the flood waits for nothing, as an attacker's would
				t, p := msg(i)
				l.Publish(t, 0, false, p)
				n.Add(1)
			}
		}
	})
	return func() int { return int(n.Load()) }, stop, nil
}

// centralProc is the central side's process, seen from the benchmark.
type centralProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	mu   sync.Mutex
	stop func()
}

// startCentral runs the central side against broker, with the hub's store
// at path; it returns once the hub's link is up, and stops it when tb
// ends.
// centralCPUsEnv, when set (stall.sh's PIN), names the CPUs the central
// side (the broker, the hub's ingest, the flood) runs on, as taskset -c
// takes them; the door's process keeps the others: as in the field, where
// they are on the central server and the door has the Pi to itself.
const centralCPUsEnv = "KUNCI_BENCH_CENTRAL_CPUS"

// pinCentral moves process pid (the broker) onto the central CPUs, when
// they are named.
func pinCentral(tb testing.TB, pid int) {
	tb.Helper()
	cpus := os.Getenv(centralCPUsEnv)
	if cpus == "" || pid == 0 {
		return
	}
	if out, err := exec.Command("taskset", "-a", "-cp", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		tb.Fatalf("taskset %s %d: %v: %s", cpus, pid, err, out)
	}
}

func startCentral(tb testing.TB, broker, path string) *centralProc {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	if cpus := os.Getenv(centralCPUsEnv); cpus != "" {
		cmd = exec.Command("taskset", "-c", cpus, exe, "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), centralProcEnv+"="+broker, centralHubEnv+"="+path)
	cmd.Stderr = os.Stderr
	c := &centralProc{cmd: cmd}
	if c.in, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	c.out = bufio.NewScanner(out)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c.stop = sync.OnceFunc(func() {
		c.in.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("central side: %v", err)
		}
	})
	tb.Cleanup(c.stop)
	c.ready(tb, "the hub")
	return c
}

// ready waits for the central side's "ready" line.
func (c *centralProc) ready(tb testing.TB, what string) {
	tb.Helper()
	ready := make(chan bool, 1)
	go func() { ready <- c.out.Scan() && c.out.Text() == "ready" }()
	select {
	case ok := <-ready:
		if !ok {
			tb.Fatalf("central side: %s did not start: %v", what, c.out.Err())
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("central side: %s not ready within 30 s", what)
	}
}

// flood starts rate malformed messages a second to the door's permit
// topics; it returns once the flood's link is up.
func (c *centralProc) flood(tb testing.TB, rate int) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.in, "flood %d\n", rate); err != nil {
		tb.Fatal(err)
	}
	c.ready(tb, "the flood")
}

// pid is the central side's process id.
func (c *centralProc) pid() int { return c.cmd.Process.Pid }

// stats asks the central side for its stats.
func (c *centralProc) stats() (centralStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s centralStats
	if _, err := io.WriteString(c.in, "stats\n"); err != nil {
		return s, err
	}
	if !c.out.Scan() {
		return s, errors.Join(errors.New("central side: no stats"), c.out.Err())
	}
	return s, json.Unmarshal(c.out.Bytes(), &s)
}
