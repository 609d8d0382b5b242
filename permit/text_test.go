package permit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

// The review's names (issue 13): each must be refused, naming the field.
var hostile = map[string]string{
	"screen clear and title": "Rina\u001b[2J\u001b]0;pwn\u0007",
	"fake row":               "Org\nP-9999,fake row",
	"right-to-left override": "Rina\u202eanaS",
	"isolate":                "a\u2066b\u2069",
	"left-to-right mark":     "a\u200eb",
	"arabic letter mark":     "a\u061cb",
	"zero-width space":       "Ri\u200bna",
	"zero-width joiner":      "Ri\u200dna",
	"BOM":                    "\ufeffRina",
	"C1 CSI":                 "Rina\u009b2J",
	"DEL":                    "Rina\u007f",
	"tab":                    "Rina\tSari",
	"CR":                     "Rina\rSari",
	"no-break space":         "Rina\u00a0Sari",
	"ideographic space":      "Rina\u3000Sari",
	"line separator":         "Rina\u2028Sari",
	"hangul filler":          "Rina\u3164",
	"tag character":          "Rina\U000E0041",
	"NUL":                    "Rina\x00",
	"not UTF-8":              "Rina\xff",
}

func TestCheckTextRefuses(t *testing.T) {
	for what, s := range hostile {
		for _, check := range []func(string, string, int) error{permit.CheckText, permit.CheckLines} {
			err := check("guest", s, 100)
			if what == "fake row" && err == nil {
				// the one character CheckLines allows
				if permit.CheckText("guest", s, 100) == nil {
					t.Errorf("CheckText(%s) = nil; want a refusal", what)
				}
				continue
			}
			var te *permit.TextError
			if !errors.As(err, &te) || te.Field != "guest" || !errors.Is(err, permit.ErrInvalid) {
				t.Errorf("check(%s %q) = %v; want a TextError of field guest, an ErrInvalid", what, s, err)
				continue
			}
			if strings.Contains(err.Error(), "Rina") {
				t.Errorf("check(%s) = %q; the error must not repeat the text", what, err)
			}
		}
	}
}

func TestCheckTextAccepts(t *testing.T) {
	for _, s := range []string{"", "Siti Rahma", "PT Jaringan Nusantara (Persero) Tbk.", "Dévi Ñoño", "佐藤", "Ахмед",
		"محمد", "🔧", "O'Brien-Smith, Jr.", "+62 812-3456-7890", "\uFFFD"} {
		if err := permit.CheckText("guest", s, 100); err != nil {
			t.Errorf("CheckText(%q) = %v; want nil", s, err)
		}
	}
	if err := permit.CheckLines("purpose", "replace PSU\ncheck fans", 500); err != nil {
		t.Errorf("CheckLines with a newline = %v; want nil", err)
	}
	if err := permit.CheckText("purpose", "replace PSU\ncheck fans", 500); err == nil {
		t.Error("CheckText with a newline = nil; want a refusal (one line)")
	}
}

func TestCheckTextLength(t *testing.T) {
	if err := permit.CheckText("guest", strings.Repeat("é", 100), 100); err != nil {
		t.Errorf("100 characters (200 bytes) against 100 = %v; want nil: the limit counts characters", err)
	}
	err := permit.CheckText("guest", strings.Repeat("a", 900_000), 100)
	if err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("900 KB name = %v; want at most 100 characters", err)
	}
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"Siti Rahma":                            "Siti Rahma",
		"Rina\u001b[2J\u001b]0;pwn\u0007":       `Rina\x1b[2J\x1b]0;pwn\x07`,
		"Org\nP-9999,fake row":                  `Org\nP-9999,fake row`,
		"Rina\u202eanaS":                        `Rina\u202eanaS`,
		"a\tb\rc\u009bd\u007f":                  `a\tb\rc\x9bd\x7f`,
		"Rina\xff\xfe":                          `Rina\xff\xfe`,
		"ok \uFFFD":                             "ok \uFFFD",
		"Dévi \u00a0x":                          `Dévi \xa0x`,
		"\U000E0041":                            `\ue0041`,
		strings.Repeat("a", 3) + "\u200b" + "b": `aaa\u200bb`,
	} {
		got := permit.Visible(in)
		if got != want {
			t.Errorf("Visible(%q) = %q; want %q", in, got, want)
		}
		for _, r := range got {
			if permit.Hidden(r) {
				t.Errorf("Visible(%q) = %q still holds %U", in, got, r)
			}
		}
	}
}

func FuzzVisible(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := permit.Visible(s)
		if err := permit.CheckText("x", v, len(v)+1); err != nil {
			t.Fatalf("Visible(%q) = %q: %v", s, v, err)
		}
		if permit.CheckText("x", s, len(s)+1) == nil && v != s {
			t.Fatalf("Visible changed the acceptable %q to %q", s, v)
		}
	})
}

func TestActorKey(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"dual", "Dual", true},
		{"dual", "DUAL", true},
		{"kasi-infra", "Kasi-Infra", true},
		{"Budi  Santoso", "budi santoso", true},
		{"\u212Aasi", "kasi", true}, // the Kelvin sign folds to k
		{"desk", "desk2", false},
		{"dual", "duel", false},
	} {
		if got := permit.SameActor(c.a, c.b); got != c.same {
			t.Errorf("SameActor(%q, %q) = %v; want %v", c.a, c.b, got, c.same)
		}
	}
}

func TestCommandRefusesHiddenReason(t *testing.T) {
	now := time.Now()
	c := permit.Command{ID: "C-1", Site: "demo", Door: "server-room", Name: wire.CmdUnlockOnce, Issued: now,
		Expires: now.Add(time.Minute), By: "admin", Reason: "fan\u001b[2J"}
	var te *permit.TextError
	if err := c.Validate(); !errors.As(err, &te) || te.Field != "reason" {
		t.Errorf("Validate of a reason with ESC = %v; want a TextError of field reason", err)
	}
	c.Reason = "fan broken\nsee ticket 12"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a two-line reason = %v; want nil", err)
	}
}
