package keyfile

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/kunci-project/kunci/permit"
)

// SiteKeyName is the site key's file name in a key folder.
const SiteKeyName = "site.key"

// Private is the file of the hub's private key id in dir.
func Private(dir string, id permit.KeyID) string {
	return filepath.Join(dir, "hub-"+string(id)+".key")
}

// Public is the file of the hub's public key id in dir.
func Public(dir string, id permit.KeyID) string {
	return filepath.Join(dir, "hub-"+string(id)+".pub")
}

// Find returns the hub's private and public key files in dir, each in
// lexical order; none when dir has none.
func Find(dir string) (private, public []string) {
	// Glob fails only on a bad pattern, and these are fixed
	private, _ = filepath.Glob(filepath.Join(dir, "hub-*.key"))
	public, _ = filepath.Glob(filepath.Join(dir, "hub-*.pub"))
	return private, public
}

// Generate writes a new hub signing key pair into dir (made if need be)
// and, unless dir holds one, a site key, and returns the new key's id.
// It never overwrites a file.
func Generate(dir string) (permit.KeyID, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	priv, err := permit.GenerateKey()
	if err != nil {
		return "", err
	}
	s := permit.NewSigner(priv)
	privPEM, err := permit.MarshalPrivateKey(priv)
	if err != nil {
		return "", err
	}
	pubPEM, err := permit.MarshalPublicKey(s.Public())
	if err != nil {
		return "", err
	}
	if err := WriteNew(Private(dir, s.ID()), privPEM, 0o600); err != nil {
		return "", err
	}
	if err := WriteNew(Public(dir, s.ID()), pubPEM, 0o644); err != nil {
		return "", err
	}
	siteKey := filepath.Join(dir, SiteKeyName)
	if _, err := os.Stat(siteKey); errors.Is(err, os.ErrNotExist) {
		k, err := permit.NewSiteKey()
		if err != nil {
			return "", err
		}
		if err := WriteNew(siteKey, permit.MarshalSiteKey(k), 0o600); err != nil {
			return "", err
		}
	}
	return s.ID(), nil
}

// WriteNew writes b to a new file path with mode, synced; a file already
// at path is an error and stays as it was.
func WriteNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Sync(), f.Close())
}

// WriteRecord writes the signed record doc to path: to path.tmp first,
// then renamed, so that an agent watching the folder never reads half of
// it.
func WriteRecord(path string, doc []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, doc, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
