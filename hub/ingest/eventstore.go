package ingest

import (
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
)

// EventStore is the doors' events as the hub keeps them: what the ingest
// writes and what the guest book, the API and the console read. Store
// (bbolt, one file) is the embedded default; package pgevents keeps them
// in PostgreSQL, for hub replicas that share one database. Package
// storetest holds the behaviour every implementation must have, run
// against each.
//
// The contract, whatever the backend:
//   - A stream (a door's epoch) is stored from seq 1, gap-free but for
//     runs accepted as lost: Commit and AcceptLost refuse, with ErrOrder
//     and nothing stored, whatever does not continue the stream's through.
//     So a duplicate is never stored twice, and two writers of one door
//     (two hub replicas) cannot both store a seq: the second gets
//     ErrOrder, reads Through again, and its events count as duplicates.
//   - A commit is one transaction: all its puts or none, and the guest
//     book's change they make (Book).
//   - A door's epochs read back in the order first seen (by Commit or
//     AcceptLost), each in seq order; Recent's cursors are the same
//     positions (the epoch's order, the seq) in every backend.
//   - Doors, Door, Lost and AllLost list by site/door (and epoch) as
//     bytes sort.
//
// Methods take no context: each backend bounds its own waits (bbolt's
// file lock at open; pgevents' Options.Timeout on every call).
type EventStore interface {
	// Commit stores puts in one transaction.
	Commit(puts []Put) error
	// AcceptLost records l and moves its stream's through to l.To, in one
	// transaction; the stream's through must be l.From-1.
	AcceptLost(l Lost) error
	// Through is the highest seq stored of a door's epoch (0: never seen).
	Through(site, door, epoch string) (uint64, error)
	// Doors lists every door with stored events, by site/door.
	Doors() ([]DoorEvents, error)
	// Door is what the store holds of one door; no epochs if none.
	Door(site, door string) (DoorEvents, error)
	// Lost is the runs of a door's seqs accepted as lost, epoch by epoch
	// in the order first seen, each epoch's in seq order.
	Lost(site, door string) ([]Lost, error)
	// AllLost is every door's runs accepted as lost, by site, door and
	// epoch name, each stream's in seq order.
	AllLost() ([]Lost, error)
	// Events is a door's epoch's stored events with seq from after+1 to
	// after+limit, in seq order.
	Events(site, door, epoch string, after uint64, limit int) ([]Event, error)
	// Walk calls fn with every stored event of a door, epoch after epoch
	// in the order first seen, each in seq order, until fn returns an
	// error.
	Walk(site, door string, fn func(Event) error) error
	// WalkTypes is Walk for the events of the given types only.
	WalkTypes(site, door string, types []wire.EventType, fn func(Event) error) error
	// Recent is a page of a door's newest events that q chooses.
	Recent(q Query) (Page, error)
	// Total is how many events the store holds, over every door.
	Total() (uint64, error)
	// Import stores evs in order, in commits of many events each.
	Import(evs []Event) error
	// Book is the guest book kept with the events: each commit applies its
	// events to it (workflow.Book.Stage) and writes what they changed in
	// its own transaction, so that the book on disk is always that of the
	// events stored; a failed commit takes the change back
	// (workflow.Change.Undo). Between the Stage and the end of the
	// transaction the book shows the events already. The book is read at
	// open (OpenBook), and knows no permit: the hub gives it the records
	// (AddPermits).
	Book() (*workflow.Book, BookOpened)
	// Close lets go of the store.
	Close() error
}

var _ EventStore = (*Store)(nil)
