package main

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// subVerbs returns the sub-verbs of verb, as it names them when it is given
// one it does not have, or nil for a verb without sub-verbs, which must
// refuse a stray word instead.
func subVerbs(t *testing.T, verb string) []string {
	t.Helper()
	const bogus = "no-such-verb"
	_, _, err := invoke(t, verb, bogus)
	if err == nil {
		t.Fatalf("kunci %s %s = nil; want an error", verb, bogus)
	}
	msg := err.Error()
	_, list, group := strings.Cut(msg, `unknown "`+bogus+`"; want `)
	if !group {
		if !strings.Contains(msg, `unexpected "`+bogus+`"`) {
			t.Errorf("kunci %s %s = %v; want a verb's sub-verbs named (unknown %q; want a, b or c) or the word refused", verb, bogus, err, bogus)
		}
		return nil
	}
	var subs []string
	for s := range strings.SplitSeq(strings.Replace(list, " or ", ", ", 1), ", ") {
		subs = append(subs, strings.TrimSpace(s))
	}
	return subs
}

// Every verb of run and every sub-verb answers -h and --help with its
// usage on stderr and no error: main exits 0. A new verb is in verbs(), so
// it is in this table, and so are its sub-verbs, found by asking the verb
// for one it does not have.
func TestEveryVerbAnswersHelp(t *testing.T) {
	names := make([]string, 0, len(verbs()))
	for name := range verbs() {
		names = append(names, name)
	}
	slices.Sort(names)
	var groups int
	for _, verb := range names {
		if verb == "help" {
			continue // prints on stdout: TestHelpVerb
		}
		lines := [][]string{{verb}}
		subs := subVerbs(t, verb)
		for _, s := range subs {
			lines = append(lines, []string{verb, s})
		}
		if subs != nil {
			groups++
		}
		for _, line := range lines {
			for _, h := range []string{"-h", "--help"} {
				args := append(slices.Clip(line), h)
				out, errOut, err := invoke(t, args...)
				if err != nil {
					t.Errorf("kunci %s = %v; want nil (exit status 0)", strings.Join(args, " "), err)
				}
				if out != "" {
					t.Errorf("kunci %s printed on stdout:\n%s\nwant the usage on stderr alone", strings.Join(args, " "), out)
				}
				if !strings.HasPrefix(errOut, "usage:") || !strings.Contains(errOut, "kunci "+verb) || !strings.Contains(errOut, line[len(line)-1]) {
					t.Errorf("kunci %s printed on stderr:\n%s\nwant its usage", strings.Join(args, " "), errOut)
				}
			}
		}
	}
	if groups != 8 {
		t.Errorf("found %d verbs with sub-verbs; want 8 (permit, staff, door, alarm, token, user, sign, hub)", groups)
	}
	for _, h := range []string{"-h", "--help", "-help"} {
		out, errOut, err := invoke(t, h)
		if err != nil || out != "" || !strings.Contains(errOut, "kunci hwcheck --config FILE") {
			t.Errorf("kunci %s = %v, stdout %q, stderr %q; want the usage on stderr and nil", h, err, out, errOut)
		}
	}
}

// kunci help prints on stdout what -h prints on stderr.
func TestHelpVerb(t *testing.T) {
	for _, args := range [][]string{{"door", "lockdown"}, {"permit"}, {"hwcheck"}, {"version"}} {
		_, want, err := invoke(t, append(slices.Clip(args), "-h")...)
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, err := invoke(t, append([]string{"help"}, args...)...)
		if err != nil || out != want || errOut != "" {
			t.Errorf("kunci help %s = %v, stdout:\n%s\nstderr:\n%s\nwant on stdout what -h prints:\n%s", strings.Join(args, " "), err, out, errOut, want)
		}
	}
	if _, _, err := invoke(t, "help", "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("kunci help frobnicate = %v; want unknown command", err)
	}
}

// The exit status, through the built binary: 0 for -h and --help, 1 for an
// unknown sub-verb, with a message that names it and the ones there are.
func TestHelpExitStatus(t *testing.T) {
	bin := buildKunci(t, t.TempDir())
	for _, tc := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"hwcheck", "-h"}, 0, "usage: kunci hwcheck"},
		{[]string{"door", "-h"}, 0, "kunci door lockdown|release|unlock-once|resync"},
		{[]string{"sign", "--help"}, 0, "kunci sign permit|staff|revocation"},
		{[]string{"permit", "approve", "-h"}, 0, "kunci permit approve ID"},
		{[]string{"--help"}, 0, "kunci dev"},
		{[]string{"door", "frobnicate"}, 1, `unknown "frobnicate"; want lockdown, release, unlock-once, resync or gap`},
		{[]string{"sign", "frobnicate"}, 1, `unknown "frobnicate"; want permit, staff or revocation`},
		{[]string{"frobnicate"}, 1, `unknown command "frobnicate"`},
	} {
		var stdout, stderr strings.Builder
		cmd := exec.Command(bin, tc.args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tc.status || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("kunci %s: exit status %d, stderr:\n%s\nwant %d and %q", strings.Join(tc.args, " "), status, &stderr, tc.status, tc.stderr)
		}
		if tc.status == 0 && stdout.Len() > 0 {
			t.Errorf("kunci %s printed on stdout:\n%s", strings.Join(tc.args, " "), &stdout)
		}
	}
}
