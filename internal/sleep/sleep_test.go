package sleep_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kunci-project/kunci/internal/sleep"
)

func TestForPassesOrStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !sleep.For(context.Background(), time.Minute) {
			t.Error("For(a minute) = false with a live context; want true")
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("For(a minute) took %v of the bubble's time; want 1m0s", d)
		}
		ctx, cancel := context.WithCancel(context.Background())
		start = time.Now()
		time.AfterFunc(time.Second, cancel)
		if sleep.For(ctx, time.Hour) {
			t.Error("For(an hour) = true though ctx ended after a second; want false")
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("For(an hour) with ctx ended after a second took %v; want 1s", d)
		}
		if sleep.For(ctx, 0) {
			t.Error("For(0) = true with ctx ended; want false")
		}
		if !sleep.For(context.Background(), 0) || !sleep.For(context.Background(), -time.Second) {
			t.Error("For(0 or less) = false with a live context; want true")
		}
	})
}
