package workflow

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kunci-project/kunci/internal/durable"
	bolt "go.etcd.io/bbolt"
)

// Personal data is sealed (see Retention in the package doc): the guest's
// name, NIK and phone of each permit request are stored encrypted with a
// key of the request's own, and the keys live in a small file beside the
// store that a purge writes anew without the purged requests' keys. bbolt
// never zeroes a page it frees, so every earlier version of a record stays
// in the store's file until the page is reused; sealed, those versions are
// unreadable once the key is gone, and the keys file is rewritten whole,
// so no freed page of it keeps a destroyed key.

// UnreadableGuest stands for the guest's name of a record whose key is
// gone without the record being purged (a purge interrupted between its
// two files, or a keys file lost): the name, NIK and phone cannot be read.
const UnreadableGuest = "(unreadable)"

// KeysSuffix names the keys file of a store: the store's path and it.
const KeysSuffix = ".keys"

var (
	bKeys = []byte("keys") // keys file: permit id -> 32-byte key
	bMeta = []byte("meta") // store: format marks
	// mSealed marks a store whose personal data is all sealed and whose
	// file was compacted since: no plaintext is left in a freed page.
	mSealed = []byte("sealed")
)

// personalData is what a record's seal holds.
type personalData struct {
	Guest string `json:"g"`
	NIK   string `json:"n"`
	Phone string `json:"p,omitempty"`
}

// storedRecord is a Record as the store holds it: Guest, NIK and Phone
// empty, and Sealed holding them.
type storedRecord struct {
	Record
	Sealed []byte `json:"sealed,omitempty"` // nonce | AES-256-GCM of personalData, the id as additional data
}

// Keys is where a store keeps the keys sealing its requests' personal
// data, 32 bytes a request: a file beside a bbolt store (the default), or
// a table of the PostgreSQL database the hub replicas share
// (hub/kv/pgkv's Keys). Destroy is the crypto-shredding of a purge: the
// keys it destroys must be gone from the disk, not only from an index.
type Keys interface {
	// All reads every key, by request id.
	All() (map[string][]byte, error)
	// Get reads the key of id; nil if it has none.
	Get(id string) ([]byte, error)
	// Add stores the keys of ids that have none, in one transaction, and
	// returns the keys stored now for every id of keys: another process
	// sharing the keys may have stored one first, and it wins.
	Add(keys map[string][]byte) (map[string][]byte, error)
	// Destroy removes the keys of ids so that no copy of them is left on
	// the disk, or, a store that implements Shredder, so that no one
	// reads them again, leaving the rest to Shred.
	Destroy(ids []string) error
	Close() error
}

// keyring is the keys, with those read or made since the open in memory:
// a store of many requests opens without reading every key (a start reads
// only the records it needs whole), and a key another hub process made is
// read the first time it is needed.
type keyring struct {
	mu    sync.RWMutex
	store Keys
	keys  map[string][]byte
}

func newKeyring(store Keys) (*keyring, error) {
	return &keyring{store: store, keys: map[string][]byte{}}, nil
}

func (k *keyring) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.store.Close()
}

// key returns the key of id, nil if it has none (or it could not be
// read: the record reads UnreadableGuest until it can).
func (k *keyring) key(id string) []byte {
	k.mu.RLock()
	key := k.keys[id]
	k.mu.RUnlock()
	if key != nil {
		return key
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if key = k.keys[id]; key != nil {
		return key
	}
	if key, err := k.store.Get(id); err == nil && len(key) == 32 {
		k.keys[id] = key
		return key
	}
	return nil
}

// ensure returns the key of id, making and storing one if it has none.
func (k *keyring) ensure(id string) ([]byte, error) {
	if key := k.key(id); key != nil {
		return key, nil
	}
	if err := k.ensureAll([]string{id}); err != nil {
		return nil, err
	}
	return k.key(id), nil
}

// ensureAll makes and stores, in one transaction, a key for each of ids
// that has none.
func (k *keyring) ensureAll(ids []string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	made := map[string][]byte{}
	for _, id := range ids {
		if k.keys[id] == nil && made[id] == nil {
			key := make([]byte, 32)
			rand.Read(key)
			made[id] = key
		}
	}
	if len(made) == 0 {
		return nil
	}
	stored, err := k.store.Add(made)
	if err != nil {
		return err
	}
	for id, key := range stored {
		if len(key) != 32 {
			return fmt.Errorf("%w: key of %q has %d bytes", ErrCorrupt, id, len(key))
		}
		k.keys[id] = key
	}
	return nil
}

// sealable reports whether r has personal data to seal.
func sealable(r *Record) bool {
	return r.Purged.IsZero() && (r.Guest != "" || r.NIK != "" || r.Phone != "")
}

// ensureFor makes the keys of every record of rs that needs one, in one
// transaction, so that sealing many (Import, the first Open of an old
// store) writes the keys once.
func (k *keyring) ensureFor(rs []Record) error {
	var ids []string
	for i := range rs {
		if sealable(&rs[i]) {
			ids = append(ids, rs[i].ID)
		}
	}
	return k.ensureAll(ids)
}

// retain destroys every key keep refuses, of all the keys stored (not
// only those read so far). It does nothing when every key is kept.
func (k *keyring) retain(keep func(id string) bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	all, err := k.store.All()
	if err != nil {
		return err
	}
	var drop []string
	for id := range all {
		if !keep(id) {
			drop = append(drop, id)
		}
	}
	for id := range k.keys {
		if _, ok := all[id]; !ok && !keep(id) {
			delete(k.keys, id) // destroyed by another process already
		}
	}
	if len(drop) == 0 {
		return nil
	}
	slices.Sort(drop)
	if err := k.store.Destroy(drop); err != nil {
		return err
	}
	for _, id := range drop {
		delete(k.keys, id)
	}
	return nil
}

// Shredder is a Keys whose Destroy leaves copies of the keys on the disk
// until Shred, which can only remove them once every transaction that
// could still read them has ended, among them the one Destroy was called
// in (PostgreSQL's, pgkv.Keys): the Store calls Shred after its purge's
// transaction.
type Shredder interface {
	Shred() error
}

// shred has the store's Shred, if it has one, remove what Destroy left.
func (k *keyring) shred() error {
	if s, ok := k.store.(Shredder); ok {
		return s.Shred()
	}
	return nil
}

// fileKeys is the keys file beside a bbolt store (KeysSuffix): a bbolt
// file of its own, which Destroy writes anew without the destroyed keys,
// so that no freed page of it keeps one.
type fileKeys struct {
	mu      sync.RWMutex
	path    string
	timeout time.Duration
	db      *bolt.DB
}

// OpenKeysFile opens the keys file at path, creating it if it is not
// there; timeout bounds the wait for another process to let go of it.
func OpenKeysFile(path string, timeout time.Duration) (Keys, error) {
	return openKeysFile(path, timeout)
}

func openKeysFile(path string, timeout time.Duration) (*fileKeys, error) {
	f := &fileKeys{path: path, timeout: timeout}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fileKeys) open() error {
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: f.timeout})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bKeys)
			return err
		})
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("keys file %s: %w", f.path, err)
	}
	f.db = db
	return nil
}

func (f *fileKeys) All() (map[string][]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	keys := map[string][]byte{}
	err := f.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bKeys).ForEach(func(id, key []byte) error {
			keys[string(id)] = slices.Clone(key)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", f.path, err)
	}
	return keys, nil
}

func (f *fileKeys) Get(id string) ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var key []byte
	err := f.db.View(func(tx *bolt.Tx) error {
		key = slices.Clone(tx.Bucket(bKeys).Get([]byte(id)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", f.path, err)
	}
	return key, nil
}

func (f *fileKeys) Add(keys map[string][]byte) (map[string][]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	stored := make(map[string][]byte, len(keys))
	err := f.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bKeys)
		for id, key := range keys {
			if had := b.Get([]byte(id)); had != nil {
				stored[id] = slices.Clone(had)
				continue
			}
			if err := b.Put([]byte(id), key); err != nil {
				return err
			}
			stored[id] = key
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", f.path, err)
	}
	return stored, nil
}

// Destroy writes the kept keys to a new file, which replaces the old one.
func (f *fileKeys) Destroy(ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := map[string][]byte{}
	err := f.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bKeys).ForEach(func(id, key []byte) error {
			if !slices.Contains(ids, string(id)) {
				kept[string(id)] = slices.Clone(key)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("keys file %s: %w", f.path, err)
	}
	tmp := f.path + ".new"
	if err := writeKeys(tmp, kept, f.timeout); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keys file %s: %w", f.path, err)
	}
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("keys file %s: %w", f.path, err)
	}
	err = durable.Replace(tmp, f.path)
	if oerr := f.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	if err != nil {
		return fmt.Errorf("keys file %s: %w", f.path, err)
	}
	return nil
}

func (f *fileKeys) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

// view runs fn in a read transaction of the file (a backup), under the
// lock a Destroy takes to write it anew.
func (f *fileKeys) view(fn func(*bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.View(fn)
}

// writeKeys writes a new keys file of keys at path.
func writeKeys(path string, keys map[string][]byte, timeout time.Duration) error {
	os.Remove(path) // a leftover of an interrupted rewrite
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bKeys)
		if err != nil {
			return err
		}
		for id, key := range keys {
			if err := b.Put([]byte(id), key); err != nil {
				return err
			}
		}
		return nil
	})
	return errors.Join(err, db.Close())
}

func gcm(key []byte) cipher.AEAD {
	c, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // keys are 32 bytes, checked when read
	}
	a, err := cipher.NewGCM(c)
	if err != nil {
		panic(err)
	}
	return a
}

// seal returns r as the store holds it: its personal data encrypted with
// its key, made if r has none yet. A purged record has none to seal.
func (k *keyring) seal(r *Record) (*storedRecord, error) {
	sr := &storedRecord{Record: *r}
	if !sealable(r) {
		return sr, nil
	}
	key, err := k.ensure(r.ID)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(personalData{Guest: r.Guest, NIK: r.NIK, Phone: r.Phone})
	if err != nil {
		return nil, err
	}
	a := gcm(key)
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(nonce)
	sr.Sealed = a.Seal(nonce, nonce, plain, []byte(r.ID))
	sr.Guest, sr.NIK, sr.Phone = "", "", ""
	return sr, nil
}

// unseal returns the record of sr, its personal data decrypted; without a
// key the record reads UnreadableGuest.
func (k *keyring) unseal(sr *storedRecord) (Record, error) {
	r := sr.Record
	if sr.Sealed == nil {
		return r, nil
	}
	key := k.key(r.ID)
	if key == nil {
		r.Guest, r.NIK, r.Phone = UnreadableGuest, "", ""
		return r, nil
	}
	a := gcm(key)
	if len(sr.Sealed) < a.NonceSize() {
		return r, fmt.Errorf("%w: permit %q: sealed data of %d bytes", ErrCorrupt, r.ID, len(sr.Sealed))
	}
	plain, err := a.Open(nil, sr.Sealed[:a.NonceSize()], sr.Sealed[a.NonceSize():], []byte(r.ID))
	if err != nil {
		return r, fmt.Errorf("%w: permit %q: sealed data: %v", ErrCorrupt, r.ID, err)
	}
	var p personalData
	if err := json.Unmarshal(plain, &p); err != nil {
		return r, fmt.Errorf("%w: permit %q: sealed data: %v", ErrCorrupt, r.ID, err)
	}
	r.Guest, r.NIK, r.Phone = p.Guest, p.NIK, p.Phone
	return r, nil
}
