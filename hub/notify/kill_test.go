package notify_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/notify"
)

// The environment of the child process of TestSIGKILLMidQueue.
const (
	childEnv     = "KUNCI_NOTIFY_TEST_CHILD" // the store's path
	childHookEnv = "KUNCI_NOTIFY_TEST_HOOK"  // the webhook's URL
	childKeyEnv  = "KUNCI_NOTIFY_TEST_KEY"   // its secret file
)

// killChild is the hub that TestSIGKILLMidQueue kills: it notifies 100
// alarms on the store with fsync (bbolt's default), makes one pass, says
// "pass" and waits to be killed.
func killChild() int {
	db, err := bolt.Open(os.Getenv(childEnv), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, err := notify.New(notify.Options{DB: kv.Bolt(db), Log: slog.New(slog.DiscardHandler), Config: notify.Config{
		Recipients: []notify.Recipient{{Name: rHook, Webhook: os.Getenv(childHookEnv), SecretFile: os.Getenv(childKeyEnv)}},
		Rules:      []notify.Rule{rule([]string{"alarm.*"}, rHook)},
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := range 100 {
		if err := n.Notify(forced(fmt.Sprintf("alarm/%d", i), fmt.Sprintf("door-%d", i), time.Now())); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if _, err := n.DeliverDue(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("pass")
	select {} // until SIGKILL
}

// The hub SIGKILLed with 100 notifications queued, 40 of them sent and 60
// waiting for a retry: after the restart every one is delivered, none
// twice.
func TestSIGKILLMidQueue(t *testing.T) {
	e := newEnv(t, rule([]string{"alarm.*"}, rHook))
	e.close() // the child takes the store's lock
	e.hook.Now = time.Now
	e.hook.Answer(func(n int) int {
		if n < 40 {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+e.path, childHookEnv+"="+e.hook.URL, childKeyEnv+"="+e.hook.SecretFile)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if kerr := cmd.Process.Kill(); kerr != nil {
		t.Fatal(kerr)
	}
	cmd.Wait()
	if strings.TrimSpace(line) != "pass" {
		t.Fatalf("the child said %q, %v; want pass", line, err)
	}
	if got := len(e.hook.Taken()); got != 40 || len(e.hook.Received()) != 100 {
		t.Fatalf("before the kill %d taken in %d requests; want 40 in 100", got, len(e.hook.Received()))
	}

	// the restart, a minute later: every retry is due
	e.clock = hubtest.NewClock(time.Now().Add(time.Minute))
	e.now, e.hook.Now = e.clock.Now, e.clock.Now
	e.hook.Answer(func(int) int { return http.StatusOK })
	e.open()
	e.deliver()
	e.peersClean()
	taken := e.hook.Taken()
	for i := range 100 {
		if k := fmt.Sprintf("alarm/%d", i); taken[k] != 1 {
			t.Errorf("%s taken %d times; want once", k, taken[k])
		}
	}
	if s := e.stats(); s.Queued != 0 || s.Sent != 100 {
		t.Errorf("stats %+v; want none queued, 100 sent", s)
	}
}
