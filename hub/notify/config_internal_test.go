package notify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// The rules' days and hours are judged in the site's zone, a window past
// midnight belonging to the day it began on.
func TestRuleMatchesDaysAndHours(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	office := Rule{Topics: []string{"alarm.*"}, Days: []string{"mon", "tue", "wed", "thu", "fri"}, Hours: "07:30-16:00"}
	night := Rule{Topics: []string{"alarm.*"}, Days: []string{"fri"}, Hours: "16:00-07:30"}
	weekend := Rule{Topics: []string{"*"}, Days: []string{"sat", "sun"}}
	desk := Rule{Topics: []string{"request.filed", "permit.*"}, Doors: []string{"diskominfo/*"}}
	noc := Rule{Topics: []string{"alarm.door.forced"}, Doors: []string{"diskominfo/noc"}}
	at := func(day, hhmm string) time.Time {
		d, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hhmm, loc)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// 2026-11-27 is a Friday, 2026-11-28 a Saturday.
	forced := Message{Topic: AlarmTopic("door.forced"), Site: "diskominfo", Door: "server-room"}
	filed := Message{Topic: TopicRequestFiled, Site: "diskominfo"}
	for _, tc := range []struct {
		name string
		r    Rule
		m    Message
		at   time.Time
		want bool
	}{
		{"office at 07:30", office, forced, at("2026-11-27", "07:30"), true},
		{"office at 15:59", office, forced, at("2026-11-27", "15:59"), true},
		{"office at 16:00", office, forced, at("2026-11-27", "16:00"), false},
		{"office at 07:29", office, forced, at("2026-11-27", "07:29"), false},
		{"office on Saturday", office, forced, at("2026-11-28", "10:00"), false},
		{"office at 10:00 WIB given as UTC", office, forced, at("2026-11-27", "10:00").UTC(), true},
		{"night Friday 22:00", night, forced, at("2026-11-27", "22:00"), true},
		{"night Saturday 03:00, begun Friday", night, forced, at("2026-11-28", "03:00"), true},
		{"night Friday 03:00, begun Thursday", night, forced, at("2026-11-27", "03:00"), false},
		{"night Saturday 08:00", night, forced, at("2026-11-28", "08:00"), false},
		{"weekend any hour", weekend, filed, at("2026-11-28", "23:59"), true},
		{"weekend not Friday", weekend, filed, at("2026-11-27", "23:59"), false},
		{"desk takes request.filed at any door of the site", desk, filed, at("2026-11-27", "10:00"), true},
		{"desk takes no alarm", desk, forced, at("2026-11-27", "10:00"), false},
		{"desk takes permit.issued", desk, Message{Topic: TopicPermitIssued, Site: "diskominfo", Door: "noc"}, at("2026-11-27", "10:00"), true},
		{"desk not another site", desk, Message{Topic: TopicRequestFiled, Site: "other"}, at("2026-11-27", "10:00"), false},
		{"noc only its door", noc, forced, at("2026-11-27", "10:00"), false},
		{"noc its door", noc, Message{Topic: AlarmTopic("door.forced"), Site: "diskominfo", Door: "noc"}, at("2026-11-27", "10:00"), true},
		{"prefix is not a substring", Rule{Topics: []string{"alarm.door.*"}}, Message{Topic: "alarm.doorbell"}, at("2026-11-27", "10:00"), false},
	} {
		if got := tc.r.matches(&tc.m, tc.at.In(loc)); got != tc.want {
			t.Errorf("%s: matches(%s at %s) = %v; want %v", tc.name, tc.m.Topic, tc.at.In(loc).Format("Mon 15:04"), got, tc.want)
		}
	}
}

// Validate names the field of every problem.
func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{
			Email:    &EmailConfig{Host: "smtp.example.go.id", From: "Kunci <kunci@example.go.id>"},
			Telegram: &TelegramConfig{TokenFile: "/etc/kunci/telegram.token"},
			Recipients: []Recipient{
				{Name: "ict", Email: "ict@example.go.id"},
				{Name: "group", Telegram: "-1001234567890"},
				{Name: "soc", Webhook: "https://soc.example.go.id/hooks/kunci", SecretFile: "/etc/kunci/soc.secret"},
			},
			Rules: []Rule{{Topics: []string{"alarm.*"}, Days: []string{"mon"}, Hours: "07:30-16:00",
				Steps: []Step{{To: []string{"group", "soc"}}, {After: wire.Duration(10 * time.Minute), To: []string{"ict"}}}}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // in the report; "" for none
	}{
		{"good", func(*Config) {}, ""},
		{"zone", func(c *Config) { c.Timezone = "Asia/Bandung" }, "notify.timezone"},
		{"two channels", func(c *Config) { c.Recipients[0].Telegram = "-1" }, "notify.recipients[0]: \"ict\": want exactly one"},
		{"name twice", func(c *Config) { c.Recipients[1].Name = "ict" }, "notify.recipients[1].name: \"ict\" appears twice"},
		{"email without server", func(c *Config) { c.Email = nil }, "notify.recipients[0].email: no email server"},
		{"bad chat", func(c *Config) { c.Recipients[1].Telegram = "grup ict" }, "notify.recipients[1].telegram"},
		{"webhook without secret", func(c *Config) { c.Recipients[2].SecretFile = "" }, "notify.recipients[2].secret_file"},
		{"webhook not a URL", func(c *Config) { c.Recipients[2].Webhook = "soc.example" }, "notify.recipients[2].webhook"},
		{"unknown recipient", func(c *Config) { c.Rules[0].Steps[1].To = []string{"kepala"} }, "notify.rules[0].steps[1].to[0]: \"kepala\" is not a recipient"},
		{"first step later", func(c *Config) { c.Rules[0].Steps[0].After = wire.Duration(time.Minute) }, "notify.rules[0].steps[0].after"},
		{"steps out of order", func(c *Config) { c.Rules[0].Steps[1].After = 0 }, "notify.rules[0].steps[1].after"},
		{"bad day", func(c *Config) { c.Rules[0].Days = []string{"senin"} }, "notify.rules[0].days[0]"},
		{"bad hours", func(c *Config) { c.Rules[0].Hours = "7-16" }, "notify.rules[0].hours"},
		{"bad topic", func(c *Config) { c.Rules[0].Topics = []string{"Alarm.*"} }, "notify.rules[0].topics[0]"},
		{"bad door", func(c *Config) { c.Rules[0].Doors = []string{"*/noc"} }, "notify.rules[0].doors[0]"},
		{"no steps", func(c *Config) { c.Rules[0].Steps = nil }, "notify.rules[0].steps: missing"},
		{"no token", func(c *Config) { c.Telegram.TokenFile = "" }, "notify.telegram.token_file"},
		{"bad from", func(c *Config) { c.Email.From = "kunci" }, "notify.email.from"},
		{"keep_sent under max_age", func(c *Config) { c.KeepSent = wire.Duration(2 * time.Hour) }, "notify.keep_sent"},
	} {
		c := good()
		tc.change(&c)
		c.Defaults()
		var got []string
		c.Validate("notify", func(field, format string, a ...any) {
			got = append(got, field+": "+fmt.Sprintf(format, a...))
		})
		report := strings.Join(got, "\n")
		switch {
		case tc.want == "" && report != "":
			t.Errorf("%s: Validate reported\n%s\nwant nothing", tc.name, report)
		case tc.want != "" && !strings.Contains(report, tc.want):
			t.Errorf("%s: Validate reported\n%s\nwant %q", tc.name, report, tc.want)
		}
	}
}
