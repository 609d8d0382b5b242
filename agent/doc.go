// Package agent is the door: the rules of the server-room procedure as a
// deterministic state machine over an injected clock, the local bbolt store
// (permits, staff, the card index and the event log) and the loop that runs
// them against the hardware.
//
// The agent owns the small interfaces it needs (Relay, Clock); drivers and
// the simulator implement them. It must never import periph host, paho or
// any package of hardware/ or sync/, never move the relay before the event
// that justifies the movement is stored, and never keep a raw card UID: a
// UID is fingerprinted the moment it arrives and then dropped.
//
// # The door's state
//
// Machine keeps its state as named sub-states (states.go), each with its
// own deadline; Machine.Deadline is the earliest. A word names each phase,
// and the rules below are written in these words:
//
//	mode       normal | lockdown
//	lock       locked | unlocked (relocks Rules.Unlock after the release unless the door opens)
//	           no-exit | exit-window: an exit request lets the door open once, for Rules.Unlock,
//	           without it being forced | exit-all: the same from the exit button of a door without
//	           exit reader, where opening the door lets everyone inside out
//	           relay-fault: the relay failed to move, until it moves again
//	contact    closed | open | held-open (open longer than Rules.HeldOpen); forced: opened while
//	           locked outside an exit window, until it closes
//	racks      racks-closed | rack-open (one) | racks-open; rack-tampered: opened while the room
//	           was empty, until the room is secured
//	pairing    no-guest | guest-waits: a guest tapped and waits for their escort;
//	           no-escort | escort-waits: an escort tapped and waits for their guest
//	           (each for Rules.EscortWindow)
//	occupancy  empty | granted: let in, the door not opened yet; inside: somebody is, last-one:
//	           exactly one and nobody granted; escort-out: an escort tapped out leaving their
//	           guest inside, who has Rules.EscortWindow to follow
//	securing   no-check | check-due: the empty room must be secured within Rules.SecureWithin;
//	           not-secured: room.not_secured was raised, until the room is secured
//
// Two words name the configuration: exit-unlocks or exit-keeps-lock
// (Rules.ExitUnlocks), exit-reader or no-exit-reader.
//
// # Rules at the door
//
// Each row is a rule: in a state with every word of "when" (a word with !
// must be absent, a/b is either; - is any state), the input records the
// events, in this order, and leaves the door in a state with every word of
// "then". The first row that matches applies. An event's reason in
// parentheses is the one it carries; access.denied without one carries the
// most telling reason why no permit admits now (not_yet_valid,
// entries_used, expired, revoked, no_permit; clock_untrusted while no
// trusted time is known). x* is one or more x. The relay moves once for
// each door.unlocked and door.locked, in order, after the events are stored;
// the door.locked of a start records the safe state NewDoor drove the relay
// to and moves nothing. A grant while the lock is released records no second
// door.unlocked (the relock time starts again), and a grant with the door
// standing open records the entry at once.
//
// The scenario tests keep the table honest: a step of TestMachineRules
// that names a rule must match that rule's when and input, and no earlier
// row's, and give its events and its then; every rule is named by a step
// (rules_test.go).
//
// Entry reader. Every tap is recorded first (tap, not repeated below). Then it
// gets one decision: access.granted, access.denied or, for a guest,
// escort.awaited; an escort's tap waits for their guest instead.
//
//	rule | when                      | input                              | events                                                           | then
//	E1   | lockdown                  | in: any                            | access.denied(lockdown)                                          | -
//	E2   | -                         | in: unknown card                   | access.denied(unknown_card)                                      | -
//	E3   | -                         | in: guest, no permit admits        | access.denied                                                    | -
//	E4   | guest-waits locked closed | in: guest, escort waits            | access.granted, access.denied(escort_timeout), door.unlocked     | no-guest granted
//	E5   | locked closed             | in: guest, escort waits            | access.granted, door.unlocked                                    | granted !escort-waits
//	E6   | unlocked open             | in: guest, escort waits            | access.granted, visit.entered                                    | inside
//	E7   | no-guest                  | in: guest                          | escort.awaited                                                   | guest-waits
//	E8   | guest-waits               | in: guest, waiting                 | escort.awaited                                                   | guest-waits
//	E9   | guest-waits               | in: guest                          | access.denied(escort_timeout), escort.awaited                    | guest-waits
//	S1   | -                         | in: staff barred                   | access.denied(no_permit)                                         | -
//	S2   | no-guest                  | in: staff none                     | access.denied(no_permit)                                         | -
//	S3   | no-guest                  | in: staff escort                   | -                                                                | escort-waits
//	S4   | no-guest locked closed    | in: staff solo                     | access.granted, door.unlocked                                    | granted
//	S5   | no-guest locked closed    | in: staff escort+solo              | access.granted, door.unlocked                                    | granted escort-waits
//	S6   | no-guest locked open      | in: staff solo                     | access.granted, door.unlocked, visit.entered                     | inside
//	G1   | guest-waits               | in: staff none                     | access.denied(escort_not_allowed)                                | guest-waits
//	G2   | guest-waits               | in: staff escort                   | access.denied(wrong_escort)                                      | guest-waits
//	G3   | guest-waits               | in: staff escort, assigned, lapsed | access.denied                                                    | no-guest locked
//	G4   | guest-waits locked closed | in: staff escort, assigned         | access.granted, door.unlocked                                    | no-guest granted
//	G5   | guest-waits locked closed | in: staff solo                     | access.granted, access.denied(escort_timeout), door.unlocked     | no-guest granted
//	G6   | guest-waits locked closed | in: staff escort+solo              | access.granted, access.denied(escort_timeout), door.unlocked     | no-guest granted escort-waits
//	G7   | guest-waits locked closed | in: staff solo, assigned           | access.granted, access.denied(escort_not_allowed), door.unlocked | no-guest granted
//
// Exit reader and exit button. The way out is never refused, not in lockdown
// either; only an unknown card on the exit reader is. Exit taps are recorded
// first too. The last one out starts the securing check.
//
//	rule | when                               | input                                | events                                      | then
//	X1   | -                                  | out: unknown card                    | access.denied(unknown_card)                 | -
//	X2   | locked exit-unlocks last-one       | out: guest, inside                   | exit.requested, door.unlocked, visit.exited | exit-window empty check-due
//	X3   | locked exit-unlocks last-one       | out: staff, inside                   | exit.requested, door.unlocked, visit.exited | exit-window empty check-due
//	X4   | locked exit-unlocks                | out: staff, escort of a guest inside | exit.requested, door.unlocked               | exit-window escort-out
//	X5   | locked exit-unlocks                | out: guest                           | exit.requested, door.unlocked               | exit-window
//	X6   | locked exit-unlocks                | out: staff                           | exit.requested, door.unlocked               | exit-window
//	X7   | unlocked last-one                  | out: guest, inside                   | exit.requested, visit.exited                | exit-window empty check-due !escort-out
//	X8   | unlocked last-one                  | out: staff, inside                   | exit.requested, visit.exited                | exit-window empty check-due
//	X9   | unlocked                           | out: staff, escort of a guest inside | exit.requested                              | exit-window escort-out
//	X10  | exit-keeps-lock                    | out: staff                           | exit.requested                              | locked exit-window
//	B1   | locked exit-unlocks exit-reader    | exit button                          | exit.requested, door.unlocked               | exit-window
//	B2   | locked exit-unlocks no-exit-reader | exit button                          | exit.requested, door.unlocked               | exit-all
//	B3   | exit-keeps-lock exit-reader        | exit button                          | exit.requested                              | locked exit-window
//
// Door contact and racks. A door opened while locked outside an exit window is
// forced; closed, it relocks at once.
//
//	rule | when                                                | input           | events                                 | then
//	D1   | open                                                | door opens      | -                                      | open
//	D2   | closed                                              | door closes     | -                                      | closed
//	D3   | unlocked granted !exit-all                          | door opens      | door.opened, visit.entered*            | open inside !granted
//	D4   | exit-all inside !granted                            | door opens      | door.opened, visit.exited*             | open empty check-due
//	D5   | locked no-exit                                      | door opens      | door.opened, door.forced               | open forced
//	D6   | !granted                                            | door opens      | door.opened                            | open !forced
//	D7   | unlocked empty racks-closed check-due/not-secured   | door closes     | door.closed, door.locked, room.secured | locked closed no-exit no-check
//	D8   | unlocked                                            | door closes     | door.closed, door.locked               | locked closed no-exit
//	D9   | empty racks-closed check-due/not-secured            | door closes     | door.closed, room.secured              | closed no-check
//	D10  | -                                                   | door closes     | door.closed                            | closed no-exit !forced !held-open
//	K1   | -                                                   | rack, no change | -                                      | -
//	K2   | empty                                               | rack opens      | rack.opened, rack.tampered             | rack-tampered check-due
//	K3   | -                                                   | rack opens      | rack.opened                            | rack-open/racks-open
//	K4   | empty locked closed rack-open check-due/not-secured | rack closes     | rack.closed, room.secured              | racks-closed !rack-tampered no-check
//	K5   | -                                                   | rack closes     | rack.closed                            | -
//
// Timers. A Tick comes at each deadline, and any input runs the timers due by
// then first, their events before its own.
//
//	rule | when | input                       | events                        | then
//	T1   | -    | tick: nothing due           | -                             | -
//	T2   | -    | tick: unlock over           | door.locked                   | locked !granted
//	T3   | -    | tick: guest wait over       | access.denied(escort_timeout) | no-guest
//	T4   | -    | tick: escort wait over      | access.denied(escort_timeout) | -
//	T5   | -    | tick: escort+solo wait over | -                             | -
//	T6   | -    | tick: held open             | door.held_open                | held-open
//	T7   | -    | tick: grace over            | visit.unescorted              | !escort-out
//	T8   | -    | tick: secure time over      | room.not_secured              | not-secured !check-due
//	T9   | -    | tick: exit window over      | -                             | no-exit
//
// Commands (verified before they get here), start, faults and notes: events
// made outside the machine, one (a note) or several in one transaction
// (notes: the downlink's refusals of a flood).
//
//	rule | when                      | input                 | events                                                         | then
//	C1   | unlocked                  | command lockdown      | command.executed, door.locked                                  | lockdown locked no-guest no-escort
//	C2   | no-guest                  | command lockdown      | command.executed                                               | lockdown no-escort
//	C9   | guest-waits               | command lockdown      | command.executed, access.denied(lockdown)                      | lockdown no-guest no-escort
//	C3   | -                         | command release       | command.executed                                               | normal
//	C4   | lockdown                  | command unlock-once   | command.rejected(lockdown)                                     | locked
//	C5   | locked no-guest           | command unlock-once   | command.executed, door.unlocked                                | exit-window
//	C6   | locked guest-waits        | command unlock-once   | command.executed, access.denied(escort_timeout), door.unlocked | no-guest exit-window
//	C7   | -                         | command resync        | command.executed                                               | -
//	C8   | -                         | command unknown       | command.rejected(unknown)                                      | -
//	A1   | closed racks-closed empty | start                 | agent.started, door.locked, room.secured                       | locked no-check
//	A2   | empty                     | start                 | agent.started, door.locked                                     | locked check-due
//	A3   | -                         | start                 | agent.started, door.locked                                     | locked no-check
//	A4   | unlocked                  | relay fault           | relay.fault, door.locked                                       | locked relay-fault
//	A5   | -                         | relay fault           | relay.fault                                                    | relay-fault
//	A6   | -                         | note reader.fault     | reader.fault                                                   | -
//	A7   | -                         | notes permit.rejected | permit.rejected*                                               | -
//
// # One tap, one decision
//
// A staff tap while a guest waits is one answer to that guest. The
// assigned escort lets the guest in (G4). Staff with the solo right, who
// are not the guest's escort or may not escort, go in alone, and the
// guest's wait ends with an access.denied that names who the door was
// released for, stored before the lock is released (G5 to G7): the guest
// must tap again with their escort, and if they walk in behind, the log
// says whose entry it was. Another guest's grant (E4) and a remote
// unlock-once (C6) end the wait the same way; a lockdown (C9) ends it with
// access.denied(lockdown), so the record never leaves a guest waiting. An exit does not: the escort
// often comes out to fetch their guest.
//
// # After a restart
//
// The snapshot keeps the door contact and the racks as last recorded;
// NewMachine restores them, and the hardware's first reading after a start
// is an ordinary change against them. A door left open and shut while the
// agent was down records door.closed (D9, D10); one still open records
// nothing (D1), and held open counts from the start; one shut when the
// agent stopped and open at start is door.opened and door.forced (D5): it
// opened while locked with no one let in, by force, a key, or a maglock
// the outage released, and someone must look.
package agent
