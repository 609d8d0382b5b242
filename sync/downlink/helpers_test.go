package downlink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kunci-project/kunci/agent"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testSite = "demo"
	testDoor = "server-room"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// Keys from fixed seeds, so that the fuzz seeds signed with them stay
// valid from one run to the next.
var (
	hubKey   = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	rogueKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	hub      = permit.NewSigner(hubKey)
	rogue    = permit.NewSigner(rogueKey)
	siteKey  = permit.SiteKey(bytes.Repeat([]byte{0x5a}, permit.SiteKeySize))
)

func keyring(tb testing.TB) permit.Keyring {
	tb.Helper()
	k := permit.Keyring{}
	if err := k.Add(hub.Public()); err != nil {
		tb.Fatal(err)
	}
	return k
}

func doorTopics(tb testing.TB) topic.Door {
	tb.Helper()
	d, err := topic.New("", testSite, testDoor)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// uidOf returns the 7-byte UID of test card n.
func uidOf(n byte) []byte { return []byte{0x04, n, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6} }

func guestPermit(id string, version uint64, door string) *permit.Permit {
	return &permit.Permit{ID: id, Version: version, Site: testSite, Door: door, Card: siteKey.Fingerprint(uidOf(1)),
		Escort: "S-ESC", Category: permit.Server, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(8 * time.Hour),
		ApprovedBy: "head-ict", ApprovedAt: t0.Add(-2 * time.Hour)}
}

func revocation(id string, version uint64) *permit.Revocation {
	return &permit.Revocation{Permit: id, Version: version, Site: testSite, Door: testDoor, At: t0, By: "head-ict"}
}

func staffRecord(id string, version uint64) *permit.Staff {
	return &permit.Staff{ID: id, Version: version, Site: testSite, Cards: []permit.Fingerprint{siteKey.Fingerprint(uidOf(10))},
		Escort: true}
}

func command(id string, name wire.CommandName, issued time.Time) *permit.Command {
	return &permit.Command{ID: id, Site: testSite, Door: testDoor, Name: name, Issued: issued,
		Expires: issued.Add(5 * time.Minute), By: "head-ict"}
}

func kindOf(v any) permit.Kind {
	switch v.(type) {
	case *permit.Permit:
		return permit.KindPermit
	case *permit.Revocation:
		return permit.KindRevocation
	case *permit.Staff:
		return permit.KindStaff
	}
	return permit.KindCommand
}

// signed returns v signed by s under its own kind.
func signed(tb testing.TB, s *permit.Signer, v interface{ Validate() error }) []byte {
	tb.Helper()
	b, err := s.Sign(kindOf(v), v)
	if err != nil {
		tb.Fatalf("Sign = %v", err)
	}
	return b
}

// signRaw signs body as it is, valid or not, with the hub's key: what a
// hub with a bug (or a stolen key) could send.
func signRaw(kind permit.Kind, body []byte) []byte {
	msg := append([]byte("kunci/v1\n"+string(kind)+"\n"), body...)
	b, _ := json.Marshal(permit.Signed{Kind: kind, Key: hub.ID(), Body: body, Sig: ed25519.Sign(hubKey, msg)})
	return b
}

// tampered changes the body of a signed document after signing.
func tampered(tb testing.TB, doc []byte, old, new string) []byte {
	tb.Helper()
	var d permit.Signed
	if err := json.Unmarshal(doc, &d); err != nil {
		tb.Fatal(err)
	}
	if !bytes.Contains(d.Body, []byte(old)) {
		tb.Fatalf("tampered: %q not in body %s", old, d.Body)
	}
	d.Body = bytes.Replace(d.Body, []byte(old), []byte(new), 1)
	b, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// unsigned wraps a signed document's body without its signature.
func unsigned(tb testing.TB, doc []byte) []byte {
	tb.Helper()
	var d permit.Signed
	if err := json.Unmarshal(doc, &d); err != nil {
		tb.Fatal(err)
	}
	d.Sig = nil
	b, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// bodyOf returns the record JSON inside a signed document: a command as
// the hub would send it unsigned.
func bodyOf(tb testing.TB, doc []byte) []byte {
	tb.Helper()
	var d permit.Signed
	if err := json.Unmarshal(doc, &d); err != nil {
		tb.Fatal(err)
	}
	return d.Body
}

// fakeDoor records what the downlink asks of the door and answers with
// the errors set.
type fakeDoor struct {
	mu       sync.Mutex
	applied  []string // sources
	commands []permit.Command
	events   []agent.Event
	records  int // calls of Record: the door's transactions
	applyErr error
	cmdErr   error
}

func (f *fakeDoor) ApplyUnrecorded(_ context.Context, source string, _ []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, source)
	return f.applyErr
}

func (f *fakeDoor) CommandUnrecorded(_ context.Context, _ string, c permit.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, c)
	return f.cmdErr
}

func (f *fakeDoor) Record(_ context.Context, e ...agent.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e...)
	f.records++
	return nil
}

// writes returns how many times Record was called.
func (f *fakeDoor) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.records
}

func (f *fakeDoor) snapshot() (applied []string, commands []permit.Command, events []agent.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied), slices.Clone(f.commands), slices.Clone(f.events)
}

func eventList(evs []agent.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n\t" + string(e.Type))
		if e.Reason != "" {
			b.WriteString(" reason=" + string(e.Reason))
		}
		if e.Detail != "" {
			b.WriteString(" detail=" + e.Detail)
		}
	}
	return b.String()
}
