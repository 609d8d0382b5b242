// Package backup writes the hub's bbolt stores into one archive while the
// hub runs, and brings such an archive back (kunci hub backup, kunci hub
// restore).
//
// An archive is a tar file: first kunci-backup.json (the format, when,
// which hub, which files), then each store as bbolt writes it from one
// read transaction (Tx.WriteTo: a consistent copy of that file, written
// while the hub goes on), then kunci-backup.sums.json with every file's
// size and SHA-256. A restore checks all of it before it replaces
// anything: a cut-off or altered archive, a file of the wrong name or a
// store bbolt finds unsound is refused and the hub's files are left alone.
//
// The files are copied one after the other, each consistent in itself.
// The order is the hub's: its records (hub.db), then the keys of their
// personal data (hub.db.keys), then the doors' events: a permit recorded
// before the copy of the keys has its key in it, and the events are the
// newest part, as the doors' own logs are, which the hub asks again for
// what it lacks.
//
// A hub whose events are in PostgreSQL (hub/ingest/pgevents) writes its
// archive without them, and one whose workflow is there (store:
// postgres://, hub/kv/pgkv) without hub.db: the database is the
// operator's to back up, with pg_dump (README), and a restore then puts
// back the files only (the keys file, always).
package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/ingest"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/internal/boltcheck"
	"github.com/kunci-project/kunci/internal/durable"
)

// Format is the archive format this package writes and reads.
const Format = 1

const (
	manifestName = "kunci-backup.json"
	sumsName     = "kunci-backup.sums.json"
	// maxMeta bounds the manifest and the sums read from an archive.
	maxMeta = 1 << 20
)

// ErrArchive is the error of an archive that is not whole or not Kunci's.
var ErrArchive = errors.New("backup: not a whole Kunci backup")

// Manifest is what an archive holds.
type Manifest struct {
	Format  int       `json:"format"`
	Created time.Time `json:"created"`
	Version string    `json:"version"` // of the hub that wrote it
	Files   []File    `json:"files"`
}

// File is one store in an archive. Size and SHA256 are known once it is
// written: the manifest names the files, the sums give them.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Source is one bbolt store to copy: View runs fn in a read transaction
// of it (bolt.DB.View, or one that also holds the lock under which the
// store's file may be replaced).
type Source struct {
	Name string
	View func(fn func(*bolt.Tx) error) error
}

// The files of an archive: the workflow's store (users, tokens, alarms,
// the notification queue and the command log with it), the keys of its
// personal data, the doors' events.
const (
	StoreName  = "hub.db"
	KeysName   = "hub.db.keys"
	EventsName = "hub-events.db"
)

// Hub returns the sources of a hub's backup, in their order: its records
// when wf is a bbolt file (not when they are in PostgreSQL), the keys of
// their personal data when they are a file (not in PostgreSQL), the
// doors' events when ev is the bbolt store.
func Hub(wf *workflow.Store, ev ingest.EventStore) []Source {
	var srcs []Source
	if f := wf.File(); f != nil {
		srcs = append(srcs, Source{Name: StoreName, View: f.View})
	}
	if wf.KeysFile() {
		srcs = append(srcs, Source{Name: KeysName, View: wf.ViewKeys})
	}
	if bb, ok := ev.(*ingest.Store); ok {
		srcs = append(srcs, Source{Name: EventsName, View: bb.DB().View})
	}
	return srcs
}

// Files names the files of a hub whose records are in store, the keys of
// their personal data in keys (store's path and workflow.KeysSuffix if
// "") and whose events are in events, by their names in a backup, for
// Restore; with store or events "" (in PostgreSQL) the archive must have
// none of them, and with store and keys "" (the keys in PostgreSQL too)
// no keys.
func Files(store, keys, events string) map[string]string {
	if keys == "" && store != "" {
		keys = store + workflow.KeysSuffix
	}
	fs := map[string]string{}
	if keys != "" {
		fs[KeysName] = keys
	}
	if store != "" {
		fs[StoreName] = store
	}
	if events != "" {
		fs[EventsName] = events
	}
	return fs
}

// ErrNothing: a hub that keeps nothing in files (its records, their keys
// and its events all in PostgreSQL) has nothing to back up here.
var ErrNothing = errors.New("backup: the hub keeps nothing in files: its records, their keys and its events are in PostgreSQL; back them up with pg_dump")

// Write writes srcs to w as an archive and returns its manifest, sums
// included; with no srcs it writes nothing and returns ErrNothing.
func Write(w io.Writer, version string, srcs []Source) (Manifest, error) {
	if len(srcs) == 0 {
		return Manifest{}, ErrNothing
	}
	m := Manifest{Format: Format, Created: time.Now().UTC().Truncate(time.Second), Version: version}
	for _, s := range srcs {
		m.Files = append(m.Files, File{Name: s.Name})
	}
	tw := tar.NewWriter(w)
	if err := writeJSON(tw, manifestName, m.Created, m); err != nil {
		return m, err
	}
	for i, s := range srcs {
		err := s.View(func(tx *bolt.Tx) error {
			size := tx.Size()
			if err := tw.WriteHeader(&tar.Header{Name: s.Name, Mode: 0o600, Size: size, ModTime: m.Created,
				Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
				return err
			}
			h := sha256.New()
			n, err := tx.WriteTo(io.MultiWriter(tw, h))
			if err != nil {
				return err
			}
			if n != size {
				return fmt.Errorf("wrote %d bytes of %d", n, size)
			}
			m.Files[i].Size, m.Files[i].SHA256 = n, hex.EncodeToString(h.Sum(nil))
			return nil
		})
		if err != nil {
			return m, fmt.Errorf("backup: %s: %w", s.Name, err)
		}
	}
	if err := writeJSON(tw, sumsName, m.Created, m.Files); err != nil {
		return m, err
	}
	if err := tw.Close(); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

func writeJSON(tw *tar.Writer, name string, at time.Time, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: at,
		Typeflag: tar.TypeReg}); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Restore reads an archive from r and puts each of its files at the path
// dest gives for its name, replacing what is there. Every file the
// archive names must have a path in dest, and every path of dest a file.
// Nothing is replaced until the whole archive is read and checked: sizes,
// sums, and each store sound as bbolt sees it. The new files are written
// beside their places (PATH.restore) and renamed over them at the end.
func Restore(r io.Reader, dest map[string]string) (Manifest, error) {
	tmps := map[string]string{} // name -> temporary path, once made
	defer func() {
		for _, p := range tmps {
			os.Remove(p)
		}
	}()
	known := func(name string) bool { _, ok := dest[name]; return ok }
	m, err := scan(r, known, func(name string) (io.Writer, func() error, error) {
		tmp := dest[name] + ".restore"
		os.Remove(tmp) // a leftover of an interrupted restore
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, nil, err
		}
		tmps[name] = tmp
		return f, func() error { return errors.Join(f.Sync(), f.Close()) }, nil
	})
	if err != nil {
		return m, err
	}
	for name := range dest {
		if _, ok := tmps[name]; !ok {
			return m, fmt.Errorf("%w: it has no %s", ErrArchive, name)
		}
	}
	for _, f := range m.Files {
		if err := boltcheck.CheckFile(tmps[f.Name]); err != nil {
			return m, fmt.Errorf("backup: %s is not a sound store: %w", f.Name, err)
		}
	}
	for _, f := range m.Files {
		if err := durable.Replace(tmps[f.Name], dest[f.Name]); err != nil {
			return m, fmt.Errorf("backup: restore %s: %w", f.Name, err)
		}
		delete(tmps, f.Name)
	}
	return m, nil
}

// Check reads a whole archive from r and returns its manifest, sums
// included, if every file in it is as it was written.
func Check(r io.Reader) (Manifest, error) {
	return scan(r, func(string) bool { return true }, func(string) (io.Writer, func() error, error) {
		return io.Discard, func() error { return nil }, nil
	})
}

// scan reads an archive: its manifest, whose files must be known, each
// file into what open gives (and then its close), and the sums, which
// must match what was read. The manifest it returns has the sums.
func scan(r io.Reader, known func(name string) bool,
	open func(name string) (io.Writer, func() error, error)) (Manifest, error) {
	var m Manifest
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != manifestName {
		return m, fmt.Errorf("%w: it does not begin with %s", ErrArchive, manifestName)
	}
	if err := readJSON(tr, &m); err != nil {
		return m, err
	}
	if m.Format != Format {
		return m, fmt.Errorf("%w: format %d; this kunci reads format %d", ErrArchive, m.Format, Format)
	}
	var names []string
	for _, f := range m.Files {
		if f.Name == StoreName && !known(f.Name) {
			return m, fmt.Errorf("%w: it holds the workflow's store (%s), and this hub keeps it in PostgreSQL: "+
				"bring the database back with pg_restore, or restore the archive to a hub whose store is a file",
				ErrArchive, StoreName)
		}
		if f.Name == EventsName && !known(f.Name) {
			return m, fmt.Errorf("%w: it holds the doors' events (%s), and this hub keeps them in PostgreSQL: "+
				"bring the database back with pg_restore, or restore the archive to a hub whose events_store is a file",
				ErrArchive, EventsName)
		}
		if !known(f.Name) || slices.Contains(names, f.Name) {
			return m, fmt.Errorf("%w: file %q is not one of the hub's stores, or twice", ErrArchive, f.Name)
		}
		names = append(names, f.Name)
	}
	got := map[string]File{}
	var sums []File
	for {
		hdr, err := tr.Next()
		if err != nil {
			return m, fmt.Errorf("%w: it ends before %s (%v)", ErrArchive, sumsName, err)
		}
		if hdr.Name == sumsName {
			if err := readJSON(tr, &sums); err != nil {
				return m, err
			}
			break
		}
		if _, seen := got[hdr.Name]; !slices.Contains(names, hdr.Name) || seen || hdr.Typeflag != tar.TypeReg {
			return m, fmt.Errorf("%w: entry %q is not one of its files, or twice", ErrArchive, hdr.Name)
		}
		w, closeFile, err := open(hdr.Name)
		if err != nil {
			return m, fmt.Errorf("backup: %s: %w", hdr.Name, err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), tr)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: it ends inside %s", ErrArchive, hdr.Name)
		}
		if err = errors.Join(err, closeFile()); err != nil {
			return m, fmt.Errorf("backup: %s: %w", hdr.Name, err)
		}
		got[hdr.Name] = File{Name: hdr.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	}
	if len(sums) != len(names) || len(got) != len(names) {
		return m, fmt.Errorf("%w: %d files and %d sums for the %d it names", ErrArchive, len(got), len(sums), len(names))
	}
	for _, s := range sums {
		if f, ok := got[s.Name]; !ok || f != s {
			return m, fmt.Errorf("%w: %s is not as written (%d bytes, sha256 %.12s; written %d, %.12s)",
				ErrArchive, s.Name, f.Size, f.SHA256, s.Size, s.SHA256)
		}
	}
	m.Files = sums
	return m, nil
}

func readJSON(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, maxMeta+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	if len(b) > maxMeta {
		return fmt.Errorf("%w: its manifest is over %d bytes", ErrArchive, maxMeta)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	return nil
}
