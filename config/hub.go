package config

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
	// Store is the workflow's bbolt file: permits, staff, API tokens
	// (/var/lib/kunci/hub.db).
	Store string `yaml:"store"`
	// EventsStore is the doors' events' bbolt file
	// (/var/lib/kunci/hub-events.db).
	EventsStore string `yaml:"events_store"`
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
	Retention Duration `yaml:"retention"`
	// AdminTokenFile is where the first admin token is written (mode
	// 0600) when the store has no admin yet.
	AdminTokenFile string `yaml:"admin_token_file"`
	MQTT           HubMQTT `yaml:"mqtt"`

	file string // for messages; empty means hub.yaml
}

// HubMQTT is the hub's link to the broker.
type HubMQTT struct {
	Broker       string `yaml:"broker"`    // required: tcp://host:1883 or ssl://host:8883
	ClientID     string `yaml:"client_id"` // kunci-hub-ingest: the broker keeps its session
	Username     string `yaml:"username"`  // kunci-hub, as configs/mosquitto.acl expects
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"`
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	Prefix       string `yaml:"prefix"` // kunci/v1
	// Shared subscribes through $share/kunci-hub/ for several hub replicas.
	Shared bool `yaml:"shared"`
}
