package server

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/kunci-project/kunci/hub/alarm"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/hub/workflow"
)

// follower hands the records, alarms, tokens and sessions the other hub
// replicas change (pgkv's Watch) to the hub (hub.Hub.Followed,
// FollowedAlarms) and to the API's registers (auth.Tokens.Follow,
// Users.Follow) in a goroutine of its own, so that the
// notifications never wait for the reading: what came meanwhile is taken
// in one go, and a lost notification (the listening connection made anew)
// reads every record again.
type follower struct {
	mu             sync.Mutex
	permits        map[string]bool
	staff          map[string]bool
	alarms         map[string]bool
	tokens         map[string]bool
	all, alarmsDue bool
	sessionsDue    bool
	wake           chan struct{}
}

// follow runs until ctx ends.
func (h *Server) follow(ctx context.Context, db *pgkv.DB) {
	f := &follower{permits: map[string]bool{}, staff: map[string]bool{}, alarms: map[string]bool{}, tokens: map[string]bool{}, wake: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { db.Watch(ctx, f.add) })
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		permits, staff, all, alarms, alarmsDue := f.take()
		tokens, sessions := f.takeAuth()
		if len(tokens) > 0 || all {
			if err := h.tokens.Follow(tokens, all); err != nil {
				h.log.Error("hub: follow the other replicas' tokens", "err", err)
			}
		}
		if (sessions || all) && h.users != nil {
			if err := h.users.Follow(); err != nil {
				h.log.Error("hub: follow the other replicas' sessions", "err", err)
			}
		}
		if len(permits) > 0 || len(staff) > 0 || all {
			if err := h.hub.Followed(permits, staff, all); err != nil {
				h.log.Error("hub: follow the other replicas' records", "err", err)
			}
		}
		if alarmsDue {
			if err := h.hub.FollowedAlarms(alarms); err != nil {
				h.log.Error("hub: follow the other replicas' alarms", "err", err)
			}
		}
	}
}

func (f *follower) add(c pgkv.Change) {
	f.mu.Lock()
	if c.Bucket == nil {
		// listening, at first or anew: what was written before is
		// unknown (since the hub read the records at its open, or since
		// the connection was lost)
		f.all, f.alarmsDue = true, true
	} else if tokens, sessions := auth.Changed(c.Bucket, c.Keys); len(tokens) > 0 || sessions {
		f.sessionsDue = f.sessionsDue || sessions
		for _, id := range tokens {
			f.tokens[id] = true
		}
	} else if ids, ok := alarm.Changed(c.Bucket, c.Keys); ok {
		f.alarmsDue = true
		for _, id := range ids {
			f.alarms[id] = true
		}
	} else if permits, staff, records := workflow.Records(c.Bucket, c.Keys); records {
		f.all = f.all || c.All
		for _, id := range permits {
			f.permits[id] = true
		}
		for _, id := range staff {
			f.staff[id] = true
		}
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *follower) take() (permits, staff []string, all bool, alarms []string, alarmsDue bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	permits, staff, alarms = slices.Sorted(maps.Keys(f.permits)), slices.Sorted(maps.Keys(f.staff)), slices.Sorted(maps.Keys(f.alarms))
	all, alarmsDue = f.all, f.alarmsDue
	clear(f.permits)
	clear(f.staff)
	clear(f.alarms)
	f.all, f.alarmsDue = false, false
	return permits, staff, all, alarms, alarmsDue
}

func (f *follower) takeAuth() (tokens []string, sessions bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tokens, sessions = slices.Sorted(maps.Keys(f.tokens)), f.sessionsDue
	clear(f.tokens)
	f.sessionsDue = false
	return tokens, sessions
}
