package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/waitfor"
)

// doorOf returns the hub's state of demo/server-room.
func doorOf(t *testing.T, e *hubtest.Env) hub.Door {
	t.Helper()
	for _, d := range must(e.Client(t, e.Admin).Doors(t.Context()))(t) {
		if d.Site == hubtest.Site && d.Door == hubtest.Door {
			return d
		}
	}
	t.Fatal("no demo/server-room in GET /api/doors")
	return hub.Door{}
}

// TestAcceptGap: a hub whose event store is new gets a door's events
// from seq 101 on (the door deleted 1-100 when the lost store acked
// them): GET /api/doors shows the gap; an admin, and only an admin,
// accepts 1-100 as lost, never a seq that came; the visit is then stored
// and in the guest book, and the run stays shown with the door after a
// restart.
func TestAcceptGap(t *testing.T) {
	o := hubtest.Options{Ingest: ingest.Options{StallAfter: 50 * time.Millisecond}}
	e := hubtest.New(t, o)
	p := staffUp(t, e)
	rec := issue(t, e, p)
	e.Feed(t, hubtest.Visit(rec.ID, time.Now().UTC(), 101)...)
	waitfor.Until(t, 10*time.Second, "the gap shown with the door", func() bool { return len(doorOf(t, e).Gaps) == 1 })
	g := doorOf(t, e).Gaps[0]
	if g.Epoch != "e1" || g.From != 1 || g.To != 100 {
		t.Fatalf("gap %+v; want e1 1..100", g)
	}
	ctx := t.Context()
	admin := e.Client(t, e.Admin)
	req := api.GapRequest{Epoch: "e1", Through: 100, Reason: "hub-events.db restored from the backup of 1 May"}
	for _, tok := range []string{p.Head, p.Viewer, p.Desk} {
		_, err := e.Client(t, tok).AcceptGap(ctx, hubtest.Site, hubtest.Door, req)
		refused(t, err, http.StatusForbidden)
	}
	for _, tc := range []struct {
		req  api.GapRequest
		door string
		code int
	}{
		{api.GapRequest{Epoch: "e1", Through: 101, Reason: "x"}, hubtest.Door, http.StatusUnprocessableEntity}, // 101 came
		{api.GapRequest{Epoch: "e2", Through: 100, Reason: "x"}, hubtest.Door, http.StatusConflict},
		{api.GapRequest{Epoch: "e1", Through: 100, Reason: "x"}, "other", http.StatusConflict},
		{api.GapRequest{Epoch: "e1", Through: 100, Reason: " "}, hubtest.Door, http.StatusBadRequest},
		{api.GapRequest{Epoch: "e1", Through: 100, Reason: "x\u001b[2J"}, hubtest.Door, http.StatusBadRequest},
		{api.GapRequest{Epoch: "e1", Reason: "x"}, hubtest.Door, http.StatusBadRequest},
		{api.GapRequest{Through: 100, Reason: "x"}, hubtest.Door, http.StatusBadRequest},
	} {
		_, err := admin.AcceptGap(ctx, hubtest.Site, tc.door, tc.req)
		refused(t, err, tc.code)
	}
	if len(doorOf(t, e).Gaps) != 1 {
		t.Fatalf("a refused call changed the gap: %+v", doorOf(t, e))
	}
	me := must(admin.Whoami(ctx))(t)
	l := must(admin.AcceptGap(ctx, hubtest.Site, hubtest.Door, req))(t)
	if l.From != 1 || l.To != 100 || l.Epoch != "e1" || l.By != me.Name || l.Reason != req.Reason || l.At.IsZero() {
		t.Errorf("accepted %+v; want 1..100 of e1 by %s", l, me.Name)
	}
	waitfor.Until(t, 10*time.Second, "the held events stored", func() bool {
		d, _ := e.Events.Door(hubtest.Site, hubtest.Door)
		return d.Count() == 14
	})
	d := doorOf(t, e)
	if len(d.Gaps) != 0 || !slices.Equal(d.Lost, []api.Lost{*l}) {
		t.Errorf("door %+v; want no gap, the lost run shown", d)
	}
	rows := must(admin.GuestBook(ctx, workflow.Filter{}))(t)
	if len(rows) != 1 || rows[0].Entered.IsZero() || rows[0].Exited.IsZero() {
		t.Errorf("guest book %+v; want the visit, in and out", rows)
	}
	e.Restart(t, o)
	if d := doorOf(t, e); len(d.Lost) != 1 || !d.Lost[0].At.Equal(l.At) || d.Lost[0].By != me.Name {
		t.Errorf("after a restart the door shows %+v; want the lost run %+v", d.Lost, l)
	}
}
