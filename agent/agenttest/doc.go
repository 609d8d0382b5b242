// Package agenttest holds the test doubles of the agent's own interfaces,
// exported once as periph's gpiotest does for its pins: Relay, a relay
// that records what the door asks of it and fails on demand, and Clock, a
// clock the test sets and advances by hand, both safe to use from the
// door's goroutine and the test's at once; RunningClock runs with the
// process's time, the fake time of a testing/synctest bubble.
//
// It is for tests only and must never be imported by a program. It must
// never grow knowledge of the door's rules: a double answers as the
// hardware or the clock would, and the assertions stay in the tests.
package agenttest
