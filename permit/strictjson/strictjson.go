package strictjson

import (
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
	Path    string // the key's place: "site", "equipment[2].name"
	Field   string // the field the key names but for case; "" for a repeat or an unknown key
	Repeat  bool   // the key appears twice in its object
	Unknown bool   // the key names no field at all (CheckFields)
}

func (e *KeyError) Error() string {
	if e.Repeat {
		return fmt.Sprintf("key %q appears twice in its object", e.Path)
	}
	if e.Unknown {
		return fmt.Sprintf("key %q: no such field", e.Path)
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
	want   bool   // an object: the next string is a key
	index  int    // an array: the element's index
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
// decoder says why). It scans the bytes once, allocating for keys only.
func Check(data []byte, v any) error { return check(data, v, false) }

// CheckFields is Check that also refuses a key naming no field of the
// struct its object decodes into (at every depth where that type is known),
// as a *KeyError with Unknown set: with it, json.Unmarshal reads data as a
// json.Decoder with DisallowUnknownFields would, without the decoder's
// copy of its input.
func CheckFields(data []byte, v any) error { return check(data, v, true) }

func check(data []byte, v any, fields bool) error {
	var top *frame
	var t reflect.Type
	if v != nil {
		t = reflect.TypeOf(v)
	}
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case ',':
			switch {
			case top == nil:
			case top.object:
				top.want = true
			default:
				top.index++
			}
			i++
		case '{', '[':
			vt := t
			if top != nil {
				vt = top.child()
			}
			f := &frame{object: c == '{', t: vt, up: top, want: c == '{'}
			if top != nil {
				f.upKey, f.upIdx = top.key, top.index
			}
			if f.object {
				f.keys = map[string]struct{}{}
			}
			top = f
			i++
		case '}', ']':
			if top == nil {
				return nil // not JSON
			}
			top = top.up
			i++
		case '"':
			end, special := stringEnd(data, i)
			if end < 0 {
				return nil // not JSON
			}
			if top != nil && top.object && top.want {
				key, ok := keyOf(data[i:end], special)
				if !ok {
					return nil
				}
				if _, dup := top.keys[key]; dup {
					return &KeyError{Path: top.path(key), Repeat: true}
				}
				top.keys[key] = struct{}{}
				if f := caseOnly(top.t, key); f != "" {
					return &KeyError{Path: top.path(key), Field: f}
				}
				if fields && unknown(top.t, key) {
					return &KeyError{Path: top.path(key), Unknown: true}
				}
				top.key, top.want = key, false
			}
			i = end
		default: // white space, ':', a number, true, false, null, or not JSON
			i++
		}
	}
	return nil
}

// stringEnd returns the index after the JSON string that starts at
// data[i] (a quote), and whether it has an escape or a byte beyond ASCII;
// -1 when it does not end.
func stringEnd(data []byte, i int) (end int, special bool) {
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, special
		case c == '\\':
			special = true
			j++
		case c >= 0x80:
			special = true
		}
	}
	return -1, special
}

// keyOf returns the key the quoted string raw names, as encoding/json
// reads it (escapes decoded, bad UTF-8 replaced).
func keyOf(raw []byte, special bool) (string, bool) {
	if !special {
		return string(raw[1 : len(raw)-1]), true
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return "", false
	}
	return k, true
}

// child returns the type of the value f holds next (nil: anything).
func (f *frame) child() reflect.Type {
	ti := infoOf(f.t)
	switch {
	case ti == nil || ti.opaque:
		return nil
	case f.object && ti.kind == reflect.Struct:
		return ti.fields[f.key]
	case f.object && ti.kind == reflect.Map, !f.object && (ti.kind == reflect.Slice || ti.kind == reflect.Array):
		return ti.elem
	}
	return nil
}

// caseOnly returns the field of t that key names only when case is
// ignored, or "".
func caseOnly(t reflect.Type, key string) string {
	ti := infoOf(t)
	if ti == nil || ti.opaque || ti.kind != reflect.Struct {
		return ""
	}
	if _, ok := ti.fields[key]; ok {
		return ""
	}
	for name := range ti.fields {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

// unknown reports whether t is a struct, decoded by encoding/json, with no
// field named key.
func unknown(t reflect.Type, key string) bool {
	ti := infoOf(t)
	if ti == nil || ti.opaque || ti.kind != reflect.Struct {
		return false
	}
	_, ok := ti.fields[key]
	return !ok
}

// typeInfo is what Check needs of a type, worked out once.
type typeInfo struct {
	kind   reflect.Kind
	opaque bool                    // it decodes itself
	fields map[string]reflect.Type // a struct's, by JSON name
	elem   reflect.Type            // a map's, slice's or array's
}

var infoCache sync.Map // reflect.Type -> *typeInfo

// infoOf returns the typeInfo of t with its pointers dereferenced; nil
// for nil.
func infoOf(t reflect.Type) *typeInfo {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	if ti, ok := infoCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{kind: t.Kind(), opaque: opaque(t)}
	switch ti.kind {
	case reflect.Struct:
		ti.fields = map[string]reflect.Type{}
		addFields(ti.fields, t, 0)
	case reflect.Map, reflect.Slice, reflect.Array:
		ti.elem = t.Elem()
	}
	infoCache.Store(t, ti)
	return ti
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
