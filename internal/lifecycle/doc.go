// Package lifecycle runs the parts of one process (kunci agent, kunci hub,
// kunci dev) under one errgroup and stops them in a fixed order of phases
// within one deadline, as style.md asks: the relay safe first, then the
// stores flushed and closed, then the final status published, then the
// links closed.
//
// A part runs until the context of its phase ends. The process's context
// ending (the first SIGINT or SIGTERM), a part returning an error, or Stop
// begins the shutdown: phase by phase, in the order of Phase, the phase's
// context is cancelled, its stop functions run in the order they were
// added, and its parts are waited for; a phase begins to stop only once
// the one before it is done. One context.WithTimeout (Options.Timeout)
// bounds the whole shutdown: a part still running at the deadline is
// reported, not waited for. Wait returns errors.Join of what failed, the
// failure that began the shutdown first. Cancellation is not an error.
//
// Listen opens the address of a part that serves, naming the flag or field
// that moves it when another program holds it.
//
// A Group also holds the process's Gate (WithGate) from New until its
// Safe phase is done, so that main lets a second signal end the process
// only once the relay is halted.
//
// It must never stop a phase before the earlier ones are done (unless the
// deadline passed), never wait for a part past the deadline, never exit
// the process and never touch a signal: main owns those.
package lifecycle
