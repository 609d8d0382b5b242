package strictjson_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/permit/strictjson"
)

type item struct {
	Name  string `json:"name"`
	Count int    `json:"count,omitempty"`
}

type base struct {
	ID string `json:"id"`
}

type request struct {
	base
	Site    string            `json:"site"`
	Door    string            `json:"door,omitempty"`
	Items   []item            `json:"items"`
	First   *item             `json:"first"`
	Labels  map[string]string `json:"labels"`
	Until   time.Time         `json:"until"`
	Raw     json.RawMessage   `json:"raw"`
	Any     any               `json:"any"`
	Skipped string            `json:"-"`
	Plain   string
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // "" when accepted
	}{
		{"exact keys", `{"id":"P-1","site":"demo","items":[{"name":"a"}],"first":{"name":"b"},"Plain":"x"}`, ""},
		{"empty", ``, ""},
		{"not json", `{"site":`, ""},
		{"unknown key, the decoder's", `{"nope":1}`, ""},
		{"map keys any case", `{"labels":{"A":"1","a":"2"}}`, ""},
		{"raw and any, any case", `{"raw":{"Site":1},"any":{"SITE":1,"site":2}}`, ""},
		{"a time", `{"until":"2026-01-01T00:00:00Z"}`, ""},
		{"same key in two objects", `{"items":[{"name":"a"},{"name":"b"}],"first":{"name":"c"}}`, ""},
		{"a value that looks like a key", `{"site":"site","door":"site"}`, ""},
		{"upper case", `{"SITE":"demo"}`, `key "SITE": no such field; keys are case-sensitive: "site"`},
		{"mixed case", `{"site":"demo","Door":"x"}`, `key "Door": no such field; keys are case-sensitive: "door"`},
		{"promoted field's case", `{"ID":"P-1"}`, `key "ID": no such field; keys are case-sensitive: "id"`},
		{"untagged field's case", `{"plain":"x"}`, `key "plain": no such field; keys are case-sensitive: "Plain"`},
		{"nested case", `{"items":[{"name":"a"},{"NAME":"b"}]}`, `key "items[1].NAME": no such field; keys are case-sensitive: "name"`},
		{"pointer's case", `{"first":{"Count":1}}`, `key "first.Count": no such field; keys are case-sensitive: "count"`},
		{"twice", `{"site":"demo","site":"other"}`, `key "site" appears twice in its object`},
		{"twice nested", `{"items":[{"name":"a","name":"b"}]}`, `key "items[0].name" appears twice in its object`},
		{"twice in a map", `{"labels":{"a":"1","a":"2"}}`, `key "labels.a" appears twice in its object`},
		{"twice in raw", `{"raw":{"x":[{"k":1,"k":2}]}}`, `key "raw.x[0].k" appears twice in its object`},
		{"twice, unknown", `{"nope":1,"nope":2}`, `key "nope" appears twice in its object`},
		{"empty key twice, nested", `{"items":[{"":1,"":2}]}`, `key "items[0]." appears twice in its object`},
		{"twice, skipped field", `{"Skipped":1,"Skipped":2}`, `key "Skipped" appears twice in its object`},
	} {
		var v request
		err := strictjson.Check([]byte(c.in), &v)
		if got := errString(err); got != c.want {
			t.Errorf("Check(%s: %s) = %q; want %q", c.name, c.in, got, c.want)
		}
		var ke *strictjson.KeyError
		if err != nil && !errors.As(err, &ke) {
			t.Errorf("Check(%s) = %T; want a *KeyError", c.name, err)
		}
	}
}

// Deep nesting costs a frame per level, no recursion: a megabyte of
// brackets is checked without a stack to grow.
func TestCheckDeep(t *testing.T) {
	in := strings.Repeat("[", 1<<19) + strings.Repeat("]", 1<<19)
	if err := strictjson.Check([]byte(in), new(any)); err != nil {
		t.Fatal(err)
	}
	dup := strings.Repeat(`{"a":`, 1000) + `{"b":1,"b":2}` + strings.Repeat("}", 1000)
	if err := strictjson.Check([]byte(dup), new(any)); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("Check(deep duplicate) = %v; want it refused", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzCheck: whatever the input, Check returns (no panic, no stack to
// overflow), what it refuses is a *KeyError, and on valid JSON it finds
// a key twice exactly when encoding/json's own tokens show one.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"site":"demo","items":[{"name":"a"}]}`, `{"SITE":1}`, `{"a":1,"a":2}`, `[[{}]]`,
		`{"items":[{"name":"a","NAME":1}]}`, `{"labels":{"x":{"y":1,"y":2}}}`, `{"a\u0062":1,"ab":2}`, `{"\"":1,"x":"\"}"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		err := strictjson.Check([]byte(in), new(any))
		var ke *strictjson.KeyError
		if err != nil && !errors.As(err, &ke) {
			t.Fatalf("Check(%q) = %T %v; want a *KeyError", in, err, err)
		}
		if !json.Valid([]byte(in)) {
			return
		}
		if got, want := err != nil, hasDuplicate(in); got != want {
			t.Fatalf("Check(%q) = %v; encoding/json's tokens show a key twice: %v", in, err, want)
		}
	})
}

// hasDuplicate is the reference: an object's keys, by encoding/json's
// tokens.
func hasDuplicate(in string) bool {
	dec := json.NewDecoder(strings.NewReader(in))
	type obj struct {
		keys map[string]bool
		want bool
	}
	var stack []*obj // nil entries: arrays
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &obj{keys: map[string]bool{}, want: true})
			case '[':
				stack = append(stack, nil)
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1] != nil {
					stack[len(stack)-1].want = true
				}
			}
			if top != nil && d != '}' && d != ']' {
				top.want = false
			}
			continue
		}
		if top != nil && top.want {
			k := tok.(string)
			if top.keys[k] {
				return true
			}
			top.keys[k], top.want = true, false
		} else if top != nil {
			top.want = true
		}
	}
}

// BenchmarkCheck: the pass's cost beside encoding/json's decode of the
// same body (a permit request's size), ns/op each; check-per-decode is
// their ratio, measured in the same run.
func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"id":"P-1","site":"demo","door":"server-room","items":[{"name":"laptop","count":1},{"name":"kabel","count":3}],` +
		`"first":{"name":"x"},"labels":{"a":"1","b":"2"},"until":"2026-12-01T10:00:00Z","Plain":"` + strings.Repeat("x", 200) + `"}`)
	var check, decode time.Duration
	for b.Loop() {
		t0 := time.Now()
		var v request
		if err := strictjson.Check(body, &v); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
		check, decode = check+t1.Sub(t0), decode+time.Since(t1)
	}
	b.ReportMetric(float64(check.Nanoseconds())/float64(b.N), "check-ns/op")
	b.ReportMetric(float64(decode.Nanoseconds())/float64(b.N), "decode-ns/op")
	b.ReportMetric(float64(check)/float64(decode), "check-per-decode")
}

// BenchmarkCheckWorst: a MiB (the hub's MaxBody) of the smallest tokens,
// inside a field of any type, the most work a body can ask of Check.
func BenchmarkCheckWorst(b *testing.B) {
	body := []byte(`{"any":[` + strings.Repeat("1,", 1<<19-8) + `1]}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var v request
		if err := strictjson.Check(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckFields(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // "" when accepted
	}{
		{"exact keys", `{"id":"P-1","site":"demo","items":[{"name":"a"}],"first":{"name":"b"},"Plain":"x"}`, ""},
		{"not json", `{"site":`, ""},
		{"unknown key", `{"site":"demo","nope":1}`, `key "nope": no such field`},
		{"unknown nested", `{"items":[{"name":"a"},{"name":"b","extra":true}]}`, `key "items[1].extra": no such field`},
		{"unknown in a pointer", `{"first":{"cnt":1}}`, `key "first.cnt": no such field`},
		{"skipped field is unknown", `{"Skipped":"x"}`, `key "Skipped": no such field`},
		{"map keys are any", `{"labels":{"whatever":"1"}}`, ""},
		{"raw and any hold anything", `{"raw":{"x":1},"any":{"y":2}}`, ""},
		{"case before unknown", `{"SITE":"demo"}`, `key "SITE": no such field; keys are case-sensitive: "site"`},
		{"unknown, twice", `{"nope":1,"nope":2}`, `key "nope": no such field`},
		{"twice, known", `{"site":"a","site":"b"}`, `key "site" appears twice in its object`},
	} {
		var v request
		if got := errString(strictjson.CheckFields([]byte(c.in), &v)); got != c.want {
			t.Errorf("CheckFields(%s: %s) = %q; want %q", c.name, c.in, got, c.want)
		}
	}
}

// FuzzCheckFields: on JSON that encoding/json decodes into request, and
// with no key twice or named but for case (Check's), CheckFields refuses
// exactly what a decoder with DisallowUnknownFields refuses.
func FuzzCheckFields(f *testing.F) {
	for _, s := range []string{`{"site":"demo","items":[{"name":"a"}]}`, `{"nope":1}`, `{"items":[{"name":"a","x":1}]}`,
		`{"first":{"count":1,"y":2}}`, `{"labels":{"x":"1"}}`, `{"raw":{"q":1}}`, `{"Skipped":"x"}`, `{"si\u0074e":"a"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		err := strictjson.CheckFields([]byte(in), new(request))
		var ke *strictjson.KeyError
		if err != nil && !errors.As(err, &ke) {
			t.Fatalf("CheckFields(%q) = %T %v; want a *KeyError", in, err, err)
		}
		var v request
		if json.Unmarshal([]byte(in), &v) != nil || strictjson.Check([]byte(in), new(request)) != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(in))
		dec.DisallowUnknownFields()
		derr := dec.Decode(new(request))
		if (err != nil) != (derr != nil) {
			t.Fatalf("CheckFields(%q) = %v; a decoder with DisallowUnknownFields: %v", in, err, derr)
		}
	})
}
