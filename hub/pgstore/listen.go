package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ListenRetry is the wait before Listen connects again after its
// connection was lost.
const ListenRetry = time.Second

// Listen listens on channel, on a connection of its own made like pool's,
// until ctx ends: it calls fn with each notification's payload, and
// listening with "" each time it begins to listen (at first, and again
// after the connection was lost and made anew, ListenRetry later), for
// what was notified meanwhile is lost. timeout bounds each connection's
// making. fn must not block for long: the notifications wait for it.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, timeout time.Duration, listening func(), fn func(payload string)) {
	for ctx.Err() == nil {
		listenOnce(ctx, pool, channel, timeout, listening, fn)
		select {
		case <-ctx.Done():
			return
		case <-time.After(ListenRetry):
		}
	}
}

// listenOnce listens on one connection until it fails or ctx ends.
func listenOnce(ctx context.Context, pool *pgxpool.Pool, channel string, timeout time.Duration, listening func(), fn func(string)) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	conn, err := pgx.ConnectConfig(cctx, pool.Config().ConnConfig.Copy())
	if err == nil {
		_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{channel}.Sanitize())
	}
	cancel()
	if err != nil {
		if conn != nil {
			conn.Close(context.Background())
		}
		return
	}
	defer conn.Close(context.Background())
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		fn(n.Payload)
	}
}
