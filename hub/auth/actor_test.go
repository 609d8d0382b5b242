package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
)

// An actor has one spelling (issue 13: "Dual" approved what "dual"
// filed): a token or user whose name folds to another's but is spelled
// otherwise is refused when it is made, and a person's tokens share the
// spelling of their user.
func TestOneSpellingPerActor(t *testing.T) {
	db, _ := openDB(t)
	tokens, err := auth.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.NewUsers(db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	issue(t, tokens, "dual", []auth.Role{auth.Requester}, time.Time{})
	issue(t, tokens, "dual", []auth.Role{auth.Approver}, time.Time{}) // one person, two tokens
	for _, name := range []string{"Dual", "DUAL", "dUaL"} {
		if _, _, err := tokens.Issue(name, []auth.Role{auth.Approver}, time.Time{}); !errors.Is(err, auth.ErrExists) {
			t.Errorf("Issue(%q) beside a token named dual = %v; want ErrExists", name, err)
		}
		if _, err := users.Add(auth.NewUser{Login: "dual2", Name: name, Roles: []auth.Role{auth.Approver}, Password: pw}); !errors.Is(err, auth.ErrExists) {
			t.Errorf("Add(user named %q) beside a token named dual = %v; want ErrExists", name, err)
		}
	}
	addUser(t, users, "dual", "dual", auth.Requester) // the tokens' person
	addUser(t, users, "budi", "Budi Santoso", auth.Approver)
	for _, name := range []string{"budi santoso", "Budi  Santoso", "BUDI SANTOSO"} {
		if _, _, err := tokens.Issue(name, []auth.Role{auth.Approver}, time.Time{}); !errors.Is(err, auth.ErrExists) {
			t.Errorf("Issue(%q) beside the user Budi Santoso = %v; want ErrExists", name, err)
		}
		if _, err := users.Add(auth.NewUser{Login: "budi2", Name: name, Roles: []auth.Role{auth.Viewer}, Password: pw}); !errors.Is(err, auth.ErrExists) {
			t.Errorf("Add(user named %q) beside the user Budi Santoso = %v; want ErrExists", name, err)
		}
	}
	issue(t, tokens, "Budi Santoso", []auth.Role{auth.Approver}, time.Time{}) // his own token
	if _, err := users.Change(auth.NewUser{Login: "budi", Name: "BUDI Santoso", Roles: []auth.Role{auth.Approver}}); !errors.Is(err, auth.ErrExists) {
		t.Errorf("renaming Budi Santoso to BUDI Santoso, whose token is spelled Budi Santoso = %v; want ErrExists", err)
	}
}

func TestActorNameRefusesHiddenCharacters(t *testing.T) {
	tokens, _ := newTokens(t)
	for _, name := range []string{"budi\u202e", "bu\u200bdi", "budi\u001b[2J", "bu\u00addi", "De\u0301vi"} {
		if _, _, err := tokens.Issue(name, []auth.Role{auth.Viewer}, time.Time{}); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("Issue(%q) = %v; want ErrInvalid", name, err)
		}
	}
	issue(t, tokens, "Dévi", []auth.Role{auth.Viewer}, time.Time{}) // é as one character
}
