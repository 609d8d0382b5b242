package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/internal/httplimit"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// SetupOf is the Setup of a loaded hub.yaml: it reads the keys and the
// link's secrets the config names, each error prefixed with its field.
func SetupOf(cfg *config.Hub) (Setup, error) {
	signer, err := permit.LoadSigner(cfg.SigningKey)
	if err != nil {
		return Setup{}, fmt.Errorf("signing_key: %w", err)
	}
	s := Setup{Store: cfg.Store, StoreKeys: cfg.StoreKeysFile, EventsStore: cfg.EventsStore, Signer: signer, SiteKeys: map[string]permit.SiteKey{},
		Prefix: cfg.MQTT.Prefix, Shared: cfg.MQTT.Shared, Retention: time.Duration(cfg.Retention),
		MaxPermitWindow: time.Duration(cfg.MaxPermitWindow),
		Location:        cfg.Console.Location(), Office: cfg.Console.Office, MaxWatchers: cfg.HTTP.MaxWatchers,
		HTTP: httplimit.Limits{MaxConns: cfg.HTTP.MaxConnections, MaxConnsPerClient: cfg.HTTP.MaxConnectionsPerClient,
			BodyTimeout: time.Duration(cfg.HTTP.BodyTimeout)}, Notify: cfg.Notify, Silent: time.Duration(cfg.Alarms.Silence)}
	if cfg.StoreDSNFile != "" {
		if s.Store, err = pgstore.ReadDSNFile(cfg.StoreDSNFile); err != nil {
			return Setup{}, fmt.Errorf("store_dsn_file: %w", err)
		}
	}
	if cfg.EventsStoreDSNFile != "" {
		if s.EventsStore, err = pgstore.ReadDSNFile(cfg.EventsStoreDSNFile); err != nil {
			return Setup{}, fmt.Errorf("events_store_dsn_file: %w", err)
		}
	}
	for site, f := range cfg.SiteKeys {
		if s.SiteKeys[site], err = permit.LoadSiteKey(f); err != nil {
			return Setup{}, fmt.Errorf("site_keys.%s: %w", site, err)
		}
	}
	for _, d := range cfg.Doors {
		site, door, _ := strings.Cut(d, "/")
		s.Doors = append(s.Doors, hub.DoorName{Site: site, Door: door})
	}
	m := cfg.MQTT
	s.Link = mqttlink.Options{Brokers: m.BrokerList(), ClientID: m.ClientID, Username: m.Username}
	if len(s.Link.Brokers) > 0 {
		s.Link.Broker = s.Link.Brokers[0]
	}
	return s, s.Link.LoadSecrets(m.PasswordFile, m.CAFile, m.CertFile, m.KeyFile)
}
