package pgevents

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/pgstore"
)

// Channel is the PostgreSQL notification channel on which every commit and
// lost run tells its streams' new through (ingest.Advance as JSON), for
// the hub replicas sharing the database (Watch). A notification is sent
// when its transaction commits, and only then.
const Channel = "kunci_events"

// advance is the payload of a notification on Channel: a stream's, or
// the guest book's order (Book alone) after a commit of events it reads.
// A stream's tells the through before (From: the commit stored the events
// from From+1) and the Store that committed (By: its random id).
type advance struct {
	Site    string `json:"site"`
	Door    string `json:"door"`
	Epoch   string `json:"epoch"`
	From    int64  `json:"from"`
	Through int64  `json:"through"`
	By      string `json:"by"`
	Book    int64  `json:"book"`
}

// queueNotify queues in b, inside a commit's transaction, one notification
// for each stream, at its new through, from the one before.
func (s *Store) queueNotify(b *pgx.Batch, sites, doors, epochs []string, froms, throughs []int64) {
	b.Queue(`SELECT pg_notify($1, json_build_object('site', s, 'door', d, 'epoch', e, 'from', f, 'through', t, 'by', $7::text)::text)
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) AS r(s, d, e, f, t)`, Channel, sites, doors, epochs, froms, throughs, s.id)
}

// queueNotifyBook queues in b the notification of the book's order at n.
func (s *Store) queueNotifyBook(b *pgx.Batch, n int64) {
	b.Queue(`SELECT pg_notify($1, json_build_object('book', $2::bigint, 'by', $3::text)::text)`, Channel, n, s.id)
}

// watchRetry is the wait before a failed catch-up of the book is tried
// again; busyRetry before one that found the book's lock taken.
const (
	watchRetry = time.Second
	busyRetry  = 50 * time.Millisecond
)

// Watch calls fn with each stream a commit moved on, this process's and
// every other's sharing the database, until ctx ends (ingest.Watcher). It
// listens on a connection of its own, and each time it begins to listen
// (at first, and again after the connection was lost and made anew) it
// calls fn with the zero Advance: what was committed before is the
// store's to tell (Through). A payload it cannot read is skipped: only
// the hub's commits notify on Channel.
//
// While it watches, the guest book catches up with the other replicas'
// commits of the events it reads, after each notification of one and
// each time it begins to listen (syncBook), in a goroutine of its own;
// a catch-up that fails is tried again after watchRetry.
func (s *Store) Watch(ctx context.Context, fn func(ingest.Advance)) {
	synced := make(chan struct{})
	defer func() { <-synced }()
	go func() {
		defer close(synced)
		s.followBook(ctx, s.bookWake)
	}()
	poke := s.pokeBook
	pgstore.Listen(ctx, s.pool, Channel, s.timeout, func() {
		fn(ingest.Advance{})
		poke()
	}, func(payload string) {
		var a advance
		if json.Unmarshal([]byte(payload), &a) != nil {
			return
		}
		if a.Book > 0 && a.By != s.id && a.Book > s.bookAt.Load() { // another replica's, not applied yet
			poke()
		}
		if a.Through <= 0 {
			return
		}
		from := uint64(max(a.From, 0))
		fn(ingest.Advance{Site: a.Site, Door: a.Door, Epoch: a.Epoch, From: min(from, uint64(a.Through)), Through: uint64(a.Through),
			Mine: a.By == s.id})
	})
}

// followBook catches the book up each time wake has a value, until ctx
// ends.
func (s *Store) followBook(ctx context.Context, wake chan struct{}) {
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-retry.C:
		}
		switch err := s.syncBook(); {
		case errors.Is(err, errBookBusy):
			retry.Reset(busyRetry) // its holder may not have seen the last pending
		case err != nil:
			s.bookErrors.Add(1)
			retry.Reset(watchRetry)
		}
	}
}
