package workflow

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
)

// The review's hostile text (issue 13), one per field of a request: each
// is refused as a permit.TextError naming the field, and nothing is stored.
func TestRequestRefusesHiddenText(t *testing.T) {
	for _, c := range []struct {
		field string
		set   func(r *Request)
	}{
		{"guest", func(r *Request) { r.Guest = "Rina\u001b[2J\u001b]0;pwn\u0007" }},
		{"organisation", func(r *Request) { r.Organisation = "Org\nP-9999,fake row" }},
		{"guest", func(r *Request) { r.Guest = "Rina\u202eanaS" }},
		{"purpose", func(r *Request) { r.Purpose = "fix\r\nfake" }},
		{"purpose", func(r *Request) { r.Purpose = "fix \u2067x\u2069" }},
		{"phone", func(r *Request) { r.Phone = "0812\u0007" }},
		{"equipment[1]", func(r *Request) { r.Equipment = []string{"laptop", "cable\u009b2J"} }},
		{"guest", func(r *Request) { r.Guest = strings.Repeat("A", 900_000) }},
		{"organisation", func(r *Request) { r.Organisation = strings.Repeat("o", permit.MaxOrganisation+1) }},
		{"purpose", func(r *Request) { r.Purpose = strings.Repeat("p", permit.MaxPurpose+1) }},
	} {
		f := newFixture(t)
		req := sampleRequest()
		c.set(&req)
		_, err := f.s.Request(req)
		var te *permit.TextError
		if !errors.As(err, &te) || te.Field != c.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("Request with a bad %s = %v; want an ErrInvalid and a TextError naming %s", c.field, err, c.field)
		}
		if list, _ := f.s.List(); len(list) != 0 {
			t.Errorf("bad %s: %d records stored; want none", c.field, len(list))
		}
	}
	// a purpose may have several lines
	f := newFixture(t)
	req := sampleRequest()
	req.Purpose = "replace the PSU\ncheck the fans"
	if _, err := f.s.Request(req); err != nil {
		t.Errorf("a purpose of two lines: %v", err)
	}
}

func TestRequestPolicyLimits(t *testing.T) {
	for _, c := range []struct {
		what, want string
		set        func(r *Request)
	}{
		{"until 9999-12-31", "max_permit_window", func(r *Request) { r.NotAfter = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"401 days", "max_permit_window", func(r *Request) { r.NotAfter = r.NotBefore.Add(401 * 24 * time.Hour) }},
		{"entries beyond the bound", "entries", func(r *Request) { r.Entries = MaxEntries + 1 }},
		{"too much equipment", "equipment", func(r *Request) { r.Equipment = make([]string, permit.MaxEquipments+1) }},
		{"a phone with letters", "phone", func(r *Request) { r.Phone = "call me" }},
		{"a card of a megabyte", "card", func(r *Request) { r.CardUID = strings.Repeat("0A", 500_000) }},
	} {
		f := newFixture(t) // a window of at most 400 days
		req := sampleRequest()
		c.set(&req)
		if _, err := f.s.Request(req); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want ErrInvalid naming %s", c.what, err, c.want)
		}
	}
	f := newFixture(t)
	req := sampleRequest()
	req.NotAfter, req.Entries = req.NotBefore.Add(400*24*time.Hour), MaxEntries
	if _, err := f.s.Request(req); err != nil {
		t.Errorf("the longest window and the most entries: %v", err)
	}
}

func TestDefaultMaxWindow(t *testing.T) {
	s, err := Open(t.TempDir()+"/wf.db", Options{SiteKeys: map[string]permit.SiteKey{"demo": permit.SiteKey(strings.Repeat("k", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := sampleRequest()
	req.NotAfter = req.NotBefore.Add(DefaultMaxWindow)
	if _, err := s.Request(req); err != nil {
		t.Errorf("a window of DefaultMaxWindow: %v", err)
	}
	req.NotAfter = req.NotAfter.Add(time.Second)
	if _, err := s.Request(req); !errors.Is(err, ErrInvalid) {
		t.Errorf("a window a second beyond DefaultMaxWindow: %v; want ErrInvalid", err)
	}
}

func TestReasonsAndNamesRefuseHiddenText(t *testing.T) {
	f := newFixture(t)
	r, err := f.s.Request(sampleRequest())
	if err != nil {
		t.Fatal(err)
	}
	var te *permit.TextError
	if _, err := f.s.Reject(r.ID, "kasi", "no\u001b[2J"); !errors.As(err, &te) || te.Field != "reason" {
		t.Errorf("Reject with ESC in the reason = %v; want a TextError of reason", err)
	}
	if _, err := f.s.Reject(r.ID, "kasi", strings.Repeat("x", permit.MaxNote+1)); !errors.As(err, &te) {
		t.Errorf("Reject with a reason too long = %v; want a TextError", err)
	}
	if got, _ := f.s.Get(r.ID); got.State != Requested {
		t.Errorf("after refused rejections the permit is %s; want requested", got.State)
	}
	for _, a := range []action{coordinate, approve, escort, sign} {
		if err := a.do(f.s, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.s.Revoke(r.ID, "kasi", "done\u202e"); !errors.As(err, &te) || te.Field != "reason" {
		t.Errorf("Revoke with U+202E in the reason = %v; want a TextError of reason", err)
	}
	if _, err := f.s.PutStaff(StaffMember{ID: "S-009", Name: "Budi\u0007", Site: "demo"}, "admin"); !errors.As(err, &te) || te.Field != "name" {
		t.Errorf("PutStaff with BEL in the name = %v; want a TextError of name", err)
	}
}

// The review's "Dual approved a request filed by dual": an actor is one
// whatever the case of the name (permit.ActorKey).
func TestSelfApprovalUnderAnotherSpelling(t *testing.T) {
	for _, approver := range []string{"dual", "Dual", "DUAL", " dual ", "\u212Aasi"} {
		f := newFixture(t)
		req := sampleRequest()
		req.By = "dual"
		if approver == "\u212Aasi" {
			req.By = "kasi"
		}
		r, err := f.s.Request(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := coordinate.do(f.s, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Approve(r.ID, approver); !errors.Is(err, ErrSelfApproval) {
			t.Errorf("Approve by %q of a request filed by %q = %v; want ErrSelfApproval", approver, req.By, err)
		}
	}
}
