package timeflag_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/internal/timeflag"
)

func TestParse(t *testing.T) {
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
		got, err := timeflag.Parse(c.in, now, wib)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "now*2", "nowish", "now+", "+2x", "now+-2h", "+1.5d", "2026-13-01", "10:00", "+99999d"} {
		if got, err := timeflag.Parse(bad, now, wib); err == nil {
			t.Errorf("Parse(%q) = %v; want an error", bad, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"now", "now+2h", "-30m", "+1d", "2026-11-28T10:00:00+07:00", "2026-11-28 10:00", "2026-11-29", "tomorrow"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := timeflag.Parse(s, now, time.UTC)
		if err != nil {
			return
		}
		// whatever it accepts reads back the same from the RFC 3339 the hub gets
		back, err := timeflag.Parse(got.Format(time.RFC3339Nano), now, time.UTC)
		if err != nil || !back.Equal(got) {
			t.Fatalf("Parse(%q) = %v; its RFC 3339 reads back as %v, %v", s, got, back, err)
		}
	})
}

func TestParseSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{"2h30m": 150 * time.Minute, "0s": 0, "3d": 72 * time.Hour, "0d": 0} {
		if got, err := timeflag.ParseSpan(in); err != nil || got != want {
			t.Errorf("ParseSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-2h", "-1d", "1.5d", "d", "3651d", "soon"} {
		if got, err := timeflag.ParseSpan(bad); err == nil {
			t.Errorf("ParseSpan(%q) = %v; want an error", bad, got)
		}
	}
}

// TestVar: the flag reads its time when set, against its clock and zone,
// says what it takes in -h, and a bad time is the flag's error.
func TestVar(t *testing.T) {
	wib := time.FixedZone("WIB", 7*3600)
	now := time.Date(2026, 11, 28, 9, 30, 15, 0, wib)
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from, until := timeflag.Var(fs, "from", "start"), timeflag.Var(fs, "until", "end")
	for _, v := range []*timeflag.Value{from, until} {
		v.Now, v.Loc = func() time.Time { return now }, wib
	}
	if err := fs.Parse([]string{"--from", "2026-11-28 10:00"}); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 28, 10, 0, 0, 0, wib); !from.Time().Equal(want) || from.String() != "2026-11-28T10:00:00+07:00" {
		t.Errorf("--from 2026-11-28 10:00 = %v (%s); want %v", from.Time(), from, want)
	}
	if !until.Time().IsZero() || until.String() != "" {
		t.Errorf("--until unset = %v (%q); want zero", until.Time(), until)
	}
	if err := fs.Parse([]string{"--until", "+1d"}); err != nil || !until.Time().Equal(now.Add(24*time.Hour)) {
		t.Errorf("--until +1d = %v, %v; want %v", until.Time(), err, now.Add(24*time.Hour))
	}
	if err := fs.Parse([]string{"--until", "tomorrow"}); err == nil || !strings.Contains(err.Error(), `invalid value "tomorrow" for flag -until`) {
		t.Errorf("--until tomorrow: %v; want the flag's error", err)
	}
	var help strings.Builder
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if want := "  -from time\n    \tstart: RFC 3339"; !strings.HasPrefix(help.String(), want) || strings.Contains(help.String(), "default") {
		t.Errorf("PrintDefaults:\n%s\nwant it to begin %q and show no default", &help, want)
	}
	var unset *timeflag.Value
	if unset.String() != "" {
		t.Errorf("a nil Value's String = %q; want empty", unset.String())
	}
}
