package wire

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "5s", "2m" or "1h30m", in the
// API's JSON and in the config files.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler (JSON and YAML).
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 5s or 2m", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a config file's duration. Its errors are type
// errors, so that the decoder goes on and reports every bad field, not
// just the first. Zero is refused: an unset field takes the default, and
// "0s" written out would silently mean the default too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	bad := func(format string, a ...any) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, a...)}}
	}
	var s string
	if err := n.Decode(&s); err != nil {
		return bad("want a duration such as 5s or 2m")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return bad("%q is not a duration such as 5s or 2m", s)
	}
	if v == 0 {
		return bad("%q: want more than 0 (leave the field out for the default)", s)
	}
	*d = Duration(v)
	return nil
}
