package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/hub/pgstore"
	"github.com/kunci-project/kunci/internal/cli"
	"github.com/kunci-project/kunci/internal/durable"
)

// cmdHubBackup asks the running hub for a copy of its stores and keeps it
// in --out once it is whole.
func cmdHubBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := newClientFlags("hub backup", stderr)
	out := fs.String("out", "", "write the archive to `file` (it must not exist)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := cli.Required(fs, "out"); err != nil {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("--out %s: the file exists; name a new one", *out)
	}
	// the archive holds the keys of the guests' personal data: as secret
	// as the hub's own files
	tmp := *out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	start := time.Now()
	err = c.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return explain(err)
	}
	m, err := checkArchive(tmp)
	if err != nil {
		return fmt.Errorf("the hub's archive is not whole, nothing kept: %w", err)
	}
	if err := durable.Replace(tmp, *out); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stdout, "backup %s: written by the hub at %s, checked, %s\n", *out,
		m.Created.Local().Format("2006-01-02 15:04:05"), time.Since(start).Round(time.Millisecond))
	for _, f := range m.Files {
		fmt.Fprintf(stdout, "  %-14s %12d bytes  sha256 %s\n", f.Name, f.Size, f.SHA256)
	}
	fmt.Fprintln(stdout, "It holds the keys of the guests' personal data: keep it as you keep the hub's files,"+
		" and no longer than the retention.")
	if !slices.ContainsFunc(m.Files, func(f backup.File) bool { return f.Name == backup.StoreName }) {
		fmt.Fprintln(stdout, "The workflow's records are in PostgreSQL, not in this archive: back the database up with pg_dump (README).")
	}
	if !slices.ContainsFunc(m.Files, func(f backup.File) bool { return f.Name == backup.EventsName }) {
		fmt.Fprintln(stdout, "The doors' events are in PostgreSQL, not in this archive: back the database up with pg_dump (README).")
	}
	return nil
}

func checkArchive(path string) (backup.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return backup.Manifest{}, err
	}
	defer f.Close()
	return backup.Check(f)
}

// cmdHubRestore puts a backup's stores in the places hub.yaml gives,
// while the hub is stopped.
func cmdHubRestore(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := kunci.NewFlags("hub restore", stderr)
	from := fs.String("from", "", "the archive `file` (of kunci hub backup)")
	cfgPath := fs.String("config", "/etc/kunci/hub.yaml", "hub config `file`: where the stores go")
	replace := fs.Bool("replace", false, "replace the stores that are there")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if err := cli.Required(fs, "from"); err != nil {
		return err
	}
	cfg, err := config.LoadHub(*cfgPath)
	if err != nil {
		return err
	}
	events := cfg.EventsStore
	if cfg.EventsStoreDSNFile != "" || pgstore.IsDSN(events) {
		events = "" // in PostgreSQL: pg_restore brings them back
	}
	store := cfg.Store
	if cfg.StoreDSNFile != "" || pgstore.IsDSN(store) {
		store = "" // in PostgreSQL too
	}
	dest := backup.Files(store, cfg.StoreKeysFile, events)
	var there []string
	for _, p := range dest {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		there = append(there, p)
		// bbolt's lock: a running hub holds it
		db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("%s is in use: stop the hub first (systemctl stop kunci-hub)", p)
		}
		if err == nil {
			db.Close()
		}
	}
	slices.Sort(there)
	if len(there) > 0 && !*replace {
		return fmt.Errorf("the hub has stores already (%s): give --replace to put the backup in their place",
			strings.Join(there, ", "))
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer f.Close()
	m, err := backup.Restore(f, dest)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the backup of %s (hub %s):\n", m.Created.Local().Format("2006-01-02 15:04:05"), m.Version)
	for _, f := range m.Files {
		fmt.Fprintf(stdout, "  %-14s %12d bytes -> %s\n", f.Name, f.Size, dest[f.Name])
	}
	fmt.Fprintln(stdout, "Start the hub: it applies its retention at start, so personal data purged since the backup\n"+
		"is purged again. Events a door sent after the backup are gone from it once the hub had acked them:\n"+
		"kunci status shows such a door's gap, and kunci door gap accepts it as lost, with your reason.")
	return nil
}
