package demo

import (
	"fmt"
	"time"

	"github.com/kunci-project/kunci/hub"
	"github.com/kunci-project/kunci/hub/workflow"
	"github.com/kunci-project/kunci/permit"
)

// The demo's office: who does each SOP step.
const (
	desk        = "desk"       // files requests (SOP 1)
	coordinator = "pranata"    // classifies them (SOP 2)
	approver    = "kasi-infra" // the head of ICT infrastructure (SOP 3, 4)
	viewer      = "auditor"    // reads the guest book and the reports
)

// Seed puts the demo's staff and permit P-0012 (the cards GuestUID,
// EscortUID and SoloUID) in h when it holds no permit yet.
func Seed(h *hub.Hub, now time.Time) error {
	if recs, err := h.Workflow().List(); err != nil || len(recs) > 0 {
		return err
	}
	for _, m := range []struct {
		id, name, uid string
		solo          bool
	}{{"S-004", "Budi Santoso", EscortUID, false}, {"S-001", "Andi Pratama", SoloUID, true}} {
		fp, err := h.Workflow().Fingerprint(site, m.uid)
		if err != nil {
			return err
		}
		if _, err := h.PutStaff(workflow.StaffMember{ID: m.id, Name: m.name, Site: site, Cards: []permit.Fingerprint{fp},
			Escort: true, Solo: m.solo}, "admin"); err != nil {
			return fmt.Errorf("demo staff %s: %w", m.id, err)
		}
	}
	now = now.Truncate(time.Second)
	r, err := h.Request(workflow.Request{ID: "P-0012", Site: site, Door: door, Guest: "Siti Rahma",
		NIK: "3204015506900002", Organisation: "PT Jaringan Nusantara", Phone: "0812-0000-1111",
		Purpose: "replace a power supply in the core switch", Equipment: []string{"laptop", "console cable", "PSU"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(29 * 24 * time.Hour), CardUID: GuestUID, By: desk}) // inside workflow.DefaultMaxWindow
	if err != nil {
		return fmt.Errorf("demo permit: %w", err)
	}
	if _, err = h.Coordinate(r.ID, permit.Network, coordinator); err == nil {
		if _, err = h.Approve(r.ID, approver); err == nil {
			_, err = h.Escort(r.ID, "S-004", approver)
		}
	}
	if err != nil {
		return fmt.Errorf("demo permit: %w", err)
	}
	return nil
}
