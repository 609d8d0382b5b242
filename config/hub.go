package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/notify"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/loopback"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Hub is hub.yaml: the central hub of one or more sites.
type Hub struct {
	// Listen is the HTTP API's address (127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// TLSCertFile and TLSKeyFile serve the API over HTTPS; without them a
	// listen address off loopback is refused (tokens would cross the
	// network in clear) unless InsecureHTTP is set.
	TLSCertFile  string `yaml:"tls_cert_file"`
	TLSKeyFile   string `yaml:"tls_key_file"`
	InsecureHTTP bool   `yaml:"insecure_http"`
	// Store is the workflow's bbolt file: permits, staff, users and
	// sessions, API tokens, alarms, the notification queue and the
	// command log (/var/lib/kunci/hub.db); or a PostgreSQL database,
	// postgres://user@host:5432/db, for all of them (hub/kv/pgkv). A DSN
	// with a password goes in StoreDSNFile instead.
	Store string `yaml:"store"`
	// StoreDSNFile is a file (mode 0600) holding the PostgreSQL DSN of
	// the workflow's store, password and all; it takes the place of Store.
	StoreDSNFile string `yaml:"store_dsn_file"`
	// StoreKeysFile is the keys file sealing the guests' personal data,
	// beside a bbolt store: the store's path and .keys
	// (workflow.KeysSuffix) unless set. A store in PostgreSQL keeps the
	// keys in the database, for every hub replica; set here, a keys file
	// there (a hub that kept them in a file) has its keys brought into the
	// database at start.
	StoreKeysFile string `yaml:"store_keys_file"`
	// EventsStore is the doors' events' bbolt file
	// (/var/lib/kunci/hub-events.db), or a PostgreSQL database,
	// postgres://user@host:5432/db, for hub replicas that share it
	// (hub/ingest/pgevents). A DSN with a password goes in
	// EventsStoreDSNFile instead.
	EventsStore string `yaml:"events_store"`
	// EventsStoreDSNFile is a file (mode 0600) holding the PostgreSQL DSN
	// of the doors' events, password and all; it takes the place of
	// EventsStore.
	EventsStoreDSNFile string `yaml:"events_store_dsn_file"`
	// SigningKey is the hub's private key file (kunci keygen: hub-<id>.key).
	// To rotate, make a new key, add its .pub to every agent's
	// trusted_keys, point signing_key at it and restart the hub.
	SigningKey string `yaml:"signing_key"`
	// SiteKeys are the card site key files by site (kunci keygen: site.key).
	SiteKeys map[string]string `yaml:"site_keys"`
	// Doors are the doors served, "site/door"; staff records go to every
	// door of their site.
	Doors []string `yaml:"doors"`
	// Retention purges guests' personal data this long after a permit
	// ended (at start and daily); zero keeps it. At least 24h.
	Retention wire.Duration `yaml:"retention"`
	// MaxPermitWindow is the longest time window of a permit request
	// (720h, 30 days; at most a year): a request for longer is refused,
	// so that a slip such as until 9999-12-31 never opens a door for good.
	MaxPermitWindow wire.Duration `yaml:"max_permit_window"`
	// AdminTokenFile is where the first admin token is written (mode
	// 0600) when the store has no admin yet (admin.token in the store's
	// folder).
	AdminTokenFile string     `yaml:"admin_token_file"`
	MQTT           HubMQTT    `yaml:"mqtt"`
	Console        HubConsole `yaml:"console"`
	HTTP           HubHTTP    `yaml:"http"`
	// Notify routes the alarms and the workflow's steps to people by
	// webhook, email and Telegram (hub/notify); without recipients and
	// rules nobody is told.
	Notify notify.Config `yaml:"notify"`
	Alarms HubAlarms     `yaml:"alarms"`

	file string // for messages; empty means hub.yaml
}

// HubHTTP bounds what the API's clients may hold. Zero takes the
// default, given with each field.
type HubHTTP struct {
	// MaxConnections is how many connections may be open at once (1024);
	// one more is closed as it comes. Keep it well under the unit's
	// LimitNOFILE.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerClient is how many of them one address may hold
	// (64).
	MaxConnectionsPerClient int `yaml:"max_connections_per_client"`
	// BodyTimeout is how long a request may take to send its body (10s);
	// later, it is answered 408 or its connection closed.
	BodyTimeout wire.Duration `yaml:"body_timeout"`
	// MaxWatchers is how many watch streams (GET /api/watch and the
	// console's dashboards) may be open at once (256); one more is
	// answered 503.
	MaxWatchers int `yaml:"max_watchers"`
}

// HubAlarms tunes the alarms the hub opens on its own, from what a
// door does not say.
type HubAlarms struct {
	// Silence opens a door.offline alarm for a door that has sent no
	// status, event or "online" for this long, though its availability
	// still says online (a broker that lost it without its last will).
	// Left out, no such alarm opens: a door publishes its status only
	// when something changes, so a quiet night says nothing. Set it
	// longer than the door's quietest stretch (12h for a room visited
	// daily); at least a minute, the hub's check's interval, and at most
	// 30 days.
	Silence wire.Duration `yaml:"silence"`
}

// The bounds of alarms.silence: the hub checks once a minute
// (hub.TickEvery), and a door silent for a month is not a live one.
const (
	minSilence = time.Minute
	maxSilence = 30 * 24 * time.Hour
)

// HubConsole is the web console's site settings.
type HubConsole struct {
	// Timezone is the zone every time is shown in (Asia/Jakarta, WIB;
	// Asia/Makassar for WITA, Asia/Jayapura for WIT).
	Timezone string `yaml:"timezone"`
	// Office is the heading of printed pages, a line each, as on the
	// office's letterhead.
	Office []string `yaml:"office"`
}

// Location returns the zone of Timezone (Validate has checked it).
func (c HubConsole) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil
	}
	return loc
}

// HubMQTT is the hub's link to the broker.
type HubMQTT struct {
	Broker string `yaml:"broker"` // required, or brokers: tcp://host:1883 or ssl://host:8883
	// Brokers, instead of broker, are every broker of a site that runs
	// several: the hub keeps a link to each (mqttlink.Set), taking the
	// doors' events from all and publishing the records on each.
	Brokers      []string `yaml:"brokers"`
	ClientID     string   `yaml:"client_id"` // kunci-hub-ingest: the broker keeps its session
	Username     string   `yaml:"username"`  // kunci-hub, as configs/mosquitto.acl expects
	PasswordFile string   `yaml:"password_file"`
	CAFile       string   `yaml:"ca_file"`
	CertFile     string   `yaml:"cert_file"`
	KeyFile      string   `yaml:"key_file"`
	Prefix       string   `yaml:"prefix"` // kunci/v1
	// Shared subscribes through $share/kunci-hub/ for several hub replicas,
	// each on a clean session (ingest.LinkOptions).
	Shared bool `yaml:"shared"`
	// Insecure accepts a plain-text broker (tcp://) off loopback.
	Insecure bool `yaml:"insecure"`
}

// LoadHub reads and validates a hub config. Relative paths in it are
// taken from the file's folder.
func LoadHub(path string) (*Hub, error) { return load(path, ParseHub) }

// ParseHub decodes and validates the hub config b read from path.
func ParseHub(path string, b []byte) (*Hub, error) { return parse[Hub](path, b) }

func (c *Hub) example() string     { return "configs/hub.yaml" }
func (c *Hub) setFile(name string) { c.file = name }

func (c *Hub) paths(abs func(*string)) {
	for _, p := range []*string{&c.EventsStore, &c.Store} {
		if !pgstore.IsDSN(*p) {
			abs(p)
		}
	}
	for _, p := range []*string{&c.TLSCertFile, &c.TLSKeyFile, &c.StoreDSNFile, &c.StoreKeysFile, &c.EventsStoreDSNFile, &c.SigningKey,
		&c.AdminTokenFile, &c.MQTT.PasswordFile, &c.MQTT.CAFile, &c.MQTT.CertFile, &c.MQTT.KeyFile} {
		abs(p)
	}
	c.Notify.Paths(abs)
	for site, p := range c.SiteKeys {
		abs(&p)
		c.SiteKeys[site] = p
	}
}

// File names the config file in messages.
func (c *Hub) File() string {
	if c.file == "" {
		return "hub.yaml"
	}
	return c.file
}

// Defaults fills every unset field with its default.
func (c *Hub) Defaults() {
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&c.Listen, "127.0.0.1:8080"},
		{&c.MQTT.ClientID, "kunci-hub-ingest"},
		{&c.MQTT.Prefix, "kunci/v1"},
		{&c.Console.Timezone, "Asia/Jakarta"},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if c.Store == "" && c.StoreDSNFile == "" {
		c.Store = "/var/lib/kunci/hub.db"
	}
	if c.StoreKeysFile == "" && c.StoreDSNFile == "" && !pgstore.IsDSN(c.Store) {
		c.StoreKeysFile = c.Store + workflow.KeysSuffix
	}
	if c.EventsStore == "" && c.EventsStoreDSNFile == "" {
		c.EventsStore = "/var/lib/kunci/hub-events.db"
	}
	if c.Notify.Timezone == "" {
		// the rules' days and hours are the console's, unless told
		c.Notify.Timezone = c.Console.Timezone
	}
	c.Notify.Defaults()
	if c.MaxPermitWindow == 0 {
		c.MaxPermitWindow = wire.Duration(workflow.DefaultMaxWindow)
	}
	if c.AdminTokenFile == "" {
		// the store's folder (the keys file's, or /var/lib/kunci, for a
		// store in PostgreSQL): the hub writes there, and the token is as
		// secret as the store
		dir := c.Store
		if c.StoreDSNFile != "" || pgstore.IsDSN(dir) {
			dir = c.StoreKeysFile
			if dir == "" {
				dir = "/var/lib/kunci/hub.db"
			}
		}
		c.AdminTokenFile = filepath.Join(filepath.Dir(dir), "admin.token")
	}
	if c.MQTT.Username == "" && c.MQTT.PasswordFile != "" {
		// configs/mosquitto.acl grants the hub's topics to this user
		c.MQTT.Username = "kunci-hub"
	}
}

// maxPermitWindow bounds max_permit_window: a year.
const maxPermitWindow = 8760 * time.Hour

// Validate reports every problem of c, one line each, naming the field.
func (c *Hub) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", c.File(), field, fmt.Sprintf(format, a...)))
	}
	c.validateHTTP(bad)
	c.HTTP.validate(bad)
	// Each file the hub writes is its own: bbolt locks its file (the second
	// store would time out opening it), and the admin token is written by
	// renaming a new file over the path.
	files := map[string]string{}
	type file struct{ name, v, what string }
	var stores []file
	if validateStore(bad, "store", c.Store, c.StoreDSNFile) {
		stores = append(stores, file{"store", c.Store, "the workflow's bbolt file (permits, staff, users, API tokens, alarms)"})
	}
	if c.StoreKeysFile != "" || (c.StoreDSNFile == "" && !pgstore.IsDSN(c.Store)) {
		stores = append(stores, file{"store_keys_file", c.StoreKeysFile, "the keys file of the guests' personal data"})
	}
	if validateStore(bad, "events_store", c.EventsStore, c.EventsStoreDSNFile) {
		stores = append(stores, file{"events_store", c.EventsStore, "the doors' events' bbolt file"})
	}
	stores = append(stores, file{"admin_token_file", c.AdminTokenFile, "where the hub writes its first admin token"})
	for _, f := range stores {
		p := filepath.Clean(f.v)
		switch {
		case f.v == "":
			bad(f.name, "missing: %s", f.what)
		case files[p] != "":
			bad(f.name, "%q is also set as %s; want a file of its own", f.v, files[p])
		default:
			files[p] = f.name
		}
	}
	if c.SigningKey == "" {
		bad("signing_key", "missing: the hub's private key (kunci keygen writes hub-<id>.key)")
	}
	if len(c.SiteKeys) == 0 {
		bad("site_keys", "missing: at least one site's key file by site, such as demo: keys/site.key (kunci keygen writes one)")
	}
	for _, site := range slices.Sorted(maps.Keys(c.SiteKeys)) {
		if err := permit.CheckID("site", site); err != nil {
			bad("site_keys", "%q is not a valid site name (1-64 letters, digits, '.', '_' or '-')", site)
		} else if c.SiteKeys[site] == "" {
			bad("site_keys."+site, "missing: the file of the site's key")
		}
	}
	seen := map[string]bool{}
	for i, d := range c.Doors {
		f := fmt.Sprintf("doors[%d]", i)
		site, door, _ := strings.Cut(d, "/")
		_, known := c.SiteKeys[site]
		switch {
		case permit.CheckID("site", site) != nil || permit.CheckID("door", door) != nil:
			bad(f, "%q is not site/door, such as demo/server-room (each 1-64 letters, digits, '.', '_' or '-')", d)
		case !known:
			bad(f, "site %q has no key in site_keys", site)
		case seen[d]:
			bad(f, "%q appears twice", d)
		}
		seen[d] = true
	}
	if _, err := time.LoadLocation(c.Console.Timezone); err != nil {
		bad("console.timezone", "%q is not a time zone (Asia/Jakarta, Asia/Makassar, Asia/Jayapura): %v", c.Console.Timezone, err)
	}
	if len(c.Console.Office) > 6 {
		bad("console.office", "%d lines; a letterhead has at most 6", len(c.Console.Office))
	}
	if r := time.Duration(c.Retention); r != 0 && r < workflow.MinRetention {
		bad("retention", "%s is too short; want at least %s (hub/workflow.MinRetention, a guard against a slip "+
			"of the unit), or leave it out to keep guests' personal data", r, workflow.MinRetention)
	}
	if w := time.Duration(c.MaxPermitWindow); w != 0 && (w < time.Hour || w > maxPermitWindow) {
		bad("max_permit_window", "%s: want 1h to 8760h (a year); leave it out for %s", w, workflow.DefaultMaxWindow)
	}
	if c.MQTT.Broker == "" && len(c.MQTT.Brokers) == 0 {
		bad("mqtt.broker", "missing: the site's broker, such as ssl://mqtt.example:8883 or tcp://127.0.0.1:1883 "+
			"(or brokers: a list, for a site that runs several)")
	}
	c.MQTT.link().validate(bad)
	c.Notify.Validate("notify", bad)
	if s := time.Duration(c.Alarms.Silence); s != 0 && (s < minSilence || s > maxSilence) {
		bad("alarms.silence", "%s: want %s to %s (720h), or leave it out for no silence alarm", s, minSilence, maxSilence)
	}
	return errors.Join(errs...)
}

// validateStore checks where a store is kept: field's value v, a bbolt
// file or a DSN, or field_dsn_file's dsnFile; it reports whether it is a
// bbolt file (then a file of its own).
func validateStore(bad func(field, format string, a ...any), field, v, dsnFile string) bool {
	switch {
	case dsnFile != "" && v != "":
		bad(field+"_dsn_file", "%s is set too; give one: a bbolt file or postgres:// DSN in %s, "+
			"or a DSN with a password in %s_dsn_file", field, field, field)
	case dsnFile != "":
	case !pgstore.IsDSN(v):
		return true
	case pgstore.HasPassword(v):
		bad(field, "%s has a password; put the DSN in a file of mode 0600 named by %s_dsn_file instead",
			pgstore.Redact(v), field)
	case !pgstore.ValidDSN(v):
		bad(field, "not a PostgreSQL DSN, such as postgres://kunci@127.0.0.1:5432/kunci")
	}
	return false
}

// validateHTTP checks the API's address and TLS.
func (c *Hub) validateHTTP(bad func(field, format string, a ...any)) {
	tls := c.TLSCertFile != "" && c.TLSKeyFile != ""
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	_, port, err := net.SplitHostPort(c.Listen)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
		bad("listen", "%q is not a host:port such as 127.0.0.1:8080", c.Listen)
		return
	}
	if !isLoopback(c.Listen) && !tls && !c.InsecureHTTP {
		bad("listen", "%q is off loopback without TLS: API tokens would cross the network in clear; "+
			"set tls_cert_file and tls_key_file, or insecure_http: true to accept that", c.Listen)
	}
}

// validate checks the limits: none negative, a client's no more than
// all.
func (h HubHTTP) validate(bad func(field, format string, a ...any)) {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"http.max_connections", h.MaxConnections},
		{"http.max_connections_per_client", h.MaxConnectionsPerClient},
		{"http.max_watchers", h.MaxWatchers},
	} {
		if f.v < 0 {
			bad(f.name, "%d is negative; want a number, or leave it out for the default", f.v)
		}
	}
	if h.BodyTimeout < 0 {
		bad("http.body_timeout", "%s is negative; want a duration such as 10s", time.Duration(h.BodyTimeout))
	}
	if h.MaxConnections > 0 && h.MaxConnectionsPerClient > h.MaxConnections {
		bad("http.max_connections_per_client", "%d is more than max_connections %d", h.MaxConnectionsPerClient, h.MaxConnections)
	}
}

// BrokerList returns the hub's brokers: brokers, or broker alone.
func (m *HubMQTT) BrokerList() []string { return brokerList(m.Broker, m.Brokers) }

func (m *HubMQTT) link() link {
	return link{broker: m.Broker, brokers: m.Brokers, insecure: m.Insecure, clientID: m.ClientID, passwordFile: m.PasswordFile, caFile: m.CAFile,
		certFile: m.CertFile, keyFile: m.KeyFile, prefix: m.Prefix}
}

// isLoopback reports whether the listen address host:port is on loopback:
// localhost or a loopback IP. An empty host (":8080") is every address.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && loopback.Host(host)
}
