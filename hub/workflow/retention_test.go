package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/pgtest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// retain is the retention the tests purge with.
const retain = 30 * 24 * time.Hour

const day = 24 * time.Hour

func TestPurgeDue(t *testing.T) {
	now := t0.Add(60 * day)
	closed := func(s State, at time.Time) []Transition {
		return []Transition{{State: Requested, At: t0}, {State: s, At: at}}
	}
	cases := []struct {
		name string
		r    Record
		keep time.Duration
		want bool
	}{
		{"window closed before the retention", Record{State: Issued, NotAfter: now.Add(-retain - time.Hour)}, retain, true},
		{"window closed exactly the retention ago", Record{State: Issued, NotAfter: now.Add(-retain)}, retain, true},
		{"window closed within the retention", Record{State: Issued, NotAfter: now.Add(-retain + time.Hour)}, retain, false},
		{"re-opened after issue, window closed long ago", Record{State: Escorted, NotAfter: now.Add(-2 * retain)}, retain, true},
		{"active permit, no retention", Record{State: Issued, NotAfter: now.Add(time.Minute)}, 0, false},
		{"pending request, no retention", Record{State: Approved, NotAfter: now.Add(time.Minute)}, 0, false},
		{"rejected long ago, window still open", Record{State: Rejected, NotAfter: now.Add(day), History: closed(Rejected, now.Add(-retain))}, retain, true},
		{"revoked lately, window still open", Record{State: Revoked, NotAfter: now.Add(day), History: closed(Revoked, now.Add(-time.Hour))}, retain, false},
		{"revoked lately, window closed long ago", Record{State: Revoked, NotAfter: now.Add(-retain), History: closed(Revoked, now.Add(-time.Hour))}, retain, true},
		{"purged already", Record{State: Issued, NotAfter: now.Add(-2 * retain), Purged: now.Add(-retain)}, retain, false},
	}
	for _, c := range cases {
		if got := purgeDue(&c.r, now.Add(-c.keep)); got != c.want {
			t.Errorf("%s: purgeDue = %v; want %v", c.name, got, c.want)
		}
	}
}

// phone is a phone number no permit field can contain by chance.
const phone = "+62-812-5550-0199"

// inWindow is the sample request with its time window [t0+from, t0+to).
func inWindow(from, to time.Duration) Request {
	r := sampleRequest()
	r.NotBefore, r.NotAfter, r.Phone = t0.Add(from), t0.Add(to), phone
	return r
}

// issue files req and leads it to issued; it returns the signed permit.
func issue(t *testing.T, f *fixture, req Request) (Record, []byte) {
	t.Helper()
	r, err := f.s.Request(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []action{coordinate, approve, escort} {
		if err := a.do(f.s, r.ID); err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
	}
	r, doc, err := f.s.Sign(r.ID, "kasi")
	if err != nil {
		t.Fatal(err)
	}
	return r, doc
}

// byID returns every stored permit request by id.
func byID(t *testing.T, s *Store) map[string]Record {
	t.Helper()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Record{}
	for _, r := range list {
		m[r.ID] = r
	}
	return m
}

// reopen closes f's store and opens its file again, checking the file
// when the test ends.
func reopen(t *testing.T, f *fixture) {
	t.Helper()
	opts := f.s.opts
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := f.reopen(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.File() != nil {
			if err := boltcheck.Check(s.File()); err != nil {
				t.Errorf("%s: %v", s.File().Path(), err)
			}
		}
		s.Close()
	})
	f.s = s
}

// purge runs f.s.Purge with the clock set so that Purge reads now, and
// checks which requests it purged.
func purge(t *testing.T, f *fixture, now time.Time, retention time.Duration, want ...string) PurgeResult {
	t.Helper()
	f.clock = now.Add(-time.Minute) // the fixture's clock ticks a minute a reading
	res, err := f.s.Purge(retention)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Purged, want) {
		t.Fatalf("Purge(%v) at %v purged %v; want %v", retention, now, res.Purged, want)
	}
	return res
}

func TestPurge(t *testing.T) {
	f := newFixture(t)
	ended, doc := issue(t, f, inWindow(0, 8*time.Hour))
	rejected, err := f.s.Request(inWindow(100*day, 101*day))
	if err != nil {
		t.Fatal(err)
	}
	if err := reject.do(f.s, rejected.ID); err != nil {
		t.Fatal(err)
	}
	active, _ := issue(t, f, inWindow(0, 365*day))
	endsLater, _ := issue(t, f, inWindow(0, 10*day))
	pending, err := f.s.Request(inWindow(100*day, 101*day))
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := issue(t, f, inWindow(0, 200*day))
	f.clock = t0.Add(20 * day)
	if err := revoke.do(f.s, revoked.ID); err != nil {
		t.Fatal(err)
	}
	before := byID(t, f.s)
	sealing := map[string][]byte{}
	for _, id := range []string{ended.ID, rejected.ID, active.ID} {
		k, err := f.s.keys.store.Get(id)
		if err != nil || k == nil {
			t.Fatalf("the key of %s: %x, %v", id, k, err)
		}
		sealing[id] = k
	}

	// the first window closed and the rejection came more than the
	// retention ago; the rest ended later or not at all
	now := t0.Add(8*time.Hour + retain + time.Hour)
	res := purge(t, f, now, retain, ended.ID, rejected.ID)
	if kvtest.OnPostgres(t) {
		// the purged requests' keys are gone from the file of the keys'
		// table, not only from its rows; a kept one is there
		path, file := pgtest.RelationFile(t, f.s.db.(*pgkv.DB).Pool().Config().ConnString(), "kv_keys")
		for id, k := range sealing {
			if in := bytes.Contains(file, k); in != (id == active.ID) {
				t.Errorf("the key of %s in %s: %v", id, path, in)
			}
		}
	}
	if res.Examined != len(before) {
		t.Fatalf("examined %d of %d", res.Examined, len(before))
	}
	after := byID(t, f.s)
	for id, b := range before {
		want := b
		if id == ended.ID || id == rejected.ID {
			want.Guest, want.NIK, want.Phone, want.Purged = PurgedGuest, "", "", now
		}
		if got := after[id]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s after the purge:\n%+v\nwant\n%+v", id, got, want)
		}
	}

	// the permit at the door carries no personal data and stays the same
	_, again, err := f.s.Sign(ended.ID, "kasi")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, doc) {
		t.Errorf("the signed permit changed with the purge:\n%s\nwas\n%s", again, doc)
	}
	d, err := f.keyring.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(d.Permit)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{ended.Guest, ended.NIK, phone} {
		if bytes.Contains(j, []byte(v)) {
			t.Errorf("the signed permit %s carries %q", j, v)
		}
	}

	// idempotent: a day later nothing new is due, nothing is touched
	purge(t, f, now.Add(day), retain)
	if got := byID(t, f.s); !reflect.DeepEqual(got, after) {
		t.Errorf("the second purge changed the store")
	}

	reopen(t, f)
	if got := byID(t, f.s); !reflect.DeepEqual(got, after) {
		t.Errorf("the purge did not survive a reopen")
	}
	// near the end of the active window everything else has ended: the
	// shortest retention purges it all but the permit still valid
	purge(t, f, t0.Add(364*day), MinRetention, endsLater.ID, pending.ID, revoked.ID)
	if got, err := f.s.Get(active.ID); err != nil || !reflect.DeepEqual(got, before[active.ID]) {
		t.Errorf("the active permit was touched: %+v, %v", got, err)
	}
}

func TestPurgeRefusesShortRetention(t *testing.T) {
	f := newFixture(t)
	issue(t, f, inWindow(0, 8*time.Hour))
	issue(t, f, inWindow(0, 365*day))
	before := byID(t, f.s)
	for _, keep := range []time.Duration{0, -day, time.Minute, MinRetention - time.Second} {
		f.clock = t0.Add(300 * day)
		if res, err := f.s.Purge(keep); !errors.Is(err, ErrInvalid) || len(res.Purged) != 0 {
			t.Errorf("Purge(%v) = %+v, %v; want ErrInvalid", keep, res, err)
		}
	}
	if got := byID(t, f.s); !reflect.DeepEqual(got, before) {
		t.Errorf("a refused purge changed the store")
	}
	// the visit ended an hour ago: the minimum keeps it for a day
	purge(t, f, t0.Add(9*time.Hour), MinRetention)
}

func TestPurgedGuestBook(t *testing.T) {
	f := newFixture(t)
	r, _ := issue(t, f, inWindow(0, 8*time.Hour))
	purge(t, f, t0.Add(8*time.Hour+retain), retain, r.ID)
	list, err := f.s.List()
	if err != nil {
		t.Fatal(err)
	}
	evs := []wire.Event{
		{Type: wire.EvVisitEntered, Site: "demo", Door: "server-room", Permit: r.ID, Escort: "S-004", At: at(30, 0)},
		{Type: wire.EvVisitExited, Site: "demo", Door: "server-room", Permit: r.ID, Escort: "S-004", At: at(90, 0)},
		{Type: wire.EvSecured, Site: "demo", Door: "server-room", At: at(91, 0)},
	}
	rows := GuestBook(list, Events(evs))
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	got := rows[0]
	if got.Guest != PurgedGuest || got.NIK != "" || got.Organisation != "PT Jaringan" || got.Purpose != "replace switch" ||
		got.Category != permit.Server || got.Escort != "S-004" || got.Approver != "kasi" || len(got.Equipment) != 2 ||
		!got.Entered.Equal(at(30, 0)) || !got.Exited.Equal(at(90, 0)) || !got.Secured.Equal(at(91, 0)) {
		t.Fatalf("purged row %+v", got)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := r.ID + ",(purged),,PT Jaringan,replace switch,server,S-004,kasi,"
	if len(lines) != 2 || !strings.HasPrefix(lines[1], want) {
		t.Fatalf("CSV:\n%s\nwant a row starting %s", buf.String(), want)
	}
}
