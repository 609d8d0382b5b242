package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Topic names what a Message is about, for routing: "alarm." and an alarm's
// kind, or a step of the permit workflow.
type Topic string

// The workflow's topics (issue 10: the SOP's steps 2 to 4 and the permit).
const (
	// TopicRequestFiled: a new request, for the coordinators (step 2).
	TopicRequestFiled Topic = "request.filed"
	// TopicRequestClassified: a classified request, for the approver (step 3).
	TopicRequestClassified Topic = "request.classified"
	// TopicRequestWaitingEscort: an approved request still waiting for its
	// escort, for the approver (step 4).
	TopicRequestWaitingEscort Topic = "request.approved_waiting_escort"
	// TopicPermitIssued: an issued permit, for the desk and the escort.
	TopicPermitIssued Topic = "permit.issued"
)

// alarmPrefix begins every alarm's topic.
const alarmPrefix = "alarm."

// AlarmTopic returns the topic of an alarm of kind (an event type such as
// "door.forced", or an alarm name of the hub): "alarm." and kind.
func AlarmTopic(kind string) Topic { return Topic(alarmPrefix + kind) }

// Text is one text in both languages of Kunci: Bahasa Indonesia first, the
// one shown first everywhere, and English.
type Text struct {
	ID string `json:"id"`
	EN string `json:"en"`
}

// Message is one notification as a caller gives it: an alarm's occurrence
// or a workflow step. Every text is the caller's, already masked (doc.go).
type Message struct {
	// Key is the idempotency key: one alarm occurrence or one workflow
	// step, the same across the caller's retries and restarts (an alarm's
	// id, "request/<id>/filed"). At most MaxKey bytes, printable ASCII.
	Key string `json:"key"`
	// Topic routes the message (AlarmTopic, the Topic constants).
	Topic Topic `json:"topic"`
	// Site and Door name where it happened; Door is empty for a
	// site-wide matter, both for a hub-wide one.
	Site string `json:"site,omitempty"`
	Door string `json:"door,omitempty"`
	// Subject is one line; Body is the text, both in both languages.
	Subject Text `json:"subject"`
	Body    Text `json:"body"`
	// At is when it happened (the event's time, the step's).
	At time.Time `json:"at"`
	// Count is how many occurrences the message stands for: 0 or 1 for
	// one; a summary of a burst says how many.
	Count int `json:"count,omitempty"`
}

// Bounds of a Message's fields.
const (
	MaxKey     = 200
	MaxSubject = 200
	MaxBody    = 4000 // under Telegram's 4096 characters for both languages
	maxTopic   = 100
	maxName    = 64
)

// Validate checks m's fields and their bounds, and that its texts do not
// look like they carry personal data (ErrPersonalData).
func (m *Message) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMessage, fmt.Sprintf(format, a...))
	}
	switch {
	case m.Key == "" || len(m.Key) > MaxKey:
		return bad("key: %d bytes; want 1 to %d", len(m.Key), MaxKey)
	case strings.IndexFunc(m.Key, func(r rune) bool { return r < '!' || r > '~' }) >= 0:
		return bad("key %q: want printable ASCII without spaces", m.Key)
	case checkTopic(string(m.Topic), false) != nil:
		return bad("topic: %v", checkTopic(string(m.Topic), false))
	case len(m.Site) > maxName || len(m.Door) > maxName:
		return bad("site or door longer than %d bytes", maxName)
	case m.Site == "" && m.Door != "":
		return bad("door %q without a site", m.Door)
	case m.Subject.ID == "" || m.Subject.EN == "":
		return bad("subject: want both Bahasa Indonesia and English")
	case m.Body.ID == "" || m.Body.EN == "":
		return bad("body: want both Bahasa Indonesia and English")
	case len(m.Subject.ID) > MaxSubject || len(m.Subject.EN) > MaxSubject:
		return bad("subject: longer than %d bytes", MaxSubject)
	case len(m.Body.ID)+len(m.Body.EN) > MaxBody:
		return bad("body: %d bytes in both languages; at most %d", len(m.Body.ID)+len(m.Body.EN), MaxBody)
	case m.At.IsZero():
		return bad("at: missing")
	case m.Count < 0:
		return bad("count %d: want 0 or more", m.Count)
	}
	for _, s := range []string{m.Subject.ID, m.Subject.EN, m.Body.ID, m.Body.EN, m.Site, m.Door} {
		if !utf8.ValidString(s) {
			return bad("text is not UTF-8")
		}
		if what := personalData(s); what != "" {
			return fmt.Errorf("%w: %s", ErrPersonalData, what)
		}
	}
	if what := personalData(m.Key); what != "" {
		return fmt.Errorf("%w: key: %s", ErrPersonalData, what)
	}
	return nil
}

// count is the occurrences m stands for.
func (m *Message) count() int { return max(m.Count, 1) }

// checkTopic checks a topic, or with pattern a rule's topic pattern
// ("alarm.*", "*").
func checkTopic(t string, pattern bool) error {
	if pattern {
		if t == "*" {
			return nil
		}
		t = strings.TrimSuffix(t, ".*")
	}
	if t == "" || len(t) > maxTopic {
		return fmt.Errorf("%q: want 1 to %d characters", t, maxTopic)
	}
	for part := range strings.SplitSeq(t, ".") {
		if part == "" || strings.Trim(part, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return fmt.Errorf("%q: want dotted lower-case words such as alarm.door.forced", t)
		}
	}
	return nil
}

// The shapes of personal data the package refuses (doc.go): a NIK has 16
// digits, an Indonesian phone number 10 to 13 (+62 8xx…), a card UID is 4,
// 7 or 10 bytes (8, 14 or 20 hex digits).
const (
	minDigitRun = 10
	minHexRun   = 8
)

// personalData says what in s looks like a NIK, a phone number or a card
// UID, or "" when nothing does. Digits split by dots or dashes count as
// one run (0812-3456-7890), and so do groups of three or more split by a
// space (0812 3456 7890), as a phone is often written; a date and time
// (27-11-2026 10:02) is not one.
func personalData(s string) string {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
			if digits >= minDigitRun {
				return fmt.Sprintf("a run of %d or more digits at byte %d (a NIK or a phone number?); mask it", minDigitRun, i)
			}
		case (r == '-' || r == '.') && digits > 0 && digitsAt(s, i+1) >= 1,
			r == ' ' && digits >= 3 && digitsAt(s, i+1) >= 3:
			// a separator inside a number
		default:
			digits = 0
		}
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) >= minHexRun && isHex(w) && strings.ContainsAny(w, "0123456789") &&
			strings.ContainsAny(strings.ToLower(w), "abcdef") {
			return fmt.Sprintf("%d hex digits (a card UID?); name the card by its permit or staff id", len(w))
		}
	}
	return ""
}

// digitsAt counts the digits at s[i:], up to 3.
func digitsAt(s string, i int) int {
	n := 0
	for ; n < 3 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '9'; n++ {
	}
	return n
}

func isHex(w string) bool {
	return strings.Trim(strings.ToLower(w), "0123456789abcdef") == ""
}
