//go:build unix

package main

import (
	"encoding/csv"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/waitfor"
	"github.com/kunci-project/kunci/wire"
)

// TestEndToEndReplicas is issue 11's "the whole SOP end to end (binary,
// Mosquitto, PostgreSQL) through two replicas": two `kunci hub`
// processes on one PostgreSQL database (store and events), taking the
// door's events through Mosquitto's shared subscription, and the
// simulated door of TestEndToEnd. The SOP's steps alternate between the
// replicas on purpose, so that each step reads what the other wrote: the
// escort's staff record added on replica 2, the request filed on replica
// 1 (the desk), classified on replica 2 (the network administrator),
// approved and given its escort on replica 1 (the head of ICT
// infrastructure); then the visit at the door, whose events the broker
// deals between the two. Both replicas then tell the same story: the
// permit, the guest book (kunci guestbook --csv byte for byte, the
// visit's row as the single hub's), the service times (kunci sla), the
// door's last event, and the console's Buku Tamu for a person signed in
// on either. Last, a door rule through the replicas: a permit issued
// through replica 1 is revoked on replica 2, and the door refuses it.
func TestEndToEndReplicas(t *testing.T) {
	began := time.Now()
	x := newE2EWith(t, e2eHub{replicas: 2})
	r := []*e2e{x.at(0), x.at(1)}
	for name, role := range map[string]string{"desk": "requester", "pranata": "coordinator", "kasi": "approver"} {
		x.tokens[name] = mustJSON[api.NewToken](r[0], "", "token", "add", "--name", name, "--role", role).Token
	}
	before := x.taken()
	r[1].must("", "staff", "add", "--id", "S-004", "--name", "Budi", "--site", "demo", "--card", e2eEscort, "--escort")
	x.waitTaken(before, "the escort's staff record, added on replica 2")
	ready := time.Since(began)

	id := issueVia(r[0], r[1], r[0], e2eVisit, "now", "now+4h")
	x.visit(e2eVisit)
	for _, h := range r {
		checkVisitRow(t, h.hub.name, h.securedRow(id))
	}

	// same prints the client verb's output on both replicas, failing the
	// test unless they are byte for byte the same
	same := func(who string, args ...string) string {
		t.Helper()
		a, b := r[0].must(who, args...), r[1].must(who, args...)
		if a != b {
			t.Errorf("kunci %s differs between the replicas:\n-- %s:\n%s\n-- %s:\n%s",
				strings.Join(args, " "), r[0].hub.name, a, r[1].hub.name, b)
		}
		return a
	}
	p := mustJSON[api.Permit](r[1], "kasi", "permit", "show", id)
	if p.State != workflow.Issued || p.Guest != "Tamu 01" || p.Escort != "S-004" || p.Requester != "desk" ||
		p.Coordinator != "pranata" || p.Approver != "kasi" {
		t.Errorf("permit %s on %s: %+v; want issued to Tamu 01 with S-004, each step by its role", id, r[1].hub.name, p)
	}
	same("kasi", "permit", "show", id, "--json")
	book := same("kasi", "guestbook", "--csv")
	checkVisitCSV(t, book, id, r[0].securedRow(id))
	if strings.Contains(book, "32010101010100") {
		t.Errorf("the guest book CSV shows a NIK in clear:\n%s", book)
	}
	same("kasi", "guestbook", "--json")
	checkVisitTimes(t, r[1].hub.name, mustJSON[api.SLAReport](r[1], "kasi", "sla"), id)
	if out := same("kasi", "sla"); !strings.Contains(out, id) {
		t.Errorf("kunci sla does not show %s:\n%s", id, out)
	}
	same("kasi", "sla", "--json")

	// the door's live state on both: its last event, whichever replica
	// stored it
	last := x.lastSeq()
	var lastEv wire.Event
	waitfor.NoError(t, 10*time.Second, func() error {
		for _, e := range x.events("") {
			if e.Seq == last {
				lastEv = e
				return nil
			}
		}
		return fmt.Errorf("the hub has not stored the door's event %d", last)
	})
	for _, h := range r {
		c := h.api(x.admin)
		waitfor.NoError(t, 10*time.Second, func() error {
			ds, err := c.Doors(t.Context())
			if err != nil {
				return err
			}
			if len(ds) != 1 || ds[0].LastEvent != lastEv.Type || !ds[0].LastEventAt.Equal(lastEv.At) {
				return fmt.Errorf("%s's doors %+v; want demo/server-room's last event %s at %v", h.hub.name, ds, lastEv.Type, lastEv.At)
			}
			return nil
		})
	}
	stored := []float64{r[0].hub.metric(t.Context(), r[0].api(x.admin), "kunci_hub_events_stored_total"),
		r[1].hub.metric(t.Context(), r[1].api(x.admin), "kunci_hub_events_stored_total")}
	t.Logf("the door's %d events stored: %v by %s, %v by %s; last %s", last, stored[0], r[0].hub.name,
		stored[1], r[1].hub.name, lastEv.Type)
	if stored[0] == 0 || stored[1] == 0 {
		// Mosquitto deals a shared subscription's messages in turn: each
		// replica's guest book and doors are then made of events both stored
		t.Errorf("the replicas stored %v and %v of the door's events; want a share each", stored[0], stored[1])
	}

	// the console's Buku Tamu for a person (an auditor) added on replica
	// 1, signed in on each: the guest's row, the NIK masked
	const login, password = "wati", "kata-sandi-auditor-1"
	pwFile := filepath.Join(x.dir, "wati.pass")
	writeFile(t, pwFile, password+"\n")
	r[0].must("", "user", "add", "--login", login, "--name", "Wati Auditor", "--role", "viewer", "--password-file", pwFile)
	page := "/buku-tamu?izin=" + id
	for _, h := range slices.Backward(r) {
		body := consoleGet(t, "http://"+h.hub.addr, login, password, map[string]string{page: id})[page]
		for _, want := range []string{"Tamu 01", "3201**********01", "PT Contoh", "Budi"} {
			if !strings.Contains(body, want) {
				t.Errorf("the Buku Tamu of %s on %s lacks %q:\n%s", id, h.hub.name, want, body)
			}
		}
		if strings.Contains(body, "3201010101010001") {
			t.Errorf("the Buku Tamu on %s shows the guest's NIK in clear", h.hub.name)
		}
	}

	// a door rule through the replicas: a permit issued through replica
	// 1 (its escort the last change there), revoked on replica 2, which
	// must know it issued and sign the revocation for the door: refused
	// at the door, the denial on both
	alone := issueVia(r[0], r[1], r[0], e2eAlone, "now", "now+4h")
	before = x.taken()
	r[1].must("kasi", "permit", "revoke", alone, "--reason", "work cancelled")
	x.waitTaken(before, "the revocation from replica 2")
	mark := x.lastSeq()
	x.tap("entry", e2eAlone)
	x.tap("entry", e2eEscort)
	for _, h := range r {
		if e := h.waitDenied(mark); e.Reason != wire.ReasonRevoked || e.Permit != alone {
			t.Errorf("the revoked permit at the door, on %s: %+v; want access.denied, revoked, for %s", h.hub.name, e, alone)
		}
	}
	if rl := x.relay(); rl != "locked" {
		t.Errorf("relay %s after the revoked permit's taps; want locked", rl)
	}
	if p := mustJSON[api.Permit](r[0], "kasi", "permit", "show", alone); p.State != workflow.Revoked {
		t.Errorf("permit %s on %s after the revocation on %s: %s", alone, r[0].hub.name, r[1].hub.name, p.State)
	}
	same("kasi", "guestbook", "--csv")
	same("kasi", "sla")

	x.checkLogs(e2eEscort, e2eVisit, e2eAlone)
	t.Logf("two replicas up and the escort at the door in %v; the SOP through both in %v in all",
		ready.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// checkVisitCSV checks the guest book CSV's row of permit id against its
// row from the API: the paper book's columns, the NIK masked, the times
// of entry, exit and the room secured.
func checkVisitCSV(t *testing.T, book, id string, row api.GuestRow) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(book)).ReadAll()
	if err != nil || len(recs) < 2 || !slices.Equal(recs[0], workflow.CSVHeader) {
		t.Fatalf("the guest book CSV (%v):\n%s", err, book)
	}
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	want := []string{id, "Tamu 01", "3201**********01", "PT Contoh", "maintenance", "server", "S-004", "kasi",
		rfc(row.Entered), rfc(row.Exited), rfc(row.Secured), "laptop", ""}
	for _, rec := range recs[1:] {
		if rec[0] == id {
			if !slices.Equal(rec, want) {
				t.Errorf("the guest book CSV's row of %s:\n%q\nwant\n%q", id, rec, want)
			}
			return
		}
	}
	t.Errorf("the guest book CSV has no row of %s:\n%s", id, book)
}
