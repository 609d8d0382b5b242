package workflow

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/kunci-project/kunci/hub/kv"
	"github.com/kunci-project/kunci/permit"
)

// StaffMember is an entry of the staff register: a permit.Staff with a
// name, and who changed it last.
type StaffMember struct {
	ID       string               `json:"id"`
	Name     string               `json:"name"`
	Version  uint64               `json:"version"`
	Site     string               `json:"site"`
	Doors    []string             `json:"doors,omitempty"`
	Cards    []permit.Fingerprint `json:"cards"`
	Escort   bool                 `json:"escort"`
	Solo     bool                 `json:"solo"`
	Disabled bool                 `json:"disabled,omitempty"`
	By       string               `json:"by"`
	At       time.Time            `json:"at"`
}

// Permit returns the staff record the doors get.
func (m *StaffMember) Permit() permit.Staff {
	return permit.Staff{ID: m.ID, Version: m.Version, Site: m.Site, Doors: slices.Clone(m.Doors),
		Cards: slices.Clone(m.Cards), Escort: m.Escort, Solo: m.Solo, Disabled: m.Disabled}
}

func getStaff(b kv.Bucket, id string) (StaffMember, error) {
	return getJSON[StaffMember](b, "staff", id)
}

// PutStaff adds or replaces staff member m.ID; the stored version is one
// above the previous one, whatever m.Version says.
func (s *Store) PutStaff(m StaffMember, by string) (StaffMember, error) {
	if err := needBy(by); err != nil {
		return StaffMember{}, err
	}
	if strings.TrimSpace(m.Name) == "" {
		return StaffMember{}, invalid("staff %q: no name", m.ID)
	}
	if err := checkText("name", m.Name, permit.MaxStaffName); err != nil {
		return StaffMember{}, err
	}
	m.Doors, m.Cards, m.By, m.At = slices.Clone(m.Doors), slices.Clone(m.Cards), by, s.opts.Now().UTC()
	err := s.db.Update(func(tx kv.Tx) error {
		b := tx.Bucket(bStaff)
		old, err := getStaff(b, m.ID)
		switch {
		case err == nil:
			m.Version = old.Version + 1
		case isNotFound(err):
			m.Version = 1
		default:
			return err
		}
		p := m.Permit()
		if err := p.Validate(); err != nil {
			return invalid("%v", err)
		}
		j, err := json.Marshal(&m)
		if err != nil {
			return err
		}
		return b.Put([]byte(m.ID), j)
	})
	if err != nil {
		return StaffMember{}, err
	}
	return m, nil
}

// Staff returns staff member id.
func (s *Store) Staff(id string) (StaffMember, error) {
	return viewJSON[StaffMember](s.db, bStaff, "staff", id)
}

// ListStaff returns the staff register in id order.
func (s *Store) ListStaff() ([]StaffMember, error) {
	return listJSON[StaffMember](s.db, bStaff, "staff")
}

// SignStaff returns the signed staff record of id for the doors.
func (s *Store) SignStaff(id string) ([]byte, error) {
	if s.opts.Signer == nil {
		return nil, ErrNoSigner
	}
	m, err := s.Staff(id)
	if err != nil {
		return nil, err
	}
	p := m.Permit()
	return s.opts.Signer.Sign(permit.KindStaff, &p)
}
