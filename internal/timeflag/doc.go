// Package timeflag reads the times a person types on a command line:
// RFC 3339, a local date and time without a zone, "now", or an offset from
// now (+2h, now-30m, +1d), as Parse documents; Value is that reading as a
// flag.Value, parsed when the flag is set, so a bad time is the flag's
// error.
//
// It only reads text: it declares no flag of its own (the command does,
// with Var) and never guesses a zone but the one it is given.
package timeflag
