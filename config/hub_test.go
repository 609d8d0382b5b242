package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/config"
)

// minimalHub is the smallest valid hub config; the cases below change one
// thing of it.
const minimalHub = `signing_key: keys/hub-1.key
site_keys:
  demo: keys/site.key
doors:
  - demo/server-room
mqtt:
  broker: tcp://127.0.0.1:1883
`

// hubWith returns minimalHub with old replaced by new; old must be there.
func hubWith(old, new string) string {
	if !strings.Contains(minimalHub, old) {
		panic("minimalHub has no " + old)
	}
	return strings.Replace(minimalHub, old, new, 1)
}

// tlsFiles serve the API over HTTPS.
const tlsFiles = "tls_cert_file: tls/hub.crt\ntls_key_file: tls/hub.key\n"

// badHubs are hub configs ParseHub must refuse, each with the fragments its
// error must contain: the field's path and the problem. They also seed
// FuzzParseHub.
var badHubs = []struct {
	name string
	yaml string
	want []string
}{
	{"events in postgres with a password", minimalHub + "events_store: postgres://kunci:s3cret@db.example:5432/kunci\n",
		[]string{"events_store: postgres://kunci@db.example:5432/kunci has a password", "events_store_dsn_file"}},
	{"events store twice", minimalHub + "events_store: events.db\nevents_store_dsn_file: events.dsn\n",
		[]string{"events_store_dsn_file: events_store is set too"}},
	{"events in a bad DSN", minimalHub + "events_store: postgres://kunci@db.example:notaport/kunci\n",
		[]string{"events_store: not a PostgreSQL DSN"}},
	{"store in postgres with a password", minimalHub + "store: postgres://kunci:s3cret@db.example:5432/kunci\n",
		[]string{"store: postgres://kunci@db.example:5432/kunci has a password", "store_dsn_file"}},
	{"store twice", minimalHub + "store: hub.db\nstore_dsn_file: hub.dsn\n", []string{"store_dsn_file: store is set too"}},
	{"keys file as the events' file", minimalHub + "store_keys_file: events.db\nevents_store: events.db\n",
		[]string{`events_store: "/etc/kunci/events.db" is also set as store_keys_file`}},
	{"missing signing key", hubWith("signing_key: keys/hub-1.key\n", ""), []string{"signing_key: missing", "kunci keygen"}},
	{"missing site keys", hubWith("site_keys:\n  demo: keys/site.key\ndoors:\n  - demo/server-room\n", ""),
		[]string{"site_keys: missing: at least one"}},
	{"empty site keys", hubWith("site_keys:\n  demo: keys/site.key\n", "site_keys: {}\n"),
		[]string{"site_keys: missing", `doors[0]: site "demo" has no key in site_keys`}},
	{"bad site name", hubWith("  demo: keys/site.key\n", "  demo: keys/site.key\n  my site: keys/b.key\n"),
		[]string{`site_keys: "my site" is not a valid site name`}},
	{"site key without file", hubWith("  demo: keys/site.key\n", "  demo: keys/site.key\n  lab:\n"),
		[]string{"site_keys.lab: missing"}},
	{"door without site", hubWith("- demo/server-room", "- server-room"),
		[]string{`doors[0]: "server-room" is not site/door`}},
	{"door of three levels", hubWith("- demo/server-room", "- demo/server-room/r1"),
		[]string{`doors[0]: "demo/server-room/r1" is not site/door`}},
	{"door with wildcard", hubWith("- demo/server-room", "- demo/+"), []string{`doors[0]: "demo/+" is not site/door`}},
	{"empty door", hubWith("- demo/server-room", `- ""`), []string{`doors[0]: "" is not site/door`}},
	{"door of a site without key", hubWith("- demo/server-room", "- lab/server-room"),
		[]string{`doors[0]: site "lab" has no key in site_keys`}},
	{"door twice", hubWith("- demo/server-room\n", "- demo/server-room\n  - demo/lab\n  - demo/server-room\n"),
		[]string{`doors[2]: "demo/server-room" appears twice`}},
	{"missing broker", hubWith("  broker: tcp://127.0.0.1:1883\n", "  prefix: kunci/v1\n"), []string{"mqtt.broker: missing"}},
	{"missing mqtt", hubWith("mqtt:\n  broker: tcp://127.0.0.1:1883\n", ""), []string{"mqtt.broker: missing"}},
	{"mqtt files without broker", hubWith("  broker: tcp://127.0.0.1:1883\n", "  password_file: p\n"),
		[]string{"mqtt.broker: missing", "mqtt.password_file: set without mqtt.broker"}},
	{"mqtt bad broker", hubWith("tcp://127.0.0.1:1883", "127.0.0.1:1883"), []string{"mqtt.broker", "not a broker address"}},
	{"mqtt bad scheme", hubWith("tcp://", "http://"), []string{"mqtt.broker", `scheme "http"`}},
	{"mqtt tls files on tcp", minimalHub + "  ca_file: ca.pem\n", []string{"mqtt.broker", "not a TLS address"}},
	{"mqtt broker and brokers", minimalHub + "  brokers: [tcp://127.0.0.1:1883, tcp://127.0.0.1:1884]\n",
		[]string{"mqtt.brokers: set together with mqtt.broker"}},
	{"mqtt second broker plain off loopback", hubWith("  broker: tcp://127.0.0.1:1883\n", "  brokers: [tcp://127.0.0.1:1883, tcp://mqtt-b.example:1883]\n"),
		[]string{`mqtt.brokers[1]: "tcp://mqtt-b.example:1883" is plain text to a host off loopback`}},
	{"mqtt cert without key", hubWith("tcp://127.0.0.1:1883", "ssl://mqtt:8883") + "  cert_file: c.pem\n",
		[]string{"mqtt.cert_file", "go together"}},
	{"mqtt bad client id", minimalHub + "  client_id: hub/1\n", []string{"mqtt.client_id", "no '+'"}},
	{"mqtt bad prefix", minimalHub + "  prefix: kunci/\n", []string{"mqtt.prefix", "no trailing '/'"}},
	{"typo in mqtt", minimalHub + "  brokr: x\n", []string{"line 8", "mqtt.brokr", "not found"}},
	{"retention too short", minimalHub + "retention: 1h\n", []string{"retention: 1h0m0s is too short",
		"at least 24h0m0s", "hub/workflow.MinRetention", "leave it out"}},
	{"retention just short", minimalHub + "retention: 23h59m\n", []string{"retention: 23h59m0s is too short"}},
	{"negative retention", minimalHub + "retention: -2160h\n", []string{"retention: -2160h0m0s is too short"}},
	{"unknown time zone", minimalHub + "console: {timezone: Asia/Bogor}\n", []string{`console.timezone: "Asia/Bogor" is not a time zone`}},
	{"a long letterhead", minimalHub + "console: {office: [a, b, c, d, e, f, g]}\n", []string{"console.office: 7 lines"}},
	{"permit window too short", minimalHub + "max_permit_window: 30m\n", []string{"max_permit_window: 30m0s: want 1h to 8760h"}},
	{"permit window beyond a year", minimalHub + "max_permit_window: 87600h\n", []string{"max_permit_window: 87600h0m0s", "a year"}},
	{"zero retention", minimalHub + "retention: 0s\n", []string{"line 8: retention:", "want more than 0"}},
	{"retention in days", minimalHub + "retention: 90d\n", []string{"line 8: retention:", `"90d" is not a duration`}},
	{"listen without port", minimalHub + "listen: 127.0.0.1\n", []string{`listen: "127.0.0.1" is not a host:port`}},
	{"listen port alone", minimalHub + "listen: \"8080\"\n", []string{`listen: "8080" is not a host:port`}},
	{"listen port by name", minimalHub + "listen: 127.0.0.1:http\n", []string{`listen: "127.0.0.1:http" is not a host:port`}},
	{"listen port too large", minimalHub + "listen: 127.0.0.1:70000\n", []string{"listen", "is not a host:port"}},
	{"listen everywhere without tls", minimalHub + "listen: 0.0.0.0:8080\n",
		[]string{`listen: "0.0.0.0:8080" is off loopback without TLS`, "API tokens would cross the network in clear",
			"insecure_http"}},
	{"plain mqtt off loopback", hubWith("tcp://127.0.0.1:1883", "tcp://mqtt.example:1883"),
		[]string{`mqtt.broker: "tcp://mqtt.example:1883" is plain text to a host off loopback`, "ssl://mqtt.example:8883", "insecure: true"}},
	{"plain mqtt scheme off loopback", hubWith("tcp://127.0.0.1:1883", "mqtt://192.168.1.2:1883"), []string{"mqtt.broker", "plain text"}},
	{"listen without host without tls", minimalHub + "listen: :8080\n", []string{`listen: ":8080" is off loopback`}},
	{"listen on the lan without tls", minimalHub + "listen: 192.168.10.5:8080\n", []string{"listen", "off loopback"}},
	{"listen on a name without tls", minimalHub + "listen: hub.example:8080\n", []string{"listen", "off loopback"}},
	{"insecure http false", minimalHub + "listen: '[::]:8080'\ninsecure_http: false\n", []string{"listen", "off loopback"}},
	{"tls cert without key", minimalHub + "tls_cert_file: hub.crt\n",
		[]string{"tls_cert_file: tls_cert_file and tls_key_file go together"}},
	{"tls key without cert off loopback", minimalHub + "listen: 0.0.0.0:8443\ntls_key_file: hub.key\n",
		[]string{"tls_cert_file:", "go together", `listen: "0.0.0.0:8443" is off loopback without TLS`}},
	{"one store for both", minimalHub + "store: data/hub.db\nevents_store: ./data/../data/hub.db\n",
		[]string{`events_store: "/etc/kunci/data/hub.db" is also set as store; want a file of its own`}},
	{"store on the events' default", minimalHub + "store: /var/lib/kunci/hub-events.db\n",
		[]string{"events_store", "is also set as store"}},
	{"admin token over the store", minimalHub + "admin_token_file: /var/lib/kunci/hub.db\n",
		[]string{`admin_token_file: "/var/lib/kunci/hub.db" is also set as store`}},
	{"admin token over the events", minimalHub + "events_store: data/events.db\nadmin_token_file: data/events.db\n",
		[]string{`admin_token_file: "/etc/kunci/data/events.db" is also set as events_store`}},
	{"insecure http not a bool", minimalHub + "insecure_http: maybe\n", []string{"line 8: insecure_http:", "cannot unmarshal"}},
	{"typo at top", hubWith("signing_key:", "signing_kee:"), []string{"line 1: signing_kee: field signing_kee not found"}},
	{"agent field", minimalHub + "site: demo\n", []string{"line 8: site:", "not found"}},
	{"doors not a list", hubWith("doors:\n  - demo/server-room\n", "doors: demo/server-room\n"),
		[]string{"line 4: doors:", "cannot unmarshal !!str"}},
	{"site keys a list", hubWith("site_keys:\n  demo: keys/site.key\n", "site_keys: [keys/site.key]\n"),
		[]string{"line 2: site_keys:", "cannot unmarshal !!seq"}},
	{"site key a list", hubWith("demo: keys/site.key", "demo: [keys/site.key]"),
		[]string{"line 3: site_keys.demo:", "cannot unmarshal !!seq"}},
	{"key twice", minimalHub + "signing_key: keys/hub-2.key\n", []string{"line 8: signing_key: set again, first set at line 1"}},
	{"site twice", hubWith("  demo: keys/site.key\n", "  demo: keys/site.key\n  demo: keys/other.key\n"),
		[]string{"line 4: site_keys.demo: set again, first set at line 3"}},
	{"http limits negative", minimalHub + "http: {max_connections: -1, max_connections_per_client: -2, body_timeout: -1s, max_watchers: -3}\n",
		[]string{"http.max_connections: -1 is negative", "http.max_connections_per_client: -2 is negative",
			"http.body_timeout: -1s is negative", "http.max_watchers: -3 is negative"}},
	{"http client over all", minimalHub + "http: {max_connections: 10, max_connections_per_client: 11}\n",
		[]string{"http.max_connections_per_client: 11 is more than max_connections 10"}},
	{"empty file", "", []string{"no settings in the file (start from configs/hub.yaml)"}},
	{"null document", "~\n", []string{"signing_key: missing", "mqtt.broker: missing"}},
	{"two documents", minimalHub + "---\nlisten: 127.0.0.1:9090\n", []string{"more than one YAML document"}},
	{"too large", minimalHub + "#" + strings.Repeat("x", config.MaxFile) + "\n", []string{"bytes, at most 65536"}},
	{"many problems", minimalHub + unknownKeys(100), []string{"line 8: k00000: field k00000 not found",
		"and 80 more problems"}},
	{"notify to nobody known", minimalHub + "notify:\n  rules:\n    - topics: [\"alarm.*\"]\n      steps:\n        - to: [kepala]\n",
		[]string{`notify.rules[0].steps[0].to[0]: "kepala" is not a recipient`}},
	{"notify email without server", minimalHub + "notify:\n  recipients:\n    - name: ict\n      email: ict@example.go.id\n",
		[]string{"notify.recipients[0].email: no email server: set notify.email"}},
	{"notify bad hours", minimalHub + "notify:\n  recipients:\n    - {name: soc, webhook: \"https://soc.example/h\", secret_file: s}\n" +
		"  rules:\n    - {topics: [\"*\"], hours: \"8-16\", days: [senin], steps: [{to: [soc]}]}\n",
		[]string{`notify.rules[0].hours: "8-16": want HH:MM-HH:MM`, `notify.rules[0].days[0]: "senin"`}},
	{"silence too short", minimalHub + "alarms: {silence: 30s}\n", []string{"alarms.silence: 30s: want 1m0s to 720h0m0s",
		"leave it out for no silence alarm"}},
	{"silence beyond a month", minimalHub + "alarms: {silence: 721h}\n", []string{"alarms.silence: 721h0m0s: want"}},
	{"negative silence", minimalHub + "alarms: {silence: -10m}\n", []string{"alarms.silence: -10m0s: want"}},
	{"zero silence", minimalHub + "alarms: {silence: 0s}\n", []string{"alarms.silence:", "want more than 0"}},
	{"silence in days", minimalHub + "alarms: {silence: 1d}\n", []string{"alarms.silence:", `"1d" is not a duration`}},
	{"alarms typo", minimalHub + "alarms: {silent: 10m}\n", []string{"alarms.silent", "not found"}},
	{"notify typo", minimalHub + "notify:\n  reciepients: []\n", []string{"line 9: notify.reciepients: field reciepients not found"}},
	{"several problems", hubWith("- demo/server-room", "- lab/server-room") + "retention: 1h\nlisten: 0.0.0.0:80\n",
		[]string{`doors[0]: site "lab"`, "retention: 1h0m0s is too short", `listen: "0.0.0.0:80" is off loopback`}},
}

func TestParseHubRefuses(t *testing.T) {
	for _, tc := range badHubs {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.ParseHub("/etc/kunci/office.yaml", []byte(tc.yaml))
			if c != nil || err == nil {
				t.Fatalf("ParseHub(%s) = %+v, %v; want no config and an error", tc.name, c, err)
			}
			got := err.Error()
			for line := range strings.Lines(got) {
				if !strings.HasPrefix(line, "office.yaml: ") {
					t.Errorf("line %q of the error does not start with the file's name", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("ParseHub(%s) = %q; want it to contain %q", tc.name, got, w)
				}
			}
			if len(got) > 4096 {
				t.Errorf("the error has %d bytes; it must not echo the file", len(got))
			}
		})
	}
}

// goodHubs are hub configs ParseHub accepts: edges of the rules above.
var goodHubs = []struct{ name, yaml string }{
	{"minimal", minimalHub},
	{"retention of a day", minimalHub + "retention: 24h\n"},
	{"retention of 90 days", minimalHub + "retention: 2160h\n"},
	{"permits of a week", minimalHub + "max_permit_window: 168h\n"},
	{"permits of a year", minimalHub + "max_permit_window: 8760h\n"},
	{"no doors yet", hubWith("doors:\n  - demo/server-room\n", "")},
	{"a site without doors", hubWith("  demo: keys/site.key\n", "  demo: keys/site.key\n  lab: keys/lab.key\n")},
	{"two doors of two sites", hubWith("  demo: keys/site.key\ndoors:\n  - demo/server-room\n",
		"  demo: keys/site.key\n  lab: keys/lab.key\ndoors:\n  - demo/server-room\n  - lab/server-room\n")},
	{"listen on localhost", minimalHub + "listen: localhost:8080\n"},
	{"listen on ipv6 loopback", minimalHub + "listen: '[::1]:8080'\n"},
	{"listen on any loopback", minimalHub + "listen: 127.0.0.53:8080\n"},
	{"listen on a free port", minimalHub + "listen: 127.0.0.1:0\n"},
	{"listen everywhere with tls", minimalHub + "listen: 0.0.0.0:8443\n" + tlsFiles},
	{"tls on loopback", minimalHub + tlsFiles},
	{"insecure http behind a proxy", minimalHub + "listen: 10.0.0.5:8080\ninsecure_http: true\n"},
	{"mqtt over tls", hubWith("tcp://127.0.0.1:1883", "ssl://mqtt.example:8883") +
		"  password_file: mqtt.pass\n  ca_file: ca.crt\n  cert_file: hub.crt\n  key_file: hub.key\n  shared: true\n"},
	{"stores apart", minimalHub + "store: hub.db\nevents_store: events.db\n"},
	{"events in postgres", minimalHub + "events_store: postgres://kunci@127.0.0.1:5432/kunci?sslmode=disable\n"},
	{"events in postgres, DSN in a file", minimalHub + "events_store_dsn_file: events.dsn\n"},
	{"all in postgres", minimalHub + "store: postgres://kunci@127.0.0.1:5432/kunci\nevents_store: postgres://kunci@127.0.0.1:5432/kunci\n"},
	{"store in postgres, DSN in a file", minimalHub + "store_dsn_file: hub.dsn\nstore_keys_file: keys/hub.db.keys\n"},
	{"plain mqtt on localhost", hubWith("tcp://127.0.0.1:1883", "tcp://localhost:1883")},
	{"two brokers", hubWith("  broker: tcp://127.0.0.1:1883\n", "  brokers: [ssl://mqtt-a.example:8883, ssl://mqtt-b.example:8883]\n  ca_file: ca.crt\n")},
	{"plain mqtt off loopback, accepted", hubWith("tcp://127.0.0.1:1883", "tcp://10.0.0.7:1883") + "  insecure: true\n"},
	{"silence of a minute", minimalHub + "alarms: {silence: 1m}\n"},
	{"silence of a month", minimalHub + "alarms: {silence: 720h}\n"},
	{"http limits", minimalHub + "http: {max_connections: 64, max_connections_per_client: 64, body_timeout: 2s, max_watchers: 8}\n"},
}

func TestParseHubAccepts(t *testing.T) {
	for _, tc := range goodHubs {
		if _, err := config.ParseHub("/etc/kunci/hub.yaml", []byte(tc.yaml)); err != nil {
			t.Errorf("ParseHub(%s) = %v; want it accepted", tc.name, err)
		}
	}
}

// TestHubEventsStore: a DSN is taken as it is, not as a path; a DSN file
// is a path, and then there is no bbolt file of events.
func TestHubEventsStore(t *testing.T) {
	const dsn = "postgres://kunci@127.0.0.1:5432/kunci"
	c, err := config.ParseHub("/etc/kunci/hub.yaml", []byte(minimalHub+"events_store: "+dsn+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsStore != dsn {
		t.Errorf("events_store = %q; want %q", c.EventsStore, dsn)
	}
	c, err = config.ParseHub("/etc/kunci/hub.yaml", []byte(minimalHub+"events_store_dsn_file: events.dsn\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsStore != "" || c.EventsStoreDSNFile != "/etc/kunci/events.dsn" {
		t.Errorf("events_store = %q, events_store_dsn_file = %q; want none and /etc/kunci/events.dsn", c.EventsStore, c.EventsStoreDSNFile)
	}
}

// TestHubStore: the workflow's store in PostgreSQL keeps its keys in the
// database (a keys file only if set, to bring in), and the admin token in
// /var/lib/kunci or beside that file; a bbolt store's keys file is
// beside the store.
func TestHubStore(t *testing.T) {
	for _, c := range []struct {
		yaml, store, dsnFile, keys, admin string
	}{
		{"store: postgres://kunci@127.0.0.1:5432/kunci\n", "postgres://kunci@127.0.0.1:5432/kunci", "",
			"", "/var/lib/kunci/admin.token"},
		{"store_dsn_file: hub.dsn\nstore_keys_file: data/hub.keys\n", "", "/etc/kunci/hub.dsn",
			"/etc/kunci/data/hub.keys", "/etc/kunci/data/admin.token"},
		{"store: data/hub.db\n", "/etc/kunci/data/hub.db", "", "/etc/kunci/data/hub.db.keys", "/etc/kunci/data/admin.token"},
		{"", "/var/lib/kunci/hub.db", "", "/var/lib/kunci/hub.db.keys", "/var/lib/kunci/admin.token"},
	} {
		h, err := config.ParseHub("/etc/kunci/hub.yaml", []byte(minimalHub+c.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if h.Store != c.store || h.StoreDSNFile != c.dsnFile || h.StoreKeysFile != c.keys || h.AdminTokenFile != c.admin {
			t.Errorf("%q: store %q, store_dsn_file %q, store_keys_file %q, admin_token_file %q; want %q, %q, %q, %q",
				c.yaml, h.Store, h.StoreDSNFile, h.StoreKeysFile, h.AdminTokenFile, c.store, c.dsnFile, c.keys, c.admin)
		}
	}
}

func TestHubDefaults(t *testing.T) {
	c, err := config.ParseHub("/etc/kunci/hub.yaml", []byte(minimalHub+"  password_file: mqtt.pass\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ field, got, want string }{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"store", c.Store, "/var/lib/kunci/hub.db"},
		{"events_store", c.EventsStore, "/var/lib/kunci/hub-events.db"},
		{"mqtt.client_id", c.MQTT.ClientID, "kunci-hub-ingest"},
		{"mqtt.username", c.MQTT.Username, "kunci-hub"},
		{"mqtt.prefix", c.MQTT.Prefix, "kunci/v1"},
		{"admin_token_file", c.AdminTokenFile, "/var/lib/kunci/admin.token"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q; want the default %q", f.field, f.got, f.want)
		}
	}
	if time.Duration(c.MaxPermitWindow) != 720*time.Hour {
		t.Errorf("max_permit_window = %v; want the default 720h", time.Duration(c.MaxPermitWindow))
	}
	if c.Alarms.Silence != 0 {
		t.Errorf("alarms.silence = %v; want 0 (no silence alarm) when left out", time.Duration(c.Alarms.Silence))
	}
	if c.Retention != 0 || c.InsecureHTTP || c.MQTT.Shared {
		t.Errorf("retention %v, insecure_http %v, shared %v; want 0 (keep), false, false",
			time.Duration(c.Retention), c.InsecureHTTP, c.MQTT.Shared)
	}

	// no password, no user name: a client certificate names the user
	c, err = config.ParseHub("hub.yaml", []byte(minimalHub))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Username != "" {
		t.Errorf("mqtt.username without password_file = %q; want none", c.MQTT.Username)
	}
	c, err = config.ParseHub("hub.yaml", []byte(minimalHub+"  password_file: p\n  username: hub-b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Username != "hub-b" {
		t.Errorf("mqtt.username = %q; want hub-b as written", c.MQTT.Username)
	}

	// the admin token goes where the hub writes its store
	c, err = config.ParseHub("/etc/kunci/hub.yaml", []byte(minimalHub+"store: /srv/kunci/hub.db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminTokenFile != "/srv/kunci/admin.token" {
		t.Errorf("admin_token_file = %q; want /srv/kunci/admin.token, next to the store", c.AdminTokenFile)
	}
}

func TestHubRelativePathsFromConfigFolder(t *testing.T) {
	b := []byte(`signing_key: keys/hub-1.key
site_keys:
  demo: keys/site.key
  lab: /secret/lab.key
store: data/hub.db
events_store: /srv/events.db
admin_token_file: admin.token
tls_cert_file: tls/hub.crt
tls_key_file: tls/hub.key
mqtt:
  broker: ssl://mqtt:8883
  password_file: mqtt.pass
  ca_file: ca.crt
  cert_file: hub.crt
  key_file: hub.key
`)
	c, err := config.ParseHub("/etc/kunci/hub.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ field, got, want string }{
		{"signing_key", c.SigningKey, "/etc/kunci/keys/hub-1.key"},
		{"site_keys.demo", c.SiteKeys["demo"], "/etc/kunci/keys/site.key"},
		{"site_keys.lab", c.SiteKeys["lab"], "/secret/lab.key"},
		{"store", c.Store, "/etc/kunci/data/hub.db"},
		{"events_store", c.EventsStore, "/srv/events.db"},
		{"admin_token_file", c.AdminTokenFile, "/etc/kunci/admin.token"},
		{"tls_cert_file", c.TLSCertFile, "/etc/kunci/tls/hub.crt"},
		{"tls_key_file", c.TLSKeyFile, "/etc/kunci/tls/hub.key"},
		{"mqtt.password_file", c.MQTT.PasswordFile, "/etc/kunci/mqtt.pass"},
		{"mqtt.ca_file", c.MQTT.CAFile, "/etc/kunci/ca.crt"},
		{"mqtt.cert_file", c.MQTT.CertFile, "/etc/kunci/hub.crt"},
		{"mqtt.key_file", c.MQTT.KeyFile, "/etc/kunci/hub.key"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q; want %q", f.field, f.got, f.want)
		}
	}
}

func TestLoadHub(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "office.yaml")
	if err := os.WriteFile(p, []byte(minimalHub), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.LoadHub(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "keys", "hub-1.key"); c.SigningKey != want {
		t.Errorf("signing_key = %q; want %q", c.SigningKey, want)
	}
	if c.File() != "office.yaml" {
		t.Errorf("File() = %q; want office.yaml", c.File())
	}
	if _, err := config.LoadHub(filepath.Join(dir, "missing.yaml")); err == nil ||
		!strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("LoadHub(missing file) = %v; want an error naming the file", err)
	}
}

// An empty Hub has every required field missing; each is its own error,
// named after hub.yaml.
func TestHubValidateReportsEveryProblem(t *testing.T) {
	c := &config.Hub{}
	if c.File() != "hub.yaml" {
		t.Errorf("File() = %q; want hub.yaml", c.File())
	}
	err := c.Validate()
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate(empty) = %v (%T); want errors.Join of every problem", err, err)
	}
	want := []string{"hub.yaml: listen:", "hub.yaml: store: missing", "hub.yaml: store_keys_file: missing", "hub.yaml: events_store: missing",
		"hub.yaml: admin_token_file: missing",
		"hub.yaml: signing_key: missing", "hub.yaml: site_keys: missing", "hub.yaml: mqtt.broker: missing"}
	if got := j.Unwrap(); len(got) != len(want) {
		t.Errorf("Validate(empty) reported %d problems; want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate(empty) = %q; want it to contain %q", err, w)
		}
	}

	// Defaults leaves only what has no default.
	c.Defaults()
	if err := c.Validate(); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("Validate(empty with defaults) = %v; want signing_key, site_keys and mqtt.broker", err)
	}
}
