package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kunci-project/kunci/hub/hubtest"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/wire"
)

const doorPath = "/pintu/" + hubtest.Site + "/" + hubtest.Door

// sentCommands returns the commands the hub published, as signed.
func sentCommands(t *testing.T, e *hubtest.Env) []permit.Command {
	t.Helper()
	var out []permit.Command
	for _, m := range e.Pub.Sent() {
		if !strings.HasSuffix(m.Topic, "/cmd") {
			continue
		}
		rec, err := e.Keyring.Decode(m.Payload)
		if err != nil || rec.Command == nil {
			t.Fatalf("a published command does not verify: %v", err)
		}
		out = append(out, *rec.Command)
	}
	return out
}

func TestDoorPageAndCommands(t *testing.T) {
	s := newSOP(t)
	id := s.issue(t, requestForm(""))
	s.e.Feed(t, hubtest.Visit(id, time.Now().Add(-time.Hour), 1)...)
	_, _, body := s.aud.get(doorPath)
	for _, want := range []string{"Tamu masuk", "Ruangan aman", "Budi Pendamping", `href="/permohonan/` + id + `"`, "Halaman 1 dari 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("the door's page lacks %q", want)
		}
	}
	if strings.Contains(body, "/perintah") {
		t.Error("an auditor is offered commands")
	}
	a := s.admin
	a.get(doorPath)
	// lockdown: a confirmation page first, then the command
	code, _, body := a.do("POST", doorPath+"/perintah", url.Values{"csrf": {a.csrf}, "command": {"lockdown"}}, nil)
	if code != 200 || !strings.Contains(body, "Kunci total pintu demo/server-room?") || len(sentCommands(t, s.e)) != 0 {
		t.Fatalf("lockdown without confirming: %d, %d sent\n%s", code, len(sentCommands(t, s.e)), body)
	}
	code, h, _ := a.do("POST", doorPath+"/perintah", url.Values{"csrf": {a.csrf}, "command": {"lockdown"}, "confirm": {"1"}}, nil)
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "terkirim=1") {
		t.Fatalf("lockdown confirmed: %d", code)
	}
	// unlock-once: the door's name typed and a reason, or nothing is sent
	for _, bad := range []url.Values{
		{"typed": {"server"}, "reason": {"Perbaikan AC"}},
		{"typed": {hubtest.Door}, "reason": {""}},
	} {
		bad.Set("csrf", a.csrf)
		bad.Set("command", "unlock-once")
		bad.Set("confirm", "1")
		if code, _, _ := a.do("POST", doorPath+"/perintah", bad, nil); code != http.StatusUnprocessableEntity {
			t.Errorf("unlock-once with %v: %d; want 422", bad, code)
		}
	}
	code, _, _ = a.do("POST", doorPath+"/perintah", url.Values{"csrf": {a.csrf}, "command": {"unlock-once"}, "confirm": {"1"},
		"typed": {hubtest.Door}, "reason": {"Teknisi AC darurat"}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("unlock-once: %d", code)
	}
	cmds := sentCommands(t, s.e)
	if len(cmds) != 2 || cmds[0].Name != wire.CmdLockdown || cmds[1].Name != wire.CmdUnlockOnce || cmds[1].By != "Admin TIK" ||
		cmds[1].Reason != "Teknisi AC darurat" {
		raw, _ := json.Marshal(cmds)
		t.Fatalf("commands sent: %s", raw)
	}
	_, _, body = a.get(doorPath + "?terkirim=1")
	for _, want := range []string{"Perintah terkirim", "Buka sekali", "Kunci total", "Teknisi AC darurat", "Admin TIK"} {
		if !strings.Contains(body, want) {
			t.Errorf("the door's page after the commands lacks %q", want)
		}
	}
	for _, b := range []*browser{s.desk, s.head, s.aud} {
		b.get("/")
		if code, _, _ := b.do("POST", doorPath+"/perintah", url.Values{"csrf": {b.csrf}, "command": {"unlock-once"}, "confirm": {"1"},
			"typed": {hubtest.Door}, "reason": {"x"}}, nil); code != http.StatusForbidden {
			t.Errorf("a non-admin's forced unlock-once: %d; want 403", code)
		}
	}
	if len(sentCommands(t, s.e)) != 2 {
		t.Error("a refused command was sent")
	}
	if code, _, _ := a.get("/pintu/other/door"); code != http.StatusNotFound {
		t.Errorf("an unknown door: %d", code)
	}
}
