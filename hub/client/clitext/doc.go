// Package clitext renders the hub's answers for a terminal: the tables
// (aligned by text/tabwriter, an empty cell shown "-"), the one-line
// answers to the workflow's steps with the step that comes next, the
// permit and staff records, the tokens, the guest book (Buku Tamu), the
// service-time report, the doors' state and the watch stream's lines.
// Times are shown in the local zone to the second, durations without a
// trailing 0s; the caller passes now where a rendering depends on it.
// cmd/kunci's client verbs print through it what hub/client brought.
//
// It renders only what it is given: it never asks the hub, reads a flag
// or the environment, and never unmasks or adds a NIK, a card UID or a
// token beyond the answer it renders (the hub masks before it answers).
package clitext
