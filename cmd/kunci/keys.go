package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kunci-project/kunci/permit"
)

// keygen writes a hub signing key pair and, unless one exists, a site key.
// It never overwrites a key.
func keygen(dir string) (keyID permit.KeyID, err error) {
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
	name := "hub-" + string(s.ID())
	if err := writeNew(filepath.Join(dir, name+".key"), privPEM, 0o600); err != nil {
		return "", err
	}
	if err := writeNew(filepath.Join(dir, name+".pub"), pubPEM, 0o644); err != nil {
		return "", err
	}
	siteKey := filepath.Join(dir, "site.key")
	if _, err := os.Stat(siteKey); errors.Is(err, os.ErrNotExist) {
		k, err := permit.NewSiteKey()
		if err != nil {
			return "", err
		}
		if err := writeNew(siteKey, permit.MarshalSiteKey(k), 0o600); err != nil {
			return "", err
		}
	}
	return s.ID(), nil
}

func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Sync(), f.Close())
}

func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keygen", stderr)
	out := fs.String("out", ".", "`folder` for hub-<id>.key, hub-<id>.pub and site.key")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := keygen(*out)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "hub key %s: %s (keep secret, on the hub), %s (copy to every agent's trusted_keys)\n",
		id, filepath.Join(*out, "hub-"+string(id)+".key"), filepath.Join(*out, "hub-"+string(id)+".pub"))
	fmt.Fprintf(stdout, "site key: %s (the same file on the hub and every agent of the site; keep secret)\n",
		filepath.Join(*out, "site.key"))
	return nil
}

func cmdSign(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("sign: want permit, staff or revocation")
	}
	if isHelp(args[0]) {
		return groupHelp(stderr, "sign", "permit, staff or revocation")
	}
	what, args := args[0], args[1:]
	fs := newFlags("sign "+what, stderr)
	keyFile := fs.String("key", "", "hub private key `file` (from kunci keygen)")
	siteKeyFile := fs.String("site-key", "site.key", "site key `file`, to fingerprint card UIDs")
	out := fs.String("o", "", "write to `file` instead of standard output")
	site := fs.String("site", "demo", "site")
	ver := fs.Uint64("version", 1, "record version; raise it for every change of the same record")
	var build func(now time.Time, sk func() (permit.SiteKey, error)) (permit.Kind, interface{ Validate() error }, error)
	switch what {
	case "permit":
		id := fs.String("id", "", "permit id, e.g. P-0012")
		door := fs.String("door", "server-room", "door")
		card := fs.String("card", "", "the guest's card UID in hex (fingerprinted, never stored)")
		escort := fs.String("escort", "", "staff id of the assigned escort")
		cat := fs.String("category", "server", "network or server")
		from := fs.String("from", "-5m", "valid from: "+strings.ReplaceAll(whenHelp, "`", ""))
		until := fs.String("until", "+8h", "valid until: "+strings.ReplaceAll(whenHelp, "`", ""))
		entries := fs.Int("entries", 1, "entries allowed; 0 for any number inside the window")
		by := fs.String("approved-by", "", "who approved it (SOP step 3)")
		build = func(now time.Time, sk func() (permit.SiteKey, error)) (permit.Kind, interface{ Validate() error }, error) {
			k, err := sk()
			if err != nil {
				return "", nil, err
			}
			fp, err := k.FingerprintText(*card)
			if err != nil {
				return "", nil, fmt.Errorf("--card: %w", err)
			}
			nb, err := parseTime(*from, now, time.Local)
			if err != nil {
				return "", nil, fmt.Errorf("--from: %w", err)
			}
			na, err := parseTime(*until, now, time.Local)
			if err != nil {
				return "", nil, fmt.Errorf("--until: %w", err)
			}
			return permit.KindPermit, &permit.Permit{ID: *id, Version: *ver, Site: *site, Door: *door, Card: fp,
				Escort: *escort, Category: permit.Category(*cat), NotBefore: nb, NotAfter: na, Entries: *entries,
				ApprovedBy: *by, ApprovedAt: now.Truncate(time.Second)}, nil
		}
	case "staff":
		id := fs.String("id", "", "staff id, e.g. S-004")
		cards := fs.String("card", "", "card UIDs in hex, comma-separated (fingerprinted, never stored)")
		doors := fs.String("doors", "", "doors, comma-separated; empty for every door of the site")
		escort := fs.Bool("escort", false, "may escort guests")
		solo := fs.Bool("solo", false, "may enter alone")
		disabled := fs.Bool("disabled", false, "withdraw every right")
		build = func(now time.Time, sk func() (permit.SiteKey, error)) (permit.Kind, interface{ Validate() error }, error) {
			k, err := sk()
			if err != nil {
				return "", nil, err
			}
			st := &permit.Staff{ID: *id, Version: *ver, Site: *site, Escort: *escort, Solo: *solo, Disabled: *disabled}
			for _, c := range splitList(*cards) {
				fp, err := k.FingerprintText(c)
				if err != nil {
					return "", nil, fmt.Errorf("--card: %w", err)
				}
				st.Cards = append(st.Cards, fp)
			}
			st.Doors = splitList(*doors)
			return permit.KindStaff, st, nil
		}
	case "revocation":
		id := fs.String("permit", "", "permit id to revoke")
		door := fs.String("door", "server-room", "door")
		by := fs.String("by", "", "who revokes it")
		reason := fs.String("reason", "", "why")
		build = func(now time.Time, _ func() (permit.SiteKey, error)) (permit.Kind, interface{ Validate() error }, error) {
			return permit.KindRevocation, &permit.Revocation{Permit: *id, Version: *ver, Site: *site, Door: *door,
				At: now.Truncate(time.Second), By: *by, Reason: *reason}, nil
		}
	default:
		return fmt.Errorf("sign: unknown %q; want permit, staff or revocation", what)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("sign: --key is required (the hub private key from kunci keygen)")
	}
	signer, err := permit.LoadSigner(*keyFile)
	if err != nil {
		return fmt.Errorf("sign: --key: %w", err)
	}
	kind, rec, err := build(time.Now(), func() (permit.SiteKey, error) { return permit.LoadSiteKey(*siteKeyFile) })
	if err != nil {
		return fmt.Errorf("sign %s: %w", what, err)
	}
	doc, err := signer.Sign(kind, rec)
	if err != nil {
		return fmt.Errorf("sign %s: %w", what, err)
	}
	doc = append(doc, '\n')
	if *out == "" {
		_, err = stdout.Write(doc)
		return err
	}
	// write then rename, so an agent watching the folder never reads half a file
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, doc, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
