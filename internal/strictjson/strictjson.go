package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// KeyError is a key Check refused.
type KeyError struct {
	Path   string // the key's place: "site", "equipment[2].name"
	Field  string // the field the key names but for case; "" for a repeat
	Repeat bool   // the key appears twice in its object
}

func (e *KeyError) Error() string {
	if e.Repeat {
		return fmt.Sprintf("key %q appears twice in its object", e.Path)
	}
	return fmt.Sprintf("key %q: no such field; keys are case-sensitive: %q", e.Path, e.Field)
}

// frame is an open object or array.
type frame struct {
	object bool
	t      reflect.Type // what it decodes into; nil: anything
	up     *frame       // the frame that holds it; nil at the top
	upKey  string       // its key in up, an object
	upIdx  int          // its index in up, an array
	keys   map[string]struct{}
	key    string // an object's key whose value comes next
	want   bool   // an object: the next token is a key (or its end)
	index  int    // an array: the next element's index
}

// path names the place of key in f: "site", "items[2].name".
func (f *frame) path(key string) string {
	segs := []string{key}
	for g := f; g.up != nil; g = g.up {
		if g.up.object {
			segs = append(segs, g.upKey)
		} else {
			segs = append(segs, "["+strconv.Itoa(g.upIdx)+"]")
		}
	}
	slices.Reverse(segs)
	var b strings.Builder
	for i, s := range segs {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// Check reports the first key of data that is in its object twice, or
// that names a field of v's type only when case is ignored, as a
// *KeyError; nil when there is none, or when data is not JSON (the
// decoder says why).
func Check(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top *frame
	var t reflect.Type
	if v != nil {
		t = reflect.TypeOf(v)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or not JSON: the decoder reports that
		}
		d, isDelim := tok.(json.Delim)
		if isDelim && (d == '}' || d == ']') {
			top = top.up
			top.after()
			continue
		}
		if top != nil && top.object && top.want {
			key, _ := tok.(string)
			if _, dup := top.keys[key]; dup {
				return &KeyError{Path: top.path(key), Repeat: true}
			}
			top.keys[key] = struct{}{}
			if f := caseOnly(top.t, key); f != "" {
				return &KeyError{Path: top.path(key), Field: f}
			}
			top.key, top.want = key, false
			continue
		}
		vt := t
		if top != nil {
			vt = top.child()
		}
		if !isDelim {
			top.after()
			continue
		}
		f := &frame{object: d == '{', t: vt, up: top, want: d == '{'}
		if top != nil {
			f.upKey, f.upIdx = top.key, top.index
		}
		if f.object {
			f.keys = map[string]struct{}{}
		}
		top = f
	}
}

// after moves f past the value that just ended in it.
func (f *frame) after() {
	switch {
	case f == nil:
	case f.object:
		f.want = true
	default:
		f.index++
	}
}

// child returns the type of the value f holds next (nil: anything).
func (f *frame) child() reflect.Type {
	t := deref(f.t)
	if t == nil || opaque(t) {
		return nil
	}
	switch k := t.Kind(); {
	case f.object && k == reflect.Struct:
		return fieldsOf(t)[f.key]
	case f.object && k == reflect.Map:
		return t.Elem()
	case !f.object && (k == reflect.Slice || k == reflect.Array):
		return t.Elem()
	}
	return nil
}

// caseOnly returns the field of t that key names only when case is
// ignored, or "".
func caseOnly(t reflect.Type, key string) string {
	t = deref(t)
	if t == nil || opaque(t) || t.Kind() != reflect.Struct {
		return ""
	}
	fs := fieldsOf(t)
	if _, ok := fs[key]; ok {
		return ""
	}
	for name := range fs {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var (
	unmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// opaque reports whether t decodes itself: its fields are not
// encoding/json's.
func opaque(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(unmarshaler) || p.Implements(unmarshaler) ||
		t.Implements(textUnmarshaler) || p.Implements(textUnmarshaler)
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf returns the JSON names of struct t's fields, as encoding/json
// names them (tags, embedded structs' fields promoted), with their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	addFields(m, t, 0)
	fieldCache.Store(t, m)
	return m
}

func addFields(m map[string]reflect.Type, t reflect.Type, depth int) {
	if depth > 8 { // embedding that deep is a cycle of pointers
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := deref(f.Type)
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			// promoted, unless the outer struct names them itself
			inner := map[string]reflect.Type{}
			addFields(inner, ft, depth+1)
			for k, v := range inner {
				if _, ok := m[k]; !ok {
					m[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
}
