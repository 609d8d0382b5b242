// Package contacttest holds Contact, the fake GPIO line of the tests that
// wire a whole door (kunci hwcheck, kunci agent on gpio hardware), exported
// once as periph's gpiotest does for its pins: a periph gpiotest.Pin whose
// level is the wiring's, which a test moves as a reed switch or a button
// would, and which keeps every level driven on it, so that a test can tell
// what the relay was told and in which order; and DoorAtRest, the levels
// of a whole door's lines at rest on the README's pins.
//
// It is for tests only and must never be imported by a program. It must
// never register itself with periph or initialise the host: the test
// decides where its pins live.
package contacttest
