package ingest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/kunci-project/kunci/permit"
	"github.com/kunci-project/kunci/sync/topic"
	"github.com/kunci-project/kunci/wire"
)

// Event is one door event in the JSON form of design.md (wire.Event),
// as the hub stores it. Members the hub does not know are accepted and not
// stored, so that an agent newer than the hub is not refused.
type Event = wire.Event

// DefaultMaxEventSize bounds an event payload. A real one is a few hundred
// bytes; a detail naming every open rack stays far below.
const DefaultMaxEventSize = 16 << 10

// Bounds of an event's members, which the hub enforces whatever the door
// sends. Site, door, epoch and type are ids (permit.CheckID: 1-64
// characters) and the id is made of them; the others are cut to their
// bound, not refused: an event refused would come back for ever and stall
// its door's stream, and every byte of a held or stored event is the
// hub's memory and disk. The agent writes ids of at most 64 characters in
// the short members; only free text (detail) or a refused record's id
// (permit.rejected) can come longer.
const (
	MaxDetail = 1024 // bytes of detail
	MaxMember = 128  // bytes of every other string member (reader, permit, rack, each of racks, …)
	MaxRacks  = 64   // names in racks
)

// clipMark ends a member cut to its bound.
const clipMark = "…"

// clip cuts s to at most n bytes, on a rune boundary, ending in clipMark;
// it reports whether it cut.
func clip(s *string, n int) bool {
	if len(*s) <= n {
		return false
	}
	cut := n - len(clipMark)
	for cut > 0 && !utf8.RuneStart((*s)[cut]) {
		cut--
	}
	*s = (*s)[:cut] + clipMark
	return true
}

// clipMembers cuts e's members to their bounds; it reports whether it cut
// any.
func clipMembers(e *Event) bool {
	cut := clip(&e.Detail, MaxDetail)
	for _, p := range []*string{&e.Boot, &e.Reader, &e.Permit, &e.Escort, &e.Rack, &e.Staff, &e.Card} {
		cut = clip(p, MaxMember) || cut
	}
	for _, p := range []*string{(*string)(&e.Reason), (*string)(&e.Command)} {
		cut = clip(p, MaxMember) || cut
	}
	if len(e.Racks) > MaxRacks {
		e.Racks, cut = e.Racks[:MaxRacks], true
	}
	for i := range e.Racks {
		cut = clip(&e.Racks[i], MaxMember) || cut
	}
	return cut
}

// DecodeEvent parses and validates one event message: topic must be a
// door's events topic under prefix, the payload one JSON object of at most
// maxSize bytes whose site and door are the topic's, with a seq from 1,
// an epoch and a type, and whose id is site/door/epoch/seq. Members
// longer than their bound (MaxDetail, MaxMember, MaxRacks) are cut.
func DecodeEvent(prefix, t string, payload []byte, maxSize int) (Event, error) {
	e, _, _, err := decodeEvent(prefix, t, payload, maxSize)
	return e, err
}

// decodeEvent is DecodeEvent that also returns the JSON the hub stores
// for the event (the encoding made to check that it can be stored) and
// whether a member was cut.
func decodeEvent(prefix, t string, payload []byte, maxSize int) (e Event, raw []byte, cut bool, err error) {
	site, door, kind, _ := topic.Parse(prefix, t)
	if kind != topic.KindEvents {
		return Event{}, nil, false, fmt.Errorf("%w: %.200q", ErrTopic, t)
	}
	if len(payload) > maxSize {
		return Event{}, nil, false, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(payload), maxSize)
	}
	// Unmarshal refuses anything after the object
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, nil, false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, f := range []struct{ name, v string }{{"site", e.Site}, {"door", e.Door}, {"epoch", e.Epoch}, {"type", string(e.Type)}} {
		if err := permit.CheckID(f.name, f.v); err != nil {
			return Event{}, nil, false, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	if e.Seq == 0 {
		return Event{}, nil, false, fmt.Errorf("%w: no seq (seq starts at 1)", ErrMalformed)
	}
	if e.Site != site || e.Door != door {
		return Event{}, nil, false, fmt.Errorf("%w: event of %s/%s on the topic of %s/%s", ErrMismatch, e.Site, e.Door, site, door)
	}
	if want := e.Site + "/" + e.Door + "/" + e.Epoch + "/" + strconv.FormatUint(e.Seq, 10); e.ID != want {
		return Event{}, nil, false, fmt.Errorf("%w: id %.200q, want %q", ErrMismatch, e.ID, want)
	}
	cut = clipMembers(&e)
	// what cannot be stored must be refused here: stored later it would
	// fail its commit, stay unacked and come back for ever. These bytes
	// are what the commit stores.
	j, err := json.Marshal(&e)
	if err != nil {
		return Event{}, nil, false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, j, cut, nil
}
