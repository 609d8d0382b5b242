package auth_test

import (
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/hub/kv/kvtest"
)

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Two hub processes on one PostgreSQL store: a token revoked and a session
// signed out on one end the other's streams waiting on them once it
// follows the writes (Follow), and only those.
func TestFollowOnPostgres(t *testing.T) {
	open := kvtest.Postgres(t)
	var dbs []kv.DB
	for range 2 {
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	t1, err := auth.New(dbs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := auth.New(dbs[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	_, gone, err := t1.Issue("gone", []auth.Role{auth.Admin}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, kept, err := t1.Issue("kept", []auth.Role{auth.Admin}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	goneEnded, release := t2.Ended(gone.ID)
	defer release()
	keptEnded, release2 := t2.Ended(kept.ID)
	defer release2()
	if err := t1.Revoke(gone.ID); err != nil {
		t.Fatal(err)
	}
	if closed(goneEnded) {
		t.Fatal("the other process's stream ended before it followed the write")
	}
	if err := t2.Follow([]string{gone.ID, kept.ID}, false); err != nil {
		t.Fatal(err)
	}
	if !closed(goneEnded) || closed(keptEnded) {
		t.Errorf("after Follow: the revoked token's stream ended %v, the kept one's %v; want true, false", closed(goneEnded), closed(keptEnded))
	}

	u1, err := auth.NewUsers(dbs[0], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := auth.NewUsers(dbs[1], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u1.Add(auth.NewUser{Login: "kasi", Name: "Kasi", Roles: []auth.Role{auth.Approver}, Password: "a long enough password 1"}); err != nil {
		t.Fatal(err)
	}
	out, _, err := u1.SignIn("kasi", "a long enough password 1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	stay, _, err := u1.SignIn("kasi", "a long enough password 1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	_, sOut, err := u2.Verify(out)
	if err != nil {
		t.Fatal(err)
	}
	_, sStay, err := u2.Verify(stay)
	if err != nil {
		t.Fatal(err)
	}
	if err := u1.SignOut(out); err != nil {
		t.Fatal(err)
	}
	if err := u2.Follow(); err != nil {
		t.Fatal(err)
	}
	if !closed(sOut.Ended) || closed(sStay.Ended) {
		t.Errorf("after Follow: the signed-out session's stream ended %v, the other's %v; want true, false", closed(sOut.Ended), closed(sStay.Ended))
	}
}
