// Package alarm keeps the hub's alarms as records: one per occurrence of a
// condition at a door (forced, held open, not secured, a rack tampered, a
// guest unescorted, a relay or reader fault, an unsynchronised clock, the
// store low on space or failing, the door offline) or in the workflow (a
// request waiting past its SOP step's standard time). Each record says
// when it opened, when its condition ended (cleared) and who acknowledged
// it, when and with what note. A record stays unacknowledged until a person
// acknowledges it, cleared or not: a forced door stays an alarm after the
// door closes.
//
// The Book is fed by the hub: the events as they are stored (Event), the
// doors' retained status and availability as they come (Status,
// Availability), and a clock tick (Tick) for what nobody reports (a door
// silent too long, a request waiting). Only transitions write: an event
// of another type, or a status whose alarms did not change, costs a map
// look-up. Changes go to Options.OnChange, for the notifications and the
// console's live view. With Options.Outbox an opening is marked in its own
// transaction until the caller says its notification is queued
// (Notified), so that a crash between the two writes loses none
// (Unnotified).
//
// It never holds personal data: a record names a door, a permit id, a
// rack, and the door's own detail text, which carries no NIK, name or
// card UID.
package alarm
