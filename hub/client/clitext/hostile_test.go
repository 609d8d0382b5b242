package clitext_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client/clitext"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/wire"
)

// hostilePermit is a record stored before the hub refused control and
// bidi characters (issue 13): a guest who clears the screen and sets the
// window's title, an organisation that adds a fake row, a purpose that
// reverses the line.
func hostilePermit() *api.Permit {
	p := issued()
	p.Guest = "Rina\u001b[2J\u001b]0;pwn\u0007"
	p.Organisation = "Org\nP-9999,fake row"
	p.Purpose = "fix \u202eUSP\tnow"
	p.History[1].Note = "S-004\r\u009b2J"
	return p
}

// noControl fails the test if out holds a character a terminal obeys
// other than the line ends of its rows.
func noControl(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069) {
			t.Errorf("%s holds %U:\n%q", what, r, out)
			return
		}
	}
}

func TestHostileTextEscaped(t *testing.T) {
	p := hostilePermit()
	out := render(t, func(w io.Writer) error { return clitext.Permits(w, []api.Permit{*p}) })
	noControl(t, "Permits", out)
	same(t, "Permits", out,
		"ID        STATE   DOOR              GUEST"+strings.Repeat(" ", 22)+"ORGANISATION"+strings.Repeat(" ", 10)+"FROM                 UNTIL                CATEGORY  ESCORT\n"+
			`P-000001  issued  demo/server-room  Rina\x1b[2J\x1b]0;pwn\x07  Org\nP-9999,fake row  2026-11-28 09:00:00  2026-11-28 17:00:00  network   S-004`+"\n")
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("Permits of one permit wrote %d lines; want 2 (a header and the permit)", n)
	}
	out = render(t, func(w io.Writer) error { return clitext.Permit(w, p) })
	noControl(t, "Permit", out)
	for _, want := range []string{
		`guest         Rina\x1b[2J\x1b]0;pwn\x07` + "\n",
		`organisation  Org\nP-9999,fake row` + "\n",
		`purpose       fix \u202eUSP\tnow` + "\n",
		`2026-11-28 08:59:00  issued     kasi-infra  S-004\r\x9b2J` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Permit:\n%s\nwant the line %q", out, want)
		}
	}
	out = render(t, func(w io.Writer) error { return clitext.Requested(w, p) })
	noControl(t, "Requested", out)
	same(t, "Requested", out, `P-000001 requested: Rina\x1b[2J\x1b]0;pwn\x07 (Org\nP-9999,fake row) at demo/server-room, `+
		"2026-11-28 09:00:00 to 2026-11-28 17:00:00\n"+
		`signed and sent to demo/server-room: Rina\x1b[2J\x1b]0;pwn\x07 may enter with escort S-004`+"\n")
	out = render(t, func(w io.Writer) error { return clitext.Stepped(w, p) })
	noControl(t, "Stepped", out)
	if !strings.HasPrefix(out, `P-000001 issued by kasi-infra at 2026-11-28 08:59:00: S-004\r\x9b2J`+"\n") {
		t.Errorf("Stepped = %q", out)
	}
	out = render(t, func(w io.Writer) error {
		return clitext.GuestBook(w, []api.GuestRow{{Site: "demo", Door: "server-room", Permit: "P-1", Guest: p.Guest,
			Organisation: p.Organisation, Purpose: p.Purpose, Entered: at(0), Equipment: []string{"laptop\u2066"}}})
	})
	noControl(t, "GuestBook", out)
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `laptop\u2066`) {
		t.Errorf("GuestBook of one visit:\n%s\nwant 2 lines, the equipment escaped", out)
	}
}

func TestHostileNamesEscaped(t *testing.T) {
	bad := "Budi\u001b]0;pwn\u0007\u202e"
	for what, print := range map[string]func(w io.Writer) error{
		"Staff": func(w io.Writer) error {
			return clitext.Staff(w, []api.Staff{{ID: "S-1", Name: bad, Site: "demo", By: bad, At: at(0)}})
		},
		"StaffChanged": func(w io.Writer) error {
			return clitext.StaffChanged(w, &api.Staff{ID: "S-1", Name: bad, Site: "demo"})
		},
		"Tokens": func(w io.Writer) error {
			return clitext.Tokens(w, []auth.Info{{ID: "T-1", Name: bad, Created: at(0)}}, at(0))
		},
		"TokenIssued": func(w io.Writer) error {
			return clitext.TokenIssued(io.Discard, w, &api.NewToken{ID: "T-1", Name: bad})
		},
		"Whoami": func(w io.Writer) error { return clitext.Whoami(w, &api.Whoami{Name: bad}) },
		"Users":  func(w io.Writer) error { return clitext.Users(w, []api.User{{Login: "budi", Name: bad}}) },
		"UserSaved": func(w io.Writer) error {
			return clitext.UserSaved(w, io.Discard, &api.User{Login: "budi", Name: bad}, "")
		},
		"NextStep": func(w io.Writer) error {
			return clitext.NextStep(w, &api.Permit{ID: "P-1", State: workflow.Coordinated, Requester: bad})
		},
	} {
		out := render(t, func(w io.Writer) error { return print(w) })
		noControl(t, what, out)
		if !strings.Contains(out, `Budi\x1b]0;pwn\x07\u202e`) {
			t.Errorf("%s = %q; want the name escaped", what, out)
		}
	}
}

// A door's credential writes the events' text: the watch line escapes it.
func TestUpdateLineEscapesEvents(t *testing.T) {
	u := hub.Update{Kind: "event", Site: "demo", Door: "server-room", Event: &wire.Event{Type: wire.EvReaderFault, At: at(0),
		Detail: "bad frame\u001b[2J\n2026-11-28 09:00:00  demo/server-room  event access.granted"}}
	got := clitext.UpdateLine(&u, at(0))
	want := `2026-11-28 09:00:00  demo/server-room  event reader.fault detail=bad frame\x1b[2J\n2026-11-28 09:00:00  demo/server-room  event access.granted`
	if got != want {
		t.Errorf("UpdateLine =\n%q\nwant\n%q", got, want)
	}
}

// --json prints the hub's answer; JSON leaves U+202E and the C1 controls
// as they are, so Raw writes them as \u escapes of the same JSON.
func TestRawEscapesWhatJSONLeaves(t *testing.T) {
	in := []byte("[{\"guest\":\"Rina\u202eanaS\u0085\",\n \"emoji\":\"\U0001F527\",\"tag\":\"\U000E0041\"}]\n")
	var b bytes.Buffer
	if err := clitext.Raw(&b, in); err != nil {
		t.Fatal(err)
	}
	noControl(t, "Raw", b.String())
	var got, want any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("Raw wrote %q, not JSON: %v", b.String(), err)
	}
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatal(err)
	}
	if g, w := must(json.Marshal(got)), must(json.Marshal(want)); !bytes.Equal(g, w) {
		t.Errorf("Raw changed the JSON: %s; want %s", g, w)
	}
	if !strings.Contains(b.String(), `Rina\u202eanaS\u0085`) || !strings.Contains(b.String(), `\udb40\udc41`) {
		t.Errorf("Raw = %q; want U+202E, U+0085 and the tag written as \\u escapes", b.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
