// Package server is the hub as a running service: it opens the hub's two
// stores (hub/workflow, a bbolt file or PostgreSQL through hub/kv/pgkv;
// hub/ingest, a bbolt file or hub/ingest/pgevents), its API tokens
// (hub/auth), the hub
// itself, its HTTP API (hub/api) and its MQTT link (sync/mqttlink), and
// runs them in the process's lifecycle.Group: the API, the ingest, the
// publishing of records and the daily jobs until lifecycle.Serve, the
// stores until lifecycle.Store, the link until lifecycle.Link, so that
// nothing writes a closed store and the link outlives what publishes
// through it.
//
// The daily jobs: the retention (personal data of permits that ended
// longer ago than Setup.Retention is purged) at start and every day, and
// every day the retained records signed and published again (expired
// permits cleared from the doors).
//
// A site that runs several brokers (Mosquitto does not cluster) lists
// them all in Setup.Link.Brokers: the hub keeps a link to each at once
// (mqttlink.Set), its ingest takes a door's events from whichever the
// door is on (a door that moved resends from its last ack; the ingest
// stores each event once, by door, epoch and seq), and everything the
// hub publishes goes to every broker connected: the retained records on
// each link's every connection, the acks, and the door commands, which
// the door takes from the broker it is on (a command's nonce makes a
// second copy, should the door move meanwhile, harmless).
//
// Serve holds at most Setup.HTTP's connections (overall and per client
// address) and gives each request's body Setup.HTTP.BodyTimeout
// (internal/httplimit); the hub bounds its watchers (Setup.MaxWatchers).
//
// It must never read a flag or a config file (cmd/kunci loads hub.yaml
// and hands it a Setup, made by SetupOf), and never serve the API on a
// listener it did not get.
package server
