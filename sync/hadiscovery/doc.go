// Package hadiscovery makes one door visible in Home Assistant through MQTT
// discovery, as a read-only view of the retained status that the agent
// publishes anyway (sync/status): Home Assistant needs nothing else.
//
// The configs are published retained at QoS 1 to
// homeassistant/<component>/<object_id>/config, object_id = unique_id =
// kunci_<site>_<door>_<entity> (characters outside [A-Za-z0-9_-] become
// '_'; ids that differ only there would share entities, which Kunci
// assumes no site does), at every connection and again whenever Home
// Assistant announces itself "online" on homeassistant/status. Every
// entity belongs to one device (identifiers kunci_<site>_<door>,
// manufacturer Kunci) and is available while the door's availability
// topic says "online".
//
// The entities, and why:
//
//   - Lock: a binary_sensor with device class lock (ON = unlocked), not a
//     lock entity. Home Assistant's MQTT lock requires a command_topic
//     (its schema has command_topic Required), and Kunci takes no command
//     from Home Assistant: commands go through the hub, which signs them.
//     A binary sensor cannot say JAMMED; a relay that failed to move shows
//     on Problem (alarm relay_fault).
//   - Door: binary_sensor, device class door (ON = open).
//   - Rack <name>, one per rack: binary_sensor, device class opening
//     (ON = open). The status reports whether a rack is open (its reed
//     switch), not whether a rack lock is engaged, so device class lock
//     would claim what Kunci does not know; opening rather than door keeps
//     the room's door apart from the racks in automations that select by
//     device class.
//   - Tamper: binary_sensor, device class tamper, ON while the status has
//     the alarm door_forced or rack_tampered:<rack>.
//   - Problem: binary_sensor, device class problem, ON while any other
//     alarm is raised (door_held_open, room_not_secured, relay_fault, and
//     any added later) except lockdown, which is an order, not a fault.
//     Both carry the status's alarms as attributes.
//   - Occupancy: sensor, the number of people inside (state class
//     measurement), with the occupants (permit, escort, staff, since) as
//     attributes.
//   - Mode: sensor, normal or lockdown.
//   - Access: an event entity fed by EventMessage: one non-retained JSON
//     message with event_type per access event (EventTypes), published by
//     the agent on kunci/v1/<site>/<door>/ha/event. Events replayed after a
//     restart are not sent: Home Assistant would fire them as new.
//
// Binary sensor templates render ON, OFF or None (unknown) and use plain
// Jinja only. Every config also carries default_entity_id
// (<component>.kunci_<site>_<door>_<entity>, lower case), which replaced
// the payload's object_id in Home Assistant 2025.10; older versions drop
// the key.
//
// It must never offer Home Assistant a command topic, retain an event,
// or put a card UID, a NIK or a name in a config or an event.
package hadiscovery
