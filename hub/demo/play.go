package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/api"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/client"
	"github.com/kunci-project/kunci/hub/workflow"
)

// The guest of Play: a card of her own, so that the demo's visit is the
// demo's alone.
const (
	PlayGuestUID = "04C0FFEE123456"
	PlayGuestNIK = "3204016607920003"
)

// Runner runs the kunci client verb args (as typed after "kunci") on the
// hub with token, printing what the verb prints.
type Runner func(ctx context.Context, token string, args ...string) error

// Play plays the SOP once, on the hub c (an admin's client) and the door
// whose local API (the simulator) is at base: the office files,
// classifies, approves and escorts a request with the client verbs (run
// through kunci, each shown on out as typed), the guest and the escort
// tap in on the simulator, the guest works, taps out, the room is
// secured; then the guest book and the service times.
func Play(ctx context.Context, c *client.Client, base string, kunci Runner, out io.Writer) error {
	// the simulator is the door's, not the hub's API
	sim := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// one token for each person of the office, gone after the demo
	tokens := map[string]string{}
	for _, p := range []struct {
		name string
		role auth.Role
	}{{desk, auth.Requester}, {coordinator, auth.Coordinator}, {approver, auth.Approver}, {viewer, auth.Viewer}} {
		nt, err := c.AddToken(ctx, api.TokenRequest{Name: p.name, Roles: []string{string(p.role)}, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			return fmt.Errorf("demo: token for %s: %w", p.name, err)
		}
		tokens[p.name] = nt.Token
		defer c.RevokeToken(context.WithoutCancel(ctx), nt.ID)
	}
	as := func(who string, args ...string) error {
		fmt.Fprintf(out, "\n$ kunci %s\n", strings.Join(quoteArgs(args), " "))
		return kunci(ctx, tokens[who], args...)
	}
	post := func(what, path, body string) error {
		fmt.Fprintf(out, "  door: %s\n", what)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := sim.Do(req)
		if err != nil {
			return fmt.Errorf("demo: simulator: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("demo: simulator %s: %s", path, b)
		}
		return nil
	}
	tap := func(who, reader, uid string) error {
		return post(who+" taps the "+reader+" reader", "/sim/tap", fmt.Sprintf(`{"reader":%q,"uid":%q}`, reader, uid))
	}

	id := "P-DEMO-" + time.Now().Format("0102-150405")
	now := time.Now()
	fmt.Fprintf(out, "Kunci demo: the server room's SOP, once, for permit %s.\n", id)
	fmt.Fprintf(out, "\n1. The desk files the special permit form (SOP step 1).")
	if err := as(desk, "permit", "request", "--id", id, "--site", site, "--door", door,
		"--guest", "Rina Wulandari", "--nik", PlayGuestNIK, "--org", "PT Telkom Akses", "--phone", "0813-5555-0101",
		"--purpose", "replace an SFP module in the core switch", "--equipment", "laptop,SFP module",
		"--from", "now", "--until", "now+4h", "--card", PlayGuestUID,
		"--form-opened", now.Add(-3*time.Minute).Format(time.RFC3339)); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n2. The network administrator classifies it (step 2).")
	if err := as(coordinator, "permit", "coordinate", id, "--category", "network"); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n3. The head of ICT infrastructure approves it (step 3)...")
	if err := as(approver, "permit", "approve", id); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n4. ...and appoints escort S-004: the permit is signed and published to the door (step 4).")
	if err := as(approver, "permit", "escort", id, "--staff", "S-004"); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n5. At the door: the guest taps her e-KTP, the escort his staff card (step 5).\n")
	granted := false
	for try := 0; try < 40 && !granted; try++ {
		if try > 0 {
			fmt.Fprintln(out, "  (the door has not received the permit yet; again)")
			if err := pause(ctx, 250*time.Millisecond); err != nil {
				return err
			}
		}
		if err := tap("the guest", "entry", PlayGuestUID); err != nil {
			return err
		}
		if err := tap("the escort", "entry", EscortUID); err != nil {
			return err
		}
		var err error
		if granted, err = relayUnlocked(ctx, sim, base); err != nil {
			return err
		}
	}
	if !granted {
		return errors.New("demo: the door did not open for the guest and her escort")
	}
	for _, s := range []struct{ what, path, body string }{
		{"unlocked; the door opens (entry recorded)", "/sim/door", `{"open":true}`},
		{"the door closes and locks", "/sim/door", `{"open":false}`},
	} {
		if err := post(s.what, s.path, s.body); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\n6. The work: rack R1 is opened and closed again (step 6).\n")
	if err := post("rack R1 opens", "/sim/rack", `{"rack":"R1","open":true}`); err != nil {
		return err
	}
	if err := post("rack R1 closes", "/sim/rack", `{"rack":"R1","open":false}`); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n7. The guest taps out on the exit reader; the escort leaves with her (step 7).\n")
	if err := tap("the guest", "exit", PlayGuestUID); err != nil {
		return err
	}
	if err := post("the door opens (exit recorded)", "/sim/door", `{"open":true}`); err != nil {
		return err
	}
	if err := post("the door closes and locks", "/sim/door", `{"open":false}`); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n8. The door checks the room: door closed, lock engaged, every rack closed (step 8).\n")
	if err := waitSecured(ctx, c, id); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe guest book (Buku Tamu), written by the door and kept by the hub, as an auditor sees it (NIK masked):")
	if err := as(viewer, "guestbook"); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nService times against the SOP's standards (the demo runs at machine speed; real visits take minutes):")
	return as(viewer, "sla")
}

// relayUnlocked asks the simulator whether the relay is unlocked.
func relayUnlocked(ctx context.Context, sim *http.Client, base string) (bool, error) {
	var st struct {
		Relay string `json:"relay"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sim/state", nil)
	if err != nil {
		return false, err
	}
	resp, err := sim.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return false, err
	}
	return st.Relay == "unlocked", nil
}

// waitSecured waits until the hub's guest book shows permit id's visit
// ended in a secured room: the door's events reached the hub.
func waitSecured(ctx context.Context, c *client.Client, id string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := c.GuestBook(ctx, workflow.Filter{Permit: id})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !r.Secured.IsZero() || r.NotSecured {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the hub has no secured visit of %s after 30 s", id)
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// quoteArgs quotes the words with spaces, for showing a command line.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
