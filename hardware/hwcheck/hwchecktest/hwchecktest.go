// Package hwchecktest gives tests the header positions a Raspberry Pi has:
// PiHeader registers the Pi's 40-pin header with periph's pinreg from
// periph's own table (host/rpi's P1_1 to P1_40), as the rpi driver does at
// host.Init on a Pi, so that kunci hwcheck's "GPIO18 (header pin 12)" can be
// checked on a machine without one.
//
// It is for tests only. It must never initialise the host nor touch a
// pin: it registers names and places, nothing else.
package hwchecktest

import (
	"testing"

	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/pin/pinreg"
	"periph.io/x/host/v3/rpi"
)

// Header is the name periph's rpi driver gives the Pi's 40-pin header (J8).
const Header = "P1"

// PiHeader registers Header, the 40-pin header of a Raspberry Pi 2 and
// later, until the test ends. pinreg places pins by name, so a fake pin
// named GPIO18 is at pin 12, as the real one is. Where a header of that
// name is registered already (a real Pi after host.Init) PiHeader leaves
// it: its positions are the board's own.
func PiHeader(t testing.TB) {
	t.Helper()
	if _, ok := pinreg.All()[Header]; ok {
		return
	}
	if err := pinreg.Register(Header, [][]pin.Pin{
		{rpi.P1_1, rpi.P1_2}, {rpi.P1_3, rpi.P1_4}, {rpi.P1_5, rpi.P1_6}, {rpi.P1_7, rpi.P1_8},
		{rpi.P1_9, rpi.P1_10}, {rpi.P1_11, rpi.P1_12}, {rpi.P1_13, rpi.P1_14}, {rpi.P1_15, rpi.P1_16},
		{rpi.P1_17, rpi.P1_18}, {rpi.P1_19, rpi.P1_20}, {rpi.P1_21, rpi.P1_22}, {rpi.P1_23, rpi.P1_24},
		{rpi.P1_25, rpi.P1_26}, {rpi.P1_27, rpi.P1_28}, {rpi.P1_29, rpi.P1_30}, {rpi.P1_31, rpi.P1_32},
		{rpi.P1_33, rpi.P1_34}, {rpi.P1_35, rpi.P1_36}, {rpi.P1_37, rpi.P1_38}, {rpi.P1_39, rpi.P1_40},
	}); err != nil {
		t.Fatalf("hwchecktest: %v", err)
	}
	t.Cleanup(func() {
		if err := pinreg.Unregister(Header); err != nil {
			t.Errorf("hwchecktest: %v", err)
		}
	})
}
