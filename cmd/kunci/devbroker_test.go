package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/demo"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/sync/mqttlink"
	"github.com/kunci-project/kunci/wire"
)

var devMQTTLine = regexp.MustCompile(`mosquitto_sub -h (\S+) -p (\d+) -v -t 'kunci/#'`)

// startDevArgs runs dev with args after "dev" until the test ends.
func startDevArgs(t *testing.T, args ...string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { d.done <- run(ctx, append([]string{"dev"}, args...), d.stdout, d.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			t.Error("dev did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := devAddr.FindStringSubmatch(d.stdout.String()); m != nil && devMQTTLine.MatchString(d.stdout.String()) {
			d.base = "http://" + m[1]
			return d
		}
		select {
		case err := <-d.done:
			t.Fatalf("dev returned %v before it was ready\nstderr:\n%s", err, d.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("dev printed no address and mosquitto_sub line\nstdout:\n%s\nstderr:\n%s", d.stdout, d.stderr)
	return nil
}

// sop runs guest and escort in, the door open and shut, the guest out.
func (d *devRun) sop(t *testing.T) {
	t.Helper()
	d.post(t, "/sim/tap", fmt.Sprintf(`{"reader":"entry","uid":%q}`, demo.GuestUID))
	if st := d.post(t, "/sim/tap", fmt.Sprintf(`{"reader":"entry","uid":%q}`, demo.EscortUID)); st.Relay != "unlocked" {
		t.Fatalf("after guest and escort tapped: relay %s; want unlocked", st.Relay)
	}
	d.post(t, "/sim/door", `{"open":true}`)
	d.post(t, "/sim/door", `{"open":false}`)
	d.post(t, "/sim/tap", fmt.Sprintf(`{"reader":"exit","uid":%q}`, demo.GuestUID))
}

// drained waits until the door's local log is empty: the hub acked all.
func (d *devRun) drained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := d.events(t)
		if len(evs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the door's log still holds %d events (%v) 15 s after the SOP: not acked\nstderr:\n%s",
				len(evs), types(evs, 0), d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hubEvents opens the hub's ingest store of a stopped dev and returns the
// door's event types, checking seq runs 1, 2, 3... in one epoch.
func hubEvents(t *testing.T, data string) []wire.EventType {
	t.Helper()
	st, err := ingest.OpenStore(filepath.Join(data, "hub-events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ts []wire.EventType
	var want uint64 = 1
	err = st.Walk("demo", "server-room", func(e ingest.Event) error {
		if e.Seq != want {
			t.Errorf("hub store: seq %d where %d was due", e.Seq, want)
		}
		want = e.Seq + 1
		ts = append(ts, e.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// inOrder reports whether want appear in ts in that order.
func inOrder(ts []wire.EventType, want ...wire.EventType) bool {
	i := 0
	for _, s := range ts {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}

func checkDevFlow(t *testing.T, d *devRun, data string) {
	t.Helper()
	d.sop(t)
	d.drained(t)
	if err := d.stop(t); err != nil {
		t.Fatalf("dev after its context ended = %v; want nil\nstderr:\n%s", err, d.stderr)
	}
	for _, bad := range []string{"level=ERROR", "InflightDropped"} {
		if strings.Contains(d.stderr.String(), bad) {
			t.Errorf("dev logged %q:\n%s", bad, d.stderr)
		}
	}
	ts := hubEvents(t, data)
	want := []wire.EventType{"agent.started", "access.granted", "door.unlocked", "visit.entered", "door.locked", "visit.exited"}
	if len(ts) == 0 || ts[0] != "agent.started" || !inOrder(ts, want...) {
		t.Errorf("hub store holds %v; want %v in that order, agent.started first", ts, want)
	}
	assertNoUID(t, "dev's log", d.stderr.String(), demo.GuestUID, demo.EscortUID)
}

// kunci dev on its embedded broker: door -> broker -> hub ingest -> acks.
func TestDevEmbeddedBroker(t *testing.T) {
	data := t.TempDir()
	d := startDevArgs(t, "--data", data, "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	m := devMQTTLine.FindStringSubmatch(d.stdout.String())
	if m[1] != "127.0.0.1" || m[2] == "0" {
		t.Errorf("help's mosquitto_sub line names %s port %s; want 127.0.0.1 and the port the broker took", m[1], m[2])
	}
	if !strings.Contains(d.stdout.String(), "embedded MQTT broker on 127.0.0.1:"+m[2]) {
		t.Errorf("help does not name the broker's address:\n%s", d.stdout)
	}
	// the broker really listens where the help says
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+m[2], time.Second)
	if err != nil {
		t.Fatalf("the broker the help names: %v", err)
	}
	c.Close()
	checkDevFlow(t, d, data)

	// again on the same data: the hub's store goes on, one epoch, no seq twice
	d2 := startDevArgs(t, "--data", data, "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	d2.drained(t)
	if err := d2.stop(t); err != nil {
		t.Fatalf("second dev = %v", err)
	}
	ts := hubEvents(t, data)
	if n := len(slices.DeleteFunc(slices.Clone(ts), func(s wire.EventType) bool { return s != wire.EvStarted })); n != 2 {
		t.Errorf("hub store after two runs holds %d agent.started; want 2: %v", n, ts)
	}
}

// kunci dev with --broker: an external Mosquitto instead of the embedded one.
func TestDevExternalBroker(t *testing.T) {
	mq := mqtttest.StartMosquitto(t)
	data := t.TempDir()
	d := startDevArgs(t, "--data", data, "--listen", "127.0.0.1:0", "--broker", mq.URL())
	want := fmt.Sprintf("mosquitto_sub -h 127.0.0.1 -p %d -v -t 'kunci/#'", mq.Port)
	if !strings.Contains(d.stdout.String(), want) {
		t.Errorf("help lacks %q:\n%s", want, d.stdout)
	}
	// another door's events on the same broker are not dev's to store
	// and ack: the door would delete them
	pub, err := mqttlink.New(mqttlink.Options{Broker: mq.URL(), ClientID: "other-door", CleanSession: true}, func(mqttlink.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	linkCtx, stopLink := context.WithCancel(ctx)
	linkDone := make(chan error, 1)
	go func() { linkDone <- pub.Run(linkCtx) }()
	other := `{"id":"demo/other/6f1c2a/1","seq":1,"epoch":"6f1c2a","site":"demo","door":"other",` +
		`"type":"agent.started","at":"2026-11-27T03:02:03.123Z","clock_synced":true,"boot":"b91e","mono_ns":1}`
	for !pub.Connected() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if err := mqttlink.Wait(ctx, pub.Publish("kunci/v1/demo/other/events", 1, false, []byte(other))); err != nil {
		t.Fatalf("publishing another door's event: %v", err)
	}
	stopLink()
	<-linkDone
	checkDevFlow(t, d, data)
	st, err := ingest.OpenStore(filepath.Join(data, "hub-events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	doors, err := st.Doors()
	if err != nil {
		t.Fatal(err)
	}
	for _, dr := range doors {
		if dr.Door != "server-room" {
			t.Errorf("dev's hub stored events of door %s/%s on the shared broker; want demo/server-room only", dr.Site, dr.Door)
		}
	}
}

// A taken --mqtt port is named with the flag that moves it; a broker that
// lets every client in is not put on a non-loopback address.
func TestDevMQTTRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	_, _, err = invoke(t, "dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--mqtt", addr)
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "--mqtt") ||
		!strings.Contains(err.Error(), "--broker") {
		t.Errorf("dev on a taken --mqtt port = %v; want it to name %s, --mqtt and --broker", err, addr)
	}
	_, _, err = invoke(t, "dev", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--mqtt", "0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("dev --mqtt 0.0.0.0:0 = %v; want a loopback-only refusal", err)
	}
}

// kunci dev runs the hub: its help gives an admin token that works on the
// same listener, and the demo's permit P-0012 is in the hub, issued.
func TestDevHubAPI(t *testing.T) {
	data := t.TempDir()
	d := startDevArgs(t, "--data", data, "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	m := regexp.MustCompile(`export KUNCI_TOKEN=(\S+) KUNCI_HUB=(\S+)`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("dev's help gives no admin token:\n%s", d.stdout)
	}
	tok, hubURL := m[1], m[2]
	if hubURL != d.base {
		t.Errorf("help's KUNCI_HUB %s; want dev's listener %s", hubURL, d.base)
	}
	if b, err := os.ReadFile(filepath.Join(data, "admin.token")); err != nil || strings.TrimSpace(string(b)) != tok {
		t.Errorf("admin.token %q, %v; want the printed token", b, err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"permit", "list", "--hub", hubURL, "--token", tok}, &out, &errb); err != nil {
		t.Fatalf("kunci permit list: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "P-0012") || !strings.Contains(out.String(), "issued") {
		t.Errorf("permit list:\n%s", out.String())
	}
	// the same token on a second start: kept in data/admin.token
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	d2 := startDevArgs(t, "--data", data, "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0")
	if !strings.Contains(d2.stdout.String(), "KUNCI_TOKEN="+tok+" ") {
		t.Errorf("second start prints another token:\n%s", d2.stdout)
	}
}

// kunci dev --demo plays the SOP and prints a complete guest-book row (NIK
// masked) and the service times, then stops.
func TestDevDemo(t *testing.T) {
	var out, errb syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"dev", "--demo", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"}, &out, &errb)
	if err != nil {
		t.Fatalf("dev --demo = %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	s := out.String()
	for _, want := range []string{"$ kunci permit request", "$ kunci permit approve", "$ kunci permit escort",
		"Rina Wulandari", "3204**********03", "PT Telkom Akses", "S-004", "kasi-infra", "laptop, SFP module",
		"$ kunci sla", "total (22m)"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// the NIK in clear only where the desk types it
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, demo.PlayGuestNIK) && !strings.HasPrefix(line, "$ kunci permit request ") {
			t.Errorf("the demo shows the guest's NIK in clear: %s", line)
		}
	}
	if strings.Contains(errb.String(), demo.PlayGuestNIK) {
		t.Error("the demo's log holds the guest's NIK")
	}
	assertNoUID(t, "the demo's log", errb.String(), demo.PlayGuestUID, demo.EscortUID)
	if t.Failed() {
		t.Logf("stdout:\n%s", s)
	}
}
