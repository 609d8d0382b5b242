package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The token's text: prefix, id, '_', secret.
const (
	prefix    = "kunci_"
	idBytes   = 8
	idLen     = 2 * idBytes // lowercase hex
	secBytes  = 32
	secretLen = 43 // base64url of 32 bytes, without padding
	tokenLen  = len(prefix) + idLen + 1 + secretLen
)

// newToken returns a fresh random id and secret.
func newToken() (id, secret string, err error) {
	var b [idBytes + secBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("auth: random: %w", err)
	}
	return hex.EncodeToString(b[:idBytes]), base64.RawURLEncoding.EncodeToString(b[idBytes:]), nil
}

func format(id, secret string) string { return prefix + id + "_" + secret }

// hashSecret is what is stored of a secret.
func hashSecret(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

func isID(s string) bool { return len(s) == idLen && strings.Trim(s, "0123456789abcdef") == "" }

// parse splits a token into its id and secret. Its errors say which part
// is wrong but never quote the token.
func parse(token string) (id, secret string, err error) {
	if !strings.HasPrefix(token, prefix) {
		return "", "", malformed("it does not start with %s", prefix)
	}
	if len(token) != tokenLen {
		return "", "", malformed("it is %d characters long, want %d", len(token), tokenLen)
	}
	id, rest := token[len(prefix):len(prefix)+idLen], token[len(prefix)+idLen:]
	if !isID(id) {
		return "", "", malformed("the id is not %d lowercase hex digits", idLen)
	}
	if rest[0] != '_' {
		return "", "", malformed("no _ after the id")
	}
	secret = rest[1:]
	for _, c := range []byte(secret) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", "", malformed("the secret is not base64url without padding")
		}
	}
	return id, secret, nil
}

// TokenID returns the id of token, which names it in Info, logs and
// Revoke, or ErrMalformed if token does not have the shape of one. It
// does not verify token.
func TokenID(token string) (string, error) {
	id, _, err := parse(token)
	return id, err
}

// ReadTokenFile reads a token kept in a file of its own (a client's token
// file, a systemd credential, the file WriteTokenFile wrote), white space
// around it ignored.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("auth: token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if _, _, err := parse(token); err != nil {
		return "", fmt.Errorf("auth: token file %s: %w", path, err)
	}
	return token, nil
}

// WriteTokenFile writes token to path, readable and writable by its owner
// only, replacing any file there at once: a hub run as a service writes
// its first admin token there rather than to a journal that keeps it.
func WriteTokenFile(path, token string) error {
	if _, _, err := parse(token); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(token + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("auth: token file %s: %w", path, err)
	}
	return nil
}
