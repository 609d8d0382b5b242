// Package pn532 drives an NXP PN532 NFC reader over its high-speed UART
// (HSU, 115200 baud, through go.bug.st/serial: periph's serial package sets
// no baud rate). It wakes the chip (55 and a long preamble), puts the SAM
// in normal mode, checks the firmware, limits the passive activation
// retries and then polls ISO/IEC 14443 type A and type B cards in turn with
// InListPassiveTarget, returning the full UID (4, 7 or 10 bytes) of a type
// A card or the PUPI of a type B card.
//
// The frame codec (Decode, AppendFrame) follows the PN532 user manual
// (UM0701-02 §6.2): preamble 00, start code 00 FF, LEN and LCS (or the
// extended form FF FF LENM LENL LCS), TFI D4 or D5, data, DCS, postamble
// 00; the ACK 00 00 FF 00 FF 00, the NACK 00 00 FF FF 00 00 and the error
// frame 00 00 FF 01 FF 7F 81 00. Every read has a deadline and watches the
// context; a damaged answer is asked for again with a NACK, a command not
// answered in time is aborted with an ACK, and any other fault makes the
// next read reopen the port and wake the chip again.
//
// A frame cannot prove its length: a LEN one too large with a matching LCS
// swallows the DCS as data and the postamble as DCS, and still checks out.
// ParseTargets refuses the extra byte, so such a frame is a fault, never a
// wrong UID.
//
// Random UIDs: a type A card whose 4-byte UID starts with 08, and many type
// B cards, make up a new identifier at every activation; such a card cannot
// be recognised by its UID (nfc.CheckUID warns about the first kind).
//
// It must never log or put into an error a frame's data or a UID: errors
// name the command and what was wrong, Frame.String and Target.String only
// lengths and protocol bytes. pn532test is a fake chip for tests.
package pn532
