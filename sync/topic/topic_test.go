package topic

import "testing"

func TestParse(t *testing.T) {
	d, err := New("", "demo", "server-room")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		kind Kind
		id   string
	}{
		{d.Status(), KindStatus, ""},
		{d.Availability(), KindAvailability, ""},
		{d.Events(), KindEvents, ""},
		{d.EventsAck(), KindEventsAck, ""},
		{d.Permit("P-0012"), KindPermit, "P-0012"},
		{d.Staff("S-004"), KindStaff, "S-004"},
		{d.Cmd(), KindCmd, ""},
		{"kunci/v1/demo/server-room/permits/", Unknown, ""},
		{"kunci/v1/demo/server-room/permits/a/b", Unknown, ""},
		{"kunci/v2/demo/server-room/status", Unknown, ""},
		{"kunci/v1//server-room/status", Unknown, ""},
		{"kunci/v1/demo", Unknown, ""},
	}
	for _, tt := range tests {
		site, door, kind, id := Parse(DefaultPrefix, tt.in)
		if kind != tt.kind || id != tt.id || kind != Unknown && (site != "demo" || door != "server-room") {
			t.Errorf("Parse(%q) = %q, %q, %v, %q; want kind %v id %q", tt.in, site, door, kind, id, tt.kind, tt.id)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range [][3]string{{"a/+", "s", "d"}, {"a/", "s", "d"}, {"", "s/x", "d"}, {"", "s", "#"}, {"", "", "d"}} {
		if _, err := New(c[0], c[1], c[2]); err == nil {
			t.Errorf("New(%q, %q, %q) = nil error", c[0], c[1], c[2])
		}
	}
}
