// Package mfrc522 adapts periph's MFRC522 driver (periph.io/x/devices/v3/
// mfrc522, v3.7.4) to nfc.Reader and contains its bugs. Read this before
// trusting an MFRC522 at a door; a PN532 (hardware/nfc/pn532) is the
// better reader.
//
// What periph's driver does, and what this package does about it:
//
//   - ReadUID waits for the card in LowLevel.WaitForEdge, which starts a
//     goroutine that blocks in irqPin.WaitForEdge and then sends the result
//     on an unbuffered channel. If the wait ends any other way (its Init
//     fails, or Halt closes its stop channel) nobody receives and the
//     goroutine stays forever. Without an IRQ pin it calls a method on a
//     nil interface and crashes. So: New refuses a nil IRQ pin; the IRQ pin
//     is wrapped so that its waits end on Halt, on the caller's context
//     and on an SPI failure, which makes periph's own wait return normally;
//     periph's Halt runs only when no read is running, and only once (a
//     second periph Halt panics on the closed channel); SPI errors are
//     kept by a wrapper and never reach periph's Init inside the wait (the
//     read then fails with the kept error and Reset recovers); and before
//     every read the version register is checked, because a missing chip
//     (MISO reading FF) fails that Init too.
//   - ClearInterrupt calls WaitForEdge(0), which on gpioioctl (every pin of
//     a Raspberry Pi) waits forever. The wrapper turns 0 into a 1 ms wait
//     (not 1 ns: Go's poller checks the read deadline before reading, so a
//     deadline already past misses a queued edge) and never passes 0 or a
//     negative timeout to the pin; every wait is cut in 20 ms slices.
//   - Edges queue in the kernel; ClearInterrupt drains one. The adapter
//     drains the rest before each read, or a stale edge would start a read
//     with no card.
//   - ReadUID returns 4- and 7-byte UIDs. A 10-byte (triple size) UID comes
//     back as 7 bytes with the second cascade tag 88 inside (uid0 uid1 uid2
//     88 uid3 uid4 uid5): the adapter refuses it with ErrTenByteUID instead
//     of passing a wrong UID. (ISO/IEC 14443-3 forbids 88 as the first
//     byte of a cascade level, so a real 7-byte UID never has it there.)
//   - It reads only ISO/IEC 14443 type A, no type B, no ISO-DEP.
//   - CardWrite returns no error when the chip's ErrorReg flags one; the
//     caller sees a wrong length instead. A read that fails after a card
//     answered (most often a card pulled away) is retried; three in a row
//     are a fault.
//
// It must never log or put into an error a card's UID, and never call
// periph's WaitForEdge path after Halt.
package mfrc522
