package permit

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The longest text of each field a person types into the hub (its API,
// its console, the client verbs), in characters (runes): one table for
// every write path, so that the console's form and the API agree. The
// NIK (16 digits), the ids (CheckID: 64) and the card UIDs (ParseUID)
// have shapes of their own.
const (
	MaxGuest        = 100 // a guest's name
	MaxOrganisation = 200 // the guest's company or agency
	MaxPhone        = 20  // a phone number: digits, spaces, + and -
	MaxPurpose      = 500 // the work to do (several lines)
	MaxEquipment    = 100 // one item the guest brings in
	MaxEquipments   = 30  // items in a request
	MaxStaffName    = 100 // a staff member's name
	MaxActor        = 64  // a token's or a user's name: the actor of the records
	MaxNote         = 500 // a reason or a note: reject, revoke, a command, an acknowledgement (several lines)
)

// MaxReason bounds a command's reason, in characters.
const MaxReason = MaxNote

// TextError is a field whose text is refused: a character that a
// terminal obeys or a page hides instead of showing (Hidden), bytes that
// are not UTF-8, or more characters than the field's limit. It names the
// field and the character by its code point, never the text itself (a
// guest's name must not reach a log). It wraps ErrInvalid.
type TextError struct {
	Field   string // the field, as the request spells it: guest, organisation, reason
	Problem string
}

func (e *TextError) Error() string { return e.Field + ": " + e.Problem }

// Unwrap makes a TextError an ErrInvalid.
func (e *TextError) Unwrap() error { return ErrInvalid }

// hangulFillers and the grapheme joiner are letters and marks by their
// category that every font draws as nothing.
var invisible = []rune{0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0}

// Hidden reports whether r is a character that a terminal obeys, or that
// a page hides or reorders, instead of showing it: the C0 controls (tab,
// CR and newline included), DEL, the C1 controls, the format characters
// (the bidi marks, embeddings, overrides and isolates U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069, U+061C; the zero-width ones; the BOM; the
// soft hyphen; the tags), the line and paragraph separators, every space
// but U+0020, the non-characters, and the few letters drawn as nothing
// (the Hangul fillers). A record's text may hold none of them (CheckText;
// CheckLines allows the newline), and a terminal shows them escaped
// (Visible).
func Hidden(r rune) bool {
	switch {
	case r == ' ':
		return false
	case r < 0x20, r == 0x7F, r >= 0x80 && r < 0xA0:
		return true
	case r < 0x7F:
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp, unicode.Noncharacter_Code_Point) ||
		strings.ContainsRune(string(invisible), r)
}

// CheckText reports a problem of s as the text of a one-line field: not
// UTF-8, a Hidden character (a plain space is the one white space
// allowed), or more than max characters. An empty s is fine: whether the
// field is required is the caller's to say.
func CheckText(field, s string, max int) error { return checkText(field, s, max, false) }

// CheckLines is CheckText for a field of several lines (a purpose, a
// reason): it allows the newline, and nothing else CheckText refuses.
func CheckLines(field, s string, max int) error { return checkText(field, s, max, true) }

func checkText(field, s string, max int, lines bool) error {
	if !utf8.ValidString(s) {
		return &TextError{field, "not UTF-8 text"}
	}
	if n := utf8.RuneCountInString(s); n > max {
		return &TextError{field, fmt.Sprintf("%d characters, at most %d", n, max)}
	}
	pos := 0
	for _, r := range s {
		pos++
		if Hidden(r) && !(lines && r == '\n') {
			what := "a control or invisible character"
			if r == '\n' || r == '\t' || r == '\r' {
				what = "a line break or a tab, in a one-line field"
			}
			return &TextError{field, fmt.Sprintf("character %d is %U, %s: not allowed", pos, r, what)}
		}
	}
	return nil
}

// Visible returns s as a terminal may show it: every Hidden character
// written as an escape a person reads (\x1b, \n, \u202e) and every byte
// that is not UTF-8 as \xff, the rest as it is. Records stored before
// CheckText refused such characters may still hold them; whatever prints
// a record's text to a terminal prints Visible(text).
func Visible(s string) string {
	clean := true
	for i, r := range s {
		if Hidden(r) || r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case Hidden(r) && r <= 0xFF:
			fmt.Fprintf(&b, `\x%02x`, r)
		case Hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// ActorKey is the identity of an actor's name (a token's, a user's): the
// name case-folded (every letter to the least of its Unicode case
// orbit, so that Dual, DUAL, dual and the Kelvin sign's K alike
// compare equal) with its runs of spaces made one. The workflow compares
// actors by it ("approval not by the requester"), and a hub never holds
// two names of one key but spelled apart (hub/auth).
func ActorKey(name string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(name) {
		if r == ' ' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune is the least rune of r's case orbit.
func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// SameActor reports whether names a and b are one actor (ActorKey).
func SameActor(a, b string) bool { return ActorKey(a) == ActorKey(b) }
