package workflow

import (
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/kv/kvtest"
	"github.com/kunci-project/kunci/hub/kv/pgkv"
	"github.com/kunci-project/kunci/permit"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

type fixture struct {
	s       *Store
	reopen  func(Options) (*Store, error) // opens s's store again
	clock   time.Time
	keyring permit.Keyring
}

// place makes a place for a store for t and returns its opener: a bbolt
// file, or a PostgreSQL database with the keys in it under
// TestOnPostgres.
func place(t testing.TB) func(Options) (*Store, error) {
	t.Helper()
	if !kvtest.OnPostgres(t) {
		path := filepath.Join(t.TempDir(), "wf.db")
		return func(o Options) (*Store, error) { return Open(path, o) }
	}
	open := kvtest.Postgres(t)
	return func(o Options) (*Store, error) {
		db, err := open()
		if err != nil {
			return nil, err
		}
		o.Keys, o.KeysPath = db.(*pgkv.DB).Keys(), ""
		s, err := OpenDB(db, o)
		if err != nil {
			db.Close()
		}
		return s, err
	}
}

// TestOnPostgres runs the store's tests again on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	kvtest.RunOnPostgres(t, TestTransitions, TestRefusals, TestRequestValidation, TestFullLifeSignedAndOrdered,
		TestStaffRegister, TestPurge, TestPurgeRefusesShortRetention, TestPurgedGuestBook, TestLostKeyReadsUnreadable,
		TestRequestRefusesHiddenText, TestRequestPolicyLimits, TestReasonsAndNamesRefuseHiddenText,
		TestSelfApprovalUnderAnotherSpelling, TestDigests)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	priv, err := permit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: t0, keyring: permit.Keyring{}, reopen: place(t)}
	if err := f.keyring.Add(priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	s, err := f.reopen(Options{
		SiteKeys: map[string]permit.SiteKey{"demo": permit.SiteKey(strings.Repeat("k", 32))},
		Signer:   permit.NewSigner(priv),
		Now:      func() time.Time { f.clock = f.clock.Add(time.Minute); return f.clock },
		// the retention's tests hold a permit a year long, as a site may
		// configure (the default is DefaultMaxWindow)
		MaxWindow: 400 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.s = s
	for _, m := range []StaffMember{
		{ID: "S-004", Name: "Budi", Site: "demo", Escort: true},
		{ID: "S-005", Name: "Sari", Site: "demo", Solo: true},
		{ID: "S-006", Name: "Dewi", Site: "demo", Escort: true, Doors: []string{"other"}},
		{ID: "S-007", Name: "Eko", Site: "demo", Escort: true, Disabled: true},
	} {
		if _, err := s.PutStaff(m, "admin"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func sampleRequest() Request {
	return Request{
		Site: "demo", Door: "server-room", Guest: "Andi", NIK: "3302011234567890",
		Organisation: "PT Jaringan", Phone: "0812", Purpose: "replace switch", Equipment: []string{"laptop", "switch"},
		NotBefore: t0, NotAfter: t0.Add(8 * time.Hour), CardUID: "04A1B2C3D4E5F6", By: "desk",
		FormOpened: t0.Add(-3 * time.Minute),
	}
}

// action is one workflow step applied to a permit.
type action struct {
	name string
	do   func(s *Store, id string) error
}

var (
	coordinate = action{"coordinate", func(s *Store, id string) error { _, err := s.Coordinate(id, permit.Server, "netadmin"); return err }}
	approve    = action{"approve", func(s *Store, id string) error { _, err := s.Approve(id, "kasi"); return err }}
	escort     = action{"escort", func(s *Store, id string) error { _, err := s.AssignEscort(id, "S-004", "kasi"); return err }}
	sign       = action{"sign", func(s *Store, id string) error { _, _, err := s.Sign(id, "kasi"); return err }}
	reject     = action{"reject", func(s *Store, id string) error { _, err := s.Reject(id, "kasi", "no"); return err }}
	revoke     = action{"revoke", func(s *Store, id string) error { _, _, err := s.Revoke(id, "kasi", "done"); return err }}
)

func TestTransitions(t *testing.T) {
	all := []action{coordinate, approve, escort, sign, reject, revoke}
	// prefix leads the permit to a state; then every action is tried.
	states := []struct {
		state  State
		prefix []action
		ok     map[string]bool
	}{
		{Requested, nil, map[string]bool{"coordinate": true, "reject": true}},
		{Coordinated, []action{coordinate}, map[string]bool{"approve": true, "reject": true}},
		{Approved, []action{coordinate, approve}, map[string]bool{"escort": true, "reject": true}},
		{Escorted, []action{coordinate, approve, escort}, map[string]bool{"escort": true, "sign": true, "reject": true}},
		{Issued, []action{coordinate, approve, escort, sign}, map[string]bool{"escort": true, "sign": true, "revoke": true}},
		{Escorted, []action{coordinate, approve, escort, sign, escort}, map[string]bool{"escort": true, "sign": true, "revoke": true}},
		{Rejected, []action{reject}, map[string]bool{}},
		{Revoked, []action{coordinate, approve, escort, sign, revoke}, map[string]bool{}},
	}
	for _, st := range states {
		for _, a := range all {
			t.Run(string(st.state)+"/"+a.name, func(t *testing.T) {
				f := newFixture(t)
				r, err := f.s.Request(sampleRequest())
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range st.prefix {
					if err := p.do(f.s, r.ID); err != nil {
						t.Fatalf("%s: %v", p.name, err)
					}
				}
				before, _ := f.s.Get(r.ID)
				if before.State != st.state {
					t.Fatalf("state %s, want %s", before.State, st.state)
				}
				err = a.do(f.s, r.ID)
				after, _ := f.s.Get(r.ID)
				if st.ok[a.name] {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if after.Version < before.Version {
						t.Fatalf("version went from %d to %d", before.Version, after.Version)
					}
					return
				}
				if !errors.Is(err, ErrTransition) {
					t.Fatalf("err %v, want ErrTransition", err)
				}
				if after.Version != before.Version || after.State != before.State {
					t.Fatalf("refused action changed the record")
				}
			})
		}
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name string
		do   func(s *Store, id string) error
		want error
	}{
		{"approval by the requester", func(s *Store, id string) error {
			coordinate.do(s, id)
			_, err := s.Approve(id, "desk")
			return err
		}, ErrSelfApproval},
		{"escort without the right", func(s *Store, id string) error {
			coordinate.do(s, id)
			approve.do(s, id)
			_, err := s.AssignEscort(id, "S-005", "kasi")
			return err
		}, ErrNotEscort},
		{"escort of another door", func(s *Store, id string) error {
			coordinate.do(s, id)
			approve.do(s, id)
			_, err := s.AssignEscort(id, "S-006", "kasi")
			return err
		}, ErrNotEscort},
		{"disabled escort", func(s *Store, id string) error {
			coordinate.do(s, id)
			approve.do(s, id)
			_, err := s.AssignEscort(id, "S-007", "kasi")
			return err
		}, ErrNotEscort},
		{"unknown escort", func(s *Store, id string) error {
			coordinate.do(s, id)
			approve.do(s, id)
			_, err := s.AssignEscort(id, "S-999", "kasi")
			return err
		}, ErrNotFound},
		{"bad category", func(s *Store, id string) error {
			_, err := s.Coordinate(id, "power", "netadmin")
			return err
		}, ErrInvalid},
		{"no actor", func(s *Store, id string) error {
			_, err := s.Coordinate(id, permit.Network, " ")
			return err
		}, ErrInvalid},
		{"unknown permit", func(s *Store, id string) error {
			_, err := s.Approve("P-nope", "kasi")
			return err
		}, ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			r, err := f.s.Request(sampleRequest())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.do(f.s, r.ID); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestRequestValidation(t *testing.T) {
	cases := []struct {
		name string
		edit func(r *Request)
		want error
	}{
		{"ok", func(r *Request) {}, nil},
		{"short NIK", func(r *Request) { r.NIK = "1234" }, ErrInvalid},
		{"letters in NIK", func(r *Request) { r.NIK = "33020112345678AB" }, ErrInvalid},
		{"no guest", func(r *Request) { r.Guest = "" }, ErrInvalid},
		{"empty window", func(r *Request) { r.NotAfter = r.NotBefore }, ErrInvalid},
		{"bad door", func(r *Request) { r.Door = "a/b" }, ErrInvalid},
		{"no card", func(r *Request) { r.CardUID = "" }, ErrInvalid},
		{"bad card", func(r *Request) { r.CardUID = "04A1B2" }, ErrInvalid},
		{"unknown site", func(r *Request) { r.Site = "elsewhere" }, ErrNoSiteKey},
		{"no requester", func(r *Request) { r.By = "" }, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			req := sampleRequest()
			c.edit(&req)
			_, err := f.s.Request(req)
			if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
	f := newFixture(t)
	req := sampleRequest()
	req.ID = "P-1"
	if _, err := f.s.Request(req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Request(req); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
}

func TestFullLifeSignedAndOrdered(t *testing.T) {
	f := newFixture(t)
	req := sampleRequest()
	r, err := f.s.Request(req)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "P-000001" {
		t.Fatalf("id %q", r.ID)
	}
	want, _ := permit.SiteKey(strings.Repeat("k", 32)).FingerprintText(req.CardUID)
	if r.Card != want {
		t.Fatalf("card %q, want the fingerprint", r.Card)
	}
	for _, a := range []action{coordinate, approve, escort} {
		if err := a.do(f.s, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	r, doc, err := f.s.Sign(r.ID, "kasi")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.keyring.Decode(doc)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Permit == nil || rec.Permit.Version != r.Version || rec.Permit.Escort != "S-004" || rec.Permit.ApprovedBy != "kasi" || rec.Permit.Category != permit.Server {
		t.Fatalf("signed permit %+v, record version %d", rec.Permit, r.Version)
	}
	v1 := r.Version
	// re-assigning the escort and signing again issues a higher version
	if _, err := f.s.AssignEscort(r.ID, "S-004", "kasi"); err != nil {
		t.Fatal(err)
	}
	r, doc, err = f.s.Sign(r.ID, "kasi")
	if err != nil {
		t.Fatal(err)
	}
	rec, _ = f.keyring.Decode(doc)
	if rec.Permit.Version <= v1 {
		t.Fatalf("version %d after %d", rec.Permit.Version, v1)
	}
	r, doc, err = f.s.Revoke(r.ID, "kasi", "work done")
	if err != nil {
		t.Fatal(err)
	}
	rec, err = f.keyring.Decode(doc)
	if err != nil || rec.Revocation == nil || rec.Revocation.Version <= v1+2 || rec.Revocation.Version != r.Version {
		t.Fatalf("revocation %+v, %v", rec.Revocation, err)
	}
	wantStates := []State{Requested, Coordinated, Approved, Escorted, Issued, Escorted, Issued, Revoked}
	if len(r.History) != len(wantStates) {
		t.Fatalf("history %+v", r.History)
	}
	for i, h := range r.History {
		if h.State != wantStates[i] || h.By == "" || h.Version != uint64(i+1) || (i > 0 && h.At.Before(r.History[i-1].At)) {
			t.Fatalf("history[%d] = %+v", i, h)
		}
	}
	if m := r.Masked(); m.NIK != "3302**********90" {
		t.Fatalf("masked NIK %q", m.NIK)
	}
	if got, _ := f.s.Get(r.ID); got.NIK != req.NIK {
		t.Fatalf("admin view NIK %q", got.NIK)
	}
}

func TestMaskNIK(t *testing.T) {
	for in, want := range map[string]string{
		"3302011234567890": "3302**********90",
		"1234567":          "1234*67",
		"123456":           "******",
		"":                 "",
	} {
		if got := MaskNIK(in); got != want {
			t.Errorf("MaskNIK(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStaffRegister(t *testing.T) {
	f := newFixture(t)
	m, err := f.s.Staff("S-004")
	if err != nil || m.Version != 1 {
		t.Fatalf("%+v %v", m, err)
	}
	card, err := f.s.Fingerprint("demo", "04A1B2C3")
	if err != nil {
		t.Fatal(err)
	}
	m.Cards = append(m.Cards, card)
	if m, err = f.s.PutStaff(m, "admin"); err != nil || m.Version != 2 {
		t.Fatalf("%+v %v", m, err)
	}
	doc, err := f.s.SignStaff("S-004")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.keyring.Decode(doc)
	if err != nil || rec.Staff.Version != 2 || len(rec.Staff.Cards) != 1 {
		t.Fatalf("%+v %v", rec.Staff, err)
	}
	if _, err := f.s.PutStaff(StaffMember{ID: "bad id", Name: "x", Site: "demo"}, "admin"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := f.s.PutStaff(StaffMember{ID: "S-9", Site: "demo"}, "admin"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no name: %v", err)
	}
	list, err := f.s.ListStaff()
	if err != nil || len(list) != 4 {
		t.Fatalf("%d %v", len(list), err)
	}
}

func TestOpenTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wf.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path, Options{Timeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("second open of a locked file succeeded")
	}
	if _, _, err := s.Sign("x", "kasi"); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("sign without key: %v", err)
	}
}
