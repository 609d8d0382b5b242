// Package bench measures Kunci against the targets of its issues, each
// against a baseline measured in the same run:
//
//   - the door (run.sh): tap-to-relay latency including the durable write,
//     against a bare fsync'd bbolt update; agent start to ready; the Go
//     heap, each with up to a million permits stored; a PN532 on the path;
//   - the sync (sync.sh): draining a backlog with end-to-end acks against
//     mosquitto_pub, the way back after a broker outage, many agents on one
//     broker;
//   - the hub (hub.sh): ingest of 100 doors x 1,000 events through
//     Mosquitto against a subscriber that only counts them; the guest book
//     over a million stored events, the Book against the batch GuestBook,
//     and the Book's build at start;
//   - the console (console.sh): the server time of its dashboard, guest
//     book and service-time pages on a hub of 100,000 visits, a door's
//     event to the dashboard's stream, and the hub's heap with 100
//     dashboards open;
//   - the grant under load (stall.sh): tap to relay on a door wired by
//     sync/agentsync while its outbox drains a backlog and while garbage
//     floods its downlink, with the broker and the hub on another file
//     system than the door's store;
//   - the offline buffer (offline.sh): a store of 10,000,000 events no hub
//     acked, its bytes per event, its appends and its drain through
//     Mosquitto with end-to-end acks;
//   - the door soak (doorsoak.sh): a door in a process of its own, its hub
//     down, under a downlink flood with visits and a backlog crossing its
//     quota: the grant against the paired bare update, its RSS, its store
//     within its quota, and every event at the hub once afterwards.
//
// Everything lives in the package's tests and benchmarks; the scripts run
// them and print the tables. It must never be imported, never write outside
// bench/cache and temporary directories it removes (the broker's and the
// hub's under KUNCI_BENCH_CENTRAL, /dev/shm by default, included), and
// never assert on wall-clock speed: the numbers are a report, not a test
// verdict.
package bench
