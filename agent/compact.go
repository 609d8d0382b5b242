package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/internal/metrics"
)

// The store compacts itself after a large drain (issue 12). bbolt keeps
// the pages the deletions of acked events freed on its freelist and
// writes the whole list in every commit: after 10,000,000 events drained,
// 914,000 pages, 7.1 MB a commit, and every input of the door 20 times
// slower (bench/README.md, the offline buffer). The pages are reused only
// as new events need them. A compaction copies the live data (the permits
// and the events not yet acked: small after a drain) into a new file,
// which replaces the old one.
//
// It is crash safe: the copy goes to a file beside the store
// (compactSuffix), is fsync'd, renamed over the store and the directory
// fsync'd; until the rename the old file is the store, after it the new
// one, each whole. OpenStore removes a copy an interrupted compaction
// left. The door's writes wait for the copy, which is bounded online
// (compactBounds.pause: past it the copy is abandoned and the writes go on
// in the old file), and then land in the new file; reads go on in the old
// file during the copy and wait only for the swap.

// compactSuffix names the copy beside the store while it is made.
const compactSuffix = ".compact"

// compactBounds say when the store compacts.
type compactBounds struct {
	// freePages: at least this many pages free (with 4 KiB pages 4096 are
	// 16 MiB, a freelist of 32 KiB written in every commit)
	freePages int
	// freeShare: and at least 1/freeShare of the file's pages free: with
	// 2, the copy (the live data) is at most what it gives back, and the
	// compactions of a drain's end halve the file each
	freeShare int
	// onlineLive: online (after the deletions of acked events), at most
	// this much live data, so that the copy fits the pause; at start any
	// amount (the door's loop does not run yet)
	onlineLive int64
	// pause bounds an online copy: the door's writes wait for it, and
	// past it it is abandoned
	pause time.Duration
	// txBytes bounds the copy's transactions: a commit's write and fsync
	// is what the pause cannot cut short, the last one above all
	txBytes int
}

// defaultCompactBounds: the freelist is cheap below 4096 pages (a commit's
// fsync dominates), and 64 MiB of live data copies within the 2 s pause
// (bench/README.md, the offline buffer, measures the copy).
var defaultCompactBounds = compactBounds{freePages: 4096, freeShare: 2, onlineLive: 64 << 20,
	pause: 2 * time.Second, txBytes: 4 << 20}

// The steps of a compaction, for the tests that fail or kill one at each.
const (
	stepCreate  = "create"   // before the copy's file is made
	stepCopy    = "copy"     // during the copy, every copyCheck keys
	stepSync    = "sync"     // the copy made, before its fsync
	stepRename  = "rename"   // before the rename over the store
	stepSyncDir = "sync-dir" // renamed, before the directory's fsync
	stepSwap    = "swap"     // before the store's handle moves to the new file
	stepDone    = "done"     // the old file closed
)

// copyCheck is how many keys the copy copies between two looks at its
// deadline.
const copyCheck = 256

// compaction is the store's own: its bounds, its counters (the door
// registers them, registerStore) and its last result.
type compaction struct {
	done, skipped, failed metrics.Counter
	seconds               metrics.Gauge

	mu     sync.Mutex
	bounds compactBounds
	log    *slog.Logger
	last   Compacted
	// online, after a skip or a failure: the free pages to wait for, or
	// the live data (0, 0: none to wait for)
	retryFree int
	retryLive int64
	step      func(step string) error // tests: runs at each step; an error fails it
}

func (c *compaction) init() {
	c.bounds = defaultCompactBounds
	c.log = slog.New(slog.DiscardHandler)
}

// at runs the test hook of step.
func (c *compaction) at(step string) error {
	c.mu.Lock()
	f := c.step
	c.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(step)
}

// SetLog makes the store log its compactions to log; NewDoor sets the
// door's. Without one they are counted only.
func (s *Store) SetLog(log *slog.Logger) {
	s.compact.mu.Lock()
	defer s.compact.mu.Unlock()
	s.compact.log = log
}

func (c *compaction) logger() *slog.Logger {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log
}

// Compacted is what a compaction did.
type Compacted struct {
	Online      bool
	BeforeBytes int64 // the file's size before
	AfterBytes  int64 // and after
	FreePages   int   // free before
	LiveBytes   int64 // the data copied, as bbolt's pages in use
	Took        time.Duration
}

// CompactStats are the store's compactions so far.
type CompactStats struct {
	Done, Skipped, Failed uint64
	Last                  Compacted // the last one done; zero before
}

// Compactions returns the store's compactions so far.
func (s *Store) Compactions() CompactStats {
	c := &s.compact
	c.mu.Lock()
	defer c.mu.Unlock()
	return CompactStats{Done: c.done.Value(), Skipped: c.skipped.Value(), Failed: c.failed.Value(), Last: c.last}
}

// fileUse is how a store file's pages are used.
type fileUse struct {
	pageSize int
	pages    int // up to the high-water mark
	free     int // free, and freed by the last commit
}

func (u fileUse) bytes() int64 { return int64(u.pages) * int64(u.pageSize) }
func (u fileUse) live() int64  { return int64(u.pages-u.free) * int64(u.pageSize) }

func useOf(db *bolt.DB) (fileUse, error) {
	var u fileUse
	err := db.View(func(tx *bolt.Tx) error {
		st := db.Stats()
		u = fileUse{pageSize: db.Info().PageSize, free: st.FreePageN + st.PendingPageN}
		u.pages = int(tx.Size() / int64(u.pageSize))
		return nil
	})
	return u, err
}

// use returns how the store's file is used now.
func (s *Store) use() (fileUse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return useOf(s.db)
}

func (b compactBounds) due(u fileUse, online bool) bool {
	return u.free >= b.freePages && u.free*b.freeShare >= u.pages && (!online || u.live() <= b.onlineLive)
}

// compactIfDue compacts the store if its free pages are past the bound.
// Online, it waits for no door write to wait first, and after a skip or a
// failure it tries again only once the free pages have doubled or the
// live data halved (the deletions of a drain go on), and after a copy
// past its pause, once the live data is three quarters of what the pause
// copied. A
// compaction skipped for the disk's room or failed is logged and counted,
// and the store goes on in its file: it returns nil then, and the error
// only for tests.
func (s *Store) compactIfDue(online bool) error {
	c := &s.compact
	u, err := s.use()
	if err != nil {
		return err
	}
	c.mu.Lock()
	due := c.bounds.due(u, online) && (!online || u.free >= c.retryFree || u.live() <= c.retryLive)
	c.mu.Unlock()
	if !due {
		return nil
	}
	if online {
		s.first.wait()
	}
	return s.compactNow(online)
}

// compactNow compacts the store, its writes paused for the copy.
func (s *Store) compactNow(online bool) error {
	s.writes.Lock()
	release := sync.OnceFunc(s.writes.Unlock)
	defer release()
	c := &s.compact
	log := c.logger()
	old := s.db // only a compaction or Close, both under writes, changes it
	u, err := useOf(old)
	if err != nil {
		return err
	}
	c.mu.Lock()
	b := c.bounds
	c.mu.Unlock()
	if !b.due(u, online) {
		return nil // another did it meanwhile
	}
	var copied int64 // by the copy, in keys and values
	fail := func(counter *metrics.Counter, err error) error {
		counter.Inc()
		retry := u.live() / 2
		if errors.Is(err, ErrCompactSlow) {
			// what the pause copied is the rate to fit: a quarter less
			retry = min(retry, copied/4*3)
		}
		c.mu.Lock()
		c.retryFree, c.retryLive = 2*u.free, retry
		c.mu.Unlock()
		log.Warn("store: not compacted, the store goes on in its file", "path", s.path, "err", err,
			"file_bytes", u.bytes(), "free_pages", u.free, "live_bytes", u.live())
		return err
	}
	// the copy must not take the room the quota keeps: with it made, the
	// disk stays above MinFree, and the quota's level where it is
	s.space.mu.Lock()
	freeOf, minFree := s.space.free, s.space.q.MinFree
	s.space.mu.Unlock()
	need := uint64(u.live()) + uint64(old.AllocSize) + minFree
	if free, ok := freeOf(filepath.Dir(s.path)); ok && free < need {
		return fail(&c.skipped, fmt.Errorf("%w: %d MiB free, %d MiB needed", ErrCompactNoRoom, free>>20, need>>20))
	}
	before := u.bytes()
	if fi, err := os.Stat(s.path); err == nil {
		before = fi.Size()
	}
	t0 := time.Now()
	var deadline time.Time
	if online {
		deadline = t0.Add(b.pause)
	}
	tmp := s.path + compactSuffix
	db, err := s.copyTo(old, tmp, deadline, b.txBytes, &copied)
	if err == nil {
		if err = c.at(stepRename); err == nil {
			err = os.Rename(tmp, s.path)
		}
		if err != nil {
			err = errors.Join(err, db.Close())
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fail(&c.failed, fmt.Errorf("store: compact: %w", err))
	}
	// renamed: the path names the new file, whole; the old one is gone
	// from the directory, and what is written from now on must go to the
	// new one, whether or not the directory's fsync works
	err = c.at(stepSyncDir)
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		log.Warn("store: compacted, but its directory not synced: after a power loss the old file may be back, whole",
			"path", s.path, "err", err)
	}
	if err := c.at(stepSwap); err != nil {
		log.Warn("store: compaction swap", "err", err) // tests only: the swap cannot fail
	}
	s.mu.Lock()
	s.db = db
	s.mu.Unlock()
	// the writes go on in the new file: closing the old one waits for its
	// readers and unmaps it, which is no part of the pause
	took := time.Since(t0)
	release()
	if err := old.Close(); err != nil {
		log.Warn("store: close the file before the compaction", "err", err)
	}
	s.space.mu.Lock()
	s.space.checked = time.Time{} // the disk has its room back
	s.space.mu.Unlock()
	res := Compacted{Online: online, BeforeBytes: before, FreePages: u.free, LiveBytes: u.live(), Took: took}
	if fi, err := os.Stat(s.path); err == nil {
		res.AfterBytes = fi.Size()
	}
	c.done.Inc()
	c.seconds.Set(took.Seconds())
	c.mu.Lock()
	c.last, c.retryFree, c.retryLive = res, 0, 0
	c.mu.Unlock()
	log.Info("store compacted", "path", s.path, "online", online, "before_bytes", res.BeforeBytes,
		"after_bytes", res.AfterBytes, "free_pages", u.free, "live_bytes", res.LiveBytes, "took", took)
	if err := c.at(stepDone); err != nil {
		log.Warn("store: compaction done", "err", err) // tests only
	}
	return nil
}

// copyTo copies src into a new bbolt file at path, fsync'd, and returns
// it open. A copy past deadline (when set) is abandoned. copied counts
// the bytes of the keys and values copied.
func (s *Store) copyTo(src *bolt.DB, path string, deadline time.Time, txBytes int, copied *int64) (*bolt.DB, error) {
	c := &s.compact
	os.Remove(path) // a copy left by a compaction that failed
	if err := c.at(stepCreate); err != nil {
		return nil, err
	}
	dst, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	err = src.View(func(stx *bolt.Tx) error {
		return copyTx(stx, dst, deadline, txBytes, c.at, copied)
	})
	if err == nil {
		if err = c.at(stepSync); err == nil {
			err = dst.Sync()
		}
	}
	if err != nil {
		return nil, errors.Join(err, dst.Close())
	}
	return dst, nil
}

// boltCopy copies the buckets of a read transaction into a new file, in
// transactions of at most txBytes, each bucket's pages full and its
// sequence kept: what bolt.Compact does, with a deadline and the test
// hooks.
type boltCopy struct {
	dst      *bolt.DB
	tx       *bolt.Tx
	deadline time.Time
	txBytes  int
	size, n  int
	copied   *int64
	at       func(string) error
}

func copyTx(src *bolt.Tx, dst *bolt.DB, deadline time.Time, txBytes int, at func(string) error, copied *int64) error {
	tx, err := dst.Begin(true)
	if err != nil {
		return err
	}
	c := &boltCopy{dst: dst, tx: tx, deadline: deadline, txBytes: txBytes, at: at, copied: copied}
	err = src.ForEach(func(name []byte, b *bolt.Bucket) error {
		if _, err := c.tx.CreateBucket(name); err != nil {
			return err
		}
		return c.bucket([][]byte{name}, b)
	})
	if err != nil {
		if c.tx != nil {
			err = errors.Join(err, c.tx.Rollback())
		}
		return err
	}
	return c.tx.Commit()
}

// target returns the bucket at path in the current transaction.
func (c *boltCopy) target(path [][]byte) *bolt.Bucket {
	b := c.tx.Bucket(path[0])
	for _, k := range path[1:] {
		b = b.Bucket(k)
	}
	b.FillPercent = 1
	return b
}

// bucket copies from into the bucket at path, made already.
func (c *boltCopy) bucket(path [][]byte, from *bolt.Bucket) error {
	to := c.target(path)
	if err := to.SetSequence(from.Sequence()); err != nil {
		return err
	}
	cur := from.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v == nil { // a bucket: bbolt's cursor gives an empty value as an empty slice
			if _, err := to.CreateBucket(k); err != nil {
				return err
			}
			if err := c.bucket(append(path[:len(path):len(path)], k), from.Bucket(k)); err != nil {
				return err
			}
			to = c.target(path)
			continue
		}
		renewed, err := c.next(len(k) + len(v))
		if err != nil {
			return err
		}
		if renewed {
			to = c.target(path)
		}
		if err := to.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

// next counts a key of sz bytes about to be copied: every copyCheck keys
// it looks at the deadline, and it commits and begins a new transaction
// when this one is full.
func (c *boltCopy) next(sz int) (renewed bool, err error) {
	if c.n++; c.n%copyCheck == 0 {
		if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			return false, fmt.Errorf("%w: %d keys copied", ErrCompactSlow, c.n)
		}
		if err := c.at(stepCopy); err != nil {
			return false, err
		}
	}
	if c.size > 0 && c.size+sz > c.txBytes {
		err := c.tx.Commit()
		c.tx = nil
		if err != nil {
			return false, err
		}
		if c.tx, err = c.dst.Begin(true); err != nil {
			c.tx = nil
			return false, err
		}
		if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			return false, fmt.Errorf("%w: %d keys copied", ErrCompactSlow, c.n)
		}
		c.size, renewed = 0, true
	}
	c.size += sz
	*c.copied += int64(sz)
	return renewed, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
