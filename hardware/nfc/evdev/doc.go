// Package evdev reads a USB "keyboard-wedge" card reader through the Linux
// input subsystem, without cgo: it opens /dev/input/eventN (better a
// /dev/input/by-id/…-event-kbd link, which survives replugging), grabs it
// with EVIOCGRAB so that the typed UIDs reach no console or other program,
// decodes the kernel's struct input_event records and turns the key
// presses of one line (ended by Enter) into UID bytes.
//
// A struct input_event is a struct timeval (two C longs: seconds and
// microseconds), then __u16 type, __u16 code and __s32 value, in the
// machine's byte order: 24 bytes for a 64-bit process, 16 for a 32-bit one
// (Raspberry Pi OS armhf; the kernel writes the 16-byte form to 32-bit
// processes even on a 64-bit kernel, and 32-bit glibc's 64-bit time_t does
// not change it). EventSize is this process's size; the Decoder takes
// either, so both are tested on any machine.
//
// The reader may type the UID as hex digits (8, 14 or 20 of them) or, as
// many wedges do, a 4-byte UID as a 10-digit decimal number; Options.Format
// says which, and Options.Reverse whether it types the bytes last first.
// Keys other than digits (hex letters for Hex), Enter and keypad Enter are
// ignored, so are key releases and autorepeats; a line whose keys come
// further apart than Options.KeyGap is dropped, as is one cut by a kernel
// SYN_DROPPED.
//
// This is the weakest reader Kunci supports. Most wedges keep only 4 bytes
// of a 7-byte UID, and every 7-byte NXP UID starts with 04, so two cards
// can type the same line: a 4-byte hex UID starting with 04, and every
// decimal UID, come back with a warning wrapping nfc.ErrSuspectUID. And
// anything that can reach the USB port can type a UID; the grab keeps the
// keys from a console but cannot tell a reader from a keyboard.
//
// It must never log or put into an error the digits typed; errors give
// only counts.
package evdev
