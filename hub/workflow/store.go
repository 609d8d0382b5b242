package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/internal/durable"
	"github.com/kunci-project/kunci/permit"
	bolt "go.etcd.io/bbolt"
)

// State is where a permit request is in its life.
type State string

// States of a permit request.
const (
	Requested   State = "requested"
	Coordinated State = "coordinated"
	Approved    State = "approved"
	Escorted    State = "escorted"
	Issued      State = "issued"
	Rejected    State = "rejected"
	Revoked     State = "revoked"
)

// Transition is one step of a permit's life: the state it led to, who
// did it, when, and the version it gave the record.
type Transition struct {
	State   State     `json:"state"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Version uint64    `json:"version"`
	Note    string    `json:"note,omitempty"`
}

// Request is the special permit form of SOP step 1.
type Request struct {
	ID           string    // empty: the store numbers it P-000001, P-000002, ...
	Site, Door   string    // the door the guest may open
	Guest        string    // the guest's name
	NIK          string    // the guest's national id number, 16 digits
	Organisation string    // company or agency
	Phone        string    // optional
	Purpose      string    // the work to do
	Equipment    []string  // what the guest brings in
	NotBefore    time.Time // time window of the visit
	NotAfter     time.Time
	Entries      int       // entries allowed, 0: any inside the window
	CardUID      string    // as typed by the desk reader; only its fingerprint is kept
	FormOpened   time.Time // when the form was opened, if known (SLA step 1)
	By           string    // who filed it
}

// Record is a stored permit request. NIK and phone are in clear: show
// For (Masked) to anyone but an admin.
type Record struct {
	ID           string             `json:"id"`
	Version      uint64             `json:"version"`
	State        State              `json:"state"`
	Site         string             `json:"site"`
	Door         string             `json:"door"`
	Guest        string             `json:"guest"`
	NIK          string             `json:"nik"`
	Organisation string             `json:"organisation"`
	Phone        string             `json:"phone,omitempty"`
	Purpose      string             `json:"purpose"`
	Equipment    []string           `json:"equipment,omitempty"`
	NotBefore    time.Time          `json:"not_before"`
	NotAfter     time.Time          `json:"not_after"`
	Entries      int                `json:"entries"`
	Card         permit.Fingerprint `json:"card"`
	Category     permit.Category    `json:"category,omitempty"`
	Requester    string             `json:"requester"`
	Coordinator  string             `json:"coordinator,omitempty"`
	Approver     string             `json:"approver,omitempty"`
	ApprovedAt   time.Time          `json:"approved_at,omitzero"`
	Escort       string             `json:"escort,omitempty"`
	FormOpened   time.Time          `json:"form_opened,omitzero"`
	Purged       time.Time          `json:"purged,omitzero"` // when Purge removed the personal data
	History      []Transition       `json:"history"`
}

// Masked returns a copy of r with the NIK and the phone masked, for
// every view but the admin's.
func (r Record) Masked() Record {
	r.NIK, r.Phone = MaskNIK(r.NIK), MaskPhone(r.Phone)
	r.Equipment = slices.Clone(r.Equipment)
	r.History = slices.Clone(r.History)
	return r
}

// For returns r as a reader may see it: with clear (an admin) as it is,
// else Masked; without name (a reader who does not handle requests: the
// auditor) the guest's name masked too (MaskName). The API and the
// console show every permit request through it; the guest book, the
// record of the visits, shows names to every reader, as the paper Buku
// Tamu does (hub/api's package doc has the whole rule).
func (r Record) For(clear, name bool) Record {
	if !clear {
		r = r.Masked()
	}
	if !name && r.Purged.IsZero() {
		r.Guest = MaskName(r.Guest)
	}
	return r
}

// MaskName keeps the first letter of each word of a name and masks the
// rest: "Siti Rahma" is "S*** R****".
func MaskName(name string) string {
	var b strings.Builder
	first := true
	for _, c := range name {
		switch {
		case c == ' ':
			first = true
			b.WriteRune(c)
		case first:
			first = false
			b.WriteRune(c)
		default:
			b.WriteByte('*')
		}
	}
	return b.String()
}

// MaskPhone shows the last 2 digits of a phone number and masks the
// other digits, keeping its + and spaces: "+62 812-3456-7890" is
// "+** ***-****-**90". A number of 4 digits or fewer is masked whole.
func MaskPhone(phone string) string {
	digits := 0
	for _, c := range phone {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	keep := 0
	if digits > 4 {
		keep = 2
	}
	out := []byte(phone)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] < '0' || out[i] > '9' {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		out[i] = '*'
	}
	return string(out)
}

// At returns when r first reached state s, and whether it did.
func (r *Record) At(s State) (time.Time, bool) {
	for _, t := range r.History {
		if t.State == s {
			return t.At, true
		}
	}
	return time.Time{}, false
}

// MaskNIK shows the first 4 and the last 2 digits of a NIK and masks the
// rest; a value too short to keep anything hidden is masked whole.
func MaskNIK(nik string) string {
	if len(nik) <= 6 {
		return strings.Repeat("*", len(nik))
	}
	return nik[:4] + strings.Repeat("*", len(nik)-6) + nik[len(nik)-2:]
}

// Options configure a Store.
type Options struct {
	// SiteKeys key card fingerprints per site.
	SiteKeys map[string]permit.SiteKey
	// Signer signs permits and revocations; without it Sign and Revoke
	// fail with ErrNoSigner.
	Signer *permit.Signer
	// Now is the clock, time.Now if nil.
	Now func() time.Time
	// Timeout bounds the wait for another process to let go of the
	// file; 2 s if zero.
	Timeout time.Duration
	// MaxWindow is the longest time window of a request
	// (DefaultMaxWindow if zero).
	MaxWindow time.Duration
	// KeysPath is the file of the keys that seal each request's personal
	// data; the store's path and KeysSuffix if empty (OpenDB needs it).
	// Back it up with the store, at the same time: without it the names,
	// NIKs and phones of the store cannot be read.
	KeysPath string
	// Keys, if set, keeps the keys instead of a keys file (OpenDB): the
	// table of the PostgreSQL database the hub replicas share
	// (hub/kv/pgkv's Keys). The store closes it.
	Keys Keys
}

var (
	bPermits = []byte("permits")
	bStaff   = []byte("staff")
)

// Records names the records a write of the store's bucket touched, for a
// hub process that follows another's writes (hub/kv/pgkv's Watch): the
// ids of permit requests or of staff members (a key is its record's id);
// records says whether the bucket holds records at all.
func Records(bucket []byte, keys [][]byte) (permits, staff []string, records bool) {
	var ids []string
	for _, k := range keys {
		ids = append(ids, string(k))
	}
	switch string(bucket) {
	case string(bPermits):
		return ids, nil, true
	case string(bStaff):
		return nil, ids, true
	}
	return nil, nil, false
}

// Store is the workflow's store, a bbolt file (Open) or another kv.DB
// (OpenDB): permit requests and the staff register, and the keys file
// sealing the requests' personal data.
//
// The keys are in a file of this process's beside a bbolt store, or in
// the database the hub replicas share (Options.Keys).
type Store struct {
	db   kv.DB
	file *bolt.DB // the bbolt file, nil in another kv.DB
	keys *keyring
	opts Options

	// the digests PrefetchDigests is reading, for the next Digests;
	// digestWrites counts the digests written by this Store, which make a
	// prefetch begun before them stale
	prefetchMu   sync.Mutex
	prefetch     chan prefetched
	digestWrites atomic.Uint64
}

// Open opens or creates the store at path, a bbolt file.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.KeysPath == "" {
		opts.KeysPath = path + KeysSuffix
	}
	newKeys, keys, err := openKeys(opts)
	if err != nil {
		return nil, fmt.Errorf("workflow store %s: %w", path, err)
	}
	s := &Store{keys: keys, opts: opts}
	if s.file, err = s.openFile(path, newKeys); err != nil {
		keys.close()
		return nil, fmt.Errorf("workflow store %s: %w", path, err)
	}
	s.db = kv.Bolt(s.file)
	if err := s.digestAll(); err != nil {
		s.file.Close()
		keys.close()
		return nil, fmt.Errorf("workflow store %s: %w", path, err)
	}
	return s, nil
}

// OpenDB opens the store in db, a kv.DB that is not a bbolt file
// (PostgreSQL: hub/kv/pgkv), with its keys in opts.Keys (the hub
// replicas sharing db share them: a key one made is read by another the
// first time it is needed), or else a keys file at opts.KeysPath; Close
// closes db and the keys. A store made here is sealed from its first
// record: it was never written in clear, and has no file to compact.
func OpenDB(db kv.DB, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if opts.KeysPath == "" && opts.Keys == nil {
		return nil, errors.New("workflow store: no keys (Options.Keys or KeysPath)")
	}
	newKeys, keys, err := openKeys(opts)
	if err != nil {
		return nil, fmt.Errorf("workflow store: %w", err)
	}
	s := &Store{db: db, keys: keys, opts: opts}
	sealed, err := s.seal(newKeys)
	if err == nil && !sealed {
		err = db.Update(func(tx kv.Tx) error { return tx.Bucket(bMeta).Put(mSealed, []byte{1}) })
	}
	if err == nil {
		err = s.digestAll()
	}
	if err != nil {
		keys.close()
		return nil, fmt.Errorf("workflow store: %w", err)
	}
	return s, nil
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = DefaultMaxWindow
	}
	return o
}

// openKeys opens the keys, and says whether they are a keys file that
// was not there.
func openKeys(opts Options) (bool, *keyring, error) {
	if opts.Keys != nil {
		keys, err := newKeyring(opts.Keys)
		return false, keys, err
	}
	_, statErr := os.Stat(opts.KeysPath)
	f, err := openKeysFile(opts.KeysPath, opts.Timeout)
	if err != nil {
		return false, nil, err
	}
	keys, err := newKeyring(f)
	return errors.Is(statErr, os.ErrNotExist), keys, err
}

// openFile opens the store's file. A file written before the personal
// data was sealed is sealed and compacted once (see seal.go).
func (s *Store) openFile(path string, newKeys bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: s.opts.Timeout})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bPermits, bStaff, bMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	var sealed bool
	if err == nil {
		s.db = kv.Bolt(db)
		sealed, err = s.seal(newKeys)
	}
	if err == nil && !sealed {
		if err = db.Close(); err == nil {
			return compactSealed(path, s.opts.Timeout)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// seal seals every record that holds its personal data in clear, unless
// the store is marked sealed, and says whether it was. A sealed store
// whose keys file was not there (newKeys) is refused, for its names
// would read UnreadableGuest.
func (s *Store) seal(newKeys bool) (sealed bool, err error) {
	var lost bool
	err = s.db.Update(func(tx kv.Tx) error {
		if sealed = tx.Bucket(bMeta).Get(mSealed) != nil; sealed {
			if newKeys {
				k, _ := tx.Bucket(bPermits).Cursor().First()
				lost = k != nil
			}
			return nil
		}
		return s.sealAll(tx)
	})
	if err == nil && lost {
		err = fmt.Errorf("its personal data is sealed with the keys of %s, which was not there: restore it from the backup the store came from", s.opts.KeysPath)
	}
	return sealed, err
}

// sealAll seals every record that holds its personal data in clear.
func (s *Store) sealAll(tx kv.Tx) error {
	var plain []Record
	err := tx.Bucket(bPermits).ForEach(func(k, raw []byte) error {
		var sr storedRecord
		if err := json.Unmarshal(raw, &sr); err != nil {
			return fmt.Errorf("%w: permit %q: %v", ErrCorrupt, k, err)
		}
		if sr.Sealed == nil && sealable(&sr.Record) {
			plain = append(plain, sr.Record)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.keys.ensureFor(plain); err != nil {
		return err
	}
	for i := range plain {
		if err := s.putRecord(tx, &plain[i]); err != nil {
			return err
		}
	}
	return nil
}

// compactSealed copies the closed store at path to a new file, marked
// sealed, which replaces it: the pages the old file freed, and the
// plaintext in them, are gone. It returns the new file, open.
func compactSealed(path string, timeout time.Duration) (*bolt.DB, error) {
	tmp := path + ".compact"
	os.Remove(tmp) // a leftover of an interrupted compaction
	err := func() error {
		src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
		if err != nil {
			return err
		}
		dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
		if err != nil {
			src.Close()
			return err
		}
		err = bolt.Compact(dst, src, 0)
		if err == nil {
			err = dst.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(mSealed, []byte{1}) })
		}
		return errors.Join(err, dst.Close(), src.Close())
	}()
	if err == nil {
		err = durable.Replace(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("compact: %w", err)
	}
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
}

// KV is the store's kv.DB, for the hub's other buckets (users, tokens,
// alarms, the notification queue, the command log) to live in the same
// store.
func (s *Store) KV() kv.DB { return s.db }

// File is the store's bbolt file, for a backup and integrity checks; nil
// for a store in another kv.DB.
func (s *Store) File() *bolt.DB { return s.file }

// ViewKeys runs fn in a read transaction of the keys file (KeysSuffix),
// for a backup: under the lock that a purge takes to write the file anew.
// Keys kept elsewhere (Options.Keys) have no file: ErrNoKeysFile.
func (s *Store) ViewKeys(fn func(*bolt.Tx) error) error {
	f, ok := s.keys.store.(*fileKeys)
	if !ok {
		return ErrNoKeysFile
	}
	return f.view(fn)
}

// KeysFile reports whether the keys are a keys file (not Options.Keys).
func (s *Store) KeysFile() bool {
	_, ok := s.keys.store.(*fileKeys)
	return ok
}

// Close closes the store and the keys file.
func (s *Store) Close() error {
	s.prefetchMu.Lock()
	if s.prefetch != nil {
		<-s.prefetch // its read ends before the file closes
		s.prefetch = nil
	}
	s.prefetchMu.Unlock()
	return errors.Join(s.db.Close(), s.keys.close())
}

// Fingerprint returns the card fingerprint of uid at site.
func (s *Store) Fingerprint(site, uid string) (permit.Fingerprint, error) {
	k, ok := s.opts.SiteKeys[site]
	if !ok {
		return "", fmt.Errorf("%w: site %q", ErrNoSiteKey, site)
	}
	f, err := k.FingerprintText(uid)
	if err != nil {
		return "", fmt.Errorf("%w: card: %v", ErrInvalid, err)
	}
	return f, nil
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// MaxEntries bounds a permit's entries; 0 (any number inside the window)
// is bounded by the window (Options.MaxWindow) instead.
const MaxEntries = 100

// DefaultMaxWindow is the longest time window of a permit when
// Options.MaxWindow is zero: 30 days (hub.yaml max_permit_window).
const DefaultMaxWindow = 720 * time.Hour

// textInvalid is err, a permit.TextError, as the workflow's ErrInvalid.
func textInvalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }

// checkText reports a problem of a one-line field's text (permit.CheckText)
// as an ErrInvalid.
func checkText(field, v string, max int) error {
	if err := permit.CheckText(field, v, max); err != nil {
		return textInvalid(err)
	}
	return nil
}

// checkLines is checkText for a field of several lines.
func checkLines(field, v string, max int) error {
	if err := permit.CheckLines(field, v, max); err != nil {
		return textInvalid(err)
	}
	return nil
}

// validate reports every problem of r, one per line; maxWindow bounds
// its time window.
func (r *Request) validate(maxWindow time.Duration) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, invalid(format, a...)) }
	for _, c := range []struct{ f, v string }{{"site", r.Site}, {"door", r.Door}} {
		if err := permit.CheckID(c.f, c.v); err != nil {
			bad("%v", err)
		}
	}
	if r.ID != "" {
		if err := permit.CheckID("permit id", r.ID); err != nil {
			bad("%v", err)
		}
	}
	for _, c := range []struct {
		f, v  string
		max   int
		lines bool
	}{
		{"guest", r.Guest, permit.MaxGuest, false}, {"organisation", r.Organisation, permit.MaxOrganisation, false},
		{"purpose", r.Purpose, permit.MaxPurpose, true}, {"by", r.By, permit.MaxActor, false},
	} {
		check := checkText
		if c.lines {
			check = checkLines
		}
		if strings.TrimSpace(c.v) == "" {
			bad("request: no %s", c.f)
		} else if err := check(c.f, c.v, c.max); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkText("phone", r.Phone, permit.MaxPhone); err != nil {
		errs = append(errs, err)
	} else if strings.Trim(r.Phone, "+0123456789 -") != "" {
		bad("request: phone: use digits, spaces, + and - only")
	}
	if len(r.Equipment) > permit.MaxEquipments {
		bad("request: equipment: %d items, at most %d", len(r.Equipment), permit.MaxEquipments)
	} else {
		for i, e := range r.Equipment {
			if err := checkText(fmt.Sprintf("equipment[%d]", i), e, permit.MaxEquipment); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(r.NIK) != 16 || strings.Trim(r.NIK, "0123456789") != "" {
		bad("request: NIK must be 16 digits")
	}
	switch {
	case r.NotBefore.IsZero() || !r.NotAfter.After(r.NotBefore):
		bad("request: time window is empty")
	case r.NotAfter.Sub(r.NotBefore) > maxWindow:
		bad("request: time window of %s is longer than %s, the longest a permit may be (hub.yaml max_permit_window)",
			r.NotAfter.Sub(r.NotBefore), maxWindow)
	}
	if r.Entries < 0 || r.Entries > MaxEntries {
		bad("request: entries %d: want 0 (any inside the window) to %d", r.Entries, MaxEntries)
	}
	if r.CardUID == "" {
		bad("request: no card")
	} else if len(r.CardUID) > 64 {
		bad("request: card: %d characters; a card UID has at most 20 hex digits", len(r.CardUID))
	}
	return errors.Join(errs...)
}

// now returns the time of a new transition of r: the clock, but never
// before r's last transition, so that the history stays in order.
func (s *Store) now(r *Record) time.Time {
	t := s.opts.Now().UTC()
	if n := len(r.History); n > 0 && t.Before(r.History[n-1].At) {
		t = r.History[n-1].At
	}
	return t
}

func (s *Store) advance(r *Record, st State, by, note string) {
	r.Version++
	r.State = st
	r.History = append(r.History, Transition{State: st, By: by, At: s.now(r), Version: r.Version, Note: note})
}

// putRecord stores r, its personal data sealed, and its digest.
func (s *Store) putRecord(tx kv.Tx, r *Record) error {
	sr, err := s.keys.seal(r)
	if err != nil {
		return err
	}
	j, err := json.Marshal(sr)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bPermits).Put([]byte(r.ID), j); err != nil {
		return err
	}
	return s.putDigest(tx, r)
}

// getRecord reads permit id, its personal data unsealed.
func (s *Store) getRecord(b kv.Bucket, id string) (Record, error) {
	sr, err := getJSON[storedRecord](b, "permit", id)
	if err != nil {
		return Record{}, err
	}
	return s.keys.unseal(&sr)
}

// decodeRecord reads a stored record's JSON, its personal data unsealed.
func (s *Store) decodeRecord(k, raw []byte) (Record, error) {
	var sr storedRecord
	if err := json.Unmarshal(raw, &sr); err != nil {
		return Record{}, fmt.Errorf("%w: permit %q: %v", ErrCorrupt, k, err)
	}
	return s.keys.unseal(&sr)
}

// getJSON decodes the value of key id in b; what names it in errors.
func getJSON[T any](b kv.Bucket, what, id string) (T, error) {
	var v T
	raw := b.Get([]byte(id))
	if raw == nil {
		return v, fmt.Errorf("%w: %s %q", ErrNotFound, what, id)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("%w: %s %q: %v", ErrCorrupt, what, id, err)
	}
	return v, nil
}

// viewJSON reads key id of bucket in a read transaction.
func viewJSON[T any](db kv.DB, bucket []byte, what, id string) (T, error) {
	var v T
	err := db.View(func(tx kv.Tx) error {
		var err error
		v, err = getJSON[T](tx.Bucket(bucket), what, id)
		return err
	})
	return v, err
}

// listJSON decodes every value of bucket, in key order.
func listJSON[T any](db kv.DB, bucket []byte, what string) ([]T, error) {
	var out []T
	err := db.View(func(tx kv.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, raw []byte) error {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%w: %s %q: %v", ErrCorrupt, what, k, err)
			}
			out = append(out, v)
			return nil
		})
	})
	return out, err
}

// Request files a permit request (SOP step 1).
func (s *Store) Request(req Request) (Record, error) {
	if err := req.validate(s.opts.MaxWindow); err != nil {
		return Record{}, err
	}
	card, err := s.Fingerprint(req.Site, req.CardUID)
	if err != nil {
		return Record{}, err
	}
	r := Record{
		ID: req.ID, Site: req.Site, Door: req.Door, Guest: req.Guest, NIK: req.NIK,
		Organisation: req.Organisation, Phone: req.Phone, Purpose: req.Purpose,
		Equipment: slices.Clone(req.Equipment), NotBefore: req.NotBefore.UTC(), NotAfter: req.NotAfter.UTC(),
		Entries: req.Entries, Card: card, Requester: req.By, FormOpened: req.FormOpened.UTC(),
	}
	if req.FormOpened.IsZero() {
		r.FormOpened = time.Time{}
	}
	err = s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bPermits)
		if r.ID == "" {
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			r.ID = fmt.Sprintf("P-%06d", n)
		}
		if b.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("%w: permit %q", ErrExists, r.ID)
		}
		s.advance(&r, Requested, req.By, "")
		return s.putRecord(tx, &r)
	})
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

// change loads permit id, lets fn check and change it, and stores it.
func (s *Store) change(id string, fn func(tx kv.Tx, r *Record) error) (Record, error) {
	var r Record
	err := s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bPermits)
		var err error
		if r, err = s.getRecord(b, id); err != nil {
			return err
		}
		if err := fn(tx, &r); err != nil {
			return err
		}
		return s.putRecord(tx, &r)
	})
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

func refuse(r *Record, action string) error {
	return fmt.Errorf("%w: cannot %s permit %s: it is %s", ErrTransition, action, r.ID, r.State)
}

func needBy(by string) error {
	if strings.TrimSpace(by) == "" {
		return invalid("no actor (by)")
	}
	return checkText("by", by, permit.MaxActor)
}

// checkNote reports a problem of a reason or note of several lines.
func checkNote(note string) error { return checkLines("reason", note, permit.MaxNote) }

// Coordinate classifies the request as network or server work (SOP step 2).
func (s *Store) Coordinate(id string, cat permit.Category, by string) (Record, error) {
	if err := needBy(by); err != nil {
		return Record{}, err
	}
	if cat != permit.Network && cat != permit.Server {
		return Record{}, invalid("category %q, want network or server", cat)
	}
	return s.change(id, func(_ kv.Tx, r *Record) error {
		if r.State != Requested {
			return refuse(r, "coordinate")
		}
		r.Category, r.Coordinator = cat, by
		s.advance(r, Coordinated, by, string(cat))
		return nil
	})
}

// Approve approves the request (SOP step 3). The requester may not approve
// their own request.
func (s *Store) Approve(id, by string) (Record, error) {
	if err := needBy(by); err != nil {
		return Record{}, err
	}
	return s.change(id, func(_ kv.Tx, r *Record) error {
		if r.State != Coordinated {
			return refuse(r, "approve")
		}
		if permit.SameActor(by, r.Requester) {
			return fmt.Errorf("%w: %s filed permit %s", ErrSelfApproval, by, r.ID)
		}
		r.Approver = by
		s.advance(r, Approved, by, "")
		r.ApprovedAt = r.History[len(r.History)-1].At
		return nil
	})
}

// AssignEscort appoints staff member staffID, who must have the escort
// right on the permit's door, to escort the guest (SOP step 4). On an
// issued permit it re-opens it: Sign must issue the new version.
func (s *Store) AssignEscort(id, staffID, by string) (Record, error) {
	if err := needBy(by); err != nil {
		return Record{}, err
	}
	return s.change(id, func(tx kv.Tx, r *Record) error {
		switch r.State {
		case Approved, Escorted, Issued:
		default:
			return refuse(r, "assign an escort to")
		}
		m, err := getStaff(tx.Bucket(bStaff), staffID)
		if err != nil {
			return err
		}
		ps := m.Permit()
		if !m.Escort || m.Disabled || m.Site != r.Site || !ps.AllowsDoor(r.Door) {
			return fmt.Errorf("%w: %s may not escort on %s/%s", ErrNotEscort, staffID, r.Site, r.Door)
		}
		r.Escort = staffID
		s.advance(r, Escorted, by, staffID)
		return nil
	})
}

// Permit returns the permit document of r, as it would be signed.
func (r *Record) Permit() permit.Permit {
	return permit.Permit{
		ID: r.ID, Version: r.Version, Site: r.Site, Door: r.Door, Card: r.Card, Escort: r.Escort,
		Category: r.Category, NotBefore: r.NotBefore, NotAfter: r.NotAfter, Entries: r.Entries,
		ApprovedBy: r.Approver, ApprovedAt: r.ApprovedAt,
	}
}

// Sign issues the permit: it returns the signed permit document, whose
// version is the record's (it rises on every change). Signing an issued
// permit again returns the same version.
func (s *Store) Sign(id, by string) (Record, []byte, error) {
	return s.changeSigned(id, by, func(r *Record) error {
		switch r.State {
		case Escorted:
			s.advance(r, Issued, by, "")
		case Issued:
		default:
			return refuse(r, "sign")
		}
		return nil
	})
}

// Reject refuses a request that is not issued yet.
func (s *Store) Reject(id, by, reason string) (Record, error) {
	if err := errors.Join(needBy(by), checkNote(reason)); err != nil {
		return Record{}, err
	}
	return s.change(id, func(_ kv.Tx, r *Record) error {
		switch r.State {
		case Requested, Coordinated, Approved:
		case Escorted:
			if _, ok := r.At(Issued); ok {
				return refuse(r, "reject (it was issued: revoke)")
			}
		default:
			return refuse(r, "reject")
		}
		s.advance(r, Rejected, by, reason)
		return nil
	})
}

// Revoke withdraws a permit that was issued. It returns the signed
// revocation, whose version is higher than every permit version issued.
func (s *Store) Revoke(id, by, reason string) (Record, []byte, error) {
	if err := checkNote(reason); err != nil {
		return Record{}, nil, err
	}
	return s.changeSigned(id, by, func(r *Record) error {
		switch r.State {
		case Issued:
		case Escorted:
			if _, ok := r.At(Issued); !ok {
				return refuse(r, "revoke (it was never issued: reject)")
			}
		default:
			return refuse(r, "revoke")
		}
		s.advance(r, Revoked, by, reason)
		return nil
	})
}

// changeSigned is change for the steps by by that end in a signed
// document: step checks and moves r, and the document of r as it then
// stands is made in the same transaction and returned with it.
func (s *Store) changeSigned(id, by string, step func(r *Record) error) (Record, []byte, error) {
	if err := needBy(by); err != nil {
		return Record{}, nil, err
	}
	if s.opts.Signer == nil {
		return Record{}, nil, ErrNoSigner
	}
	var doc []byte
	r, err := s.change(id, func(_ kv.Tx, r *Record) error {
		if err := step(r); err != nil {
			return err
		}
		var err error
		doc, _, err = s.Document(r)
		return err
	})
	if err != nil {
		return Record{}, nil, err
	}
	return r, doc, nil
}

// Get returns permit id, NIK in clear (admin view: mask it with Masked).
func (s *Store) Get(id string) (Record, error) {
	var r Record
	err := s.db.View(func(tx kv.Tx) error {
		var err error
		r, err = s.getRecord(tx.Bucket(bPermits), id)
		return err
	})
	return r, err
}

// List returns every permit request in id order, NIK in clear.
func (s *Store) List() ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx kv.Tx) error {
		return tx.Bucket(bPermits).ForEach(func(k, raw []byte) error {
			r, err := s.decodeRecord(k, raw)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// importBatch is how many records Import puts in one transaction.
const importBatch = 1_000

// Import puts records as they are, history and state included, replacing
// any of the same id, a transaction per thousand: for restoring records
// kept elsewhere and for generated stores (the console's benchmarks).
// Nothing is validated or signed; the hub must be started after it.
func (s *Store) Import(recs []Record) error {
	for chunk := range slices.Chunk(recs, importBatch) {
		if err := s.keys.ensureFor(chunk); err != nil {
			return fmt.Errorf("workflow: import: %w", err)
		}
		if err := s.db.Update(func(tx kv.Tx) error {
			for i := range chunk {
				if err := s.putRecord(tx, &chunk[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("workflow: import: %w", err)
		}
	}
	return nil
}
