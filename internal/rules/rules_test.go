package rules

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/wire"
)

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Doc        string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command("go", "list", "-deps=false", "-json", "github.com/kunci-project/kunci/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages; want the whole module", len(pkgs))
	}
	return pkgs
}

// TestEveryPackageHasADoc: a package says what it is for and what it must
// never do (style.md).
func TestEveryPackageHasADoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc", p.ImportPath)
		}
	}
}

// TestImports enforces design.md's dependency direction.
func TestImports(t *testing.T) {
	const mod = "github.com/kunci-project/kunci/"
	forbidden := map[string][]string{
		mod + "wire":   {mod, "periph.io/", "github.com/eclipse/paho", "go.etcd.io/bbolt"},
		mod + "permit": {mod, "periph.io/", "github.com/eclipse/paho", "go.etcd.io/bbolt"},
		mod + "agent": {"periph.io/x/host", "github.com/eclipse/paho", "github.com/mochi-mqtt",
			mod + "hardware", mod + "sync", mod + "hub", mod + "cmd", mod + "config"},
		mod + "hardware": {mod + "agent", mod + "sync", mod + "hub", "github.com/eclipse/paho"},
		mod + "config":   {"periph.io/x/host", "github.com/eclipse/paho"},
		// the command line's machinery knows nothing of Kunci, and the
		// renderings of the hub's answers never ask the hub
		mod + "internal/cli":       {mod},
		mod + "internal/timeflag":  {mod},
		mod + "hub/client/clitext": {mod + "hub/client"},
	}
	sawBolt := false
	for _, p := range listPackages(t) {
		if p.ImportPath == mod+"agent" {
			// the check reads real dependency lists, or it proves nothing
			for _, d := range p.Deps {
				sawBolt = sawBolt || d == "go.etcd.io/bbolt"
			}
		}
		for prefix, bad := range forbidden {
			if p.ImportPath != prefix && !strings.HasPrefix(p.ImportPath, prefix+"/") {
				continue
			}
			for _, dep := range p.Deps {
				if dep == mod+"wire" {
					continue // the wire vocabulary is everyone's
				}
				for _, b := range bad {
					if (dep == strings.TrimSuffix(b, "/") || strings.HasPrefix(dep, b)) &&
						!strings.HasPrefix(dep, prefix) {
						t.Errorf("%s depends on %s; design.md forbids %s", p.ImportPath, dep, b)
					}
				}
			}
		}
	}
	if !sawBolt {
		t.Error("the agent's dependencies do not list go.etcd.io/bbolt: go list gave no dependency lists")
	}
}

// TestVocabularyOnlyInWire: no package but wire spells an event type
// (style.md: nobody else spells "door.unlocked"). Tests may, to check the
// contract from outside.
func TestVocabularyOnlyInWire(t *testing.T) {
	vocab := map[string]bool{}
	for _, e := range wire.EventTypes {
		vocab[string(e)] = true
	}
	delete(vocab, string(wire.EvTap)) // "tap" is also the simulator's verb and a reader's word
	const mod = "github.com/kunci-project/kunci/"
	for _, p := range listPackages(t) {
		if p.ImportPath == mod+"wire" {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && vocab[s] {
						t.Errorf("%s spells the event type %q; use wire's constant", path, s)
					}
				}
				return true
			})
		}
	}
}

// TestCmdHoldsNoSharedType: cmd/kunci is flags and wiring. Each type it
// declares is named here with why it belongs to the command line; any
// other type is behaviour another package could use and belongs there
// (a client beside the hub's API, a lifecycle in internal/lifecycle).
func TestCmdHoldsNoSharedType(t *testing.T) {
	allowed := map[string]string{
		"clientFlags": "the client verbs' common flags",
		"filter":      "the report verbs' filter flags",
		"devFlags":    "kunci dev's flags",
		"board":       "the Raspberry Pi's parts looked up by name after host.Init, which only cmd may do",
	}
	const mod = "github.com/kunci-project/kunci/"
	for _, p := range listPackages(t) {
		if p.ImportPath != mod+"cmd/kunci" {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.TYPE {
					continue
				}
				for _, s := range g.Specs {
					if n := s.(*ast.TypeSpec).Name.Name; allowed[n] == "" {
						t.Errorf("%s declares type %s: cmd/kunci is flags and wiring; move it to the package it serves", path, n)
					}
				}
			}
		}
		return
	}
	t.Fatal("go list did not list cmd/kunci")
}
