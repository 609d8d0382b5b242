package permit

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// ErrInvalid is wrapped by every validation error of a record.
var ErrInvalid = errors.New("invalid record")

// Category is what the work in the server room concerns (SOP step 2).
type Category string

// Categories of SOP step 2.
const (
	Network Category = "network"
	Server  Category = "server"
)

// Permit is an approved, escorted visit by one guest to one door (SOP steps
// 1-4). It names the guest's card only by fingerprint.
type Permit struct {
	ID         string      `json:"id"`
	Version    uint64      `json:"version"`
	Site       string      `json:"site"`
	Door       string      `json:"door"`
	Card       Fingerprint `json:"card"`
	Escort     string      `json:"escort"`
	Category   Category    `json:"category"`
	NotBefore  time.Time   `json:"not_before"`
	NotAfter   time.Time   `json:"not_after"`
	Entries    int         `json:"entries"` // entries allowed; 0 means any number inside the window
	ApprovedBy string      `json:"approved_by"`
	ApprovedAt time.Time   `json:"approved_at"`
}

// Revocation withdraws a permit. It shares the permit's version counter: it
// overrides every version of the permit up to its own, so a re-issued permit
// needs a higher version.
type Revocation struct {
	Permit  string    `json:"permit"`
	Version uint64    `json:"version"`
	Site    string    `json:"site"`
	Door    string    `json:"door"`
	At      time.Time `json:"at"`
	By      string    `json:"by"`
	Reason  string    `json:"reason,omitempty"`
}

// Staff is a member of the ICT office with a card. Escort lets them escort
// guests; Solo lets them enter alone. A staff record with neither right, or
// Disabled, opens nothing.
type Staff struct {
	ID       string        `json:"id"`
	Version  uint64        `json:"version"`
	Site     string        `json:"site"`
	Doors    []string      `json:"doors,omitempty"` // empty: every door of the site
	Cards    []Fingerprint `json:"cards"`
	Escort   bool          `json:"escort"`
	Solo     bool          `json:"solo"`
	Disabled bool          `json:"disabled,omitempty"`
}

// AllowsDoor reports whether s may use door.
func (s *Staff) AllowsDoor(door string) bool {
	if len(s.Doors) == 0 {
		return true
	}
	for _, d := range s.Doors {
		if d == door {
			return true
		}
	}
	return false
}

// idPattern keeps ids usable as MQTT topic levels, file names and bbolt keys.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckID reports whether id may name a site, door, permit or staff member.
func CheckID(field, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, field, id)
	}
	return nil
}

func checkFingerprint(field string, f Fingerprint) error {
	if len(f) != 64 {
		return fmt.Errorf("%w: %s: fingerprint of %d characters, want 64", ErrInvalid, field, len(f))
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: %s: fingerprint is not lower-case hex", ErrInvalid, field)
		}
	}
	return nil
}

// Validate reports the first problem of p.
func (p *Permit) Validate() error {
	for _, c := range []struct{ f, v string }{{"id", p.ID}, {"site", p.Site}, {"door", p.Door}, {"escort", p.Escort}} {
		if err := CheckID("permit "+c.f, c.v); err != nil {
			return err
		}
	}
	if p.Version == 0 {
		return fmt.Errorf("%w: permit %s: version must be at least 1", ErrInvalid, p.ID)
	}
	if err := checkFingerprint("permit "+p.ID+" card", p.Card); err != nil {
		return err
	}
	if p.Category != Network && p.Category != Server {
		return fmt.Errorf("%w: permit %s: category %q, want network or server", ErrInvalid, p.ID, p.Category)
	}
	if p.NotBefore.IsZero() || p.NotAfter.IsZero() || !p.NotAfter.After(p.NotBefore) {
		return fmt.Errorf("%w: permit %s: window %s..%s is empty", ErrInvalid, p.ID,
			p.NotBefore.Format(time.RFC3339), p.NotAfter.Format(time.RFC3339))
	}
	if p.Entries < 0 {
		return fmt.Errorf("%w: permit %s: entries %d is negative", ErrInvalid, p.ID, p.Entries)
	}
	if p.ApprovedBy == "" {
		return fmt.Errorf("%w: permit %s: not approved", ErrInvalid, p.ID)
	}
	return nil
}

// Validate reports the first problem of r. It does not judge the text of
// By and Reason (the hub does, as it takes them): a door must never
// refuse a revocation, which closes a door, over the characters of its
// note, nor a hub fail to sign again one it stored before it checked them.
func (r *Revocation) Validate() error {
	for _, c := range []struct{ f, v string }{{"permit", r.Permit}, {"site", r.Site}, {"door", r.Door}} {
		if err := CheckID("revocation "+c.f, c.v); err != nil {
			return err
		}
	}
	if r.Version == 0 {
		return fmt.Errorf("%w: revocation of %s: version must be at least 1", ErrInvalid, r.Permit)
	}
	return nil
}

// Validate reports the first problem of s.
func (s *Staff) Validate() error {
	if err := CheckID("staff id", s.ID); err != nil {
		return err
	}
	if err := CheckID("staff site", s.Site); err != nil {
		return err
	}
	if s.Version == 0 {
		return fmt.Errorf("%w: staff %s: version must be at least 1", ErrInvalid, s.ID)
	}
	for i, d := range s.Doors {
		if err := CheckID(fmt.Sprintf("staff %s doors[%d]", s.ID, i), d); err != nil {
			return err
		}
	}
	if len(s.Cards) > 8 {
		return fmt.Errorf("%w: staff %s: %d cards, at most 8", ErrInvalid, s.ID, len(s.Cards))
	}
	for i, c := range s.Cards {
		if err := checkFingerprint(fmt.Sprintf("staff %s cards[%d]", s.ID, i), c); err != nil {
			return err
		}
	}
	return nil
}

// MaxCommandLife bounds a command's validity, and with it how long a door
// must remember its nonce to refuse a replay.
const MaxCommandLife = 15 * time.Minute

// Command is a signed order from the hub to one door. Its ID is the nonce:
// a door obeys one ID once, and never after Expires.
type Command struct {
	ID      string           `json:"id"`
	Site    string           `json:"site"`
	Door    string           `json:"door"`
	Name    wire.CommandName `json:"name"`
	Issued  time.Time        `json:"issued"`
	Expires time.Time        `json:"expires"`
	By      string           `json:"by"`
	// Reason is why By sent it, as they typed it (required by the
	// console for unlock-once).
	Reason string `json:"reason,omitempty"`
}

// Validate reports the first problem of c.
func (c *Command) Validate() error {
	for _, f := range []struct{ f, v string }{{"id", c.ID}, {"site", c.Site}, {"door", c.Door}} {
		if err := CheckID("command "+f.f, f.v); err != nil {
			return err
		}
	}
	switch c.Name {
	case wire.CmdLockdown, wire.CmdRelease, wire.CmdUnlockOnce, wire.CmdResync:
	default:
		return fmt.Errorf("%w: command %s: name %q, want lockdown, release, unlock-once or resync", ErrInvalid, c.ID, c.Name)
	}
	if c.Issued.IsZero() || !c.Expires.After(c.Issued) || c.Expires.Sub(c.Issued) > MaxCommandLife {
		return fmt.Errorf("%w: command %s: expiry must be after issue and at most %s later", ErrInvalid, c.ID, MaxCommandLife)
	}
	if c.By == "" {
		return fmt.Errorf("%w: command %s: no issuer", ErrInvalid, c.ID)
	}
	// a command lives minutes, so no door holds one a hub signed before
	// these checks: a door may refuse what the hub would not sign
	if err := CheckText("by", c.By, MaxActor); err != nil {
		return fmt.Errorf("command %s: %w", c.ID, err)
	}
	if err := CheckLines("reason", c.Reason, MaxReason); err != nil {
		return fmt.Errorf("command %s: %w", c.ID, err)
	}
	return nil
}

// Ack is the hub's signed word to one door that it has stored durably
// every event of the door's epoch Epoch up to seq Through. A door deletes
// its events up to Through on a verified Ack of its own site, door and
// epoch only, and never beyond its newest event (sync/outbox).
//
// An Ack has no expiry and no nonce, because what it says stays true: the
// hub's store of a stream only grows, and an ack for a lower Through than
// one already taken deletes nothing more. A replay of a genuine ack of the
// door's own epoch, however late, thus deletes nothing the hub did not
// store; one of another door or epoch, or beyond the door's log, is
// refused by the door. Issued is when the hub signed it, for the logs: a
// door does not judge it against its clock, which may be untrusted after
// a power cut, when refusing every ack would only fill its disk with
// events the hub holds. (A hub that loses its store loses what it acked;
// that is the hub's recovery, not the ack's, see hub/ingest.)
type Ack struct {
	Site    string    `json:"site"`
	Door    string    `json:"door"`
	Epoch   string    `json:"epoch"`
	Through uint64    `json:"through"`
	Issued  time.Time `json:"issued"`
}

// Validate reports the first problem of a.
func (a *Ack) Validate() error {
	for _, f := range []struct{ f, v string }{{"site", a.Site}, {"door", a.Door}, {"epoch", a.Epoch}} {
		if err := CheckID("ack "+f.f, f.v); err != nil {
			return err
		}
	}
	if a.Issued.IsZero() {
		return fmt.Errorf("%w: ack of %s/%s through %d: no issue time", ErrInvalid, a.Site, a.Door, a.Through)
	}
	return nil
}
