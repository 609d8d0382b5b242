package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/timeflag"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/keyfile"
)

func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("keygen", stderr)
	out := fs.String("out", ".", "`folder` for hub-<id>.key, hub-<id>.pub and site.key")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	id, err := keyfile.Generate(*out)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "hub key %s: %s (keep secret, on the hub), %s (copy to every agent's trusted_keys)\n",
		id, keyfile.Private(*out, id), keyfile.Public(*out, id))
	fmt.Fprintf(stdout, "site key: %s (the same file on the hub and every agent of the site; keep secret)\n",
		filepath.Join(*out, keyfile.SiteKeyName))
	return nil
}

func cmdSign(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("sign: want permit, staff or revocation")
	}
	if cli.IsHelp(args[0]) {
		return kunci.GroupHelp(stderr, "sign", "permit, staff or revocation")
	}
	what, args := args[0], args[1:]
	fs := kunci.NewFlags("sign "+what, stderr)
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
		from := fs.String("from", "-5m", "valid from: "+strings.ReplaceAll(timeflag.Help, "`", ""))
		until := fs.String("until", "+8h", "valid until: "+strings.ReplaceAll(timeflag.Help, "`", ""))
		entries := fs.Int("entries", 1, "entries allowed; 0 for any number inside the window")
		by := fs.String("approved-by", "", "who approved it (SOP step 3)")
		build = func(now time.Time, sk func() (permit.SiteKey, error)) (permit.Kind, interface{ Validate() error }, error) {
			k, err := sk()
			if err != nil {
				return "", nil, err
			}
			nb, err := timeflag.Parse(*from, now, time.Local)
			if err != nil {
				return "", nil, fmt.Errorf("--from: %w", err)
			}
			na, err := timeflag.Parse(*until, now, time.Local)
			if err != nil {
				return "", nil, fmt.Errorf("--until: %w", err)
			}
			p, err := permit.PermitDraft{ID: *id, Version: *ver, Site: *site, Door: *door, CardUID: *card,
				Escort: *escort, Category: permit.Category(*cat), NotBefore: nb, NotAfter: na, Entries: *entries,
				ApprovedBy: *by}.Permit(k, now)
			if err != nil {
				return "", nil, fmt.Errorf("--card: %w", err)
			}
			return permit.KindPermit, p, nil
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
			st, err := permit.StaffDraft{ID: *id, Version: *ver, Site: *site, Doors: cli.SplitComma(*doors),
				CardUIDs: cli.SplitComma(*cards), Escort: *escort, Solo: *solo, Disabled: *disabled}.Staff(k)
			if err != nil {
				return "", nil, fmt.Errorf("--card: %w", err)
			}
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
	if err := cli.ParseFlags(fs, args); err != nil {
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
	return keyfile.WriteRecord(*out, doc)
}
