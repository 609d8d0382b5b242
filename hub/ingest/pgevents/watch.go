package pgevents

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kunci-project/kunci/hub/ingest"
)

// Channel is the PostgreSQL notification channel on which every commit and
// lost run tells its streams' new through (ingest.Advance as JSON), for
// the hub replicas sharing the database (Watch). A notification is sent
// when its transaction commits, and only then.
const Channel = "kunci_events"

// advance is the payload of a notification on Channel.
type advance struct {
	Site    string `json:"site"`
	Door    string `json:"door"`
	Epoch   string `json:"epoch"`
	Through int64  `json:"through"`
}

// queueNotify queues in b, inside a commit's transaction, one notification
// for each stream, at its new through.
func queueNotify(b *pgx.Batch, sites, doors, epochs []string, throughs []int64) {
	b.Queue(`SELECT pg_notify($1, json_build_object('site', s, 'door', d, 'epoch', e, 'through', t)::text)
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS r(s, d, e, t)`, Channel, sites, doors, epochs, throughs)
}

// watchRetry is the wait before Watch connects again after its connection
// was lost.
const watchRetry = time.Second

// Watch calls fn with each stream a commit moved on, this process's and
// every other's sharing the database, until ctx ends (ingest.Watcher). It
// listens on a connection of its own, and each time it begins to listen
// (at first, and again after the connection was lost and made anew) it
// calls fn with the zero Advance: what was committed before is the
// store's to tell (Through). A payload it cannot read is skipped: only
// the hub's commits notify on Channel.
func (s *Store) Watch(ctx context.Context, fn func(ingest.Advance)) {
	for ctx.Err() == nil {
		s.listen(ctx, fn)
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchRetry):
		}
	}
}

// listen listens on one connection until it fails or ctx ends.
func (s *Store) listen(ctx context.Context, fn func(ingest.Advance)) error {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+Channel)
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.Background())
		}
		return err
	}
	defer conn.Close(context.Background())
	fn(ingest.Advance{})
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var a advance
		if json.Unmarshal([]byte(n.Payload), &a) != nil || a.Through <= 0 {
			continue
		}
		fn(ingest.Advance{Site: a.Site, Door: a.Door, Epoch: a.Epoch, Through: uint64(a.Through)})
	}
}
