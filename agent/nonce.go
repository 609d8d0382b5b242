package agent

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/permit"
)

// bNonces remembers the ids of the commands the door has taken: command id
// -> expiry (Unix nanoseconds, big-endian). The bucket is made by the first
// command, so that stores made before it need no migration.
var bNonces = []byte("nonces")

// nonceGrace keeps a nonce this long past its command's expiry before it is
// pruned. The time the door judges by can step back (a synchronised clock
// corrected, a restart judging from a last trusted time up to a minute
// old), and a nonce pruned early would let a replay through in that step.
const nonceGrace = permit.MaxCommandLife

// ClaimNonce remembers the command id until expires and reports whether it
// was new. A command whose id is not new is a replay and must not be
// obeyed. The claim is durable before ClaimNonce returns, so a replay is
// refused after a restart too. When at is trusted, the same transaction
// forgets the ids whose commands expired more than a grace period before
// at, which keeps the bucket to the commands of the last half hour or so.
// Without a trusted time nothing is forgotten: an unsynchronised wall
// clock running ahead would otherwise drop the id of a lockdown, the one
// command obeyed without a trusted time, and let its replay through.
func (s *Store) ClaimNonce(id string, expires time.Time, at Time) (fresh bool, err error) {
	if id == "" {
		return false, fmt.Errorf("%w: empty command id", permit.ErrInvalid)
	}
	err = s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bNonces)
		if err != nil {
			return err
		}
		horizon := at.Now.Add(-nonceGrace)
		// collected first: a cursor's Next after its Delete can skip a key
		var stale [][]byte
		err = b.ForEach(func(k, v []byte) error {
			if !at.Trusted {
				return nil
			}
			// a value of the wrong size is kept: nothing says it expired
			if len(v) == 8 && time.Unix(0, int64(binary.BigEndian.Uint64(v))).Before(horizon) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if b.Get([]byte(id)) != nil {
			return nil
		}
		fresh = true
		return b.Put([]byte(id), binary.BigEndian.AppendUint64(nil, uint64(expires.UnixNano())))
	})
	if err != nil {
		return false, fmt.Errorf("store: nonce: %w", err)
	}
	return fresh, nil
}

// Nonces returns the remembered command ids with their expiry, for tools
// and tests.
func (s *Store) Nonces() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNonces)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: nonces: %w", err)
	}
	return out, nil
}
