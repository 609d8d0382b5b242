package permit_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/permit"
)

// parseUIDTests is also the seed corpus of FuzzParseUID.
var parseUIDTests = []struct {
	name string
	in   string
	want string // hex of the UID; "" means an error
}{
	{"4 bytes upper", "04A1B2C3", "04a1b2c3"},
	{"4 bytes lower", "04a1b2c3", "04a1b2c3"},
	{"7 bytes upper", "04A1B2C3D4E5F6", "04a1b2c3d4e5f6"},
	{"7 bytes lower", "04a1b2c3d4e5f6", "04a1b2c3d4e5f6"},
	{"7 bytes mixed case", "04a1B2c3D4e5F6", "04a1b2c3d4e5f6"},
	{"10 bytes", "04A1B2C3D4E5F6078899", "04a1b2c3d4e5f6078899"},
	{"colons", "04:A1:B2:C3:D4:E5:F6", "04a1b2c3d4e5f6"},
	{"dashes", "04-a1-b2-c3", "04a1b2c3"},
	{"spaces", "04 A1 B2 C3 D4 E5 F6 07 88 99", "04a1b2c3d4e5f6078899"},
	{"dots", "04.a1.b2.c3.d4.e5.f6", "04a1b2c3d4e5f6"},
	{"mixed separators", "04:a1-B2 c3.D4e5F6", "04a1b2c3d4e5f6"},
	{"leading and trailing separators", " :04A1B2C3- ", "04a1b2c3"},
	{"separator inside a byte", "0:4A1B2C3", "04a1b2c3"},
	{"10 bytes padded to MaxUIDText", "04:A1:B2:C3:D4:E5:F6:07:88:99" + strings.Repeat(" ", permit.MaxUIDText-29), "04a1b2c3d4e5f6078899"},
	{"all zero", "00000000", "00000000"},
	{"all ff", "FFFFFFFFFFFFFF", "ffffffffffffff"},

	{"empty", "", ""},
	{"only separators", ": - .", ""},
	{"odd digits", "04A1B2C", ""},
	{"odd digits 7 bytes", "04A1B2C3D4E5F", ""},
	{"odd digits with separators", "04:A1:B2:C", ""},
	{"non-hex letter", "04A1B2CG", ""},
	{"0x prefix", "0x04A1B2C3", ""},
	{"underscore", "04_A1_B2_C3", ""},
	{"tab", "04\tA1B2C3", ""},
	{"newline", "04A1B2C3\n", ""},
	{"comma", "04,A1,B2,C3", ""},
	{"full-width digit", "04A1B2C３", ""},
	{"NUL", "04A1\x00B2C3", ""},
	{"1 byte", "04", ""},
	{"5 bytes", "04A1B2C3D4", ""},
	{"8 bytes", "04A1B2C3D4E5F607", ""},
	{"11 bytes", "04A1B2C3D4E5F6078899AA", ""},
	{"32 bytes", strings.Repeat("A1", 32), ""},
	{"too long", strings.Repeat("A", permit.MaxUIDText+1), ""},
	{"too long valid UID", "04A1B2C3" + strings.Repeat(" ", permit.MaxUIDText-7), ""},
	{"very long", strings.Repeat("04A1B2C3", 10000), ""},
}

func TestParseUID(t *testing.T) {
	for _, tt := range parseUIDTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := permit.ParseUID(tt.in)
			if tt.want == "" {
				if err == nil || !errors.Is(err, permit.ErrUID) {
					t.Fatalf("ParseUID(%q) = %x, %v; want an error wrapping ErrUID", tt.in, got, err)
				}
				if got != nil {
					t.Errorf("ParseUID(%q) = %x with error; want nil", tt.in, got)
				}
				checkNoUIDLeak(t, tt.in, err.Error())
				return
			}
			if err != nil || hex.EncodeToString(got) != tt.want {
				t.Fatalf("ParseUID(%q) = %x, %v; want %s, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

// checkNoUIDLeak fails if msg repeats the input or four or more of its hex
// digits in a row (two bytes of a UID), in either case.
func checkNoUIDLeak(t *testing.T, in, msg string) {
	t.Helper()
	if len(in) >= 4 && strings.Contains(msg, in) {
		t.Errorf("error %q repeats the input", msg)
	}
	if w := leakedDigits(in, msg, 4); w != "" {
		t.Errorf("error %q contains the input's digits %q", msg, w)
	}
}

// leakedDigits returns the first run of n hex digits in a row of in,
// skipping what is not a hex digit, that msg holds in either case; "" if
// there is none.
func leakedDigits(in, msg string, n int) string {
	var digits []byte
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			digits = append(digits, c)
		case c >= 'A' && c <= 'F':
			digits = append(digits, c+'a'-'A')
		}
	}
	lower := strings.ToLower(msg)
	for i := 0; i+n <= len(digits); i++ {
		if w := string(digits[i : i+n]); strings.Contains(lower, w) {
			return w
		}
	}
	return ""
}

func TestCheckUIDLength(t *testing.T) {
	for n := -1; n <= 16; n++ {
		err := permit.CheckUIDLength(n)
		want := n == 4 || n == 7 || n == 10
		if (err == nil) != want {
			t.Errorf("CheckUIDLength(%d) = %v; want ok %v", n, err, want)
		}
		if err != nil && !errors.Is(err, permit.ErrUID) {
			t.Errorf("CheckUIDLength(%d) = %v; want it to wrap ErrUID", n, err)
		}
	}
}

func testSiteKey(b byte) permit.SiteKey {
	k := make(permit.SiteKey, permit.SiteKeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestFingerprintSpellings(t *testing.T) {
	k := testSiteKey(1)
	spellings := []string{
		"04A1B2C3D4E5F6",
		"04a1b2c3d4e5f6",
		"04:A1:B2:C3:D4:E5:F6",
		"04-a1-b2-c3-d4-e5-f6",
		"04 A1 B2 C3 D4 E5 F6",
		"04.a1.b2.c3.d4.e5.f6",
		" 04a1B2c3:D4-e5.F6 ",
	}
	want := k.Fingerprint([]byte{0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6})
	for _, s := range spellings {
		got, err := k.FingerprintText(s)
		if err != nil || got != want {
			t.Errorf("FingerprintText(%q) = %s, %v; want %s, nil", s, got, err, want)
		}
	}
}

func TestFingerprintTextError(t *testing.T) {
	k := testSiteKey(1)
	got, err := k.FingerprintText("04A1B2C3D4")
	if !errors.Is(err, permit.ErrUID) || got != "" {
		t.Fatalf("FingerprintText(5 bytes) = %q, %v; want \"\", ErrUID", got, err)
	}
	checkNoUIDLeak(t, "04A1B2C3D4", err.Error())
}

func TestFingerprintDiffers(t *testing.T) {
	uid7 := []byte{0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6}
	k1, k2 := testSiteKey(1), testSiteKey(2)
	if a, b := k1.Fingerprint(uid7), k2.Fingerprint(uid7); a == b {
		t.Errorf("two site keys give the same fingerprint %s", a)
	}
	if a, b := k1.Fingerprint(uid7[:4]), k1.Fingerprint(uid7); a == b {
		t.Errorf("a 4-byte prefix of a 7-byte UID gives the same fingerprint %s", a)
	}
	uid10 := append(append([]byte{}, uid7...), 0x07, 0x88, 0x99)
	if a, b := k1.Fingerprint(uid7), k1.Fingerprint(uid10); a == b {
		t.Errorf("a 7-byte prefix of a 10-byte UID gives the same fingerprint %s", a)
	}
	if a, b := k1.Fingerprint(uid7), k1.Fingerprint([]byte{0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf7}); a == b {
		t.Errorf("UIDs one bit apart give the same fingerprint %s", a)
	}
}

func TestFingerprintKnownAnswer(t *testing.T) {
	// RFC 4231, test case 2: HMAC-SHA256 with key "Jefe".
	got := permit.SiteKey("Jefe").Fingerprint([]byte("what do ya want for nothing?"))
	if want := permit.Fingerprint("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"); got != want {
		t.Errorf("Fingerprint(RFC 4231 case 2) = %s; want %s", got, want)
	}

	for _, uid := range []string{"04A1B2C3", "04A1B2C3D4E5F6", "04A1B2C3D4E5F6078899"} {
		k := testSiteKey(7)
		raw, _ := hex.DecodeString(uid)
		m := hmac.New(sha256.New, []byte(k))
		m.Write(raw)
		want := permit.Fingerprint(hex.EncodeToString(m.Sum(nil)))
		got, err := k.FingerprintText(uid)
		if err != nil || got != want {
			t.Errorf("FingerprintText(%s) = %s, %v; want %s, nil", uid, got, err, want)
		}
		if len(got) != 64 || strings.ToLower(string(got)) != string(got) {
			t.Errorf("FingerprintText(%s) = %s; want 64 lower-case hex digits", uid, got)
		}
		if got.Short() != string(got[:16]) {
			t.Errorf("Short() = %s; want %s", got.Short(), got[:16])
		}
	}
}

func TestFingerprintShort(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"0123456789abcdef", "0123456789abcdef"},
		{"0123456789abcdef0", "0123456789abcdef"},
	} {
		if got := permit.Fingerprint(tt.in).Short(); got != tt.want {
			t.Errorf("Fingerprint(%q).Short() = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewSiteKey(t *testing.T) {
	a, err := permit.NewSiteKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := permit.NewSiteKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != permit.SiteKeySize || len(b) != permit.SiteKeySize {
		t.Errorf("NewSiteKey() lengths %d, %d; want %d", len(a), len(b), permit.SiteKeySize)
	}
	if bytes.Equal(a, b) {
		t.Error("two NewSiteKey() calls returned the same key")
	}
}

func TestSiteKeyRoundTrip(t *testing.T) {
	k := testSiteKey(0xf0)
	b := permit.MarshalSiteKey(k)
	if want := hex.EncodeToString(k) + "\n"; string(b) != want {
		t.Errorf("MarshalSiteKey() = %q; want %q", b, want)
	}
	got, err := permit.ParseSiteKey(b)
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("ParseSiteKey(MarshalSiteKey(k)) = %x, %v; want %x, nil", []byte(got), err, []byte(k))
	}

	path := filepath.Join(t.TempDir(), "site.key")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = permit.LoadSiteKey(path)
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("LoadSiteKey() = %x, %v; want %x, nil", []byte(got), err, []byte(k))
	}
}

func TestParseSiteKey(t *testing.T) {
	key16 := strings.Repeat("ab", 16)
	for _, tt := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"32 bytes", strings.Repeat("0f", 32), true},
		{"16 bytes", key16, true},
		{"upper case", strings.ToUpper(key16), true},
		{"surrounding white space", "\r\n  " + key16 + " \t\r\n", true},
		{"empty", "", false},
		{"only white space", " \n", false},
		{"15 bytes", strings.Repeat("ab", 15), false},
		{"odd digits", key16 + "a", false},
		{"not hex", strings.Repeat("zz", 16), false},
		{"inner space", key16[:8] + " " + key16[8:], false},
		{"colons", strings.Repeat("ab:", 16), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := permit.ParseSiteKey([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("ParseSiteKey(%q) = %x, %v; want ok %v", tt.in, []byte(got), err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) && len(strings.TrimSpace(tt.in)) >= 8 {
				t.Errorf("ParseSiteKey error %q repeats the key", err)
			}
		})
	}
}

func TestLoadSiteKeyErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := permit.LoadSiteKey(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadSiteKey(missing) = %v; want os.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := permit.LoadSiteKey(bad)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadSiteKey(short key) = %v; want an error naming %s", err, bad)
	}
}

func TestSiteKeyDoesNotLeak(t *testing.T) {
	k := testSiteKey(0xa0)
	raw := []byte(k)
	secrets := []string{
		string(raw),
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw),
		strings.Trim(fmt.Sprintf("%d", raw), "[]"),
		strings.Trim(fmt.Sprintf("%#v", raw), "[]byte{}"),
		fmt.Sprintf("%q", raw),
	}
	check := func(what, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s = %q; it leaks the key", what, out)
				return
			}
		}
		// Every byte of testSiteKey is distinct; eight of them in a row
		// anywhere would mean the key escaped in some encoding.
		if strings.Contains(out, "a0a1a2a3") || strings.Contains(out, "160 161 162") {
			t.Errorf("%s = %q; it leaks the key", what, out)
		}
	}

	if got := k.String(); got != "SiteKey(redacted)" {
		t.Errorf("String() = %q; want SiteKey(redacted)", got)
	}
	for _, verb := range []string{"%v", "%s", "%+v", "%#v", "%d", "%x", "%X", "%q", "%02x", "% x"} {
		check("Sprintf("+verb+", k)", fmt.Sprintf(verb, k))
		check("Sprintf("+verb+", struct)", fmt.Sprintf(verb, struct{ Key permit.SiteKey }{k}))
		check("Sprintf("+verb+", &struct)", fmt.Sprintf(verb, &struct{ Key permit.SiteKey }{k}))
	}
	check("Sprint(k)", fmt.Sprint(k))
	check("Sprintln(k)", fmt.Sprintln(k))
	check("error", fmt.Errorf("load %v: %w", k, errors.New("x")).Error())

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "key", k, slog.Any("any", k))
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "key", k, slog.Any("any", k))
	check("slog output", buf.String())
	if n := strings.Count(buf.String(), "SiteKey(redacted)"); n != 4 {
		t.Errorf("slog output %q has %d redacted keys; want 4", buf.String(), n)
	}
}
