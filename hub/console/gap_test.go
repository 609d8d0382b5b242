package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/ingest"
)

// TestDashboardShowsGap: a door's stalled epoch is an alarm on its card,
// live, naming the seqs missing; accepted as lost, the alarm goes.
func TestDashboardShowsGap(t *testing.T) {
	e := hubtest.New(t, hubtest.Options{Ingest: ingest.Options{StallAfter: 50 * time.Millisecond}})
	e.User(t, "sari", "Sari Dewi", auth.Viewer)
	b := newBrowser(t, e)
	b.signIn("sari")
	s := b.stream()
	s.next(t, "grid")
	e.Feed(t, hubtest.Visit("P-000001", time.Now().UTC(), 101)[:3]...)
	const alarm = "Kejadian epoch e1 seq 1–100 belum diterima hub"
	for {
		ev, ok := s.next(t, "pintu-")
		if !ok {
			t.Fatal("the stream ended before the gap's alarm")
		}
		if strings.Contains(ev.data, alarm) {
			break
		}
	}
	if _, _, body := b.get("/"); !strings.Contains(body, alarm) {
		t.Errorf("the dashboard lacks the gap's alarm:\n%s", body)
	}
	if _, err := e.Hub.AcceptLost(context.Background(), ingest.LostRequest{Site: hubtest.Site, Door: hubtest.Door,
		Epoch: "e1", Through: 100, By: "admin", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := s.next(t, "pintu-")
		if !ok {
			t.Fatal("the stream ended before the alarm went")
		}
		if !strings.Contains(ev.data, alarm) {
			break
		}
	}
}
