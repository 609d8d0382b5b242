package workflow

import "github.com/kunci-project/kunci/permit"

// Published reports whether the doors hold a document for r: the permit
// of an issued record, the revocation of a revoked one.
func (r *Record) Published() bool { return r.State == Issued || r.State == Revoked }

// Document returns the signed document the doors must hold for permit r
// in its current state, and whether there is one: the permit of an issued
// record, the revocation of a revoked one. A record re-opened after issue
// (escorted, not signed again yet) and one never issued have none. Ed25519
// and the record's JSON are deterministic: the same record and key give
// the same bytes, so the hub can sign again at start what it published
// before instead of storing the documents.
func (s *Store) Document(r *Record) ([]byte, bool, error) {
	if s.opts.Signer == nil {
		return nil, false, ErrNoSigner
	}
	switch r.State {
	case Issued:
		p := r.Permit()
		doc, err := s.opts.Signer.Sign(permit.KindPermit, &p)
		return doc, err == nil, err
	case Revoked:
		t := r.History[len(r.History)-1]
		rv := permit.Revocation{Permit: r.ID, Version: r.Version, Site: r.Site, Door: r.Door, At: t.At, By: t.By, Reason: t.Note}
		doc, err := s.opts.Signer.Sign(permit.KindRevocation, &rv)
		return doc, err == nil, err
	}
	return nil, false, nil
}
