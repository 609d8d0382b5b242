package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// Config is hub.yaml's notify section: the channels, the recipients and
// the rules that route messages to them. The zero Config notifies nobody.
type Config struct {
	// Timezone is the zone of the rules' days and hours (Asia/Jakarta).
	Timezone string `yaml:"timezone"`
	// Coalesce is the window of a burst (1m): after a message of a topic
	// and door, the next ones within it are counted into one summary.
	Coalesce wire.Duration `yaml:"coalesce"`
	// MaxAge is how long a delivery is retried before it goes to the dead
	// letters (24h).
	MaxAge wire.Duration `yaml:"max_age"`
	// MaxBackoff caps the wait between two tries of a delivery (10m).
	MaxBackoff wire.Duration `yaml:"max_backoff"`
	// KeepSent is how long a sent delivery and a notified key are
	// remembered, so that a repeat is not sent again (168h, a week; at
	// least max_age).
	KeepSent wire.Duration `yaml:"keep_sent"`
	// Email is the SMTP server, for recipients with an email.
	Email *EmailConfig `yaml:"email"`
	// Telegram is the Bot API, for recipients with a telegram chat.
	Telegram *TelegramConfig `yaml:"telegram"`
	// Recipients are the people, groups and systems told, each by one
	// channel: a person with an email and a Telegram chat is two.
	Recipients []Recipient `yaml:"recipients"`
	// Rules route the topics to the recipients; a message goes by every
	// rule that matches it.
	Rules []Rule `yaml:"rules"`
}

// EmailConfig is the office's SMTP server, reached with STARTTLS (never in
// clear).
type EmailConfig struct {
	Host string `yaml:"host"` // smtp.example.go.id
	Port int    `yaml:"port"` // 587
	// Username and PasswordFile sign in (the password alone in the file,
	// mode 0640, group kunci); without a username no sign-in.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender: "Kunci <kunci@example.go.id>".
	From string `yaml:"from"`
	// CAFile is the PEM of the CA that signed the server's certificate,
	// for an office CA; empty: the system's roots.
	CAFile string `yaml:"ca_file"`
}

// TelegramConfig is the Bot API.
type TelegramConfig struct {
	// BaseURL is the API's address (https://api.telegram.org).
	BaseURL string `yaml:"base_url"`
	// TokenFile holds the bot's token from @BotFather alone (mode 0640,
	// group kunci). The token is never logged.
	TokenFile string `yaml:"token_file"`
}

// Recipient is who is told, by exactly one channel.
type Recipient struct {
	// Name is how rules name it: "ict-group", "head-ict-email".
	Name string `yaml:"name"`
	// Email is an address; Telegram a chat id (-1001234567890 for a
	// group, or @channel); Webhook an https:// URL. Exactly one is set.
	Email    string `yaml:"email"`
	Telegram string `yaml:"telegram"`
	Webhook  string `yaml:"webhook"`
	// SecretFile is the webhook's HMAC-SHA256 key, shared with the
	// receiver (required with webhook).
	SecretFile string `yaml:"secret_file"`
}

// Channel is how a recipient is reached.
type Channel string

// The channels.
const (
	ChannelEmail    Channel = "email"
	ChannelTelegram Channel = "telegram"
	ChannelWebhook  Channel = "webhook"
)

// Channel returns the recipient's channel ("" when none or several are set).
func (r *Recipient) Channel() Channel {
	var c []Channel
	for _, f := range []struct {
		v string
		c Channel
	}{{r.Email, ChannelEmail}, {r.Telegram, ChannelTelegram}, {r.Webhook, ChannelWebhook}} {
		if f.v != "" {
			c = append(c, f.c)
		}
	}
	if len(c) != 1 {
		return ""
	}
	return c[0]
}

// Rule routes matching messages to its steps of recipients.
type Rule struct {
	// Topics are exact topics ("alarm.door.forced"), prefixes
	// ("alarm.*", "request.*") or "*".
	Topics []string `yaml:"topics"`
	// Doors limits the rule to "site/door" or "site/*"; empty: every door
	// and the hub-wide messages.
	Doors []string `yaml:"doors"`
	// Days are the weekdays it applies on (mon, tue, … sun); empty: every
	// day.
	Days []string `yaml:"days"`
	// Hours is the time of day it applies, "07:30-16:00" in Timezone; a
	// window past midnight ("16:00-07:30") runs into the next morning,
	// which belongs to the day it began on (days: [fri] with 16:00-07:30
	// covers Saturday 03:00, not Friday 03:00). Empty: all day.
	Hours string `yaml:"hours"`
	// Steps are the recipients told at once (the first step, After 0) and
	// those told later while nobody has acknowledged the message.
	Steps []Step `yaml:"steps"`
}

// Step is one escalation step.
type Step struct {
	// After is the time since the message was notified: 0 for the first
	// step, then increasing.
	After wire.Duration `yaml:"after"`
	// To names recipients.
	To []string `yaml:"to"`
}

// Defaults of Config.
const (
	DefaultTimezone   = "Asia/Jakarta"
	DefaultCoalesce   = time.Minute
	DefaultMaxAge     = 24 * time.Hour
	DefaultMaxBackoff = 10 * time.Minute
	DefaultKeepSent   = 7 * 24 * time.Hour
	DefaultEmailPort  = 587
	DefaultTelegram   = "https://api.telegram.org"
)

// Defaults fills the unset fields.
func (c *Config) Defaults() {
	if c.Timezone == "" {
		c.Timezone = DefaultTimezone
	}
	for _, d := range []struct {
		v   *wire.Duration
		def time.Duration
	}{{&c.Coalesce, DefaultCoalesce}, {&c.MaxAge, DefaultMaxAge}, {&c.MaxBackoff, DefaultMaxBackoff}, {&c.KeepSent, DefaultKeepSent}} {
		if *d.v == 0 {
			*d.v = wire.Duration(d.def)
		}
	}
	if c.Email != nil && c.Email.Port == 0 {
		c.Email.Port = DefaultEmailPort
	}
	if c.Telegram != nil && c.Telegram.BaseURL == "" {
		c.Telegram.BaseURL = DefaultTelegram
	}
}

// Paths passes every file name of c to abs, for a config loader that
// resolves relative names.
func (c *Config) Paths(abs func(*string)) {
	if c.Email != nil {
		abs(&c.Email.PasswordFile)
		abs(&c.Email.CAFile)
	}
	if c.Telegram != nil {
		abs(&c.Telegram.TokenFile)
	}
	for i := range c.Recipients {
		abs(&c.Recipients[i].SecretFile)
	}
}

// Location returns the zone of Timezone (time.UTC when Validate would
// refuse it).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// Validate reports every problem of c through bad, naming the field from
// prefix ("notify"), as config.Hub's Validate does.
func (c *Config) Validate(prefix string, bad func(field, format string, a ...any)) {
	f := func(format string, a ...any) string { return prefix + "." + fmt.Sprintf(format, a...) }
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		bad(f("timezone"), "%q is not a time zone (Asia/Jakarta, Asia/Makassar, Asia/Jayapura): %v", c.Timezone, err)
	}
	for _, d := range []struct {
		name     string
		v        wire.Duration
		min, max time.Duration
	}{
		{"coalesce", c.Coalesce, time.Second, time.Hour},
		{"max_age", c.MaxAge, time.Minute, 30 * 24 * time.Hour},
		{"max_backoff", c.MaxBackoff, time.Second, 24 * time.Hour},
		{"keep_sent", c.KeepSent, time.Hour, 365 * 24 * time.Hour},
	} {
		if v := time.Duration(d.v); v != 0 && (v < d.min || v > d.max) {
			bad(prefix+"."+d.name, "%s: want %s to %s", v, d.min, d.max)
		}
	}
	if c.KeepSent != 0 && c.KeepSent < c.MaxAge {
		bad(f("keep_sent"), "%s is shorter than max_age %s: a late retry could be sent twice", time.Duration(c.KeepSent), time.Duration(c.MaxAge))
	}
	if e := c.Email; e != nil {
		if e.Host == "" {
			bad(f("email.host"), "missing: the SMTP server, such as smtp.example.go.id")
		}
		if e.Port < 0 || e.Port > 65535 {
			bad(f("email.port"), "%d is not a port (587 for STARTTLS)", e.Port)
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			bad(f("email.from"), "%q is not an address such as \"Kunci <kunci@example.go.id>\": %v", e.From, err)
		}
		if (e.Username == "") != (e.PasswordFile == "") {
			bad(f("email.username"), "username and password_file go together")
		}
	}
	if t := c.Telegram; t != nil {
		if u, err := url.Parse(t.BaseURL); t.BaseURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			bad(f("telegram.base_url"), "%q is not a URL such as %s", t.BaseURL, DefaultTelegram)
		}
		if t.TokenFile == "" {
			bad(f("telegram.token_file"), "missing: the file of the bot's token from @BotFather")
		}
	}
	names := map[string]bool{}
	for i, r := range c.Recipients {
		field := f("recipients[%d]", i)
		switch {
		case r.Name == "" || len(r.Name) > maxName || strings.Trim(r.Name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "":
			bad(field+".name", "%q: want 1 to %d lower-case letters, digits, '.', '_' or '-'", r.Name, maxName)
		case names[r.Name]:
			bad(field+".name", "%q appears twice", r.Name)
		}
		names[r.Name] = true
		switch r.Channel() {
		case "":
			bad(field, "%q: want exactly one of email, telegram, webhook", r.Name)
		case ChannelEmail:
			if a, err := mail.ParseAddress(r.Email); err != nil || a.Name != "" {
				bad(field+".email", "%q is not a bare address such as ict@example.go.id", r.Email)
			}
			if c.Email == nil {
				bad(field+".email", "no email server: set notify.email")
			}
		case ChannelTelegram:
			if !validChat(r.Telegram) {
				bad(field+".telegram", "%q is not a chat id (-1001234567890) or @channel", r.Telegram)
			}
			if c.Telegram == nil {
				bad(field+".telegram", "no bot: set notify.telegram")
			}
		case ChannelWebhook:
			if u, err := url.Parse(r.Webhook); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad(field+".webhook", "%q is not a URL such as https://soc.example.go.id/hooks/kunci", r.Webhook)
			}
			if r.SecretFile == "" {
				bad(field+".secret_file", "missing: the webhook's HMAC key, shared with the receiver")
			}
		}
		if r.Channel() != ChannelWebhook && r.SecretFile != "" {
			bad(field+".secret_file", "only a webhook has a secret")
		}
	}
	for i, r := range c.Rules {
		field := f("rules[%d]", i)
		if len(r.Topics) == 0 {
			bad(field+".topics", "missing: such as [\"alarm.*\"], [\"request.filed\"] or [\"*\"]")
		}
		for j, t := range r.Topics {
			if err := checkTopic(t, true); err != nil {
				bad(fmt.Sprintf("%s.topics[%d]", field, j), "%v", err)
			}
		}
		for j, d := range r.Doors {
			site, door, ok := strings.Cut(d, "/")
			if !ok || site == "" || door == "" || strings.Contains(site, "*") || (door != "*" && strings.Contains(door, "*")) {
				bad(fmt.Sprintf("%s.doors[%d]", field, j), "%q: want site/door or site/*", d)
			}
		}
		for j, d := range r.Days {
			if _, ok := weekdays[d]; !ok {
				bad(fmt.Sprintf("%s.days[%d]", field, j), "%q: want mon, tue, wed, thu, fri, sat or sun", d)
			}
		}
		if _, _, err := parseHours(r.Hours); err != nil {
			bad(field+".hours", "%v", err)
		}
		if len(r.Steps) == 0 {
			bad(field+".steps", "missing: at least one step of recipients")
		}
		for j, s := range r.Steps {
			sf := fmt.Sprintf("%s.steps[%d]", field, j)
			switch {
			case j == 0 && s.After != 0:
				bad(sf+".after", "the first step goes at once; leave after out")
			case j > 0 && s.After <= r.Steps[j-1].After:
				bad(sf+".after", "%s: want later than the step before (%s)", time.Duration(s.After), time.Duration(r.Steps[j-1].After))
			}
			if len(s.To) == 0 {
				bad(sf+".to", "missing: the recipients' names")
			}
			for k, n := range s.To {
				if !names[n] {
					bad(fmt.Sprintf("%s.to[%d]", sf, k), "%q is not a recipient", n)
				}
			}
		}
	}
}

// validChat reports whether s is a Telegram chat id or @channel name.
func validChat(s string) bool {
	if name, ok := strings.CutPrefix(s, "@"); ok {
		return len(name) >= 5 && len(name) <= 32 && strings.Trim(strings.ToLower(name), "abcdefghijklmnopqrstuvwxyz0123456789_") == ""
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// parseHours parses "HH:MM-HH:MM" into minutes of the day; "" is all day
// (0, 0).
func parseHours(s string) (from, to int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "-")
	from, err1 := parseClock(a)
	to, err2 := parseClock(b)
	if !ok || err1 != nil || err2 != nil || from == to {
		return 0, 0, fmt.Errorf("%q: want HH:MM-HH:MM such as 07:30-16:00 (16:00-07:30 runs past midnight)", s)
	}
	return from, to, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// matches reports whether rule r applies to m notified at now (in loc).
func (r *Rule) matches(m *Message, now time.Time) bool {
	if !slices.ContainsFunc(r.Topics, func(p string) bool { return topicMatches(p, m.Topic) }) {
		return false
	}
	if len(r.Doors) > 0 && !slices.ContainsFunc(r.Doors, func(d string) bool {
		site, door, _ := strings.Cut(d, "/")
		return site == m.Site && (door == "*" || door == m.Door)
	}) {
		return false
	}
	from, to, _ := parseHours(r.Hours)
	day := now.Weekday()
	if mins := now.Hour()*60 + now.Minute(); from > to && mins < to {
		day = (day + 6) % 7 // the part past midnight belongs to the day before
	}
	if len(r.Days) > 0 && !slices.ContainsFunc(r.Days, func(d string) bool { return weekdays[d] == day }) {
		return false
	}
	return inHours(from, to, now.Hour()*60+now.Minute())
}

// inHours reports whether minute of the day mins is in [from, to), a
// window past midnight when from > to; from == to is all day.
func inHours(from, to, mins int) bool {
	switch {
	case from == to:
		return true
	case from < to:
		return mins >= from && mins < to
	default:
		return mins >= from || mins < to
	}
}

// topicMatches reports whether pattern (exact, "prefix.*" or "*") covers t.
func topicMatches(pattern string, t Topic) bool {
	if pattern == "*" {
		return true
	}
	if p, ok := strings.CutSuffix(pattern, ".*"); ok {
		return strings.HasPrefix(string(t), p+".")
	}
	return pattern == string(t)
}
