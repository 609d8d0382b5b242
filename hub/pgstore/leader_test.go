package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// replica is one Leader running a job that counts the replicas leading
// it at once.
type replica struct {
	l      *pgstore.Leader
	cancel context.CancelFunc
	done   chan struct{}
	ended  atomic.Int32 // terms whose job's context ended
}

// job is what replicas run: it notes how many lead at once, and the most
// ever seen.
type job struct {
	mu            sync.Mutex
	leading, most int
}

func (j *job) lead(r *replica) func(context.Context) error {
	return func(ctx context.Context) error {
		j.mu.Lock()
		j.leading++
		j.most = max(j.most, j.leading)
		j.mu.Unlock()
		<-ctx.Done()
		j.mu.Lock()
		j.leading--
		j.mu.Unlock()
		r.ended.Add(1)
		return nil
	}
}

func (j *job) now() (leading, most int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.leading, j.most
}

var fast = pgstore.LeaderOptions{Retry: 50 * time.Millisecond, Check: 50 * time.Millisecond}

func startReplica(t *testing.T, dsn, name string, j *job) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{l: pgstore.NewLeader(dsn, name, fast), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := r.l.Run(ctx, j.lead(r)); err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

// leaderOf waits until exactly one of rs leads, and returns it.
func leaderOf(t *testing.T, j *job, rs ...*replica) *replica {
	t.Helper()
	var lead *replica
	waitfor.Until(t, 20*time.Second, "one replica leading", func() bool {
		lead = nil
		n := 0
		for _, r := range rs {
			if r.l.Leading() {
				lead, n = r, n+1
			}
		}
		leading, _ := j.now()
		return n == 1 && leading == 1
	})
	return lead
}

// TestLeaderOne: of three replicas one leads; when it stops, another
// takes over; never two at once.
func TestLeaderOne(t *testing.T) {
	dsn := pgtest.DB(t)
	j := &job{}
	rs := []*replica{startReplica(t, dsn, "retention", j), startReplica(t, dsn, "retention", j), startReplica(t, dsn, "retention", j)}
	first := leaderOf(t, j, rs...)
	first.stop()
	if first.ended.Load() != 1 {
		t.Errorf("the stopped leader's job ended %d times; want once", first.ended.Load())
	}
	var rest []*replica
	for _, r := range rs {
		if r != first {
			rest = append(rest, r)
		}
	}
	second := leaderOf(t, j, rest...)
	second.stop()
	leaderOf(t, j, rest[0], rest[1])
	if _, most := j.now(); most != 1 {
		t.Errorf("%d replicas led at once; want 1", most)
	}
}

// TestLeaderJobsApart: jobs of other names have leaders of their own.
func TestLeaderJobsApart(t *testing.T) {
	dsn := pgtest.DB(t)
	a, b := &job{}, &job{}
	ra := startReplica(t, dsn, "retention", a)
	rb := startReplica(t, dsn, "notify", b)
	leaderOf(t, a, ra)
	leaderOf(t, b, rb)
}

// TestLeaderConnectionLost: a leader whose connection the server ends
// (as when its replica is cut off and PostgreSQL gives up on it) stops its
// job, and another replica leads.
func TestLeaderConnectionLost(t *testing.T) {
	dsn := pgtest.DB(t)
	j := &job{}
	r1, r2 := startReplica(t, dsn, "daily", j), startReplica(t, dsn, "daily", j)
	lead := leaderOf(t, j, r1, r2)
	other := r1
	if lead == r1 {
		other = r2
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// the lock holder's backend, ended by the server
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
	WHERE locktype = 'advisory' AND classid = $1::int::oid AND granted`, pgstore.LockLeader).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d backends held the leader's lock; want 1", n)
	}
	waitfor.Until(t, 20*time.Second, "the cut-off leader's job stopped", func() bool { return lead.ended.Load() == 1 })
	waitfor.Until(t, 20*time.Second, "a leader again", func() bool {
		leading, _ := j.now()
		return leading == 1 && (other.l.Leading() || lead.l.Terms() == 2)
	})
	// the two may have overlapped while the cut-off one had not yet seen
	// its connection gone (Leader's doc): no count of them at once here
}

// TestLeaderJobReturns: a job that returns gives up the lead, and the lock
// goes to whoever asks next; its error does not stop Run.
func TestLeaderJobReturns(t *testing.T) {
	dsn := pgtest.DB(t)
	var runs atomic.Int32
	l := pgstore.NewLeader(dsn, "republish", fast)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(context.Context) error {
			runs.Add(1)
			return errors.New("job failed")
		})
	}()
	waitfor.Until(t, 20*time.Second, "the job run three times", func() bool { return runs.Load() >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v; want nil once its context ended", err)
	}
	if l.Leading() {
		t.Error("Leading after Run returned")
	}
}

// TestLeaderNoDatabase: without a database Run keeps trying, leads
// nothing, and returns when its context ends.
func TestLeaderNoDatabase(t *testing.T) {
	l := pgstore.NewLeader("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", "retention", fast)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx, func(context.Context) error { t.Error("led without a database"); return nil }); err != nil {
		t.Errorf("Run = %v", err)
	}
	if l.Terms() != 0 {
		t.Errorf("Terms = %d; want 0", l.Terms())
	}
}
