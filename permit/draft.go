package permit

import "time"

// PermitDraft is a permit as a person writes it (kunci sign permit, the
// demo's records): the guest's card as the UID a reader prints, not yet a
// fingerprint. A draft is never stored or sent, only the permit it makes.
type PermitDraft struct {
	ID                  string
	Version             uint64
	Site, Door          string
	CardUID             string // hex, as ParseUID takes it
	Escort              string
	Category            Category
	NotBefore, NotAfter time.Time
	Entries             int
	ApprovedBy          string
}

// Permit returns the permit of d approved at now (to the second), its
// card fingerprinted with k. Its one error is the card's (ErrUID).
func (d PermitDraft) Permit(k SiteKey, now time.Time) (*Permit, error) {
	fp, err := k.FingerprintText(d.CardUID)
	if err != nil {
		return nil, err
	}
	return &Permit{ID: d.ID, Version: d.Version, Site: d.Site, Door: d.Door, Card: fp, Escort: d.Escort,
		Category: d.Category, NotBefore: d.NotBefore, NotAfter: d.NotAfter, Entries: d.Entries,
		ApprovedBy: d.ApprovedBy, ApprovedAt: now.Truncate(time.Second)}, nil
}

// StaffDraft is a staff record as a person writes it (kunci sign staff,
// the demo's records): the cards as the UIDs a reader prints. A draft is
// never stored or sent, only the record it makes.
type StaffDraft struct {
	ID                     string
	Version                uint64
	Site                   string
	Doors                  []string // empty: every door of the site
	CardUIDs               []string // hex, as ParseUID takes them
	Escort, Solo, Disabled bool
}

// Staff returns the staff record of d, its cards fingerprinted with k.
// Its one error is that of the first card that does not parse (ErrUID).
func (d StaffDraft) Staff(k SiteKey) (*Staff, error) {
	s := &Staff{ID: d.ID, Version: d.Version, Site: d.Site, Doors: d.Doors, Escort: d.Escort, Solo: d.Solo,
		Disabled: d.Disabled}
	for _, uid := range d.CardUIDs {
		fp, err := k.FingerprintText(uid)
		if err != nil {
			return nil, err
		}
		s.Cards = append(s.Cards, fp)
	}
	return s, nil
}
