package agent_test

import (
	"testing"

	"github.com/kunci-project/kunci/agent"
)

func TestCutShort(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{" \n", true},
		{`{`, true},
		{`{"kind":"permit","key":"k1","bo`, true},
		{`{"kind":"permit","sig":"AAAA"`, true},
		{`{"kind":"permit"}`, false},
		{"{\"kind\":\"permit\"}\n", false},
		{`{"kind":"permit"}}`, false},   // broken after the end: complete, and wrong
		{`{"kind":permit"}`, false},     // broken in the middle
		{`not a record`, false},         // not JSON at all
		{`{"kind":"permit"} {"`, false}, // a second value: wrong, not cut short
	} {
		if got := agent.CutShort([]byte(c.in)); got != c.want {
			t.Errorf("CutShort(%q) = %v; want %v", c.in, got, c.want)
		}
	}
}
