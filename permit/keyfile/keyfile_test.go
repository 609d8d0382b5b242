package keyfile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/permit/keyfile"
)

func TestGenerateFind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	id, err := keyfile.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	privs, pubs := keyfile.Find(dir)
	if !slices.Equal(privs, []string{keyfile.Private(dir, id)}) || !slices.Equal(pubs, []string{keyfile.Public(dir, id)}) {
		t.Fatalf("Find = %q, %q; want the pair of key %s", privs, pubs, id)
	}
	s, err := permit.LoadSigner(privs[0])
	if err != nil || s.ID() != id {
		t.Fatalf("LoadSigner(%s) = %v, %v; want key %s", privs[0], s, err, id)
	}
	site := filepath.Join(dir, keyfile.SiteKeyName)
	before, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}

	// a second key beside the first; the site key stays
	id2, err := keyfile.Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if privs, pubs = keyfile.Find(dir); len(privs) != 2 || len(pubs) != 2 || id2 == id {
		t.Errorf("after a second Generate: %q, %q, ids %s and %s; want two pairs", privs, pubs, id, id2)
	}
	if now, _ := os.ReadFile(site); !bytes.Equal(now, before) {
		t.Error("a second Generate changed the site key")
	}
	if err := keyfile.WriteNew(site, []byte("x"), 0o600); err == nil {
		t.Errorf("WriteNew over an existing key: no error")
	}
	if now, _ := os.ReadFile(site); !bytes.Equal(now, before) {
		t.Error("WriteNew over an existing key changed it")
	}
}

func TestWriteRecord(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "permit-P-1.json")
	for _, doc := range []string{"first\n", "second\n"} {
		if err := keyfile.WriteRecord(path, []byte(doc)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != doc {
			t.Errorf("%s holds %q; want %q", path, b, doc)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) != 0 {
		t.Errorf("WriteRecord left %q", left)
	}
}
