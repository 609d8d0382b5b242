// Package waitfor is the one way Kunci's tests wait for something that
// another goroutine, process or broker makes true: it polls a condition,
// backing off, until the condition holds or a deadline passes, as
// tailscale's tstest.WaitFor does. It replaces the hand-written deadline
// loops each test package used to keep.
//
// It is for tests and test doubles only, and must never be imported by
// code that runs on a door or the hub: programs wait on channels and
// contexts, never by polling. It must never stand in for a fake clock or a
// testing/synctest bubble where those can drive the code under test, and
// never be used to let time pass: its deadline only bounds a wait for
// something that will happen, so a condition met late is never a failure
// of its own.
package waitfor
