package workflow

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
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

// keyring is the keys file, with every key in memory.
type keyring struct {
	mu      sync.RWMutex
	path    string
	timeout time.Duration
	db      *bolt.DB
	keys    map[string][]byte
}

func openKeyring(path string, timeout time.Duration) (*keyring, error) {
	k := &keyring{path: path, timeout: timeout}
	if err := k.open(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keyring) open() error {
	db, err := bolt.Open(k.path, 0o600, &bolt.Options{Timeout: k.timeout})
	if err != nil {
		return fmt.Errorf("keys file %s: %w", k.path, err)
	}
	keys := map[string][]byte{}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bKeys)
		if err != nil {
			return err
		}
		return b.ForEach(func(id, key []byte) error {
			if len(key) != 32 {
				return fmt.Errorf("%w: key of %q has %d bytes", ErrCorrupt, id, len(key))
			}
			keys[string(id)] = append([]byte(nil), key...)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("keys file %s: %w", k.path, err)
	}
	k.db, k.keys = db, keys
	return nil
}

func (k *keyring) close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.db.Close()
}

func (k *keyring) key(id string) []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[id]
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
	err := k.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bKeys)
		for id, key := range made {
			if err := b.Put([]byte(id), key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keys file %s: %w", k.path, err)
	}
	maps.Copy(k.keys, made)
	return nil
}

// sealable reports whether r has personal data to seal.
func sealable(r *Record) bool {
	return r.Purged.IsZero() && (r.Guest != "" || r.NIK != "" || r.Phone != "")
}

// ensureFor makes the keys of every record of rs that needs one, in one
// transaction, so that sealing many (Import, the first Open of an old
// store) writes the keys file once.
func (k *keyring) ensureFor(rs []Record) error {
	var ids []string
	for i := range rs {
		if sealable(&rs[i]) {
			ids = append(ids, rs[i].ID)
		}
	}
	return k.ensureAll(ids)
}

// retain destroys every key keep refuses: it writes the kept keys to a new
// file, which replaces the old one, so that no page of the file keeps a
// destroyed key. It does nothing when every key is kept.
func (k *keyring) retain(keep func(id string) bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	kept := map[string][]byte{}
	for id, key := range k.keys {
		if keep(id) {
			kept[id] = key
		}
	}
	if len(kept) == len(k.keys) {
		return nil
	}
	tmp := k.path + ".new"
	if err := writeKeys(tmp, kept, k.timeout); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keys file %s: %w", k.path, err)
	}
	if err := k.db.Close(); err != nil {
		return fmt.Errorf("keys file %s: %w", k.path, err)
	}
	err := durable.Replace(tmp, k.path)
	if oerr := k.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	if err != nil {
		return fmt.Errorf("keys file %s: %w", k.path, err)
	}
	return nil
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
