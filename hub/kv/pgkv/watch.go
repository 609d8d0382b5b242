package pgkv

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/kunci-project/kunci/hub/pgstore"
)

// Channel is the PostgreSQL notification channel on which every Update
// that wrote tells what it wrote, for the hub replicas sharing the
// database (Watch). A notification is sent when its transaction commits,
// and only then.
const Channel = "kunci_kv"

// maxPayload bounds a notification's payload (PostgreSQL's is 8000
// bytes): beyond, it names the buckets written without their keys.
const maxPayload = 7000

// notice is a notification's payload: who wrote (a DB's id), and the
// buckets and keys it wrote, hex-encoded (All: the whole bucket, or too
// many keys to name).
type notice struct {
	By      string   `json:"by"`
	Changes []change `json:"c"`
}

type change struct {
	Bucket string   `json:"b"`
	Keys   []string `json:"k,omitempty"`
	All    bool     `json:"all,omitempty"`
}

// notification encodes the payload of a transaction's changes.
func (d *DB) notification(changed map[string]map[string]bool) string {
	n := notice{By: d.id}
	for b, keys := range changed {
		c := change{Bucket: hex.EncodeToString([]byte(b)), All: keys == nil}
		for k := range keys {
			c.Keys = append(c.Keys, hex.EncodeToString([]byte(k)))
		}
		slices.Sort(c.Keys)
		n.Changes = append(n.Changes, c)
	}
	j, _ := json.Marshal(n)
	if len(j) > maxPayload {
		for i := range n.Changes {
			n.Changes[i].Keys, n.Changes[i].All = nil, true
		}
		j, _ = json.Marshal(n)
	}
	return string(j)
}

// Change is what another process's Update wrote in one bucket: Keys, or
// the whole bucket (All). The zero Change (no Bucket) says that changes
// may have been missed: anything may have changed.
type Change struct {
	Bucket []byte
	Keys   [][]byte
	All    bool
}

// Watch calls fn with what every other process sharing the database
// writes, each Update's buckets after its commit, until ctx ends; and
// with the zero Change each time it begins to listen (at first, and
// after its connection was lost and made anew). This DB's own writes are
// not told. fn must not block for long.
func (d *DB) Watch(ctx context.Context, fn func(Change)) {
	pgstore.Listen(ctx, d.pool, Channel, d.timeout, func() { fn(Change{}) }, func(payload string) {
		var n notice
		if json.Unmarshal([]byte(payload), &n) != nil || n.By == d.id {
			return
		}
		for _, c := range n.Changes {
			b, err := hex.DecodeString(c.Bucket)
			if err != nil || len(b) == 0 {
				continue
			}
			ch := Change{Bucket: b, All: c.All}
			for _, k := range c.Keys {
				if key, err := hex.DecodeString(k); err == nil {
					ch.Keys = append(ch.Keys, key)
				}
			}
			fn(ch)
		}
	})
}
