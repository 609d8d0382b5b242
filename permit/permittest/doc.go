// Package permittest holds fixed hub keys for tests, so that the hub side
// and the door side of a test trust each other without key files, and a
// signed document in a test's data stays valid from run to run.
//
// It must never be imported outside tests: its keys are public.
package permittest
