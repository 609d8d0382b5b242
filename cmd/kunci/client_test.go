package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	wib := time.FixedZone("WIB", 7*3600)
	now := time.Date(2026, 11, 28, 9, 30, 15, 500_000_000, wib)
	sec := now.Truncate(time.Second)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"now", sec},
		{" now ", sec},
		{"now+2h", sec.Add(2 * time.Hour)},
		{"+2h", sec.Add(2 * time.Hour)},
		{"now-30m", sec.Add(-30 * time.Minute)},
		{"-90s", sec.Add(-90 * time.Second)},
		{"now+1d", sec.Add(24 * time.Hour)},
		{"-3d", sec.Add(-72 * time.Hour)},
		{"now+1h30m", sec.Add(90 * time.Minute)},
		{"2026-11-28T10:00:00+07:00", time.Date(2026, 11, 28, 10, 0, 0, 0, wib)},
		{"2026-11-28T03:00:00Z", time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)},
		{"2026-11-28 10:00", time.Date(2026, 11, 28, 10, 0, 0, 0, wib)},
		{"2026-11-28T10:00", time.Date(2026, 11, 28, 10, 0, 0, 0, wib)},
		{"2026-11-28 10:00:05", time.Date(2026, 11, 28, 10, 0, 5, 0, wib)},
		{"2026-11-29", time.Date(2026, 11, 29, 0, 0, 0, 0, wib)},
	} {
		got, err := parseTime(c.in, now, wib)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "now*2", "nowish", "now+", "+2x", "now+-2h", "+1.5d", "2026-13-01", "10:00", "+99999d"} {
		if got, err := parseTime(bad, now, wib); err == nil {
			t.Errorf("parseTime(%q) = %v; want an error", bad, got)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "now+2h", "-30m", "+1d", "2026-11-28T10:00:00+07:00", "2026-11-28 10:00", "2026-11-29", "tomorrow"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s, now, time.UTC)
		if err != nil {
			return
		}
		// whatever it accepts reads back the same from the RFC 3339 the hub gets
		back, err := parseTime(got.Format(time.RFC3339Nano), now, time.UTC)
		if err != nil || !back.Equal(got) {
			t.Fatalf("parseTime(%q) = %v; its RFC 3339 reads back as %v, %v", s, got, back, err)
		}
	})
}

// noEnv clears the client's environment for the test.
func noEnv(t *testing.T) {
	t.Setenv("KUNCI_HUB", "")
	t.Setenv("KUNCI_TOKEN", "")
}

func TestClientMissingToken(t *testing.T) {
	noEnv(t)
	for _, args := range [][]string{
		{"status"},
		{"permit", "approve", "P-000001"},
		{"guestbook", "--csv"},
		{"watch"},
		{"token", "list"},
	} {
		_, _, err := invoke(t, args...)
		if err == nil || !strings.Contains(err.Error(), "no API token") || !strings.Contains(err.Error(), "kunci dev") ||
			!strings.Contains(err.Error(), "--token") || !strings.Contains(err.Error(), "KUNCI_TOKEN") {
			t.Errorf("%q: %v; want no API token, how to give one and that kunci dev prints one", args, err)
		}
	}
	empty := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := invoke(t, "status", "--token-file", empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty --token-file: %v; want it called empty", err)
	}
	if _, _, err := invoke(t, "status", "--token-file", empty+".missing"); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("a missing --token-file: %v; want the flag named", err)
	}
}

// TestClientBadFlags: mistakes caught before the hub is asked, each
// naming what is wrong.
func TestClientBadFlags(t *testing.T) {
	noEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"permit"}, "request, coordinate, approve"},
		{[]string{"permit", "aprove", "P-1"}, `unknown "aprove"`},
		{[]string{"permit", "approve"}, "which permit id?"},
		{[]string{"permit", "approve", "P-1", "P-2"}, `unexpected "P-2"`},
		{[]string{"permit", "approve", "P-1", "--id", "P-2"}, `"P-1" and --id "P-2"`},
		{[]string{"permit", "approve", "P-1", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"permit", "coordinate", "P-1"}, "missing --category"},
		{[]string{"permit", "coordinate", "P-1", "--category", "power"}, `--category "power": want network or server`},
		{[]string{"permit", "escort", "P-1"}, "missing --staff"},
		{[]string{"permit", "reject", "P-1"}, "missing --reason"},
		{[]string{"permit", "request", "--site", "demo", "--from", "now"},
			"missing --door, --guest, --nik, --org, --purpose, --until, --card"},
		{[]string{"permit", "request", "--from", "tomorrow"}, `invalid value "tomorrow" for flag -from`},
		{[]string{"permit", "request", "--entries", "many"}, "invalid value"},
		{[]string{"staff", "add", "--id", "S-1"}, "missing --name, --site, --card"},
		{[]string{"staff", "remove"}, `unknown "remove"; want add or list`},
		{[]string{"guestbook", "--csv", "--json"}, "--csv or --json"},
		{[]string{"guestbook", "demo"}, `unexpected "demo"`},
		{[]string{"sla", "--to", "yesterday"}, `invalid value "yesterday" for flag -to`},
		{[]string{"door", "open", "demo/server-room"}, `unknown "open"; want lockdown, release, unlock-once or resync`},
		{[]string{"door", "lockdown"}, "which door (site/door)?"},
		{[]string{"door", "lockdown", "server-room"}, `door "server-room": want site/door`},
		{[]string{"door", "lockdown", "--door", "demo/a/b"}, `want site/door`},
		{[]string{"token", "add", "--name", "desk"}, "missing --role"},
		{[]string{"token", "revoke"}, "which token id?"},
		{[]string{"status", "--hub", "ftp://hub"}, `--hub "ftp://hub": want a URL like http://127.0.0.1:8080`},
	} {
		_, _, err := invoke(t, append(c.args, "--token", "t0")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want %q", c.args, err, c.want)
		}
	}
}

// TestClientUnreachable: a hub that is not there is named, with the way
// to start one.
func TestClientUnreachable(t *testing.T) {
	noEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"status"}, {"watch"}, {"guestbook", "--csv"}, {"permit", "list"}} {
		_, _, err := invoke(t, append(args, "--hub", url, "--token", "t0")...)
		if err == nil || !strings.Contains(err.Error(), "cannot reach the hub at "+url) ||
			!strings.Contains(err.Error(), "kunci dev") || !strings.Contains(err.Error(), "--hub") {
			t.Errorf("%q: %v; want the hub's URL named, kunci dev and --hub suggested", args, err)
		}
	}
	// KUNCI_HUB is the default of --hub
	t.Setenv("KUNCI_HUB", url)
	if _, _, err := invoke(t, "status", "--token", "t0"); err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("KUNCI_HUB=%s: %v; want it used", url, err)
	}
}
