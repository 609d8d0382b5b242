// Package strictjson refuses the JSON that encoding/json reads in a way
// its writer may not have meant: an object with the same key twice
// (encoding/json keeps the last), and a key that names a field of the Go
// type only when case is ignored ({"SITE":…} read as site). Check is one
// scan of a request's body before it is decoded, at every depth, against
// the type it will be decoded into (about half the decode's time, and
// 1 ms and five allocations for a MiB of the smallest values:
// BenchmarkCheck, BenchmarkCheckWorst); the hub's API and the
// simulator call it (issue 13: ambiguous parsing). CheckFields refuses the
// keys that name no field too: with it json.Unmarshal reads as a
// json.Decoder with DisallowUnknownFields does, without the decoder's copy
// of its input, which is how package permit opens every signed document a
// door is sent (a flood of refused ones costs the door little garbage).
// It lives under permit, which may import nothing else of Kunci's, for
// that.
//
// Check checks keys only: values, unknown fields and the JSON's syntax are
// encoding/json's to report, as the callers' decoders already do. Values
// of a type with its own UnmarshalJSON or UnmarshalText are checked for
// duplicate keys, not for their fields.
//
// It must never decode into the value, never recurse, and never hold more
// than its input's size (a frame per open object or array, a key set per
// object).
package strictjson
