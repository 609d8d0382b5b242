package sysclock

import "golang.org/x/sys/unix"

// Synced reports whether the kernel says its clock is synchronised (an NTP
// daemon or chrony cleared STA_UNSYNC and the state is not TIME_ERROR).
func Synced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
