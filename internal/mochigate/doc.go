// Package mochigate runs the embedded MQTT broker of kunci dev and of the
// tests, mochi-mqtt v2.7.9, around two faults of that version: a data
// race on retained messages and a Close that can hang. It must never be
// used for a site's broker: it lets every client in, keeps nothing on
// disk and lets one retained publish or subscription through at a time,
// broker-wide; Mosquitto is the site's broker.
//
// The race (mochi-mqtt/server issue #200): TopicsIndex.RetainMessage
// writes a topic particle's retainPath under the particle's lock while a
// subscription's retained scan (scanMessages) reads it without any lock.
// A hub publishing retained records while a door subscribes, or a door's
// retained will fired while Home Assistant subscribes, is such a pair: the
// race detector reports it, and a torn read of the string could crash the
// broker. Start registers a hook that takes one broker-wide lock, in the
// client's own goroutine, before mochi processes a SUBSCRIBE or a retained
// PUBLISH and before it fires a retained will, and gives it back when the
// packet is processed (or the client's goroutine reads again, or ends):
// the two sides of the race never run at once, while every other packet
// (plain publishes, acks, pings) flows in parallel. The other writers of
// retainPath are kept out: $SYS topics are published once, before any
// client (mochi's ticker would republish them from its own goroutine),
// and a will delay is cleared at CONNECT (mochi fires delayed wills from
// that goroutine too). This replaces an earlier gate that carried every
// packet of every client one at a time and still let a retained will
// race.
//
// The hang: Server.Close calls Clients.GetByListener, which takes the
// clients' read lock and then, through Clients.Len, takes it again. A
// client that disconnects at the same moment asks for the write lock in
// between (Clients.Delete); the second read lock then waits behind that
// writer, which waits for the first: Close and every client goroutine
// deadlock, for good. That is the CI failure in sync/hadiscovery
// ("mochi: Close did not return within 5s" in
// TestDiscoveryOnTheWire/mochi), where the test's clients leave just as
// the broker closes: a goroutine dump of a rerun here showed Close in
// GetByListener and three clients in Clients.Delete. Close could also
// wait for ever on a connection that never sent CONNECT (mochi sets no
// deadline before it) and for a keep-alive and a half on a client that
// stopped reading. Broker.Close therefore does mochi's shutdown work
// itself, first: it stops accepting, closes every client connection, waits
// (bounded by its context) until every client goroutine has ended, and
// only then calls mochi's Close, which finds no client to disconnect and
// none to wait for. Under the race detector such a Close took 0.5 ms
// with a silent connection or a subscriber that stopped reading, and at
// most 16 ms in 150 Closes with 32 clients leaving at once (where
// mochi's own Close hung once); a Close that still overruns returns
// ErrCloseTimeout naming the connections left, it never blocks past its
// context.
//
// Why mochi is kept rather than replaced by embedded nats-server/v2 with
// its MQTT listener (which carried retained messages, persistent
// sessions and QoS 1 in a trial and closed in 35 ms): kunci is one
// binary, the Raspberry Pi agent included, and nats-server v2.15.3 adds
// 12.7 MB to it (linux/arm v6: 27.1 MB against 14.4 MB for a build with
// no embedded broker), where mochi with this package adds 0.7 MB;
// nats-server's MQTT also has no shared subscriptions, which the hub's
// replicas use ($share/kunci-hub/...). v2.7.9 is the newest mochi on the
// module proxy, so no upgrade fixes either fault.
package mochigate
