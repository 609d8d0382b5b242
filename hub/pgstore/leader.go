package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults of LeaderOptions.
const (
	DefaultLeaderRetry = 2 * time.Second
	DefaultLeaderCheck = time.Second
)

// LeaderOptions tune a Leader. Zero fields take the defaults.
type LeaderOptions struct {
	// Retry is how often a replica that does not lead tries for the lock
	// again, and how long it waits after a lost connection
	// (DefaultLeaderRetry): the longest a job goes unled after its
	// leader died, once PostgreSQL has let go of the dead one's lock.
	Retry time.Duration
	// Check is how often the leader asks its connection whether it is
	// still there (DefaultLeaderCheck), each ask bounded by Check too: a
	// leader whose connection is gone stops leading within twice Check.
	Check time.Duration
	// Log notes taking and losing the lead; nil: nothing.
	Log *slog.Logger
}

// Leader makes one hub replica of those sharing a database run a job that
// must run once (retention, re-publishing retained records, the daily
// refresh, delivering notifications): the replica holding a session-level
// advisory lock (LockLeader, the job's name) on a connection of its own
// leads, and the others wait for the lock. PostgreSQL lets go of it when
// that connection ends, so a replica that dies, or is cut off from the
// database, hands the job to the next one to try.
//
// A leader cut off from the database cannot know at once that it lost the
// lock: it stops its job once a check of its connection fails (within
// twice LeaderOptions.Check), and the server lets go of the lock once it
// sees the connection gone (at once for a process that died, its socket
// closed; after TCP's timeouts for a network cut). The next leader waits
// a Check after it took the lock before it leads, which covers most of
// that, but the two may still overlap when the old one's check is late:
// a job led this way may run twice for that long at a handover (the
// hub's daily retention and refresh are idempotent; its notifier may then
// send a message twice, as it may after a crash).
type Leader struct {
	dsn  string
	job  string
	key  int32
	opts LeaderOptions

	leading atomic.Bool
	terms   atomic.Uint64 // terms begun, for tests and metrics
}

// NewLeader returns the leader of job among the replicas on dsn's
// database; Run runs it.
func NewLeader(dsn, job string, o LeaderOptions) *Leader {
	if o.Retry <= 0 {
		o.Retry = DefaultLeaderRetry
	}
	if o.Check <= 0 {
		o.Check = DefaultLeaderCheck
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Leader{dsn: dsn, job: job, key: Lock(job), opts: o}
}

// Leading reports whether this replica leads the job now.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Terms is how many times this replica has taken the lead.
func (l *Leader) Terms() uint64 { return l.terms.Load() }

// Run tries for the lead until ctx ends; while it leads it runs lead with
// a context that ends when the lead is lost (the connection's check
// failed) or ctx ended. lead returning, with or without an error, gives
// the lead up: the lock is released and Run tries again after Retry. Run
// returns nil once ctx ended.
func (l *Leader) Run(ctx context.Context, lead func(context.Context) error) error {
	for ctx.Err() == nil {
		if err := l.term(ctx, lead); err != nil && ctx.Err() == nil {
			l.opts.Log.Warn("leader: "+l.job, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(l.opts.Retry):
		}
	}
	return nil
}

// term connects, waits for the lock and leads once.
func (l *Leader) term(ctx context.Context, lead func(context.Context) error) error {
	conn, err := l.connect(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// closing the connection lets go of the lock, whatever became of
		// the unlock
		cctx, cancel := context.WithTimeout(context.Background(), l.opts.Check)
		defer cancel()
		conn.Close(cctx)
	}()
	for {
		got, err := l.try(ctx, conn)
		if err != nil {
			return err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.opts.Retry):
		}
	}
	// a leader cut off sees it within Check and stops its job: a Check's
	// wait before leading keeps most handovers from overlapping
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(l.opts.Check):
	}
	if err := l.check(ctx, conn); err != nil {
		return err
	}
	l.terms.Add(1)
	l.leading.Store(true)
	defer l.leading.Store(false)
	l.opts.Log.Info("leader: leading "+l.job, "term", l.terms.Load())
	jctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	done := make(chan error, 1)
	go func() { done <- lead(jctx) }()
	tick := time.NewTicker(l.opts.Check)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			l.unlock(conn)
			return err
		case <-ctx.Done():
			stop(ctx.Err())
			<-done
			l.unlock(conn)
			return nil
		case <-tick.C:
			if err := l.check(ctx, conn); err != nil {
				lost := fmt.Errorf("lost the lead of %s: %w", l.job, err)
				stop(lost)
				<-done
				l.opts.Log.Warn("leader: " + lost.Error())
				return lost
			}
		}
	}
}

func (l *Leader) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, l.opts.Retry+l.opts.Check)
	defer cancel()
	conn, err := pgx.Connect(cctx, l.dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", Redact(l.dsn), err)
	}
	return conn, nil
}

// try asks for the lock without waiting.
func (l *Leader) try(ctx context.Context, conn *pgx.Conn) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, l.opts.Check)
	defer cancel()
	var got bool
	err := conn.QueryRow(cctx, "SELECT pg_try_advisory_lock($1, $2)", LockLeader, l.key).Scan(&got)
	return got, err
}

// check makes sure the connection, and with it the lock, is still there:
// the lock is asked of pg_locks, not assumed.
func (l *Leader) check(ctx context.Context, conn *pgx.Conn) error {
	cctx, cancel := context.WithTimeout(ctx, l.opts.Check)
	defer cancel()
	var held bool
	err := conn.QueryRow(cctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
	WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = $2::int::oid AND objsubid = 2
	AND pid = pg_backend_pid() AND granted)`, LockLeader, l.key).Scan(&held)
	switch {
	case err != nil:
		return err
	case !held:
		return errors.New("the lock is no longer held")
	}
	return nil
}

// unlock gives the lock up; closing the connection does it anyway.
func (l *Leader) unlock(conn *pgx.Conn) {
	cctx, cancel := context.WithTimeout(context.Background(), l.opts.Check)
	defer cancel()
	_, _ = conn.Exec(cctx, "SELECT pg_advisory_unlock($1, $2)", LockLeader, l.key)
}
