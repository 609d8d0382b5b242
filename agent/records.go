package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// ApplySigned verifies a signed permit, revocation or staff record and
// stores it. Anything refused (bad signature, untrusted key, another door,
// an older version, malformed) is recorded as permit.rejected, counted, and
// changes nothing. source names where it came from, for the event.
func (d *Door) ApplySigned(ctx context.Context, source string, data []byte) error {
	return d.applySigned(ctx, source, data, true)
}

// ApplyUnrecorded is ApplySigned for a caller that records the refusals
// itself, coalesced (the downlink: a flood of replayed records must not
// cost the door a write each): a refusal is counted and returned, not
// recorded.
func (d *Door) ApplyUnrecorded(ctx context.Context, source string, data []byte) error {
	return d.applySigned(ctx, source, data, false)
}

func (d *Door) applySigned(ctx context.Context, source string, data []byte, record bool) error {
	rec, err := d.cfg.Keys.Decode(data)
	if err == nil {
		var changed bool
		changed, err = d.store.Apply(rec)
		if err == nil {
			if changed {
				d.log.Info("record applied", "source", source, "kind", recKind(rec))
			}
			return nil
		}
	}
	d.ctr.RecordsRejected.Inc()
	if !record {
		return err
	}
	d.log.Warn("record rejected", "source", source, "err", err)
	e := Event{Type: wire.EvPermitRejected, Reason: RefusalReason(err), Detail: source + ": " + err.Error()}
	switch {
	case rec.Permit != nil:
		e.Permit = rec.Permit.ID
	case rec.Revocation != nil:
		e.Permit = rec.Revocation.Permit
	case rec.Staff != nil:
		e.Staff = rec.Staff.ID
	}
	if rerr := d.Record(ctx, e); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

func recKind(r permit.Record) string {
	switch {
	case r.Permit != nil:
		return "permit " + r.Permit.ID
	case r.Revocation != nil:
		return "revocation of " + r.Revocation.Permit
	default:
		return "staff " + r.Staff.ID
	}
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// partialGrace is how long a file may stay cut short, unchanged, before it
// is taken for an aborted copy and refused: cp and scp write a record in
// place, so a pass may see it empty or half-written.
const partialGrace = time.Minute

// recordsDir is what WatchRecords knows of its folder between passes.
type recordsDir struct {
	path string
	// seen holds the files handled, as they were then; a file is read
	// again only when its size or modification time changes.
	seen map[string]fileStamp
	// partial holds the files that looked cut short, as they were when
	// first seen so and the door's monotonic time then.
	partial map[string]partialFile
	// tooLarge holds the files refused for their size until a complete
	// file of the name is read: one that keeps growing while it is
	// copied, or is copied over by another too large, is refused once.
	tooLarge map[string]bool
}

func newRecordsDir(path string) *recordsDir {
	return &recordsDir{path: path, seen: map[string]fileStamp{}, partial: map[string]partialFile{},
		tooLarge: map[string]bool{}}
}

type partialFile struct {
	stamp fileStamp
	since time.Duration
}

// WatchRecords applies every *.json file of dir at start and whenever a
// file appears or changes, checking every poll, until ctx ends. It lets a
// site without a hub run its door from files made with `kunci sign`.
// A file that is empty or cut short is taken as still being written: it is
// read again at every poll and applied once complete, and refused only
// when it has stayed so, unchanged, for partialGrace.
// loaded, when set, is called once after the first pass, so that the door
// is announced ready only with its records in place. The door's loop must
// be running: refusals are recorded as events.
func (d *Door) WatchRecords(ctx context.Context, dir string, poll time.Duration, loaded func()) error {
	rd := newRecordsDir(dir)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := d.loadDir(ctx, rd); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Error("records", "dir", dir, "err", err)
		}
		if loaded != nil {
			loaded()
			loaded = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *Door) loadDir(ctx context.Context, rd *recordsDir) error {
	ents, err := os.ReadDir(rd.path)
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := d.loadFile(ctx, rd, e.Name(), fileStamp{size: fi.Size(), mod: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// loadFile applies or refuses one file of rd whose stamp was just taken.
// The stamp comes before the read, so a write after it shows at the next
// pass as a new stamp.
func (d *Door) loadFile(ctx context.Context, rd *recordsDir, name string, stamp fileStamp) error {
	if rd.seen[name] == stamp {
		return nil
	}
	if stamp.size > permit.MaxSigned {
		rd.seen[name] = stamp
		delete(rd.partial, name)
		if rd.tooLarge[name] {
			return nil
		}
		rd.tooLarge[name] = true
		err := fmt.Errorf("%w: %d bytes", permit.ErrTooLarge, stamp.size)
		d.ctr.RecordsRejected.Inc()
		return d.Record(ctx, Event{Type: wire.EvPermitRejected, Reason: wire.ReasonTooLarge,
			Detail: name + ": " + err.Error()})
	}
	b, err := os.ReadFile(filepath.Join(rd.path, name))
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	if len(b) > permit.MaxSigned {
		return nil // it grew since the stamp: the next pass refuses it by its size
	}
	if cutShort(b) {
		now := d.clock.Mono()
		p, ok := rd.partial[name]
		if !ok || p.stamp != stamp {
			rd.partial[name] = partialFile{stamp: stamp, since: now}
			d.log.Debug("record still being written", "source", name, "bytes", len(b))
			return nil
		}
		if now-p.since < partialGrace {
			return nil
		}
	}
	delete(rd.partial, name)
	delete(rd.tooLarge, name)
	rd.seen[name] = stamp
	if err := d.ApplySigned(ctx, name, b); err != nil && (errors.Is(err, ErrStopped) || ctx.Err() != nil) {
		return err
	}
	return nil
}
