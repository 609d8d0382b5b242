package ingest

import (
	"fmt"
	"time"

	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
)

// BookOpened says how an event store came by its guest book at open.
type BookOpened struct {
	Took  time.Duration // reading the kept book, or building it
	Rows  int           // the book's rows
	Built bool          // built from the stored events and kept since: the store was an older hub's
}

// BuildBook makes the guest book of every door's events in ev, knowing no
// permit, decoding only the events the book reads (workflow.BookTypes):
// what the hub did at every start before the book was kept.
func BuildBook(ev EventStore) (*workflow.Book, error) {
	return BuildBookOf(ev, nil)
}

// BuildBookOf is BuildBook knowing permits.
func BuildBookOf(ev EventStore, permits []workflow.Record) (*workflow.Book, error) {
	book := workflow.NewBook(permits)
	doors, err := ev.Doors()
	if err != nil {
		return nil, err
	}
	for _, d := range doors {
		if err := ev.WalkTypes(d.Site, d.Door, workflow.BookTypes, func(e wire.Event) error {
			book.Apply(e)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("events of %s/%s: %w", d.Site, d.Door, err)
		}
	}
	return book, nil
}

// OpenBook is what a backend does at open to come by its guest book: load
// gives l every key and value of the kept book (l.Add, after l.GrowTo
// with the key before workflow.RowsEnd) and says whether one was kept at
// all; when none was (a store of an older hub, or a new one),
// the book is built from the stored events and keep writes it whole and
// marks it kept, so that it is built once.
func OpenBook(ev EventStore, load func(l *workflow.BookLoader) (bool, error), keep func([]workflow.KV) error) (*workflow.Book, BookOpened, error) {
	start := time.Now()
	l := workflow.NewBookLoader()
	kept, err := load(l)
	if err != nil {
		return nil, BookOpened{}, fmt.Errorf("guest book: %w", err)
	}
	if kept {
		b, err := l.Book()
		if err != nil {
			return nil, BookOpened{}, fmt.Errorf("guest book: %w", err)
		}
		return b, BookOpened{Took: time.Since(start), Rows: b.Len()}, nil
	}
	b, err := BuildBook(ev)
	if err != nil {
		return nil, BookOpened{}, fmt.Errorf("guest book: build: %w", err)
	}
	if err := keep(b.State()); err != nil {
		return nil, BookOpened{}, fmt.Errorf("guest book: keep: %w", err)
	}
	return b, BookOpened{Took: time.Since(start), Rows: b.Len(), Built: true}, nil
}

// EventsOf is the events of puts, in their order: what a backend's Commit
// stages in its book (workflow.Book.Stage).
func EventsOf(puts []Put) []wire.Event {
	var evs []wire.Event
	for _, p := range puts {
		evs = append(evs, p.Events...)
	}
	return evs
}
