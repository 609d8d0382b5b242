// Package pgevents keeps the doors' events in PostgreSQL: an
// ingest.EventStore for hub replicas that share one database, chosen in
// hub.yaml by events_store: postgres://… (or events_store_dsn_file).
//
// It behaves as hub/ingest's bbolt Store does, as the shared suite
// (hub/ingest/storetest) checks: streams stored gap-free from seq 1, a
// commit that does not continue its stream refused with ingest.ErrOrder
// and nothing stored, epochs read in the order first seen, the same
// Recent cursors. The tables are events_epochs, events and events_lost
// (migrations/, applied at Open through pgstore.Migrate). A unique key on
// (site, door, epoch, seq) and one on the event's id hold each event once
// whatever a caller does.
//
// Every commit and lost run takes its doors' transaction-scoped advisory
// locks (pgstore.LockEventsDoor, in the order of their keys, so that two
// commits of the same doors never deadlock) before it reads their
// throughs: two hub replicas storing one door serialise, and the second
// sees what the first stored. A commit of events the guest book reads
// takes the book's lock (pgstore.LockBook) after its doors' if it is
// free, catches its book up with the other replicas' commits, and numbers
// the events pending and then its own in the book's order
// (events.book_n), so that every replica's book numbers its rows alike;
// with the lock taken it stores them pending (events_book_pending), and
// does not wait. Watch catches the book up after each notification of
// another's, and numbers what is pending. Reads take no lock; each is one statement,
// consistent in itself (Walk reads a page per statement, as the bbolt
// store reads a page per transaction).
//
// Decisions where the bbolt store has none to make:
//   - seqs and orders are bigint: a seq beyond 2^63-1 is refused (an
//     agent's gap-free stream never gets there).
//   - A lost run's time is kept to the microsecond (timestamptz).
//   - Recent of both a type and a permit reads through the permit's index
//     filtered by type, in one statement, and gives full pages where the
//     bbolt store stops after ingest.MaxScan events read.
//
// It must never hold a connection while a caller's function runs (Walk
// reads a page, then calls fn), never log a DSN's password, and never
// change the schema but through its migrations.
package pgevents
