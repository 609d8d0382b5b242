package brokerconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/internal/mqtttest"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The users of the test; observer exists only here, to see everything.
const (
	agentUser  = "demo/server-room"
	otherUser  = "demo/lab"
	dottedUser = "demo.server-room"
	hubUser    = "kunci-hub"
	haUser     = "homeassistant"
	observer   = "observer"
)

var passwords = map[string]string{agentUser: "agent-pw", otherUser: "lab-pw", dottedUser: "dotted-pw",
	hubUser: "hub-pw", haUser: "ha-pw"}

const observerPassword = "observer-pw"

type broker struct {
	plain, tls string // broker URLs
	ca         string // the CA's certificate file
	m          *mqtttest.Mosquitto
}

// startProductionBroker runs Mosquitto with configs/mosquitto.conf and
// configs/mosquitto.acl, their ports and paths rewritten for the test, and
// a test user "observer" added who reads everything.
func startProductionBroker(t *testing.T) *broker {
	t.Helper()
	mqtttest.Binary(t) // skips here, before any work, without mosquitto
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)

	passwd := filepath.Join(dir, "passwd")
	mqtttest.PasswordFile(t, passwd, passwords)
	// the observer's line is hashed here even where mosquitto_passwd exists,
	// so that the broker proves the fallback format too
	f, err := os.OpenFile(passwd, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s:%s\n", observer, mqtttest.HashPassword(observerPassword))
	f.Close()

	acl, err := os.ReadFile("../../configs/mosquitto.acl")
	if err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(dir, "kunci.acl")
	if err := os.WriteFile(aclFile, append(acl, "\nuser observer\ntopic read #\n"...), 0o600); err != nil {
		t.Fatal(err)
	}

	conf, err := os.ReadFile("../../configs/mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort, plainPort := mqtttest.FreePort(t), mqtttest.FreePort(t)
	rewrites := []struct{ line, with string }{
		{"listener 8883", fmt.Sprintf("listener %d 127.0.0.1", tlsPort)},
		{"listener 1883 127.0.0.1", fmt.Sprintf("listener %d 127.0.0.1", plainPort)},
		{"cafile /etc/mosquitto/certs/ca.crt", "cafile " + ca},
		{"certfile /etc/mosquitto/certs/server.crt", "certfile " + cert},
		{"keyfile /etc/mosquitto/certs/server.key", "keyfile " + key},
		{"persistence_location /var/lib/mosquitto/", "persistence_location " + dir + "/"},
		{"password_file /etc/mosquitto/passwd", "password_file " + passwd},
		{"acl_file /etc/mosquitto/kunci.acl", "acl_file " + aclFile},
		{"log_dest syslog", "log_dest file " + filepath.Join(dir, "mosquitto.log")},
	}
	lines := strings.Split(string(conf), "\n")
	for _, r := range rewrites {
		n := 0
		for i, l := range lines {
			if strings.TrimSpace(l) == r.line {
				lines[i] = r.with
				n++
			}
		}
		if n != 1 {
			t.Fatalf("configs/mosquitto.conf has %d lines %q; the test rewrites exactly one", n, r.line)
		}
	}
	if os.Geteuid() == 0 {
		// mosquitto started by root drops to the mosquitto user, which
		// cannot read the test's temporary folder
		lines = append([]string{"user root"}, lines...)
	}
	m := mqtttest.StartMosquittoConfig(t, dir, plainPort, strings.Join(lines, "\n"))
	return &broker{plain: fmt.Sprintf("tcp://127.0.0.1:%d", plainPort),
		tls: fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), ca: ca, m: m}
}

// writeCerts makes a CA and a server certificate for 127.0.0.1.
func writeCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kunci test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.crt", "CERTIFICATE", caDER), write("server.crt", "CERTIFICATE", srvDER),
		write("server.key", "EC PRIVATE KEY", keyDER)
}

// client is a paho client that records every message it receives.
type client struct {
	name string
	c    mqtt.Client
	mu   sync.Mutex
	got  []string // "topic payload"
	more chan struct{}
}

var clientSeq atomic.Int64

func dial(t *testing.T, url, user, password string, tlsConf *tls.Config) (*client, error) {
	t.Helper()
	c := &client{name: user, more: make(chan struct{}, 1)}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("test-%d", clientSeq.Add(1))).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetOrderMatters(true).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
		c.mu.Lock()
		c.got = append(c.got, m.Topic()+" "+string(m.Payload()))
		c.mu.Unlock()
		select {
		case c.more <- struct{}{}:
		default:
		}
	})
	if user != "" {
		o.SetUsername(user).SetPassword(password)
	}
	if tlsConf != nil {
		o.SetTLSConfig(tlsConf)
	}
	c.c = mqtt.NewClient(o)
	tok := c.c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect: timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.c.Disconnect(100) })
	return c, nil
}

func connect(t *testing.T, url, user, password string) *client {
	t.Helper()
	c, err := dial(t, url, user, password, nil)
	if err != nil {
		t.Fatalf("%s: connect: %v", user, err)
	}
	return c
}

// pub publishes at QoS 1 and waits for the PUBACK. Mosquitto acknowledges
// a publish its ACL denies and drops it: only a subscriber tells.
func (c *client) pub(t *testing.T, topic, payload string, retained bool) {
	t.Helper()
	tok := c.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: publish %s: %v", c.name, topic, tok.Error())
	}
}

// sub subscribes at QoS 1 and returns the broker's return code (0x80:
// refused).
func (c *client) sub(t *testing.T, filter string) byte {
	t.Helper()
	tok := c.c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: subscribe %s: %v", c.name, filter, tok.Error())
	}
	res := tok.(*mqtt.SubscribeToken).Result()
	key := filter
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		_, key, _ = strings.Cut(rest, "/") // paho names a shared subscription's result by its topic filter
	}
	code, ok := res[key]
	if !ok {
		t.Fatalf("%s: subscribe %s: result %v names no such filter", c.name, filter, res)
	}
	return code
}

// waitFor waits until "topic payload" arrived, and returns everything
// received so far.
func (c *client) waitFor(t *testing.T, topic, payload string) []string {
	t.Helper()
	want := topic + " " + payload
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]string(nil), c.got...)
		c.mu.Unlock()
		for _, g := range got {
			if g == want {
				return got
			}
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("%s never received %q; got %q", c.name, want, got)
		}
	}
}

// none fails if any of unwanted is in got.
func none(t *testing.T, who string, got []string, unwanted ...string) {
	t.Helper()
	for _, g := range got {
		for _, u := range unwanted {
			if g == u {
				t.Errorf("%s received %q: the ACL must deny it", who, u)
			}
		}
	}
}

const (
	own   = "kunci/v1/demo/server-room/"
	other = "kunci/v1/demo/lab/"
)

// TestMosquittoConfAndACL runs configs/mosquitto.conf with
// configs/mosquitto.acl and proves the confinement: an agent logged in as
// demo/server-room publishes its own status and events, cannot publish
// another door's topics or its own cmd, and cannot read another door's
// permits; the hub writes permits and commands and reads every door's
// events, also through its shared subscription; Home Assistant only reads.
// Each check that something did not arrive is closed by a message that
// did, sent after it on the same connection: Mosquitto keeps a client's
// order, so nothing late is missed.
func TestMosquittoConfAndACL(t *testing.T) {
	b := startProductionBroker(t)

	t.Run("login", func(t *testing.T) {
		if _, err := dial(t, b.plain, "", "", nil); err == nil {
			t.Error("an anonymous client connected; allow_anonymous false must refuse it")
		}
		if _, err := dial(t, b.plain, agentUser, "wrong", nil); err == nil {
			t.Error("a wrong password was accepted")
		}
	})

	obs := connect(t, b.plain, observer, observerPassword)
	if code := obs.sub(t, "#"); code != 1 {
		t.Fatalf("observer: subscribe # = %#x", code)
	}
	hub := connect(t, b.plain, hubUser, passwords[hubUser])
	hub.pub(t, other+"permits/P-1", "lab permit", true)
	hub.pub(t, own+"staff/S-4", "own staff", true)
	hub.pub(t, own+"permits/P-2", "own permit", true)
	obs.waitFor(t, own+"permits/P-2", "own permit")

	agent := connect(t, b.plain, agentUser, passwords[agentUser])

	t.Run("agent reads its own records, not another door's", func(t *testing.T) {
		code := agent.sub(t, other+"permits/+")
		t.Logf("subscribing to another door's permits: return code %#x", code)
		if agent.sub(t, own+"permits/+") != 1 || agent.sub(t, own+"staff/+") != 1 || agent.sub(t, own+"cmd") != 1 ||
			agent.sub(t, own+"events/ack") != 1 || agent.sub(t, own+"availability") != 1 || agent.sub(t, "homeassistant/status") != 1 {
			t.Fatal("the agent may not subscribe to its own permits, staff, cmd, events/ack, availability or Home Assistant's status")
		}
		got := agent.waitFor(t, own+"permits/P-2", "own permit")
		agent.waitFor(t, own+"staff/S-4", "own staff")
		none(t, "the agent", got, other+"permits/P-1 lab permit")

		hub.pub(t, other+"permits/P-3", "lab permit 2", false)
		hub.pub(t, own+"cmd", "signed command", false)
		hub.pub(t, own+"events/ack", `{"epoch":"e","through":1}`, false)
		got = agent.waitFor(t, own+"events/ack", `{"epoch":"e","through":1}`)
		agent.waitFor(t, own+"cmd", "signed command")
		none(t, "the agent", got, other+"permits/P-3 lab permit 2")
	})

	t.Run("agent publishes its own topics only", func(t *testing.T) {
		denied := []struct{ topic, payload string }{
			{other + "status", "spoofed status"},
			{other + "availability", "offline"},
			{other + "events", "spoofed event"},
			{other + "permits/P-9", "forged permit"},
			{own + "cmd", "self-made command"},
			{own + "permits/P-9", "self-made permit"},
			{own + "events/ack", "self-made ack"},
			{"homeassistant/binary_sensor/kunci_demo_lab_door/config", "{}"},
		}
		for _, d := range denied {
			agent.pub(t, d.topic, d.payload, false)
		}
		agent.pub(t, own+"events", "event 1", false)
		agent.pub(t, own+"ha/event", `{"event_type":"access.granted"}`, false)
		agent.pub(t, own+"availability", "online", true)
		agent.pub(t, own+"status", "status 1", true)
		got := obs.waitFor(t, own+"status", "status 1")
		obs.waitFor(t, own+"events", "event 1")
		obs.waitFor(t, own+"ha/event", `{"event_type":"access.granted"}`)
		obs.waitFor(t, own+"availability", "online")
		for _, d := range denied {
			none(t, "the observer", got, d.topic+" "+d.payload)
		}
		// the command the agent sent itself did not come back to it either
		none(t, "the agent", agent.waitFor(t, own+"availability", "online"), own+"cmd self-made command")
	})

	t.Run("hub reads every door's events through its shared subscription", func(t *testing.T) {
		if code := hub.sub(t, "$share/kunci-hub/kunci/v1/+/+/events"); code != 1 {
			t.Fatalf("hub: shared subscription = %#x", code)
		}
		agent.pub(t, own+"events", "event 2", false)
		hub.waitFor(t, own+"events", "event 2")
	})

	t.Run("home assistant only reads", func(t *testing.T) {
		ha := connect(t, b.plain, haUser, passwords[haUser])
		if ha.sub(t, "kunci/v1/+/+/status") != 1 || ha.sub(t, "kunci/v1/+/+/availability") != 1 || ha.sub(t, "homeassistant/#") != 1 {
			t.Fatal("Home Assistant may not subscribe to the doors' status and availability and its discovery topics")
		}
		t.Logf("Home Assistant subscribing to the events: return code %#x", ha.sub(t, "kunci/v1/+/+/events"))
		ha.waitFor(t, own+"status", "status 1")
		ha.pub(t, own+"cmd", "unlock from home assistant", false)
		ha.pub(t, own+"status", "spoofed by home assistant", true)
		ha.pub(t, "homeassistant/status", "online", false)
		got := obs.waitFor(t, "homeassistant/status", "online")
		none(t, "the observer", got, own+"cmd unlock from home assistant", own+"status spoofed by home assistant")

		agent.pub(t, own+"events", "event 3", false)
		agent.pub(t, own+"status", "status 2", true)
		none(t, "Home Assistant", ha.waitFor(t, own+"status", "status 2"), own+"events event 3")
		none(t, "the agent", agent.waitFor(t, "homeassistant/status", "online"), own+"cmd unlock from home assistant")
	})

	t.Run("a user named site.door reaches no door", func(t *testing.T) {
		dotted := connect(t, b.plain, dottedUser, passwords[dottedUser])
		dotted.pub(t, own+"status", "status from demo.server-room", true)
		dotted.pub(t, "kunci/v1/demo.server-room/status", "its own pattern", false) // allowed, and nobody's topic
		got := obs.waitFor(t, "kunci/v1/demo.server-room/status", "its own pattern")
		none(t, "the observer", got, own+"status status from demo.server-room")
	})

	t.Run("tls listener", func(t *testing.T) {
		conf, err := mqttlink.TLSConfig(b.ca, "", "")
		if err != nil {
			t.Fatal(err)
		}
		a, err := dial(t, b.tls, agentUser, passwords[agentUser], conf)
		if err != nil {
			t.Fatalf("agent over TLS: %v\n%s", err, b.m.Log())
		}
		a.pub(t, own+"status", "status over tls", true)
		obs.waitFor(t, own+"status", "status over tls")
	})
}
