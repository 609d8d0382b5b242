// Package sleep is the one pause of Kunci's retry loops: it waits a
// duration unless a context ends first, and says which, so that a loop
// that backs off stops at once on shutdown (style.md: every wait is
// cancellable, never time.Sleep in a loop).
//
// It must never be used to synchronise with another goroutine or process:
// it only lets time pass between tries.
package sleep
