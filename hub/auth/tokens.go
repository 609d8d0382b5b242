package auth

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/internal/metrics"
	"github.com/kunci-project/kunci/permit"
)

// bTokens holds one record a token: id -> record JSON.
var bTokens = []byte("tokens")

// Info is what is known of a token, without its secret.
type Info struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Roles     []Role    `json:"roles"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"` // zero: never
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Active reports whether the token is valid at now: not revoked, not
// expired.
func (i Info) Active(now time.Time) bool {
	return !i.Revoked && (i.Expires.IsZero() || now.Before(i.Expires))
}

// record is a stored token: its Info and the hash of its secret.
type record struct {
	Info
	SHA256 []byte `json:"sha256"`
}

// Tokens is the hub's register of tokens. It is safe for concurrent use.
// The Ended channels are this process's: a token revoked by another hub
// process on one PostgreSQL store is refused here at its next request,
// and a live stream here ends when the hub follows that write (Follow).
type Tokens struct {
	db    kv.DB
	stats counters

	mu   sync.Mutex
	ends map[string]*ending // by token id, while a stream waits on it
}

// ending is the Ended channel of one token, shared by its streams.
type ending struct {
	ch     chan struct{}
	users  int
	closed bool
}

// New keeps tokens in db, a store the hub already opened (its workflow
// store's), in the bucket "tokens". Closing db is the caller's.
// The refusals are counted on reg, the hub's (nil: a registry of its own).
func New(db kv.DB, reg *metrics.Registry) (*Tokens, error) {
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	refused := metrics.NewCounterVec[refusal](reg, "kunci_hub_auth_refused_total",
		"API requests refused by the token check, by reason: missing, ambiguous (two Authorization headers), malformed, unknown, tampered, forbidden.", "reason")
	return &Tokens{db: db, ends: map[string]*ending{}, stats: counters{missing: refused.With("missing"),
		ambiguous: refused.With("ambiguous"), malformed: refused.With("malformed"),
		unknown: refused.With("unknown"), tampered: refused.With("tampered"), forbidden: refused.With("forbidden")}}, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// checkName refuses a name no actor may have: empty, with white space
// at an end, longer than permit.MaxActor, with a character permit.Hidden
// or not printable, or with a combining mark (the same name could then be
// written two ways that look alike, and the hub has no Unicode
// normalisation to tell them one: accented letters are written as one
// character, as keyboards type them).
func checkName(name string) error {
	if name == "" {
		return invalid("no name")
	}
	if err := permit.CheckText("name", name, permit.MaxActor); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return invalid("name %q has a character that is not printable", name)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.In(r, unicode.Mn, unicode.Me) }) >= 0:
		return invalid("name %q has a combining mark: write each accented letter as one character", name)
	case strings.TrimSpace(name) != name:
		return invalid("name %q has white space at an end", name)
	}
	return nil
}

// spellingFree refuses name when a token, or a user other than login,
// holds a name of the same actor (permit.ActorKey) spelled otherwise, or
// when another user holds the same actor's name at all: an actor has one
// spelling, so that the workflow's records name them one way and "Dual"
// is never a second person beside "dual". A person's tokens and their
// user share their one spelling.
func spellingFree(tx kv.Tx, name, login string) error {
	key := permit.ActorKey(name)
	var clash *record
	if err := each(tx.Bucket(bTokens), func(r *record) {
		if clash == nil && r.Name != name && permit.ActorKey(r.Name) == key {
			c := *r
			clash = &c
		}
	}); err != nil {
		return err
	}
	if clash != nil {
		return fmt.Errorf("%w: name %q is the actor %q of token %s, spelled otherwise: use that spelling", ErrExists, name, clash.Name, clash.ID)
	}
	b := tx.Bucket(bUsers)
	return b.ForEach(func(k, v []byte) error {
		var r userRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: user %q: %v", ErrCorrupt, k, err)
		}
		switch {
		case r.Login == login || permit.ActorKey(r.Name) != key:
		case login != "":
			return fmt.Errorf("%w: user %q already has the name %q", ErrExists, r.Login, r.Name)
		case r.Name != name:
			return fmt.Errorf("%w: name %q is the actor %q of user %q, spelled otherwise: use that spelling", ErrExists, name, r.Name, r.Login)
		}
		return nil
	})
}

// Issue creates a token for name with roles, valid until expires (zero:
// until revoked). It returns the token, which is not stored and cannot be
// shown again, and its Info.
func (t *Tokens) Issue(name string, roles []Role, expires time.Time) (string, Info, error) {
	var token string
	var info Info
	err := t.db.Update(func(tx kv.Tx) error {
		var err error
		if err := checkName(name); err != nil {
			return err
		}
		if err := spellingFree(tx, name, ""); err != nil {
			return err
		}
		token, info, err = issue(tx.Bucket(bTokens), name, roles, expires)
		return err
	})
	if err != nil {
		return "", Info{}, err
	}
	return token, info, nil
}

// issue stores a new token; the first admin's (EnsureAdmin) is not
// checked against the other spellings, so that a user named Admin never
// keeps a hub from starting (a user of the same actor is only refused
// more).
func issue(b kv.Bucket, name string, rs []Role, expires time.Time) (string, Info, error) {
	if err := checkName(name); err != nil {
		return "", Info{}, err
	}
	if len(rs) == 0 {
		return "", Info{}, invalid("no role")
	}
	for _, r := range rs {
		if !r.known() {
			return "", Info{}, invalid("role %q: want one of %s", r, joinRoles(roles, ", "))
		}
	}
	now := time.Now().UTC()
	if !expires.IsZero() && !expires.After(now) {
		return "", Info{}, invalid("expiry %s is not in the future", expires.UTC().Format(time.RFC3339))
	}
	var id, secret string
	for {
		var err error
		if id, secret, err = newToken(); err != nil {
			return "", Info{}, err
		}
		if b.Get([]byte(id)) == nil {
			break
		}
	}
	h := hashSecret(secret)
	r := record{
		Info:   Info{ID: id, Name: name, Roles: canonical(rs), Created: now, Expires: expires.UTC()},
		SHA256: h[:],
	}
	if err := put(b, &r); err != nil {
		return "", Info{}, err
	}
	return format(id, secret), r.Info, nil
}

func put(b kv.Bucket, r *record) error {
	j, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.ID), j)
}

func decode(id, raw []byte) (record, error) {
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("%w: %s: %v", ErrCorrupt, id, err)
	}
	if len(r.SHA256) != sha256.Size {
		return r, fmt.Errorf("%w: %s: hash of %d bytes", ErrCorrupt, id, len(r.SHA256))
	}
	return r, nil
}

func get(b kv.Bucket, id string) (record, error) {
	raw := b.Get([]byte(id))
	if raw == nil {
		return record{}, fmt.Errorf("%w: token %s", ErrNotFound, id)
	}
	return decode([]byte(id), raw)
}

// each calls fn with every stored token, in id order.
func each(b kv.Bucket, fn func(r *record)) error {
	return b.ForEach(func(k, raw []byte) error {
		r, err := decode(k, raw)
		if err != nil {
			return err
		}
		fn(&r)
		return nil
	})
}

// List returns every token, revoked and expired ones too, oldest first.
func (t *Tokens) List() ([]Info, error) {
	var out []Info
	err := t.db.View(func(tx kv.Tx) error {
		return each(tx.Bucket(bTokens), func(r *record) { out = append(out, r.Info) })
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Revoke revokes token id for good. Revoking a revoked token does nothing.
func (t *Tokens) Revoke(id string) error {
	if !isID(id) {
		// not quoted: a whole token given by mistake would end up in a log
		return fmt.Errorf("%w: a token id is not %d lowercase hex digits", ErrNotFound, idLen)
	}
	err := t.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bTokens)
		r, err := get(b, id)
		if err != nil || r.Revoked {
			return err
		}
		r.Revoked, r.RevokedAt = true, time.Now().UTC()
		return put(b, &r)
	})
	if err == nil {
		t.end(id)
	}
	return err
}

// Ended returns a channel closed when token id is revoked (at once if it
// is revoked already, or unknown), for a stream that must not outlive
// its token; expiry is the stream's to watch (Principal.Expires). Call
// release when the stream ends.
func (t *Tokens) Ended(id string) (ended <-chan struct{}, release func()) {
	t.mu.Lock()
	e := t.ends[id]
	if e == nil {
		e = &ending{ch: make(chan struct{})}
		t.ends[id] = e
	}
	e.users++
	t.mu.Unlock()
	release = sync.OnceFunc(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if e.users--; e.users == 0 && t.ends[id] == e {
			delete(t.ends, id)
		}
	})
	// read after the channel is in place: a Revoke that commits after this
	// read closes it; one before is seen here
	var live bool
	err := t.db.View(func(tx kv.Tx) error {
		r, err := get(tx.Bucket(bTokens), id)
		live = err == nil && !r.Revoked
		return err
	})
	if err != nil || !live {
		t.end(id)
	}
	return e.ch, release
}

// end closes the Ended channel of id, if a stream waits on it.
func (t *Tokens) end(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.ends[id]; e != nil && !e.closed {
		e.closed = true
		close(e.ch)
		delete(t.ends, id)
	}
}

// Verify returns who token belongs to. Its errors are ErrMalformed,
// ErrUnknown and ErrTampered (the caller's 401s) or, when the store
// fails, another error (a 500); they name the token by its id only.
func (t *Tokens) Verify(token string) (Principal, error) {
	id, secret, err := parse(token)
	if err != nil {
		return Principal{}, err
	}
	var r record
	err = t.db.View(func(tx kv.Tx) error {
		var gerr error
		r, gerr = get(tx.Bucket(bTokens), id)
		return gerr
	})
	if errors.Is(err, ErrNotFound) {
		return Principal{}, fmt.Errorf("%w: no token %s", ErrUnknown, id)
	}
	if err != nil {
		return Principal{}, err
	}
	h := hashSecret(secret)
	if subtle.ConstantTimeCompare(h[:], r.SHA256) != 1 {
		return Principal{}, fmt.Errorf("%w: token %s", ErrTampered, id)
	}
	// Only now, to the holder of the secret, say why a known token fails.
	switch now := time.Now(); {
	case r.Revoked:
		return Principal{}, fmt.Errorf("%w: token %s was revoked", ErrUnknown, id)
	case !r.Active(now):
		return Principal{}, fmt.Errorf("%w: token %s expired at %s", ErrUnknown, id, r.Expires.Format(time.RFC3339))
	}
	return Principal{Name: r.Name, Roles: slices.Clone(r.Roles), TokenID: id, Expires: r.Expires}, nil
}

// EnsureAdmin issues an admin token for name, without expiry, if no
// active admin token exists, and returns it; else it returns ("", false).
// The hub calls it at every start, to give a new hub its first admin
// token (or a new one after the last was revoked).
func (t *Tokens) EnsureAdmin(name string) (token string, issued bool, err error) {
	err = t.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bTokens)
		now, found := time.Now(), false
		err := each(b, func(r *record) {
			found = found || r.Active(now) && slices.Contains(r.Roles, Admin)
		})
		if err != nil || found {
			return err
		}
		token, _, err = issue(b, name, []Role{Admin}, time.Time{})
		return err
	})
	if err != nil {
		return "", false, err
	}
	return token, token != "", nil
}

// counters count refusals, by reason: the children of
// kunci_hub_auth_refused_total.
type counters struct {
	missing, ambiguous, malformed, unknown, tampered, forbidden *metrics.Counter
}

// refusal is the reason label of kunci_hub_auth_refused_total.
type refusal string

// Stats are the requests Middleware and Require refused since New, by
// reason, for the hub's /metrics.
type Stats struct {
	Missing   uint64 `json:"missing"`   // no Authorization: Bearer token
	Ambiguous uint64 `json:"ambiguous"` // two Authorization headers
	Malformed uint64 `json:"malformed"` // ErrMalformed
	Unknown   uint64 `json:"unknown"`   // ErrUnknown
	Tampered  uint64 `json:"tampered"`  // ErrTampered
	Forbidden uint64 `json:"forbidden"` // ErrForbidden
}

// Stats returns the refusals counted so far.
func (t *Tokens) Stats() Stats {
	c := &t.stats
	return Stats{
		Missing: c.missing.Value(), Ambiguous: c.ambiguous.Value(), Malformed: c.malformed.Value(), Unknown: c.unknown.Value(),
		Tampered: c.tampered.Value(), Forbidden: c.forbidden.Value(),
	}
}
