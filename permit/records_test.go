package permit_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// Fingerprints of the records below; any 64 lower-case hex digits will do.
const (
	guestCard permit.Fingerprint = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	staffCard permit.Fingerprint = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

var (
	windowStart = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	windowEnd   = time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
)

func validPermit() *permit.Permit {
	return &permit.Permit{
		ID:         "P-0012",
		Version:    3,
		Site:       "demo",
		Door:       "server-room",
		Card:       guestCard,
		Escort:     "S-004",
		Category:   permit.Network,
		NotBefore:  windowStart,
		NotAfter:   windowEnd,
		Entries:    2,
		ApprovedBy: "head-ict",
		ApprovedAt: windowStart.Add(-time.Hour),
	}
}

func validRevocation() *permit.Revocation {
	return &permit.Revocation{
		Permit:  "P-0012",
		Version: 4,
		Site:    "demo",
		Door:    "server-room",
		At:      windowStart.Add(time.Hour),
		By:      "head-ict",
		Reason:  "visit cancelled",
	}
}

func validStaff() *permit.Staff {
	return &permit.Staff{
		ID:      "S-004",
		Version: 1,
		Site:    "demo",
		Doors:   []string{"server-room", "noc"},
		Cards:   []permit.Fingerprint{staffCard},
		Escort:  true,
	}
}

// idCases are ids that CheckID must accept (ok) or refuse.
var idCases = []struct {
	id string
	ok bool
}{
	{"a", true},
	{"P-0012", true},
	{"server_room.2", true},
	{"0", true},
	{strings.Repeat("x", 64), true},
	{"", false},
	{strings.Repeat("x", 65), false},
	{"-lead", false},
	{".hidden", false},
	{"_x", false},
	{"a/b", false},
	{"a+", false},
	{"a#", false},
	{"a b", false},
	{"a\n", false},
	{"pintu-é", false},
	{"a\x00", false},
}

func TestCheckID(t *testing.T) {
	for _, tt := range idCases {
		err := permit.CheckID("door", tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("CheckID(door, %q) = %v; want ok %v", tt.id, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, permit.ErrInvalid) || !strings.Contains(err.Error(), "door")) {
			t.Errorf("CheckID(door, %q) = %v; want ErrInvalid naming the field", tt.id, err)
		}
	}
}

// checkValidate compares the result of a Validate with want: "" for no
// error, otherwise a part of the error message, which must wrap ErrInvalid.
func checkValidate(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s.Validate() = %v; want nil", what, err)
	case want != "" && err == nil:
		t.Errorf("%s.Validate() = nil; want error containing %q", what, want)
	case want != "" && !errors.Is(err, permit.ErrInvalid):
		t.Errorf("%s.Validate() = %v; want it to wrap ErrInvalid", what, err)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s.Validate() = %v; want error containing %q", what, err, want)
	}
}

func TestPermitValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *permit.Permit)
		want   string
	}{
		{"valid", func(p *permit.Permit) {}, ""},
		{"server category", func(p *permit.Permit) { p.Category = permit.Server }, ""},
		{"any number of entries", func(p *permit.Permit) { p.Entries = 0 }, ""},
		{"one entry", func(p *permit.Permit) { p.Entries = 1 }, ""},
		{"one nanosecond window", func(p *permit.Permit) { p.NotAfter = p.NotBefore.Add(1) }, ""},
		{"approval time not required", func(p *permit.Permit) { p.ApprovedAt = time.Time{} }, ""},
		{"max version", func(p *permit.Permit) { p.Version = ^uint64(0) }, ""},

		{"empty id", func(p *permit.Permit) { p.ID = "" }, "permit id"},
		{"id with slash", func(p *permit.Permit) { p.ID = "P/1" }, "permit id"},
		{"id with MQTT wildcard", func(p *permit.Permit) { p.ID = "P+" }, "permit id"},
		{"id too long", func(p *permit.Permit) { p.ID = strings.Repeat("P", 65) }, "permit id"},
		{"empty site", func(p *permit.Permit) { p.Site = "" }, "permit site"},
		{"site with slash", func(p *permit.Permit) { p.Site = "demo/x" }, "permit site"},
		{"empty door", func(p *permit.Permit) { p.Door = "" }, "permit door"},
		{"door with hash", func(p *permit.Permit) { p.Door = "#" }, "permit door"},
		{"no escort", func(p *permit.Permit) { p.Escort = "" }, "permit escort"},
		{"escort with space", func(p *permit.Permit) { p.Escort = "S 004" }, "permit escort"},
		{"version 0", func(p *permit.Permit) { p.Version = 0 }, "version"},
		{"no card", func(p *permit.Permit) { p.Card = "" }, "card"},
		{"short card", func(p *permit.Permit) { p.Card = p.Card[:63] }, "card"},
		{"long card", func(p *permit.Permit) { p.Card += "0" }, "card"},
		{"upper-case card", func(p *permit.Permit) { p.Card = permit.Fingerprint(strings.ToUpper(string(p.Card))) }, "not lower-case hex"},
		{"non-hex card", func(p *permit.Permit) { p.Card = p.Card[:63] + "g" }, "not lower-case hex"},
		{"raw UID as card", func(p *permit.Permit) { p.Card = "04a1b2c3d4e5f6" }, "card"},
		{"no category", func(p *permit.Permit) { p.Category = "" }, "category"},
		{"capitalised category", func(p *permit.Permit) { p.Category = "Network" }, "category"},
		{"unknown category", func(p *permit.Permit) { p.Category = "power" }, "category"},
		{"no start", func(p *permit.Permit) { p.NotBefore = time.Time{} }, "window"},
		{"no end", func(p *permit.Permit) { p.NotAfter = time.Time{} }, "window"},
		{"empty window", func(p *permit.Permit) { p.NotAfter = p.NotBefore }, "window"},
		{"reversed window", func(p *permit.Permit) { p.NotBefore, p.NotAfter = p.NotAfter, p.NotBefore }, "window"},
		{"negative entries", func(p *permit.Permit) { p.Entries = -1 }, "entries"},
		{"not approved", func(p *permit.Permit) { p.ApprovedBy = "" }, "not approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPermit()
			tt.change(p)
			checkValidate(t, fmt.Sprintf("%+v", *p), p.Validate(), tt.want)
		})
	}
}

func TestRevocationValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *permit.Revocation)
		want   string
	}{
		{"valid", func(r *permit.Revocation) {}, ""},
		{"no reason", func(r *permit.Revocation) { r.Reason = "" }, ""},
		{"empty permit", func(r *permit.Revocation) { r.Permit = "" }, "revocation permit"},
		{"permit with slash", func(r *permit.Revocation) { r.Permit = "P/1" }, "revocation permit"},
		{"empty site", func(r *permit.Revocation) { r.Site = "" }, "revocation site"},
		{"site with space", func(r *permit.Revocation) { r.Site = "de mo" }, "revocation site"},
		{"empty door", func(r *permit.Revocation) { r.Door = "" }, "revocation door"},
		{"door starting with dash", func(r *permit.Revocation) { r.Door = "-x" }, "revocation door"},
		{"version 0", func(r *permit.Revocation) { r.Version = 0 }, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRevocation()
			tt.change(r)
			checkValidate(t, fmt.Sprintf("%+v", *r), r.Validate(), tt.want)
		})
	}
}

func TestStaffValidate(t *testing.T) {
	cards := func(n int) []permit.Fingerprint {
		c := make([]permit.Fingerprint, n)
		for i := range c {
			c[i] = staffCard
		}
		return c
	}
	tests := []struct {
		name   string
		change func(s *permit.Staff)
		want   string
	}{
		{"valid", func(s *permit.Staff) {}, ""},
		{"every door", func(s *permit.Staff) { s.Doors = nil }, ""},
		{"no card", func(s *permit.Staff) { s.Cards = nil }, ""},
		{"8 cards", func(s *permit.Staff) { s.Cards = cards(8) }, ""},
		{"no rights", func(s *permit.Staff) { s.Escort, s.Solo = false, false }, ""},
		{"solo", func(s *permit.Staff) { s.Solo = true }, ""},
		{"disabled", func(s *permit.Staff) { s.Disabled = true }, ""},

		{"empty id", func(s *permit.Staff) { s.ID = "" }, "staff id"},
		{"id with slash", func(s *permit.Staff) { s.ID = "S/4" }, "staff id"},
		{"empty site", func(s *permit.Staff) { s.Site = "" }, "staff site"},
		{"site too long", func(s *permit.Staff) { s.Site = strings.Repeat("s", 65) }, "staff site"},
		{"version 0", func(s *permit.Staff) { s.Version = 0 }, "version"},
		{"empty door", func(s *permit.Staff) { s.Doors = []string{"server-room", ""} }, "doors[1]"},
		{"door with wildcard", func(s *permit.Staff) { s.Doors = []string{"+"} }, "doors[0]"},
		{"9 cards", func(s *permit.Staff) { s.Cards = cards(9) }, "9 cards"},
		{"empty card", func(s *permit.Staff) { s.Cards = []permit.Fingerprint{staffCard, ""} }, "cards[1]"},
		{"upper-case card", func(s *permit.Staff) {
			s.Cards = []permit.Fingerprint{permit.Fingerprint(strings.ToUpper(string(staffCard)))}
		}, "cards[0]"},
		{"raw UID as card", func(s *permit.Staff) { s.Cards = []permit.Fingerprint{"04A1B2C3"} }, "cards[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validStaff()
			tt.change(s)
			checkValidate(t, fmt.Sprintf("%+v", *s), s.Validate(), tt.want)
		})
	}
}

func TestStaffAllowsDoor(t *testing.T) {
	tests := []struct {
		doors []string
		door  string
		want  bool
	}{
		{nil, "server-room", true},
		{[]string{}, "anything", true},
		{[]string{"server-room"}, "server-room", true},
		{[]string{"noc", "server-room"}, "server-room", true},
		{[]string{"noc", "server-room"}, "lab", false},
		{[]string{"server-room"}, "Server-Room", false},
		{[]string{"server-room"}, "server-room ", false},
		{[]string{"server-room"}, "", false},
		{[]string{"server-room"}, "server", false},
	}
	for _, tt := range tests {
		s := validStaff()
		s.Doors = tt.doors
		if got := s.AllowsDoor(tt.door); got != tt.want {
			t.Errorf("Staff{Doors: %q}.AllowsDoor(%q) = %v; want %v", tt.doors, tt.door, got, tt.want)
		}
	}
}

func TestCommandValidate(t *testing.T) {
	good := func() *permit.Command {
		return &permit.Command{ID: "C-1", Site: "demo", Door: "server-room", Name: wire.CmdLockdown,
			Issued: windowStart, Expires: windowStart.Add(time.Minute), By: "admin"}
	}
	tests := []struct {
		name string
		edit func(*permit.Command)
		ok   bool
	}{
		{"valid", func(*permit.Command) {}, true},
		{"every name", func(c *permit.Command) { c.Name = wire.CmdUnlockOnce }, true},
		{"unknown name", func(c *permit.Command) { c.Name = "open-sesame" }, false},
		{"bad id", func(c *permit.Command) { c.ID = "C 1" }, false},
		{"bad door", func(c *permit.Command) { c.Door = "" }, false},
		{"expires before issue", func(c *permit.Command) { c.Expires = windowStart.Add(-time.Second) }, false},
		{"expires too late", func(c *permit.Command) { c.Expires = windowStart.Add(permit.MaxCommandLife + time.Second) }, false},
		{"no issue time", func(c *permit.Command) { c.Issued = time.Time{} }, false},
		{"no issuer", func(c *permit.Command) { c.By = "" }, false},
	}
	for _, tt := range tests {
		c := good()
		tt.edit(c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}
