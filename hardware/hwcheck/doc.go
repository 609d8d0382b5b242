// Package hwcheck is the installer's check of a door on a Raspberry Pi
// (kunci hwcheck): it prints the door's Wiring, as its agent config
// describes it, with
// each pin's place on the header as periph's pinreg knows it, what "locked"
// means at the relay and what the Pi's boot pulls do to it, then shows every
// input as it changes; on request it unlocks the relay once and reads one
// card on each reader, printing the card's type, UID length and
// fingerprint.
//
// Run works on a Board opened by the caller, as the agent's is: cmd/kunci
// reads the config, initialises periph, looks the pins up and drives the
// relay locked before anything else, then hands the parts over. The caller also refuses to open
// the board beside a running agent (AgentAbsent): two programs driving the
// relay's pin would fight over the lock.
//
// It must never unlock the relay but for one pulse the installer asked
// for and confirmed, never for longer than MaxPulse, and never leave it
// unlocked: on every way out of Run (an error, the end of its context, a
// panic) the relay is halted, driven locked, before anything else is
// stopped. It must never read the relay's pin back (on the
// Pi that turns it into an input), never initialise the host, look pins up
// by name or read a config itself, and never print a card's UID unless asked to
// (Options.ShowUID): the report names a card by its fingerprint.
package hwcheck
