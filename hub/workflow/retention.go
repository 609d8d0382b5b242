package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
)

// MinRetention is the shortest retention Purge accepts. It is a guard
// against a slip of the unit ("1m", "90s" for days), not a policy: the
// site's retention is usually months. It leaves at least a day to read
// the guest book of a visit, and its alarms, with the guest's name.
const MinRetention = 24 * time.Hour

// PurgedGuest stands for the guest's name in a purged record.
const PurgedGuest = "(purged)"

// PurgeResult says what one Purge did.
type PurgeResult struct {
	Examined int      // permit requests read
	Purged   []string // ids of the requests this call purged, in id order
}

// Purge removes the personal data of every permit request whose end is
// at least retention ago (see Retention in the package doc): the guest's
// name becomes PurgedGuest, the NIK and the phone are cleared, and Purged
// says when. The rest, the card fingerprint included, stays for the audit
// and for the permit the doors hold. A purged request is left alone; its
// version, state and history do not change. A retention below
// MinRetention is refused with ErrInvalid.
func (s *Store) Purge(retention time.Duration) (PurgeResult, error) {
	if retention < MinRetention {
		return PurgeResult{}, invalid("purge: retention %v is shorter than the minimum %v", retention, MinRetention)
	}
	now := s.opts.Now().UTC()
	cutoff := now.Add(-retention)
	var res PurgeResult
	err := s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bPermits)
		var due []Record
		// no writing to a bucket inside its ForEach (kv): collect first
		err := b.ForEach(func(k, raw []byte) error {
			res.Examined++
			r, err := s.decodeRecord(k, raw)
			if err == nil && purgeDue(&r, cutoff) {
				due = append(due, r)
			}
			return err
		})
		if err != nil {
			return err
		}
		for i := range due {
			r := &due[i]
			r.Guest, r.NIK, r.Phone, r.Purged = PurgedGuest, "", "", now
			if err := s.putRecord(tx, r); err != nil {
				return err
			}
			res.Purged = append(res.Purged, r.ID)
		}
		// the keys of every request purged, now or by a purge whose keys
		// file could not be written, and of none (a request whose
		// transaction failed): the rest are written to a new keys file.
		// Inside the transaction, so that no request is filed meanwhile;
		// should the commit fail, the purged records stay as they were,
		// unreadable, and the next purge marks them.
		return s.keys.retain(func(id string) bool {
			raw := b.Get([]byte(id))
			if raw == nil {
				return false
			}
			var p struct {
				Purged time.Time `json:"purged"`
			}
			return json.Unmarshal(raw, &p) != nil || p.Purged.IsZero()
		})
	})
	// what the keys' store could not remove inside the transaction (its
	// rewrite waits for the transactions that could read them, this one
	// among them), it removes now, whether the purge was kept or not: the
	// keys were destroyed
	serr := s.keys.shred()
	if err != nil {
		return PurgeResult{}, errors.Join(err, serr)
	}
	if serr != nil {
		return res, fmt.Errorf("workflow: purge: %w", serr)
	}
	return res, nil
}

// ended returns when r stopped being of use at the door: when its time
// window closed, or when it was rejected or revoked if that came first. A
// request still pending or a permit still valid ends in the future.
func ended(r *Record) time.Time {
	end := r.NotAfter
	if r.State == Rejected || r.State == Revoked {
		if t, ok := r.At(r.State); ok && t.Before(end) {
			end = t
		}
	}
	return end
}

// purgeDue reports whether r, not purged yet, ended at or before cutoff.
func purgeDue(r *Record, cutoff time.Time) bool {
	return r.Purged.IsZero() && !ended(r).After(cutoff)
}
