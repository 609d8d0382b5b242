package pgevents

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Component is the events' name in schema_version.
const Component = "events"

// DefaultTimeout bounds each call's wait for the database unless Options
// set one: a database that does not answer fails the call (the ingest
// acks nothing and the doors send again), it does not hang the hub.
const DefaultTimeout = 30 * time.Second

// Options configure a Store.
type Options struct {
	// Timeout bounds each call, and each page of a walk (DefaultTimeout).
	Timeout time.Duration
}

// Store is the doors' events in a PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	// bookMu holds a commit's Stage of the guest book until its
	// transaction ended (Commit), and a catch-up with the other replicas'
	// commits (syncBook): one at a time. bookN is the highest book_n the
	// book has applied: the book's order, shared by the replicas
	// (migrations/0003_book_order.sql).
	bookMu sync.Mutex
	book   *workflow.Book
	bookN  int64
	opened ingest.BookOpened
	// bookAt is bookN, read without bookMu (Watch); bookCaughtUp counts
	// the other replicas' events the book applied, bookErrors the
	// catch-ups that failed (syncBook).
	bookAt, bookCaughtUp, bookErrors atomic.Int64
	// id names this Store in its notifications (Watch tells its own
	// commits from the other replicas').
	id string
	// bookWake asks Watch's goroutine for a catch-up of the book
	// (syncBook): the other replicas' commits, and the pending events.
	bookWake chan struct{}
}

var (
	_ ingest.EventStore = (*Store)(nil)
	_ ingest.Watcher    = (*Store)(nil)
)

// maxSeq is the highest seq or order a bigint holds.
const maxSeq = math.MaxInt64

// walkPage is how many events a walk reads per statement.
const walkPage = 1024

// importBatch is how many events Import commits at a time.
const importBatch = 10_000

// ErrRange: a seq beyond what a bigint holds (2^63-1).
var ErrRange = errors.New("pgevents: seq beyond 2^63-1")

// Open connects to the database of dsn and brings its schema up to date.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	ms, err := pgstore.Migrations(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("pgevents: %w", err)
	}
	pool, err := pgstore.Open(ctx, dsn, o.Timeout)
	if err != nil {
		return nil, fmt.Errorf("pgevents: %w", err)
	}
	mctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if _, err := pgstore.Migrate(mctx, pool, Component, ms); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgevents %s: %w", pgstore.Redact(dsn), err)
	}
	s := &Store{pool: pool, timeout: o.Timeout, id: rand.Text(), bookWake: make(chan struct{}, 1)}
	if s.book, s.opened, err = ingest.OpenBook(s, s.loadBook, s.keepBook); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgevents %s: %w", pgstore.Redact(dsn), err)
	}
	s.bookAt.Store(s.bookN)
	// the events a replica stored without their order, numbered now, so
	// that the book opened is the events' (waiting for a replica numbering
	// them meanwhile)
	octx, ocancel := context.WithTimeout(ctx, o.Timeout)
	defer ocancel()
	s.bookMu.Lock()
	err = s.numberPending(octx, true)
	s.bookMu.Unlock()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgevents %s: %w", pgstore.Redact(dsn), err)
	}
	return s, nil
}

// Book returns the guest book kept with the events, and how it was opened.
func (s *Store) Book() (*workflow.Book, ingest.BookOpened) { return s.book, s.opened }

func (s *Store) loadBook(l *workflow.BookLoader) (kept bool, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM events_book_kept), "+bookTop).Scan(&kept, &s.bookN); err != nil || !kept {
			return err
		}
		var last []byte
		if err := tx.QueryRow(ctx, "SELECT k FROM events_book WHERE k < $1 ORDER BY k DESC LIMIT 1", workflow.RowsEnd).Scan(&last); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		l.GrowTo(last)
		fn := l.Add
		rows, err := tx.Query(ctx, "SELECT k, v FROM events_book ORDER BY k", pgx.QueryResultFormats{pgx.BinaryFormatCode, pgx.BinaryFormatCode})
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			raw := rows.RawValues()
			if err := fn(raw[0], raw[1]); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return false, fmt.Errorf("pgevents: read the guest book: %w", err)
	}
	return kept, nil
}

// keepBook writes a whole book's state and marks it kept, in one
// transaction.
func (s *Store) keepBook(kvs []workflow.KV) error {
	ctx, cancel := s.ctx()
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// the book's order as it stands now: the book of a database of an
		// older hub is built by the first replica to start on it, alone
		if err := tx.QueryRow(ctx, "SELECT "+bookTop).Scan(&s.bookN); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM events_book"); err != nil {
			return err
		}
		// built from every event: none pending
		if _, err := tx.Exec(ctx, "DELETE FROM events_book_pending"); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events_book"}, []string{"k", "v"},
			pgx.CopyFromSlice(len(kvs), func(i int) ([]any, error) { return []any{kvs[i].Key, kvs[i].Value}, nil })); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO events_book_kept DEFAULT VALUES ON CONFLICT DO NOTHING")
		return err
	})
	if err != nil {
		return fmt.Errorf("pgevents: keep the guest book: %w", err)
	}
	return nil
}

// queueBook queues in b the writing of a guest book's change.
func queueBook(b *pgx.Batch, kvs []workflow.KV) {
	if len(kvs) == 0 {
		return
	}
	ks, vs := make([][]byte, len(kvs)), make([][]byte, len(kvs))
	for i, kv := range kvs {
		ks[i], vs[i] = kv.Key, kv.Value
	}
	b.Queue(`INSERT INTO events_book (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[])
ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`, ks, vs)
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool returns the connection pool, for tools and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

type doorID struct{ site, door string }

type streamID struct{ site, door, epoch string }

// streamState is a stream as a commit sees it: its order (0: new) and
// its through.
type streamState struct {
	ord     int64
	through uint64
}

// lockDoors queues the advisory locks of doors in b, in the order of
// their keys: two commits that lock the same doors take them in the
// same order, and never wait for each other in a circle.
func lockDoors(b *pgx.Batch, doors []doorID) {
	keys := make([]int32, 0, len(doors))
	for _, d := range doors {
		keys = append(keys, pgstore.Lock(d.site+"/"+d.door))
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		b.Queue("SELECT pg_advisory_xact_lock($1, $2)", int32(pgstore.LockEventsDoor), k)
	}
}

// readStates queues in b, after the locks, the reading of streams'
// states and of the highest order of their doors.
func readStates(b *pgx.Batch, streams map[streamID]*streamState, maxOrd map[doorID]int64) {
	var ss, ds, es []string
	for k := range streams {
		ss, ds, es = append(ss, k.site), append(ds, k.door), append(es, k.epoch)
	}
	b.Queue(`SELECT e.site, e.door, e.epoch, e.ord, e.through
FROM unnest($1::text[], $2::text[], $3::text[]) AS k(site, door, epoch)
JOIN events_epochs e ON e.site = k.site AND e.door = k.door AND e.epoch = k.epoch`, ss, ds, es).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k streamID
			var st streamState
			var through int64
			if err := rows.Scan(&k.site, &k.door, &k.epoch, &st.ord, &through); err != nil {
				return err
			}
			st.through = uint64(through)
			*streams[k] = st
		}
		return rows.Err()
	})
	var dss, dds []string
	for d := range maxOrd {
		dss, dds = append(dss, d.site), append(dds, d.door)
	}
	b.Queue(`SELECT k.site, k.door, coalesce((SELECT max(e.ord) FROM events_epochs e WHERE e.site = k.site AND e.door = k.door), 0)
FROM unnest($1::text[], $2::text[]) AS k(site, door)`, dss, dds).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var d doorID
			var ord int64
			if err := rows.Scan(&d.site, &d.door, &ord); err != nil {
				return err
			}
			maxOrd[d] = ord
		}
		return rows.Err()
	})
}

// eventRows are the columns of the events a commit inserts.
type eventRows struct {
	site, door, epoch, id, typ, permit, body []string
	seq, ord, bookN                          []int64
	pending                                  []int32 // the rows stored pending in the book's order, from 1
}

// bookTop is the highest book_n stored: the book's order (0: none yet).
const bookTop = "(SELECT coalesce(max(book_n), 0) FROM events)"

// bookPage is how many events a catch-up of the book reads per statement.
const bookPage = 4096

// querier is a transaction or the pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// catchUp applies to the book, in the book's order, the events the other
// replicas stored after the last it applied, up to book_n to (0: all of
// them). bookMu held.
func (s *Store) catchUp(ctx context.Context, q querier, to int64) error {
	for to == 0 || s.bookN < to {
		hi := to
		if hi == 0 {
			hi = maxSeq
		}
		rows, err := q.Query(ctx, `SELECT book_n, body FROM events WHERE book_n > $1 AND book_n <= $2 ORDER BY book_n LIMIT `+strconv.Itoa(bookPage), s.bookN, hi)
		if err != nil {
			return err
		}
		var n int64
		var body []byte
		read := 0
		_, err = pgx.ForEachRow(rows, []any{&n, &body}, func() error {
			if n != s.bookN+1 {
				return fmt.Errorf("%w: the guest book's order skips from %d to %d", ingest.ErrCorrupt, s.bookN, n)
			}
			var e ingest.Event
			if err := json.Unmarshal(body, &e); err != nil {
				return fmt.Errorf("%w: event of the guest book's order %d: %v", ingest.ErrCorrupt, n, err)
			}
			s.book.Apply(e)
			s.bookN = n
			s.bookAt.Store(n)
			read++
			return nil
		})
		s.bookCaughtUp.Add(int64(read))
		if err != nil {
			return err
		}
		if read < bookPage {
			if to != 0 && s.bookN < to {
				return fmt.Errorf("%w: the guest book's order ends at %d, not %d", ingest.ErrCorrupt, s.bookN, to)
			}
			return nil
		}
	}
	return nil
}

// syncBook catches the book up with what the other replicas stored. It
// takes no lock in the database: the commits of the book's events hold
// its lock in turn and end before the next takes it, so what a statement
// sees of the book's order is a prefix of it.
func (s *Store) syncBook() error {
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.catchUp(ctx, s.pool, 0); err != nil {
		return fmt.Errorf("pgevents: the guest book's catch-up: %w", err)
	}
	return s.numberPending(ctx, false)
}

// BookCaughtUp is how many events of the other replicas the guest book
// applied since Open.
func (s *Store) BookCaughtUp() int64 { return s.bookCaughtUp.Load() }

// BookErrors is how many of the guest book's catch-ups with the other
// replicas failed since Open (each is tried again).
func (s *Store) BookErrors() int64 { return s.bookErrors.Load() }

// book is the events stored without their order in the book (pending),
// read in the order they take: door by door, each in seq order; full when
// there may be more than these.
type book struct {
	evs  []ingest.Event
	ids  []string
	full bool
}

// behind catches the book up, in tx holding the book's lock, with the
// book's order through top, and reads the events pending.
func (s *Store) behind(ctx context.Context, tx pgx.Tx, top int64) (book, error) {
	if top > s.bookN {
		if err := s.catchUp(ctx, tx, top); err != nil {
			return book{}, err
		}
	}
	rows, err := tx.Query(ctx, `SELECT e.id, e.body FROM events_book_pending p JOIN events e ON e.id = p.id
ORDER BY p.site, p.door, p.ord, p.seq LIMIT `+strconv.Itoa(bookPage))
	if err != nil {
		return book{}, err
	}
	var p book
	var id string
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		var e ingest.Event
		if err := json.Unmarshal(body, &e); err != nil {
			return fmt.Errorf("%w: event %s pending in the guest book: %v", ingest.ErrCorrupt, id, err)
		}
		p.evs, p.ids = append(p.evs, e), append(p.ids, id)
		return nil
	}); err != nil {
		return book{}, err
	}
	p.full = len(p.evs) == bookPage
	return p, nil
}

// queueNumbered queues in b the numbering of the pending events ids in
// the book's order from top+1.
func queueNumbered(b *pgx.Batch, ids []string, top int64) {
	if len(ids) == 0 {
		return
	}
	ns := make([]int64, len(ids))
	for i := range ns {
		ns[i] = top + int64(i) + 1
	}
	b.Queue(`UPDATE events SET book_n = r.n FROM unnest($1::text[], $2::bigint[]) AS r(id, n) WHERE events.id = r.id`, ids, ns)
	b.Queue(`DELETE FROM events_book_pending WHERE id = ANY($1)`, ids)
}

// setBookN records that the book applied the book's order through n.
// bookMu held.
func (s *Store) setBookN(n int64) {
	s.bookN = n
	s.bookAt.Store(n)
}

// pokeBook has the book's pending events numbered soon (Watch's
// catch-up), without waiting.
func (s *Store) pokeBook() {
	select {
	case s.bookWake <- struct{}{}:
	default:
	}
}

// numberPending numbers the events pending in the book's order, a page
// at a time, in transactions holding the book's lock: taken if free, or
// waited for (wait: at open). It returns errBookBusy when the lock was
// taken: its holder may have read the pending events before the last were
// stored, so the caller tries again soon. bookMu held.
func (s *Store) numberPending(ctx context.Context, wait bool) error {
	for {
		busy := false
		var full bool
		var ch *workflow.Change
		var after int64
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			locked := true
			if wait {
				if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", int32(pgstore.LockBook)); err != nil {
					return err
				}
			} else if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1, 0)", int32(pgstore.LockBook)).Scan(&locked); err != nil || !locked {
				busy = !locked
				return err
			}
			var top int64
			if err := tx.QueryRow(ctx, "SELECT "+bookTop).Scan(&top); err != nil {
				return err
			}
			p, err := s.behind(ctx, tx, top)
			if err != nil || len(p.evs) == 0 {
				after = s.bookN
				return err
			}
			full, after = p.full, top+int64(len(p.evs))
			ch = s.book.Stage(p.evs)
			b := &pgx.Batch{}
			queueNumbered(b, p.ids, top)
			queueBook(b, ch.Puts())
			s.queueNotifyBook(b, after)
			return tx.SendBatch(ctx, b).Close()
		})
		if err != nil {
			if ch != nil {
				ch.Undo() // numbered after all: caught up with as another's
			}
			return fmt.Errorf("pgevents: number the guest book's pending events: %w", err)
		}
		if busy {
			return errBookBusy
		}
		if after > s.bookN {
			s.setBookN(after)
		}
		if !full {
			return nil
		}
	}
}

// errBookBusy: another transaction held the book's lock.
var errBookBusy = errors.New("pgevents: the guest book's lock is taken")

// bookEvents counts the events of puts the guest book reads.
func bookEvents(puts []ingest.Put) int64 {
	var n int64
	for _, p := range puts {
		for _, e := range p.Events {
			if slices.Contains(workflow.BookTypes, e.Type) {
				n++
			}
		}
	}
	return n
}

// Commit stores puts in one transaction, after taking their doors'
// locks, with what they change of the guest book (Book). It refuses
// (ingest.ErrOrder) a put that does not continue its stream's through,
// and stores nothing of the commit then.
//
// A commit of events the book reads also takes the book's lock
// (pgstore.LockBook) after the doors', if it is free: it catches the book
// up with the other replicas' commits, numbers the events stored pending
// (door by door), then its own, in the book's order, so that every
// replica's book numbers its rows alike (syncBook). With the lock taken
// (another replica's commit holds it) it does not wait: its own are
// stored pending, numbered by the next to take the lock, or by Watch's
// catch-up soon after.
func (s *Store) Commit(puts []ingest.Put) error {
	_, err := s.commit(puts, false)
	return err
}

// CommitPulled is Commit that also stores, in the same transaction, the
// events other replicas held (Hold) that continue the streams of puts,
// and returns them, each stream's in seq order: they are this commit's
// too, to hand on and to ack (ingest.Puller).
func (s *Store) CommitPulled(puts []ingest.Put) ([]ingest.Put, error) {
	return s.commit(puts, true)
}

// heldRow is an event of events_held.
type heldRow struct {
	seq  int64
	body []byte
}

// heldAfter is how long a held event that no commit moved stays in
// events_held: long past the door's resends.
const heldAfter = "5 minutes"

// Hold writes a copy of events this replica holds (they come after seqs
// not stored yet), for the commit of another replica that stores the
// seqs before them to store them too (CommitPulled). It takes no lock
// and waits for no flush to disk: a copy lost costs nothing, the events
// are held in memory and the doors send them again until acked. It
// deletes the copies older than heldAfter.
func (s *Store) Hold(puts []ingest.Put) error {
	var ss, ds, es, ids, bodies []string
	var seqs []int64
	for _, p := range puts {
		for i, e := range p.Events {
			if e.Seq > maxSeq {
				continue
			}
			j, id, err := encoded(p, i)
			if err != nil {
				return fmt.Errorf("pgevents: hold: %w", err)
			}
			ss, ds, es = append(ss, p.Site), append(ds, p.Door), append(es, p.Epoch)
			seqs, ids, bodies = append(seqs, int64(e.Seq)), append(ids, id), append(bodies, string(j))
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue("SET LOCAL synchronous_commit = off")
		b.Queue(`INSERT INTO events_held (site, door, epoch, seq, id, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
ON CONFLICT DO NOTHING`, ss, ds, es, seqs, ids, bodies)
		b.Queue("DELETE FROM events_held WHERE at < now() - interval '" + heldAfter + "'")
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("pgevents: hold: %w", err)
	}
	return nil
}

func (s *Store) commit(puts []ingest.Put, pull bool) ([]ingest.Put, error) {
	streams := map[streamID]*streamState{}
	maxOrd := map[doorID]int64{}
	var doors []doorID
	n := 0
	for _, p := range puts {
		if len(p.Events) == 0 {
			continue
		}
		n += len(p.Events)
		streams[streamID{p.Site, p.Door, p.Epoch}] = &streamState{}
		if d := (doorID{p.Site, p.Door}); !slices.Contains(doors, d) {
			doors = append(doors, d)
			maxOrd[d] = 0
		}
	}
	if n == 0 {
		return nil, nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.bookMu.Lock()
	defer s.bookMu.Unlock()
	var ch *workflow.Change
	var pulled []ingest.Put
	nBook := bookEvents(puts)
	var top int64    // the book's order before the commit
	var locked bool  // the book's lock, taken if free
	var pending book // the events stored before without their order
	staged := false  // this commit's own book events are numbered
	var after int64  // the book's order after the commit, if locked
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		lockDoors(b, doors)
		if nBook > 0 {
			queueTryBook(b, &locked, &top)
		}
		readStates(b, streams, maxOrd)
		held := map[streamID][]heldRow{}
		if pull {
			queueHeld(b, streams, held)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if locked {
			// a door's own events come after its pending ones: with more
			// pending than a page, they wait their turn
			var err error
			if pending, staged, err = s.pendingBook(ctx, tx, top); err != nil {
				return err
			}
		}
		froms := make(map[streamID]uint64, len(streams))
		for k, st := range streams {
			froms[k] = st.through
		}
		r := eventRows{}
		next := top + int64(len(pending.evs))
		pulled = pulled[:0]
		for _, p := range puts {
			if len(p.Events) == 0 {
				continue
			}
			if err := r.add(p, streams, maxOrd, &next, staged); err != nil {
				return err
			}
			// what the other replicas hold that continues it (one put a
			// stream: the ingest's)
			k := streamID{p.Site, p.Door, p.Epoch}
			if q := pullHeld(k, streams[k], held[k]); len(q.Events) > 0 {
				pulled = append(pulled, q)
			}
		}
		if !locked && nBook == 0 && bookEvents(pulled) > 0 {
			// only the events pulled are the book's: its lock, if free
			b := &pgx.Batch{}
			queueTryBook(b, &locked, &top)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			if locked {
				var err error
				if pending, staged, err = s.pendingBook(ctx, tx, top); err != nil {
					return err
				}
				next = top + int64(len(pending.evs)) // the puts numbered none
			}
		}
		for _, q := range pulled {
			if err := r.add(q, streams, maxOrd, &next, staged); err != nil {
				return err
			}
		}
		after = next
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO events (site, door, epoch, seq, ord, id, type, permit, body, book_n)
SELECT site, door, epoch, seq, ord, id, type, NULLIF(permit, ''), body, NULLIF(book_n, 0)
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[])
	AS r(site, door, epoch, seq, ord, id, type, permit, body, book_n)`,
			r.site, r.door, r.epoch, r.seq, r.ord, r.id, r.typ, r.permit, r.body, r.bookN)
		if len(r.pending) > 0 {
			b.Queue(`INSERT INTO events_book_pending (id, site, door, ord, seq)
SELECT r.id, r.site, r.door, r.ord, r.seq FROM unnest($1::int[]) AS k(i)
CROSS JOIN LATERAL (SELECT ($2::text[])[k.i], ($3::text[])[k.i], ($4::text[])[k.i], ($5::bigint[])[k.i], ($6::bigint[])[k.i]) AS r(id, site, door, ord, seq)`,
				r.pending, r.id, r.site, r.door, r.ord, r.seq)
		}
		var ss, ds, es []string
		var ords, throughs, fromThrough []int64
		for k, st := range streams {
			ss, ds, es = append(ss, k.site), append(ds, k.door), append(es, k.epoch)
			ords, throughs = append(ords, st.ord), append(throughs, int64(st.through))
			fromThrough = append(fromThrough, int64(froms[k]))
		}
		b.Queue(`INSERT INTO events_epochs (site, door, epoch, ord, through)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
ON CONFLICT (site, door, epoch) DO UPDATE SET through = EXCLUDED.through`, ss, ds, es, ords, throughs)
		if ch == nil && locked {
			evs := pending.evs
			if staged {
				evs = append(slices.Clip(evs), ingest.EventsOf(puts)...)
				evs = append(evs, ingest.EventsOf(pulled)...)
			}
			ch = s.book.Stage(evs)
		}
		var bookPuts []workflow.KV
		if ch != nil {
			bookPuts = ch.Puts()
		}
		queueNumbered(b, pending.ids, top)
		queueBook(b, bookPuts)
		if pull {
			b.Queue(`DELETE FROM events_held h USING unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS k(site, door, epoch, through)
WHERE h.site = k.site AND h.door = k.door AND h.epoch = k.epoch AND h.seq <= k.through`, ss, ds, es, throughs)
		}
		s.queueNotify(b, ss, ds, es, fromThrough, throughs)
		if locked && next > top {
			s.queueNotifyBook(b, next)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		if ch != nil {
			if s.stored(append(slices.Clip(puts), pulled...)) {
				s.setBookN(after)  // ch: the book's lock was held
				return pulled, nil // the commit went through, its answer did not
			}
			// a commit that went through after all is caught up with
			// as another replica's would be
			ch.Undo()
		}
		return nil, fmt.Errorf("pgevents: commit: %w", err)
	}
	if locked {
		s.setBookN(after)
	}
	if (nBook > 0 || bookEvents(pulled) > 0) && !staged {
		s.pokeBook() // numbered by the next to take the lock: this replica's catch-up, if no commit
	}
	return pulled, nil
}

// encoded returns the JSON stored of p's event i (its Raw, else encoded
// now) and its id (the stream's position when it has none).
func encoded(p ingest.Put, i int) ([]byte, string, error) {
	e := &p.Events[i]
	var j []byte
	if i < len(p.Raw) {
		j = p.Raw[i]
	}
	if j == nil {
		var err error
		if j, err = json.Marshal(e); err != nil {
			return nil, "", err
		}
	}
	id := e.ID
	if id == "" {
		id = p.Site + "/" + p.Door + "/" + p.Epoch + "/" + strconv.FormatUint(e.Seq, 10)
	}
	return j, id, nil
}

// queueTryBook queues in b the taking of the book's lock if it is free,
// into locked, and the reading of the book's order, into top.
func queueTryBook(b *pgx.Batch, locked *bool, top *int64) {
	b.Queue("SELECT pg_try_advisory_xact_lock($1, 0)", int32(pgstore.LockBook)).QueryRow(func(row pgx.Row) error { return row.Scan(locked) })
	b.Queue("SELECT " + bookTop).QueryRow(func(row pgx.Row) error { return row.Scan(top) })
}

// pendingBook is behind, and whether a commit numbers its own events
// after the pending ones: not when there may be more pending than read.
func (s *Store) pendingBook(ctx context.Context, tx pgx.Tx, top int64) (book, bool, error) {
	p, err := s.behind(ctx, tx, top)
	return p, err == nil && !p.full, err
}

// queueHeld queues in b the reading of the held events of streams, each
// stream's in seq order, into held.
func queueHeld(b *pgx.Batch, streams map[streamID]*streamState, held map[streamID][]heldRow) {
	var ss, ds, es []string
	for k := range streams {
		ss, ds, es = append(ss, k.site), append(ds, k.door), append(es, k.epoch)
	}
	b.Queue(`SELECT h.site, h.door, h.epoch, h.seq, h.body FROM events_held h
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(site, door, epoch) ON h.site = k.site AND h.door = k.door AND h.epoch = k.epoch
ORDER BY h.site, h.door, h.epoch, h.seq`, ss, ds, es).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k streamID
			var h heldRow
			if err := rows.Scan(&k.site, &k.door, &k.epoch, &h.seq, &h.body); err != nil {
				return err
			}
			held[k] = append(held[k], h)
		}
		return rows.Err()
	})
}

// pullHeld returns the held events of stream k that continue its through,
// as a put.
func pullHeld(k streamID, st *streamState, held []heldRow) ingest.Put {
	p := ingest.Put{Site: k.site, Door: k.door, Epoch: k.epoch}
	next := int64(st.through) + 1
	for _, h := range held {
		if h.seq < next {
			continue
		}
		if h.seq > next {
			break
		}
		var e ingest.Event
		if err := json.Unmarshal(h.body, &e); err != nil || e.Seq != uint64(h.seq) || e.Site != k.site || e.Door != k.door || e.Epoch != k.epoch {
			// not the ingest's: left, and gone after heldAfter
			break
		}
		p.Events, p.Raw = append(p.Events, e), append(p.Raw, h.body)
		next++
	}
	return p
}

// stored reports whether every event of puts is stored: after a failed
// commit, whether it was the commit's answer that failed (a connection
// lost during COMMIT), so that the guest book keeps a change the database
// has. It reports false when it cannot tell: the book is then behind the
// database, as it is after any lost answer, until the hub starts again.
func (s *Store) stored(puts []ingest.Put) bool {
	for _, p := range puts {
		if len(p.Events) == 0 {
			continue
		}
		th, err := s.Through(p.Site, p.Door, p.Epoch)
		if err != nil || th < p.Events[len(p.Events)-1].Seq {
			return false
		}
	}
	return true
}

// add appends the rows of p, checking that it continues its stream, and
// moves the stream's through; a stream new to the store takes its door's
// next order.
// Each event the guest book reads takes the book's next order from
// *book when staged, else is marked pending (its order to come).
func (r *eventRows) add(p ingest.Put, streams map[streamID]*streamState, maxOrd map[doorID]int64, book *int64, staged bool) error {
	st := streams[streamID{p.Site, p.Door, p.Epoch}]
	if st.ord == 0 {
		d := doorID{p.Site, p.Door}
		maxOrd[d]++
		st.ord = maxOrd[d]
	}
	for i, e := range p.Events {
		if e.Seq != st.through+1 {
			return fmt.Errorf("%w: %s/%s epoch %s: seq %d after %d", ingest.ErrOrder, p.Site, p.Door, p.Epoch, e.Seq, st.through)
		}
		if e.Seq > maxSeq {
			return fmt.Errorf("%w: %s/%s epoch %s: seq %d", ErrRange, p.Site, p.Door, p.Epoch, e.Seq)
		}
		j, id, err := encoded(p, i)
		if err != nil {
			return err
		}
		r.site, r.door, r.epoch = append(r.site, p.Site), append(r.door, p.Door), append(r.epoch, p.Epoch)
		r.seq, r.ord, r.id = append(r.seq, int64(e.Seq)), append(r.ord, st.ord), append(r.id, id)
		r.typ, r.permit, r.body = append(r.typ, string(e.Type)), append(r.permit, e.Permit), append(r.body, string(j))
		var n int64
		isBook := slices.Contains(workflow.BookTypes, e.Type)
		if isBook && staged {
			*book++
			n = *book
		}
		r.bookN = append(r.bookN, n)
		if isBook && !staged {
			r.pending = append(r.pending, int32(len(r.bookN))) // SQL's arrays count from 1
		}
		st.through = e.Seq
	}
	return nil
}

// AcceptLost records l and moves its stream's through to l.To, in one
// transaction under its door's lock. It refuses (ingest.ErrOrder) unless
// the stream's through is l.From-1.
func (s *Store) AcceptLost(l ingest.Lost) error {
	if l.From == 0 || l.To < l.From {
		return fmt.Errorf("%w: lost run %d..%d", ingest.ErrOrder, l.From, l.To)
	}
	if l.To > maxSeq {
		return fmt.Errorf("%w: lost run %d..%d", ErrRange, l.From, l.To)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	k, d := streamID{l.Site, l.Door, l.Epoch}, doorID{l.Site, l.Door}
	streams, maxOrd := map[streamID]*streamState{k: {}}, map[doorID]int64{d: 0}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		lockDoors(b, []doorID{d})
		readStates(b, streams, maxOrd)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		st := streams[k]
		if st.through != l.From-1 {
			return fmt.Errorf("%w: %s/%s epoch %s: lost run from %d after %d", ingest.ErrOrder, l.Site, l.Door, l.Epoch, l.From, st.through)
		}
		if st.ord == 0 {
			st.ord = maxOrd[d] + 1
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO events_epochs (site, door, epoch, ord, through, lost) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (site, door, epoch) DO UPDATE SET through = EXCLUDED.through, lost = events_epochs.lost + EXCLUDED.lost`,
			l.Site, l.Door, l.Epoch, st.ord, int64(l.To), int64(l.To-l.From+1))
		b.Queue(`INSERT INTO events_lost (site, door, epoch, from_seq, to_seq, at, by_whom, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, l.Site, l.Door, l.Epoch, int64(l.From), int64(l.To), l.At, l.By, l.Reason)
		s.queueNotify(b, []string{l.Site}, []string{l.Door}, []string{l.Epoch}, []int64{int64(l.To)}, []int64{int64(l.To)})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("pgevents: lost run: %w", err)
	}
	return nil
}

// Through returns the highest seq stored of a door's epoch: 0 for an
// epoch never seen.
func (s *Store) Through(site, door, epoch string) (uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var through int64
	err := s.pool.QueryRow(ctx, "SELECT through FROM events_epochs WHERE site = $1 AND door = $2 AND epoch = $3",
		site, door, epoch).Scan(&through)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pgevents: through: %w", err)
	}
	return uint64(through), nil
}

// doors reads the epochs of the doors that where (with args) chooses, by
// site/door as bytes sort, each door's by order.
func (s *Store) doors(where string, args ...any) ([]ingest.DoorEvents, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT site, door, epoch, through, lost FROM events_epochs `+where+`
ORDER BY (site || '/' || door) COLLATE "C", ord`, args...)
	if err != nil {
		return nil, err
	}
	var out []ingest.DoorEvents
	var d ingest.DoorEvents
	var ep ingest.Epoch
	var through, lost int64
	_, err = pgx.ForEachRow(rows, []any{&d.Site, &d.Door, &ep.Epoch, &through, &lost}, func() error {
		ep.Through, ep.Lost = uint64(through), uint64(lost)
		if n := len(out); n == 0 || out[n-1].Site != d.Site || out[n-1].Door != d.Door {
			out = append(out, ingest.DoorEvents{Site: d.Site, Door: d.Door})
		}
		out[len(out)-1].Epochs = append(out[len(out)-1].Epochs, ep)
		return nil
	})
	return out, err
}

// Doors lists every door with stored events, by site/door.
func (s *Store) Doors() ([]ingest.DoorEvents, error) {
	out, err := s.doors("")
	if err != nil {
		return nil, fmt.Errorf("pgevents: doors: %w", err)
	}
	return out, nil
}

// Door returns what the store holds of one door; no epochs if none.
func (s *Store) Door(site, door string) (ingest.DoorEvents, error) {
	out, err := s.doors("WHERE site = $1 AND door = $2", site, door)
	if err != nil {
		return ingest.DoorEvents{}, fmt.Errorf("pgevents: door: %w", err)
	}
	if len(out) == 0 {
		return ingest.DoorEvents{Site: site, Door: door}, nil
	}
	return out[0], nil
}

// lost reads lost runs: query's rows of site, door, epoch, from_seq,
// to_seq, at, by_whom and reason.
func (s *Store) lost(query string, args ...any) ([]ingest.Lost, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("pgevents: lost: %w", err)
	}
	var out []ingest.Lost
	var l ingest.Lost
	var from, to int64
	_, err = pgx.ForEachRow(rows, []any{&l.Site, &l.Door, &l.Epoch, &from, &to, &l.At, &l.By, &l.Reason}, func() error {
		l.From, l.To, l.At = uint64(from), uint64(to), l.At.UTC()
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgevents: lost: %w", err)
	}
	return out, nil
}

const lostColumns = "l.site, l.door, l.epoch, l.from_seq, l.to_seq, l.at, l.by_whom, l.reason"

// Lost returns the runs of a door's seqs accepted as lost, epoch by
// epoch in the order first seen, each epoch's in seq order.
func (s *Store) Lost(site, door string) ([]ingest.Lost, error) {
	return s.lost(`SELECT `+lostColumns+` FROM events_lost l
JOIN events_epochs e ON e.site = l.site AND e.door = l.door AND e.epoch = l.epoch
WHERE l.site = $1 AND l.door = $2 ORDER BY e.ord, l.from_seq`, site, door)
}

// AllLost returns the runs accepted as lost of every door, by site, door
// and epoch name, each stream's in seq order.
func (s *Store) AllLost() ([]ingest.Lost, error) {
	return s.lost(`SELECT ` + lostColumns + ` FROM events_lost l
ORDER BY (l.site || '/' || l.door || '/' || l.epoch) COLLATE "C", l.from_seq`)
}

// positioned is an event read with its position in its door's order.
type positioned struct {
	ord, seq int64
	ev       ingest.Event
}

// read runs query, whose rows are ord, seq and body, and decodes them.
func (s *Store) read(ctx context.Context, what, query string, args ...any) ([]positioned, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []positioned
	var p positioned
	var body []byte
	_, err = pgx.ForEachRow(rows, []any{&p.ord, &p.seq, &body}, func() error {
		var e ingest.Event
		if err := json.Unmarshal(body, &e); err != nil {
			return fmt.Errorf("%w: event %s %d/%d: %v", ingest.ErrCorrupt, what, p.ord, p.seq, err)
		}
		out = append(out, positioned{p.ord, p.seq, e})
		return nil
	})
	return out, err
}

// Events returns the stored events of a door's epoch with seq from
// after+1 to after+limit, in seq order.
func (s *Store) Events(site, door, epoch string, after uint64, limit int) ([]ingest.Event, error) {
	if after >= maxSeq {
		return nil, nil
	}
	hi := after + uint64(limit)
	if hi < after || hi > maxSeq { // a negative limit, as in the bbolt store: all of them
		hi = maxSeq
	}
	ctx, cancel := s.ctx()
	defer cancel()
	ps, err := s.read(ctx, site+"/"+door+"/"+epoch, `SELECT ord, seq, body FROM events
WHERE site = $1 AND door = $2 AND epoch = $3 AND seq > $4 AND seq <= $5 ORDER BY seq`, site, door, epoch, int64(after), int64(hi))
	if err != nil {
		return nil, fmt.Errorf("pgevents: events: %w", err)
	}
	return events(ps), nil
}

func events(ps []positioned) []ingest.Event {
	var out []ingest.Event
	for _, p := range ps {
		out = append(out, p.ev)
	}
	return out
}

// Walk calls fn with every stored event of a door, epoch after epoch in
// the order first seen, each in seq order, until fn returns an error. It
// reads a page at a time and calls fn between the reads.
func (s *Store) Walk(site, door string, fn func(ingest.Event) error) error {
	return s.walk(site, door, nil, fn)
}

// WalkTypes is Walk for the events of the given types only, which the
// database chooses.
func (s *Store) WalkTypes(site, door string, types []wire.EventType, fn func(ingest.Event) error) error {
	ts := make([]string, 0, len(types))
	for _, t := range types {
		ts = append(ts, string(t))
	}
	if len(ts) == 0 {
		return nil
	}
	return s.walk(site, door, ts, fn)
}

func (s *Store) walk(site, door string, types []string, fn func(ingest.Event) error) error {
	q := `SELECT ord, seq, body FROM events WHERE site = $1 AND door = $2 AND (ord, seq) > ($3, $4)`
	args := []any{site, door, int64(0), int64(0)}
	if types != nil {
		q += ` AND type = ANY($5)`
		args = append(args, types)
	}
	q += ` ORDER BY ord, seq LIMIT ` + strconv.Itoa(walkPage)
	for {
		ctx, cancel := s.ctx()
		ps, err := s.read(ctx, site+"/"+door, q, args...)
		cancel()
		if err != nil {
			return fmt.Errorf("pgevents: walk: %w", err)
		}
		for _, p := range ps {
			if err := fn(p.ev); err != nil {
				return err
			}
		}
		if len(ps) < walkPage {
			return nil
		}
		args[2], args[3] = ps[len(ps)-1].ord, ps[len(ps)-1].seq
	}
}

// Recent returns the newest of a door's events that q chooses, from
// q.Before back, newest first, through the index of what q names.
func (s *Store) Recent(q ingest.Query) (ingest.Page, error) {
	if q.Limit < 1 {
		return ingest.Page{}, fmt.Errorf("pgevents: recent: limit %d", q.Limit)
	}
	// the events before the cursor's position are those at or before
	// (ord, seq-1)
	ord, seq := int64(maxSeq), int64(maxSeq)
	if q.Before != "" {
		o, sq, err := ingest.ParseCursor(q.Before)
		if err != nil {
			return ingest.Page{}, err
		}
		switch {
		case o > maxSeq:
		case sq == 0:
			ord, seq = int64(o)-1, maxSeq
		default:
			ord, seq = int64(o), int64(min(sq-1, maxSeq))
		}
	}
	sql := `SELECT ord, seq, body FROM events WHERE site = $1 AND door = $2 AND (ord, seq) <= ($3, $4)`
	args := []any{q.Site, q.Door, ord, seq}
	if q.Type != "" {
		args = append(args, string(q.Type))
		sql += ` AND type = $` + strconv.Itoa(len(args))
	}
	if q.Permit != "" {
		args = append(args, q.Permit)
		sql += ` AND permit = $` + strconv.Itoa(len(args))
	}
	args = append(args, int64(q.Limit)+1)
	sql += ` ORDER BY ord DESC, seq DESC LIMIT $` + strconv.Itoa(len(args))
	ctx, cancel := s.ctx()
	defer cancel()
	ps, err := s.read(ctx, q.Site+"/"+q.Door, sql, args...)
	if err != nil {
		return ingest.Page{}, fmt.Errorf("pgevents: recent: %w", err)
	}
	var pg ingest.Page
	if len(ps) > q.Limit {
		pg.Next = ingest.CursorAt(uint64(ps[q.Limit].ord), uint64(ps[q.Limit].seq))
		ps = ps[:q.Limit]
	}
	pg.Events = events(ps)
	return pg, nil
}

// Total returns how many events the store holds, over every door.
func (s *Store) Total() (uint64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(sum(through - lost), 0)::bigint FROM events_epochs").Scan(&n); err != nil {
		return 0, fmt.Errorf("pgevents: total: %w", err)
	}
	return uint64(n), nil
}

// Import stores evs, in order, a commit per ten thousand: each event must
// continue its door's epoch, as the ingest would store it.
func (s *Store) Import(evs []ingest.Event) error {
	for len(evs) > 0 {
		n := min(len(evs), importBatch)
		if err := s.Commit(ingest.PutsOf(evs[:n])); err != nil {
			return fmt.Errorf("pgevents: import: %w", err)
		}
		evs = evs[n:]
	}
	return nil
}
