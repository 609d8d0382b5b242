package ingest

import (
	"encoding/json"
	"fmt"
	"strconv"

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

// DecodeEvent parses and validates one event message: topic must be a
// door's events topic under prefix, the payload one JSON object of at most
// maxSize bytes whose site and door are the topic's, with a seq from 1,
// an epoch and a type, and whose id is site/door/epoch/seq.
func DecodeEvent(prefix, t string, payload []byte, maxSize int) (Event, error) {
	e, _, err := decodeEvent(prefix, t, payload, maxSize)
	return e, err
}

// decodeEvent is DecodeEvent that also returns the JSON the hub stores
// for the event: the encoding made to check that it can be stored.
func decodeEvent(prefix, t string, payload []byte, maxSize int) (Event, []byte, error) {
	site, door, kind, _ := topic.Parse(prefix, t)
	if kind != topic.KindEvents {
		return Event{}, nil, fmt.Errorf("%w: %.200q", ErrTopic, t)
	}
	if len(payload) > maxSize {
		return Event{}, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(payload), maxSize)
	}
	var e Event
	// Unmarshal refuses anything after the object
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, f := range []struct{ name, v string }{{"site", e.Site}, {"door", e.Door}, {"epoch", e.Epoch}, {"type", string(e.Type)}} {
		if err := permit.CheckID(f.name, f.v); err != nil {
			return Event{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	if e.Seq == 0 {
		return Event{}, nil, fmt.Errorf("%w: no seq (seq starts at 1)", ErrMalformed)
	}
	if e.Site != site || e.Door != door {
		return Event{}, nil, fmt.Errorf("%w: event of %s/%s on the topic of %s/%s", ErrMismatch, e.Site, e.Door, site, door)
	}
	if want := e.Site + "/" + e.Door + "/" + e.Epoch + "/" + strconv.FormatUint(e.Seq, 10); e.ID != want {
		return Event{}, nil, fmt.Errorf("%w: id %.200q, want %q", ErrMismatch, e.ID, want)
	}
	// what cannot be stored must be refused here: stored later it would
	// fail its commit, stay unacked and come back for ever. These bytes
	// are what the commit stores.
	j, err := json.Marshal(&e)
	if err != nil {
		return Event{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, j, nil
}
