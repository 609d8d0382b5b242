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

// WatchRecords applies every *.json file of dir at start and whenever a
// file appears or changes, checking every poll, until ctx ends. It lets a
// site without a hub run its door from files made with `kunci sign`.
// loaded, when set, is called once after the first pass, so that the door
// is announced ready only with its records in place. The door's loop must
// be running: refusals are recorded as events.
func (d *Door) WatchRecords(ctx context.Context, dir string, poll time.Duration, loaded func()) error {
	seen := map[string]fileStamp{}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := d.loadDir(ctx, dir, seen); err != nil {
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

func (d *Door) loadDir(ctx context.Context, dir string, seen map[string]fileStamp) error {
	ents, err := os.ReadDir(dir)
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
		stamp := fileStamp{size: fi.Size(), mod: fi.ModTime()}
		if seen[e.Name()] == stamp {
			continue
		}
		seen[e.Name()] = stamp
		if fi.Size() > permit.MaxSigned {
			err = fmt.Errorf("%w: %d bytes", permit.ErrTooLarge, fi.Size())
			d.ctr.RecordsRejected.Inc()
			if rerr := d.Record(ctx, Event{Type: wire.EvPermitRejected, Reason: wire.ReasonTooLarge,
				Detail: e.Name() + ": " + err.Error()}); rerr != nil {
				return rerr
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("records: %w", err)
		}
		if err := d.ApplySigned(ctx, e.Name(), b); err != nil && (errors.Is(err, ErrStopped) || ctx.Err() != nil) {
			return err
		}
	}
	return nil
}
