package main

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/kunci-project/kunci/config"
	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/auth"
	"github.com/kunci-project/kunci/hub/server"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/mqttlink"
)

// openDevHub opens kunci dev's hub in data, on broker, for the door of
// cfg only, with the demo's staff and permit P-0012 on first use. It
// returns the admin token, kept in data/admin.token.
func openDevHub(data, broker string, cfg *config.Agent, log *slog.Logger) (*server.Server, string, error) {
	keys := filepath.Join(data, "keys")
	privs, _ := filepath.Glob(filepath.Join(keys, "hub-*.key"))
	if len(privs) == 0 {
		return nil, "", errors.New("no hub key in " + keys)
	}
	signer, err := permit.LoadSigner(privs[0])
	if err != nil {
		return nil, "", err
	}
	sk, err := permit.LoadSiteKey(filepath.Join(keys, "site.key"))
	if err != nil {
		return nil, "", err
	}
	h, err := server.Open(server.Setup{Store: filepath.Join(data, "hub.db"), EventsStore: filepath.Join(data, "hub-events.db"),
		Signer: signer, SiteKeys: map[string]permit.SiteKey{cfg.Site: sk},
		Doors: []hub.DoorName{{Site: cfg.Site, Door: cfg.Door}}, Prefix: cfg.MQTT.Prefix,
		Link: mqttlink.Options{Broker: broker, ClientID: devHubClientID}, OnlyDoors: true}, log)
	if err != nil {
		return nil, "", err
	}
	admin, err := devAdminToken(h.Tokens(), filepath.Join(data, "admin.token"))
	if err == nil {
		err = seedDemo(h.Hub(), time.Now())
	}
	if err != nil {
		h.Close()
		return nil, "", err
	}
	return h, admin, nil
}

// devAdminToken returns the admin token of file, issuing one (and writing
// the file) when there is none or it no longer works.
func devAdminToken(tokens *auth.Tokens, file string) (string, error) {
	if tok, err := auth.ReadTokenFile(file); err == nil {
		if p, err := tokens.Verify(tok); err == nil && p.CanSeeNIK() {
			return tok, nil
		}
	}
	tok, issued, err := tokens.EnsureAdmin("admin")
	if err != nil {
		return "", err
	}
	if !issued {
		if tok, _, err = tokens.Issue("admin", []auth.Role{auth.Admin}, time.Time{}); err != nil {
			return "", err
		}
	}
	if err := auth.WriteTokenFile(file, tok); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return tok, nil
}

// The demo's office: who does each SOP step.
const (
	demoDesk        = "desk"       // files requests (SOP 1)
	demoCoordinator = "pranata"    // classifies them (SOP 2)
	demoApprover    = "kasi-infra" // the head of ICT infrastructure (SOP 3, 4)
	demoViewer      = "auditor"    // reads the guest book and the reports
)

// seedDemo puts the demo's staff and permit P-0012 (the cards the help
// text names) in an empty hub.
func seedDemo(h *hub.Hub, now time.Time) error {
	if recs, err := h.Workflow().List(); err != nil || len(recs) > 0 {
		return err
	}
	for _, m := range []struct {
		id, name, uid string
		solo          bool
	}{{"S-004", "Budi Santoso", demoEscortUID, false}, {"S-001", "Andi Pratama", demoSoloUID, true}} {
		fp, err := h.Workflow().Fingerprint("demo", m.uid)
		if err != nil {
			return err
		}
		if _, err := h.PutStaff(workflow.StaffMember{ID: m.id, Name: m.name, Site: "demo", Cards: []permit.Fingerprint{fp},
			Escort: true, Solo: m.solo}, "admin"); err != nil {
			return fmt.Errorf("demo staff %s: %w", m.id, err)
		}
	}
	now = now.Truncate(time.Second)
	r, err := h.Request(workflow.Request{ID: "P-0012", Site: "demo", Door: "server-room", Guest: "Siti Rahma",
		NIK: "3204015506900002", Organisation: "PT Jaringan Nusantara", Phone: "0812-0000-1111",
		Purpose: "replace a power supply in the core switch", Equipment: []string{"laptop", "console cable", "PSU"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), CardUID: demoGuestUID, By: demoDesk})
	if err != nil {
		return fmt.Errorf("demo permit: %w", err)
	}
	if _, err = h.Coordinate(r.ID, permit.Network, demoCoordinator); err == nil {
		if _, err = h.Approve(r.ID, demoApprover); err == nil {
			_, err = h.Escort(r.ID, "S-004", demoApprover)
		}
	}
	if err != nil {
		return fmt.Errorf("demo permit: %w", err)
	}
	return nil
}
