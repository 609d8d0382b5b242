// Package nfc is the card-reader loop shared by every reader driver
// (hardware/nfc/pn532, hardware/nfc/mfrc522, hardware/nfc/evdev): Run reads
// UIDs from a Reader, drops a card that stays on the reader, hands each new
// UID to the door through a Tapper, reports reader trouble as faults and
// recovers the reader on its own, with a backoff.
//
// A driver implements Reader (ReadUID, String, Halt) and, when it can reopen
// or re-initialise its device, Resetter. ReadUID may return a UID together
// with an error wrapping ErrSuspectUID: the UID is tapped and the error
// reported as a fault (a keyboard-wedge reader that truncates UIDs, a card
// that shows a random UID).
//
// It must never log, report or keep longer than needed a card's UID: logs,
// faults and errors name a card only by the length of its UID. It must never
// decide access: the door does that with the UID's fingerprint.
package nfc
