package console

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/wire"
)

// TestCatalog: every string has both languages, with the same verbs in
// the same order, and every key a template or the Go code asks for is in
// the catalogue.
func TestCatalog(t *testing.T) {
	verbs := regexp.MustCompile(`%[a-z]`)
	for _, k := range keys() {
		m := catalog[k]
		if strings.TrimSpace(m.id) == "" || strings.TrimSpace(m.en) == "" {
			t.Errorf("%s: a language is missing: %+v", k, m)
		}
		if a, b := verbs.FindAllString(m.id, -1), verbs.FindAllString(m.en, -1); strings.Join(a, "") != strings.Join(b, "") {
			t.Errorf("%s: the verbs differ: id %v, en %v", k, a, b)
		}
	}
	used := map[string][]string{} // key -> where
	inTemplates := regexp.MustCompile(`\.T "([a-z0-9._]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(templateFS, path)
		for _, m := range inTemplates.FindAllStringSubmatch(string(raw), -1) {
			used[m[1]] = append(used[m[1]], path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	inGo := regexp.MustCompile(`\.T\("([a-z0-9_]+(?:\.[a-z0-9_]+)+)"|"((?:signin|error|card|dash|alarm|nav|book|permit|request|state)(?:\.[a-z0-9_]+)+)"`)
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "i18n.go" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inGo.FindAllStringSubmatch(string(raw), -1) {
			k := m[1] + m[2]
			used[k] = append(used[k], f)
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d keys in use; the test's patterns no longer match the code", len(used))
	}
	for k, where := range used {
		if _, ok := catalog[k]; !ok {
			t.Errorf("%s (used in %v) is not in the catalogue", k, where)
		}
	}
}

func TestTimes(t *testing.T) {
	at := time.Date(2026, 12, 2, 2, 40, 0, 0, time.UTC)
	loc := jakarta()
	for _, c := range []struct{ lang, time, clock string }{
		{"id", "2 Des 2026 09.40 WIB", "09.40"},
		{"en", "2 Dec 2026 09:40 WIB", "09:40"},
	} {
		l := newL(c.lang, loc)
		if got := l.Time(at); got != c.time {
			t.Errorf("%s: Time = %q; want %q", c.lang, got, c.time)
		}
		if got := l.Clock(at); got != c.clock {
			t.Errorf("%s: Clock = %q; want %q", c.lang, got, c.clock)
		}
		if got := l.Time(time.Time{}); got != "–" {
			t.Errorf("%s: the zero time = %q; want a dash", c.lang, got)
		}
	}
	if l := newL("fr", loc); l.Lang != "id" || l.T("nav.dashboard") != "Beranda" {
		t.Errorf("an unknown language is %q; want Bahasa Indonesia", l.Lang)
	}
	if got := newL("en", loc).T("no.such.key"); got != "[no.such.key]" {
		t.Errorf("an unknown key shows as %q", got)
	}
}

// TestVendoredChecksums: the embedded front-end files are the ones
// static/vendor/SHA256SUMS names, byte for byte, and nothing else is
// vendored.
func TestVendoredChecksums(t *testing.T) {
	f, err := staticFS.Open("static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", sc.Text())
		}
		want[name] = sum
	}
	got := map[string]string{}
	err = fs.WalkDir(staticFS, "static/vendor", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Dir(path) == "static/vendor" {
			return err
		}
		raw, err := fs.ReadFile(staticFS, path)
		s := sha256.Sum256(raw)
		got[strings.TrimPrefix(path, "static/vendor/")] = hex.EncodeToString(s[:])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4 {
		t.Fatalf("SHA256SUMS names %d files; want htmx, its SSE extension and their licences", len(want))
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: sha256 %s; SHA256SUMS says %s", name, got[name], sum)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is vendored but not in SHA256SUMS", name)
		}
	}
}

// TestEveryEventNamed: a door's page names every event type and the
// common reasons in both languages.
func TestEveryEventNamed(t *testing.T) {
	for _, typ := range wire.EventTypes {
		if _, ok := catalog["event."+string(typ)]; !ok {
			t.Errorf("event type %s has no name in the catalogue", typ)
		}
	}
	for _, r := range []wire.Reason{wire.ReasonUnknownCard, wire.ReasonNoPermit, wire.ReasonExpired, wire.ReasonRevoked,
		wire.ReasonWrongEscort, wire.ReasonEscortTimeout, wire.ReasonLockdown, wire.ReasonBadSignature, wire.ReasonRollback,
		wire.ReasonReplayed, wire.ReasonWrongDoor, wire.ReasonUnknown} {
		if _, ok := catalog["reason."+string(r)]; !ok {
			t.Errorf("reason %s has no name in the catalogue", r)
		}
	}
	for _, c := range wire.CommandNames {
		for _, k := range []string{"cmd." + string(c), "cmd.confirm." + string(c)} {
			if _, ok := catalog[k]; !ok {
				t.Errorf("%s is not in the catalogue", k)
			}
		}
	}
}

// keys returns the catalogue's keys, sorted.
func keys() []string {
	out := make([]string, 0, len(catalog))
	for k := range catalog {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
