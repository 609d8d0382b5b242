package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id's cost, OWASP's first recommendation for it (19 MiB, two
// passes, one lane): a sign-in costs the hub about 20 ms of one core, and
// a stolen hash costs a guesser as much per guess. The parameters are
// stored with each hash, so raising them later keeps old hashes valid.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPassword and MaxPassword bound a password's length in characters
// and bytes: long enough that a guesser cannot go through them within
// the sign-in limit, short enough that hashing one is bounded.
const (
	MinPassword = 10
	MaxPassword = 256
)

// checkPassword refuses a password that is too short, too long or not
// text.
func checkPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return invalid("password is not UTF-8")
	case utf8.RuneCountInString(pw) < MinPassword:
		return invalid("password is shorter than %d characters", MinPassword)
	case len(pw) > MaxPassword:
		return invalid("password is longer than %d bytes", MaxPassword)
	}
	return nil
}

// hashPassword returns pw's argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), with a new random salt.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// passwordMatches reports whether pw hashes to phc, in constant time in
// the hash. A hash that cannot be read matches nothing.
func passwordMatches(phc, pw string) bool {
	p, ok := parsePHC(phc)
	if !ok || len(pw) > MaxPassword {
		return false
	}
	key := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parsePHC reads an argon2id PHC string; it refuses costs far beyond
// what hashPassword writes, so that a tampered store cannot make a
// sign-in take the hub's memory.
func parsePHC(s string) (phc, bool) {
	var p phc
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, false
	}
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return p, false
	}
	if p.memory == 0 || p.memory > 256*1024 || p.time == 0 || p.time > 16 || p.threads == 0 {
		return p, false
	}
	var err1, err2 error
	enc := base64.RawStdEncoding
	p.salt, err1 = enc.DecodeString(f[4])
	p.key, err2 = enc.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(p.salt) < 8 || len(p.key) < 16 || len(p.key) > 64 {
		return p, false
	}
	return p, true
}
