package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/internal/metrics"
)

// Buckets of the people who sign in to the console: login -> userRecord
// JSON, and SHA-256 of a session's secret -> sessionRecord JSON.
var (
	bUsers    = []byte("users")
	bSessions = []byte("sessions")
)

// Session lifetimes: a session lasts a working day at most, and ends
// after two hours without a request (a phone left on a desk). LastSeen is
// written at most once a touchEvery, so that reading pages does not cost
// a write each.
const (
	SessionLifetime = 12 * time.Hour
	SessionIdle     = 2 * time.Hour
	touchEvery      = time.Minute
	maxLogin        = 32
)

// Languages a user may choose for the console; the first is the default.
var Languages = []string{"id", "en"}

// User is a person who signs in to the console.
type User struct {
	// Login is what they sign in with: 1 to 32 lowercase letters, digits
	// and . _ -, unique.
	Login string `json:"login"`
	// Name is the person's name, the actor of every workflow step they
	// take, so it is unique too: their API tokens carry the same name.
	Name     string    `json:"name"`
	Roles    []Role    `json:"roles"`
	Lang     string    `json:"lang"` // one of Languages
	Disabled bool      `json:"disabled,omitempty"`
	Created  time.Time `json:"created"`
	Changed  time.Time `json:"changed"`
}

type userRecord struct {
	User
	Hash string `json:"hash"` // argon2id, PHC string
}

type sessionRecord struct {
	Login    string    `json:"login"`
	ID       string    `json:"id"`   // names the session in lists and logs
	CSRF     string    `json:"csrf"` // the token its forms carry
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastSeen time.Time `json:"last_seen"`
}

// Session is a signed-in session as a request finds it.
type Session struct {
	ID      string    // names the session (not its secret)
	CSRF    string    // the token every form and htmx request of it carries
	Expires time.Time // absolute end; the idle end comes sooner without requests
	// Ended is closed when the session ends before Expires: signed out,
	// its user disabled or changed. Live streams stop on it.
	Ended <-chan struct{}
}

// Users is the register of the console's people and their sessions. It is
// safe for concurrent use.
//
// The Ended channels, the one-time sign-in codes and the sign-in limiter
// are this process's: with a second hub process on one PostgreSQL store
// (hub/kv/pgkv), a session ended there is refused here at its next
// request (Verify reads the store), and a live stream here ends when the
// hub follows that write (Follow); a code made there signs in only
// there; each process limits the sign-ins it sees.
type Users struct {
	db  kv.DB
	now func() time.Time

	mu    sync.Mutex
	ended map[string]chan struct{} // session id -> closed when it ends
	codes map[string]code          // one-time sign-in codes, by hash

	limit   *Limiter
	signins *metrics.CounterVec[signinResult]
}

type signinResult string

// NewUsers keeps the users and their sessions in db (the hub's workflow
// store), in the buckets "users" and "sessions". now is the clock (nil:
// time.Now); sign-ins are counted on reg.
func NewUsers(db kv.DB, reg *metrics.Registry, now func() time.Time) (*Users, error) {
	if now == nil {
		now = time.Now
	}
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	return &Users{db: db, now: now, ended: map[string]chan struct{}{}, limit: NewLimiter(now),
		signins: metrics.NewCounterVec[signinResult](reg, "kunci_hub_signins_total",
			"Console sign-ins, by result: ok, refused (wrong login or password), disabled, limited.", "result")}, nil
}

func checkLogin(login string) error {
	switch {
	case login == "":
		return invalid("no login")
	case len(login) > maxLogin:
		return invalid("login is %d characters long, at most %d", len(login), maxLogin)
	case strings.Trim(login, "abcdefghijklmnopqrstuvwxyz0123456789._-") != "":
		return invalid("login %q: use lowercase letters, digits and . _ - only", login)
	}
	return nil
}

// NewUser is what Add and Change are given.
type NewUser struct {
	Login, Name string
	Roles       []Role
	Lang        string // empty: Languages[0]
	Password    string // empty in Change: unchanged
	Disabled    bool
}

func (n *NewUser) check(needPassword bool) error {
	var errs []error
	errs = append(errs, checkLogin(n.Login), checkName(n.Name))
	if len(n.Roles) == 0 {
		errs = append(errs, invalid("no role"))
	}
	for _, r := range n.Roles {
		if !r.known() {
			errs = append(errs, invalid("unknown role %q", r))
		}
	}
	if n.Lang == "" {
		n.Lang = Languages[0]
	}
	if !slices.Contains(Languages, n.Lang) {
		errs = append(errs, invalid("language %q: want one of %s", n.Lang, strings.Join(Languages, ", ")))
	}
	if needPassword || n.Password != "" {
		errs = append(errs, checkPassword(n.Password))
	}
	return errors.Join(errs...)
}

// Add creates a user. Its login and its name must both be new.
func (u *Users) Add(n NewUser) (User, error) {
	if err := n.check(true); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(n.Password)
	if err != nil {
		return User{}, err
	}
	now := u.now().UTC()
	rec := userRecord{User: User{Login: n.Login, Name: n.Name, Roles: canonical(n.Roles), Lang: n.Lang,
		Disabled: n.Disabled, Created: now, Changed: now}, Hash: hash}
	err = u.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bUsers)
		if b.Get([]byte(n.Login)) != nil {
			return fmt.Errorf("%w: login %q is taken", ErrExists, n.Login)
		}
		if err := spellingFree(tx, n.Name, n.Login); err != nil {
			return err
		}
		return putJSON(b, n.Login, rec)
	})
	return rec.User, err
}

// Change sets a user's name, roles, language, disabled flag and (when
// given) password. Every session of the user ends: the next request signs
// in again, under the new rights, and a disabled user cannot.
func (u *Users) Change(n NewUser) (User, error) {
	if err := n.check(false); err != nil {
		return User{}, err
	}
	var hash string
	if n.Password != "" {
		var err error
		if hash, err = hashPassword(n.Password); err != nil {
			return User{}, err
		}
	}
	var rec userRecord
	var ended []string
	err := u.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bUsers)
		var err error
		if rec, err = getUser(b, n.Login); err != nil {
			return err
		}
		if err := spellingFree(tx, n.Name, n.Login); err != nil {
			return err
		}
		rec.Name, rec.Roles, rec.Lang, rec.Disabled, rec.Changed = n.Name, canonical(n.Roles), n.Lang, n.Disabled, u.now().UTC()
		if hash != "" {
			rec.Hash = hash
		}
		if err := putJSON(b, n.Login, rec); err != nil {
			return err
		}
		ended, err = deleteSessions(tx.Bucket(bSessions), func(s *sessionRecord) bool { return s.Login == n.Login })
		return err
	})
	if err != nil {
		return User{}, err
	}
	u.end(ended...)
	return rec.User, nil
}

// Disable disables a user and ends every session of theirs at once.
func (u *Users) Disable(login string) (User, error) {
	usr, err := u.Get(login)
	if err != nil {
		return User{}, err
	}
	return u.Change(NewUser{Login: usr.Login, Name: usr.Name, Roles: usr.Roles, Lang: usr.Lang, Disabled: true})
}

// Get returns the user with login.
func (u *Users) Get(login string) (User, error) {
	var rec userRecord
	err := u.db.View(func(tx kv.Tx) error {
		var err error
		rec, err = getUser(tx.Bucket(bUsers), login)
		return err
	})
	return rec.User, err
}

// List returns every user, by login.
func (u *Users) List() ([]User, error) {
	var out []User
	err := u.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bUsers).ForEach(func(k, v []byte) error {
			var r userRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%w: user %q: %v", ErrCorrupt, k, err)
			}
			out = append(out, r.User)
			return nil
		})
	})
	return out, err
}

func getUser(b kv.Bucket, login string) (userRecord, error) {
	var r userRecord
	v := b.Get([]byte(login))
	if v == nil {
		return r, fmt.Errorf("%w: user %q", ErrNotFound, login)
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("%w: user %q: %v", ErrCorrupt, login, err)
	}
	return r, nil
}

func putJSON(b kv.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), raw)
}

// NewPassword returns a random password of 16 characters (96 bits), for a
// user whose first password is made rather than chosen: kunci user add
// without a password file, kunci dev's demo office.
func NewPassword() (string, error) { return random(12) }

// dummyHash is checked against when a login is unknown, so that a wrong
// login takes as long as a wrong password and the answer's time does not
// tell which logins exist.
var dummyHash = sync.OnceValue(func() string {
	h, _ := hashPassword("kunci: no such user, the same cost")
	return h
})

// SignIn checks login and password, tried from the network address addr,
// and starts a session. It returns the session's secret, for the cookie,
// and the session. Every failure is ErrSignIn, whatever was wrong, but
// for a disabled user's right password (ErrDisabled), which only the user
// can learn, and for tries beyond the limit (ErrLimited), whose password
// is not even checked.
func (u *Users) SignIn(login, password, addr string) (secret string, s Session, err error) {
	if !u.limit.Allowed(login, addr) {
		u.signins.With("limited").Inc()
		return "", Session{}, ErrLimited
	}
	rec, err := u.lookup(login)
	if err != nil {
		passwordMatches(dummyHash(), password)
	}
	if err != nil || !passwordMatches(rec.Hash, password) {
		u.limit.Failed(login, addr)
		u.signins.With("refused").Inc()
		return "", Session{}, ErrSignIn
	}
	u.limit.Succeeded(login)
	switch {
	case rec.Disabled:
		u.signins.With("disabled").Inc()
		return "", Session{}, ErrDisabled
	}
	secret, s, err = u.start(rec.Login)
	if err == nil {
		u.signins.With("ok").Inc()
	}
	return secret, s, err
}

func (u *Users) lookup(login string) (userRecord, error) {
	if checkLogin(login) != nil {
		return userRecord{}, ErrNotFound
	}
	var rec userRecord
	err := u.db.View(func(tx kv.Tx) error {
		var err error
		rec, err = getUser(tx.Bucket(bUsers), login)
		return err
	})
	return rec, err
}

func random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func sessionKey(secret string) []byte {
	k := sha256.Sum256([]byte(secret))
	return k[:]
}

func (u *Users) start(login string) (string, Session, error) {
	secret, err := random(32)
	if err != nil {
		return "", Session{}, err
	}
	id, err := random(9)
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := random(32)
	if err != nil {
		return "", Session{}, err
	}
	now := u.now().UTC()
	rec := sessionRecord{Login: login, ID: id, CSRF: csrf, Created: now, Expires: now.Add(SessionLifetime), LastSeen: now}
	var old []string
	err = u.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bSessions)
		// sessions that ended by time are dropped as new ones start, so
		// the bucket and the Ended channels hold only the live ones
		var err error
		if old, err = deleteSessions(b, func(s *sessionRecord) bool { return !u.live(s, now) }); err != nil {
			return err
		}
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(sessionKey(secret), raw)
	})
	if err != nil {
		return "", Session{}, err
	}
	u.end(old...)
	return secret, u.session(&rec), nil
}

func (u *Users) live(s *sessionRecord, now time.Time) bool {
	return now.Before(s.Expires) && now.Before(s.LastSeen.Add(SessionIdle))
}

// session returns the Session of rec, with its Ended channel.
func (u *Users) session(rec *sessionRecord) Session {
	u.mu.Lock()
	defer u.mu.Unlock()
	ch, ok := u.ended[rec.ID]
	if !ok {
		ch = make(chan struct{})
		u.ended[rec.ID] = ch
	}
	return Session{ID: rec.ID, CSRF: rec.CSRF, Expires: rec.Expires, Ended: ch}
}

// end closes the Ended channels of the sessions ids.
func (u *Users) end(ids ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range ids {
		if ch, ok := u.ended[id]; ok {
			close(ch)
			delete(u.ended, id)
		}
	}
}

// deleteSessions deletes the sessions drop picks and returns their ids.
func deleteSessions(b kv.Bucket, drop func(*sessionRecord) bool) ([]string, error) {
	var keys [][]byte
	var ids []string
	err := b.ForEach(func(k, v []byte) error {
		var s sessionRecord
		if json.Unmarshal(v, &s) != nil || drop(&s) {
			keys = append(keys, k)
			ids = append(ids, s.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Verify returns the principal and session of a session's secret, as the
// console's cookie carries it. It refuses (ErrUnknown) a secret no live
// session has, and a session whose user is disabled or gone: a user
// disabled is refused on the very next request.
func (u *Users) Verify(secret string) (Principal, Session, error) {
	now := u.now().UTC()
	key := sessionKey(secret)
	var rec sessionRecord
	var usr userRecord
	err := u.db.View(func(tx kv.Tx) error {
		v := tx.Bucket(bSessions).Get(key)
		if v == nil || json.Unmarshal(v, &rec) != nil || !u.live(&rec, now) {
			return ErrUnknown
		}
		var err error
		if usr, err = getUser(tx.Bucket(bUsers), rec.Login); err != nil || usr.Disabled {
			return ErrUnknown
		}
		return nil
	})
	if err != nil {
		return Principal{}, Session{}, err
	}
	if now.Sub(rec.LastSeen) >= touchEvery {
		if err := u.touch(key, now); err != nil {
			return Principal{}, Session{}, err
		}
	}
	p := Principal{Name: usr.Name, Roles: usr.Roles, User: usr.Login, Lang: usr.Lang, SessionID: rec.ID}
	return p, u.session(&rec), nil
}

func (u *Users) touch(key []byte, now time.Time) error {
	return u.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bSessions)
		v := b.Get(key)
		if v == nil {
			return ErrUnknown
		}
		var rec sessionRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return ErrUnknown
		}
		rec.LastSeen = now
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(key, raw)
	})
}

// SignOut ends the session of secret; a secret no session has is not an
// error (signing out twice is harmless).
func (u *Users) SignOut(secret string) error {
	key := sessionKey(secret)
	var id string
	err := u.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bSessions)
		var rec sessionRecord
		if v := b.Get(key); v != nil && json.Unmarshal(v, &rec) == nil {
			id = rec.ID
		}
		return b.Delete(key)
	})
	if err == nil && id != "" {
		u.end(id)
	}
	return err
}

// CSRFMatches reports whether token is s's CSRF token, in constant time.
func (s Session) CSRFMatches(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// codeLife is how long a one-time sign-in code holds.
const codeLife = 15 * time.Minute

type code struct {
	login   string
	expires time.Time
}

// SignInCode returns a one-time code that signs login in once, within
// codeLife, without the password: kunci dev prints one for its admin, so
// that a newcomer's first step lands on a signed-in dashboard. Codes live
// in memory only (a restarted hub forgets them) and are kept as hashes.
func (u *Users) SignInCode(login string) (string, error) {
	if _, err := u.Get(login); err != nil {
		return "", err
	}
	c, err := random(32)
	if err != nil {
		return "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.now()
	for k, v := range u.codes {
		if !now.Before(v.expires) {
			delete(u.codes, k)
		}
	}
	if u.codes == nil {
		u.codes = map[string]code{}
	}
	u.codes[string(sessionKey(c))] = code{login: login, expires: now.Add(codeLife)}
	return c, nil
}

// RedeemCode signs in with a one-time code from addr: it holds once,
// before it expires, for a user not disabled. A wrong code counts as a
// failed sign-in of addr.
func (u *Users) RedeemCode(c, addr string) (string, Session, error) {
	if !u.limit.AllowedAddr(addr) {
		u.signins.With("limited").Inc()
		return "", Session{}, ErrLimited
	}
	u.mu.Lock()
	k := string(sessionKey(c))
	v, ok := u.codes[k]
	delete(u.codes, k)
	u.mu.Unlock()
	if !ok || !u.now().Before(v.expires) {
		u.limit.FailedAddr(addr)
		u.signins.With("refused").Inc()
		return "", Session{}, ErrSignIn
	}
	rec, err := u.lookup(v.login)
	if err != nil || rec.Disabled {
		u.signins.With("disabled").Inc()
		return "", Session{}, ErrDisabled
	}
	secret, s, err := u.start(rec.Login)
	if err == nil {
		u.signins.With("ok").Inc()
	}
	return secret, s, err
}

// SetLang sets the console language of user login: their own choice,
// which keeps their sessions (unlike Change, which is an admin's).
func (u *Users) SetLang(login, lang string) error {
	if !slices.Contains(Languages, lang) {
		return invalid("language %q: want one of %s", lang, strings.Join(Languages, ", "))
	}
	return u.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bUsers)
		rec, err := getUser(b, login)
		if err != nil {
			return err
		}
		rec.Lang, rec.Changed = lang, u.now().UTC()
		return putJSON(b, login, rec)
	})
}
