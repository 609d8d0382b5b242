package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kunci-project/kunci/hub/backup"
	"github.com/kunci-project/kunci/internal/boltcheck"
)

var bucket = []byte("b")

// store makes a bbolt file at path with n keys.
func store(t *testing.T, path string, n int) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(fmt.Appendf(nil, "k%06d", i), bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// keys returns the keys of a closed bbolt file.
func keys(t *testing.T, path string) []string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// A backup written while another goroutine writes to the store holds a
// consistent copy of each file (bbolt's check passes, every key of one
// moment), and Restore brings it back in place of what was there.
func TestWriteRestore(t *testing.T) {
	dir := t.TempDir()
	a := store(t, filepath.Join(dir, "a.db"), 1000)
	b := store(t, filepath.Join(dir, "b.db"), 10)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { // the hub goes on meanwhile
		for i := 1000; ctx.Err() == nil; i++ {
			if err := a.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucket).Put(fmt.Appendf(nil, "k%06d", i), []byte("later"))
			}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var buf bytes.Buffer
	m, err := backup.Write(&buf, "test", []backup.Source{{Name: "a.db", View: a.View}, {Name: "b.db", View: b.View}})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.Files[0].Size == 0 || len(m.Files[1].SHA256) != 64 {
		t.Fatalf("manifest %+v; want both files with their sizes and sums", m)
	}
	if c, err := backup.Check(bytes.NewReader(buf.Bytes())); err != nil || c.Files[0] != m.Files[0] {
		t.Fatalf("Check = %+v, %v; want the manifest written", c, err)
	}
	out := t.TempDir()
	dest := map[string]string{"a.db": filepath.Join(out, "a.db"), "b.db": filepath.Join(out, "b.db")}
	if err := os.WriteFile(dest["a.db"], []byte("the old store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(bytes.NewReader(buf.Bytes()), dest); err != nil {
		t.Fatal(err)
	}
	for name, p := range dest {
		if err := boltcheck.CheckFile(p); err != nil {
			t.Errorf("%s restored: %v", name, err)
		}
	}
	ka := keys(t, dest["a.db"])
	if len(ka) < 1000 {
		t.Fatalf("a.db restored holds %d keys; want the 1,000 written before the backup and more", len(ka))
	}
	for i, k := range ka { // one moment's keys: no hole
		if want := fmt.Sprintf("k%06d", i); k != want {
			t.Fatalf("a.db restored: key %d is %s; want %s", i, k, want)
		}
	}
	if n := len(keys(t, dest["b.db"])); n != 10 {
		t.Errorf("b.db restored holds %d keys; want 10", n)
	}
	left, _ := filepath.Glob(filepath.Join(out, "*.restore"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// An archive that is cut off, altered, of another format or with a file
// the hub does not have is refused, and the files in place are left as
// they were.
func TestRestoreRefuses(t *testing.T) {
	dir := t.TempDir()
	a := store(t, filepath.Join(dir, "a.db"), 100)
	var buf bytes.Buffer
	if _, err := backup.Write(&buf, "test", []backup.Source{{Name: "a.db", View: a.View}}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	data := bytes.Index(good, []byte("k000050")) // inside the store's copy
	if data < 0 {
		t.Fatal("the archive does not hold the store's keys")
	}
	altered := bytes.Clone(good)
	altered[data] ^= 1
	otherFormat := bytes.Replace(good, []byte(`"format": 1`), []byte(`"format": 9`), 1)
	for _, c := range []struct {
		name    string
		archive []byte
		dest    []string
		want    string
	}{
		{"cut off", good[:len(good)/2], []string{"a.db"}, "it ends"},
		{"cut before its sums", good[:bytes.Index(good, []byte("kunci-backup.sums.json"))-1], []string{"a.db"}, "it ends"},
		{"altered", altered, []string{"a.db"}, "not as written"},
		{"other format", otherFormat, []string{"a.db"}, "format 9"},
		{"not a backup", []byte("hello"), []string{"a.db"}, "does not begin"},
		{"a file the hub has not", good, []string{"b.db"}, `"a.db" is not one of`},
		{"a file missing", good, []string{"a.db", "b.db"}, "has no b.db"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			dest := map[string]string{}
			for _, n := range c.dest {
				dest[n] = filepath.Join(out, n)
				if err := os.WriteFile(dest[n], []byte("in place"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := backup.Restore(bytes.NewReader(c.archive), dest)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Restore = %v; want an error saying %q", err, c.want)
			}
			if !errors.Is(err, backup.ErrArchive) {
				t.Errorf("Restore = %v; want ErrArchive", err)
			}
			for _, p := range dest {
				if b, err := os.ReadFile(p); err != nil || string(b) != "in place" {
					t.Errorf("%s after a refused restore: %q, %v; want it untouched", p, b, err)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(out, "*.restore")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			if _, err := backup.Check(bytes.NewReader(c.archive)); c.dest[0] == "a.db" && len(c.dest) == 1 && err == nil {
				t.Error("Check passed an archive Restore refused")
			}
		})
	}
}

// An archive with the doors' events restored to a hub that keeps them in
// PostgreSQL (Files without events) is refused, saying so, and nothing
// is replaced.
func TestRestoreEventsToPostgres(t *testing.T) {
	dir := t.TempDir()
	src := map[string]*bolt.DB{}
	for _, name := range []string{"hub.db", "hub.db.keys", backup.EventsName} {
		src[name] = store(t, filepath.Join(dir, name), 5)
	}
	var buf bytes.Buffer
	if _, err := backup.Write(&buf, "test", []backup.Source{{Name: "hub.db", View: src["hub.db"].View},
		{Name: "hub.db.keys", View: src["hub.db.keys"].View}, {Name: backup.EventsName, View: src[backup.EventsName].View}}); err != nil {
		t.Fatal(err)
	}
	to := t.TempDir()
	dest := backup.Files(filepath.Join(to, "hub.db"), "", "")
	if _, ok := dest[backup.EventsName]; ok || len(dest) != 2 {
		t.Fatalf("Files without events = %v", dest)
	}
	// and to a hub whose workflow is in PostgreSQL too (Files without a
	// store): the keys file alone
	allPG := backup.Files("", filepath.Join(to, "hub.db.keys"), "")
	if len(allPG) != 1 || allPG[backup.KeysName] == "" {
		t.Fatalf("Files without a store or events = %v", allPG)
	}
	for _, dest := range []map[string]string{dest, allPG} {
		_, err := backup.Restore(bytes.NewReader(buf.Bytes()), dest)
		if !errors.Is(err, backup.ErrArchive) || !strings.Contains(err.Error(), "PostgreSQL") {
			t.Errorf("Restore to %v = %v; want ErrArchive naming PostgreSQL", dest, err)
		}
	}
	if ents, _ := os.ReadDir(to); len(ents) != 0 {
		t.Errorf("a refused restore left %d files", len(ents))
	}
}
