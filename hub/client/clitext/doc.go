// Package clitext renders the hub's answers for a terminal: the tables
// (aligned by text/tabwriter, an empty cell shown "-"), the one-line
// answers to the workflow's steps with the step that comes next, the
// permit and staff records, the tokens, the guest book (Buku Tamu), the
// service-time report, the doors' state and the watch stream's lines.
// Times are shown in the local zone to the second, durations without a
// trailing 0s; the caller passes now where a rendering depends on it.
// Every string of an answer reaches the terminal escaped
// (permit.Visible: \x1b, \n, \u202e), in a table's cells, in the
// one-line answers and in the watch stream's lines, and --json's raw
// answer has the characters JSON leaves as they are written as \u
// escapes: a record stored before the hub refused control and bidi
// characters can neither drive the terminal nor add a row.
// cmd/kunci's client verbs print through it what hub/client brought.
//
// It renders only what it is given: it never asks the hub, reads a flag
// or the environment, and never unmasks or adds a NIK, a card UID or a
// token beyond the answer it renders (the hub masks before it answers).
package clitext
