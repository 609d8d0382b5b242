// Package topic names Kunci's MQTT topics (design.md, "MQTT topics"): one
// place for the strings that the agent, the hub and the tests share.
//
// It must never carry a card UID, a NIK or a name in a topic: topics name
// sites, doors, permits and staff by id only.
package topic

import (
	"fmt"
	"strings"

	"github.com/kunci-project/kunci/permit"
)

// DefaultPrefix is the topic prefix of protocol version 1.
const DefaultPrefix = "kunci/v1"

// Door names the topics of one door.
type Door struct {
	Prefix, Site, Door string
}

// New checks the names and returns the door's topics.
func New(prefix, site, door string) (Door, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "+#") || strings.HasSuffix(prefix, "/") {
		return Door{}, fmt.Errorf("topic prefix %q: no wildcards, no trailing '/'", prefix)
	}
	if err := permit.CheckID("site", site); err != nil {
		return Door{}, err
	}
	if err := permit.CheckID("door", door); err != nil {
		return Door{}, err
	}
	return Door{Prefix: prefix, Site: site, Door: door}, nil
}

func (d Door) base() string { return d.Prefix + "/" + d.Site + "/" + d.Door }

// Status is retained status JSON, agent to all.
func (d Door) Status() string { return d.base() + "/status" }

// Availability is retained online/offline, and the agent's last will.
func (d Door) Availability() string { return d.base() + "/availability" }

// Events carries event JSON, agent to hub.
func (d Door) Events() string { return d.base() + "/events" }

// EventsAck carries the hub's signed ack (permit.Signer.SignAck), hub to agent.
func (d Door) EventsAck() string { return d.base() + "/events/ack" }

// Permit is the retained signed permit or revocation of id.
func (d Door) Permit(id string) string { return d.base() + "/permits/" + id }

// Permits is the filter of every permit topic of the door.
func (d Door) Permits() string { return d.base() + "/permits/+" }

// Staff is the retained signed staff record of id.
func (d Door) Staff(id string) string { return d.base() + "/staff/" + id }

// StaffAll is the filter of every staff topic of the door.
func (d Door) StaffAll() string { return d.base() + "/staff/+" }

// Cmd carries signed commands, never retained.
func (d Door) Cmd() string { return d.base() + "/cmd" }

// Kind of a topic below a door.
type Kind int

// Kinds of door topics.
const (
	Unknown Kind = iota
	KindStatus
	KindAvailability
	KindEvents
	KindEventsAck
	KindPermit
	KindStaff
	KindCmd
)

// Parse splits a topic under prefix into site, door, kind and, for
// permits and staff, the record id.
func Parse(prefix, t string) (site, door string, kind Kind, id string) {
	rest, ok := strings.CutPrefix(t, prefix+"/")
	if !ok {
		return "", "", Unknown, ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return "", "", Unknown, ""
	}
	site, door = parts[0], parts[1]
	switch {
	case len(parts) == 3 && parts[2] == "status":
		kind = KindStatus
	case len(parts) == 3 && parts[2] == "availability":
		kind = KindAvailability
	case len(parts) == 3 && parts[2] == "events":
		kind = KindEvents
	case len(parts) == 4 && parts[2] == "events" && parts[3] == "ack":
		kind = KindEventsAck
	case len(parts) == 4 && parts[2] == "permits" && parts[3] != "":
		kind, id = KindPermit, parts[3]
	case len(parts) == 4 && parts[2] == "staff" && parts[3] != "":
		kind, id = KindStaff, parts[3]
	case len(parts) == 3 && parts[2] == "cmd":
		kind = KindCmd
	default:
		return "", "", Unknown, ""
	}
	return site, door, kind, id
}

// AllEvents is the hub's filter for every door's events.
func AllEvents(prefix string) string { return prefix + "/+/+/events" }

// SharedAllEvents is AllEvents as a shared subscription, for several hub
// replicas sharing the load.
func SharedAllEvents(prefix string) string { return "$share/kunci-hub/" + AllEvents(prefix) }
