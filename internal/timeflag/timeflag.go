package timeflag

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Help is the usage of every time flag, after what the flag is for; its
// `time` names the flag's argument in flag.PrintDefaults.
const Help = "RFC 3339 (2026-11-28T09:00:00+07:00), a local `time` (2026-11-28 09:00; a date alone is midnight), now, or an offset from now (+2h, now+2h, -30m, +1d)"

// Parse reads a time: RFC 3339; a date and time without a zone, read in
// loc (2026-11-28 09:00, 2026-11-28T09:00:05); a date, midnight in loc;
// "now"; or an offset from now, a Go duration or whole days, with or
// without "now" before it (+2h, now+2h, now-90m, -1d). Times relative to
// now drop their fraction of a second.
func Parse(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	rest, isNow := strings.CutPrefix(s, "now")
	if isNow || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		now = now.Truncate(time.Second)
		if rest == "" {
			return now, nil
		}
		sign := rest[0]
		if sign != '+' && sign != '-' {
			return time.Time{}, fmt.Errorf("time %q: want now, +2h, now+2h or now-30m", s)
		}
		d, err := ParseSpan(rest[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: %w; want an offset like +8h, now+2h, -30m or +1d", s, err)
		}
		if sign == '-' {
			d = -d
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want %s", s, strings.ReplaceAll(Help, "`", ""))
}

// ParseSpan reads a Go duration (2h30m) or whole days (3d), not negative.
func ParseSpan(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("%q: want whole days, like 3d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want a duration like 2h, 90m or 1d", s)
	}
	return d, nil
}

// Value is a time flag, read by Parse as it is set. Its zero value reads
// against time.Now in time.Local; unset, its Time is zero.
type Value struct {
	Now func() time.Time // the time offsets count from (time.Now)
	Loc *time.Location   // the zone of times without one (time.Local)
	t   time.Time
}

var _ flag.Value = (*Value)(nil)

// Var defines the time flag name on fs; usage says what the time is for,
// Help follows it.
func Var(fs *flag.FlagSet, name, usage string) *Value {
	v := new(Value)
	fs.Var(v, name, usage+": "+Help)
	return v
}

// Time is the time the flag was set to, zero if it was not.
func (v *Value) Time() time.Time { return v.t }

// String implements flag.Value: the time in RFC 3339, "" if unset.
func (v *Value) String() string {
	if v == nil || v.t.IsZero() {
		return ""
	}
	return v.t.Format(time.RFC3339)
}

// Set implements flag.Value.
func (v *Value) Set(s string) error {
	now, loc := time.Now, time.Local
	if v.Now != nil {
		now = v.Now
	}
	if v.Loc != nil {
		loc = v.Loc
	}
	t, err := Parse(s, now(), loc)
	v.t = t
	return err
}
