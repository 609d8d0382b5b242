package auth

import (
	"encoding/json"
	"fmt"

	"github.com/kunci-project/kunci/hub/kv"
)

// Changed says what a write of bucket touched, for a hub process that
// follows another's writes (hub/kv/pgkv's Watch): the tokens of keys, or
// the users and their sessions.
func Changed(bucket []byte, keys [][]byte) (tokens []string, sessions bool) {
	switch string(bucket) {
	case string(bTokens):
		for _, k := range keys {
			tokens = append(tokens, string(k))
		}
		return tokens, false
	case string(bUsers), string(bSessions):
		return nil, true
	}
	return nil, false
}

// Follow ends the streams of the tokens of ids that another hub process
// sharing the store revoked (their Ended channels close), as Revoke does
// here; all: every token a stream waits on is read again.
func (t *Tokens) Follow(ids []string, all bool) error {
	if all {
		t.mu.Lock()
		ids = ids[:0]
		for id := range t.ends {
			ids = append(ids, id)
		}
		t.mu.Unlock()
	}
	var gone []string
	err := t.db.View(func(tx kv.Tx) error {
		b := tx.Bucket(bTokens)
		for _, id := range ids {
			t.mu.Lock()
			_, waited := t.ends[id]
			t.mu.Unlock()
			if !waited {
				continue
			}
			if r, err := get(b, id); err != nil || r.Revoked {
				gone = append(gone, id)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: follow the tokens: %w", err)
	}
	for _, id := range gone {
		t.end(id)
	}
	return nil
}

// Follow ends the streams of the sessions that another hub process
// sharing the store ended (signed out, expired, the user disabled or
// changed): every session a stream waits on that is no longer live.
func (u *Users) Follow() error {
	now := u.now().UTC()
	live := map[string]bool{}
	err := u.db.View(func(tx kv.Tx) error {
		users := tx.Bucket(bUsers)
		return tx.Bucket(bSessions).ForEach(func(_, v []byte) error {
			var s sessionRecord
			if json.Unmarshal(v, &s) != nil || !u.live(&s, now) {
				return nil
			}
			if usr, err := getUser(users, s.Login); err == nil && !usr.Disabled {
				live[s.ID] = true
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("auth: follow the sessions: %w", err)
	}
	var ended []string
	u.mu.Lock()
	for id := range u.ended {
		if !live[id] {
			ended = append(ended, id)
		}
	}
	u.mu.Unlock()
	u.end(ended...)
	return nil
}
