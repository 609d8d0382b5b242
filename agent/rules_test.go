package agent_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/wire"
)

// ruleRow is one row of doc.go's rule table.
type ruleRow struct {
	id, input  string
	when, then []string
	events     []string
}

// ruleWords are the words agent.RuleWords may say.
var ruleWords = []string{"normal", "lockdown", "locked", "unlocked", "no-exit", "exit-window", "exit-all", "relay-fault",
	"closed", "open", "held-open", "forced", "racks-closed", "rack-open", "racks-open", "rack-tampered",
	"no-guest", "guest-waits", "no-escort", "escort-waits", "empty", "granted", "inside", "last-one", "escort-out",
	"no-check", "check-due", "not-secured", "exit-unlocks", "exit-keeps-lock", "exit-reader", "no-exit-reader"}

// ruleTable reads the rule table of doc.go: the code blocks that start
// with the header row "rule | when | input | events | then".
var ruleTable = sync.OnceValues(func() ([]ruleRow, error) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		return nil, err
	}
	var rows []ruleRow
	in := false
	for n, line := range strings.Split(string(src), "\n") {
		text, ok := strings.CutPrefix(line, "//\t")
		c := strings.Split(text, "|")
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		switch {
		case !ok:
			in = false
			continue
		case strings.Join(c, "|") == "rule|when|input|events|then":
			in = true
			continue
		case !in:
			continue
		case len(c) != 5:
			return nil, fmt.Errorf("doc.go:%d: %d cells, want 5 (rule | when | input | events | then)", n+1, len(c))
		}
		r := ruleRow{id: c[0], when: fieldsOf(c[1]), input: c[2], then: fieldsOf(c[4])}
		if c[3] != "-" {
			r.events = strings.Split(c[3], ", ")
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("doc.go: no rule table")
	}
	return rows, nil
})

func fieldsOf(s string) []string {
	if s == "-" {
		return nil
	}
	return strings.Fields(s)
}

// wordsHold reports whether the state words have every word of want.
func wordsHold(want, have []string) bool {
	for _, w := range want {
		neg := strings.HasPrefix(w, "!")
		alts := strings.Split(strings.TrimPrefix(w, "!"), "/")
		if slices.ContainsFunc(alts, func(a string) bool { return slices.Contains(have, a) }) == neg {
			return false
		}
	}
	return true
}

func inputMatches(row, desc string) bool {
	if prefix, ok := strings.CutSuffix(row, ": any"); ok {
		return strings.HasPrefix(desc, prefix+": ")
	}
	return row == desc
}

// eventsMatch compares the events of a row with an outcome's: a token is a
// type, with its reason in parentheses or any reason without, and x* is
// one or more x. A tap's own event comes first and is not in the rows.
func eventsMatch(row []string, got []agent.Event, tap bool) bool {
	if tap {
		if len(got) == 0 || got[0].Type != wire.EvTap {
			return false
		}
		got = got[1:]
	}
	one := func(tok string, e agent.Event) bool {
		typ, reason, hasReason := strings.Cut(strings.TrimSuffix(tok, ")"), "(")
		return string(e.Type) == typ && (!hasReason || string(e.Reason) == reason)
	}
	for _, tok := range row {
		tok, many := strings.CutSuffix(tok, "*")
		if len(got) == 0 || !one(tok, got[0]) {
			return false
		}
		got = got[1:]
		for many && len(got) > 0 && one(tok, got[0]) {
			got = got[1:]
		}
	}
	return len(got) == 0
}

// checkRule checks a step that names a rule against the table: the rule
// is the first whose when and input match, and its events and then are
// what the step did.
func checkRule(t *testing.T, i int, s step, before []string, desc string, out agent.Outcome, after []string) {
	t.Helper()
	rows, err := ruleTable()
	if err != nil {
		t.Fatal(err)
	}
	at := slices.IndexFunc(rows, func(r ruleRow) bool { return r.id == s.rule })
	if at < 0 {
		t.Fatalf("step %d names rule %s, which doc.go does not have", i, s.rule)
	}
	r := rows[at]
	first := slices.IndexFunc(rows, func(r ruleRow) bool { return wordsHold(r.when, before) && inputMatches(r.input, desc) })
	switch {
	case first < 0:
		t.Errorf("step %d (rule %s): no rule of doc.go has when and input for state %v, input %q", i, s.rule, before, desc)
	case first != at:
		t.Errorf("step %d (rule %s): state %v, input %q match rule %s first", i, s.rule, before, desc, rows[first].id)
	}
	_, tap := s.in.(agent.Tap)
	if !eventsMatch(r.events, out.Events, tap) {
		t.Errorf("step %d (rule %s): events %v; the rule says %v", i, s.rule, evList(out.Events), r.events)
	}
	if !wordsHold(r.then, after) {
		t.Errorf("step %d (rule %s): state after %v; the rule says %v", i, s.rule, after, r.then)
	}
}

// TestRuleTable checks the table itself: ids are unique, every word and
// event it names exists, and a scenario step names every rule (which
// TestMachineRules then holds to it).
func TestRuleTable(t *testing.T) {
	rows, err := ruleTable()
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]int{}
	for _, c := range machineCases() {
		for _, s := range c.steps {
			if s.rule != "" {
				named[s.rule]++
			}
		}
	}
	types := append(slices.Clone(designEventTypes), wire.EvRelayFault, wire.EvStoreLowSpace, wire.EvStoreFailed)
	reasons := append(slices.Clone(designReasons), wire.ReasonUnknown)
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.id] {
			t.Errorf("rule %s: twice in doc.go", r.id)
		}
		seen[r.id] = true
		if named[r.id] == 0 {
			t.Errorf("rule %s: no scenario step of TestMachineRules names it", r.id)
		}
		for _, w := range append(slices.Clone(r.when), r.then...) {
			for _, a := range strings.Split(strings.TrimPrefix(w, "!"), "/") {
				if !slices.Contains(ruleWords, a) {
					t.Errorf("rule %s: unknown word %q", r.id, a)
				}
			}
		}
		for _, tok := range r.events {
			typ, reason, hasReason := strings.Cut(strings.TrimSuffix(strings.TrimSuffix(tok, "*"), ")"), "(")
			if !slices.Contains(types, wire.EventType(typ)) {
				t.Errorf("rule %s: unknown event %q", r.id, typ)
			}
			if hasReason && !slices.Contains(reasons, wire.Reason(reason)) {
				t.Errorf("rule %s: unknown reason %q", r.id, reason)
			}
		}
	}
	for id := range named {
		if !seen[id] {
			t.Errorf("a scenario step names rule %s, which doc.go does not have", id)
		}
	}
}

// TestRuleWords checks that the table's vocabulary is the machine's: every
// word agent.RuleWords says is known.
func TestRuleWords(t *testing.T) {
	for _, c := range machineCases() {
		m := newCaseMachine(c)
		for i, s := range c.steps {
			m.Handle(s.in, agent.Time{Now: t0.Add(s.at), Trusted: !s.untrusted})
			for _, w := range agent.RuleWords(m) {
				if !slices.Contains(ruleWords, w) {
					t.Fatalf("%s: step %d: RuleWords says %q, which the table does not know", c.name, i, w)
				}
			}
		}
	}
}
