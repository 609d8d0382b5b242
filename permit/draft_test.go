package permit_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
)

// A draft's cards become the site key's fingerprints of their UIDs; the
// rest is the draft's, the approval time to the second.
func TestDrafts(t *testing.T) {
	k := permit.SiteKey("0123456789abcdef0123456789abcdef")
	fp := func(uid string) permit.Fingerprint {
		f, err := k.FingerprintText(uid)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	now := windowStart.Add(-time.Hour + 300*time.Millisecond)
	p, err := permit.PermitDraft{ID: "P-0012", Version: 3, Site: "demo", Door: "server-room", CardUID: "04:a1:b2:c3",
		Escort: "S-004", Category: permit.Network, NotBefore: windowStart, NotAfter: windowEnd, Entries: 2,
		ApprovedBy: "head-ict"}.Permit(k, now)
	want := validPermit()
	want.Card = fp("04A1B2C3")
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("PermitDraft.Permit = %+v, %v; want %+v", p, err, want)
	}
	s, err := permit.StaffDraft{ID: "S-004", Version: 1, Site: "demo", Doors: []string{"server-room"},
		CardUIDs: []string{"0A0B0C0D", "04E5F6A1B2C3D4"}, Escort: true}.Staff(k)
	wantS := &permit.Staff{ID: "S-004", Version: 1, Site: "demo", Doors: []string{"server-room"},
		Cards: []permit.Fingerprint{fp("0A0B0C0D"), fp("04E5F6A1B2C3D4")}, Escort: true}
	if err != nil || !reflect.DeepEqual(s, wantS) {
		t.Errorf("StaffDraft.Staff = %+v, %v; want %+v", s, err, wantS)
	}

	if _, err := (permit.PermitDraft{CardUID: "8877AA"}).Permit(k, now); !errors.Is(err, permit.ErrUID) {
		t.Errorf("a permit draft with a 3-byte card = %v; want ErrUID", err)
	}
	if _, err := (permit.StaffDraft{CardUIDs: []string{"0A0B0C0D", "zz"}}).Staff(k); !errors.Is(err, permit.ErrUID) {
		t.Errorf("a staff draft with a card not in hex = %v; want ErrUID", err)
	}
}
