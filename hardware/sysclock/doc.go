// Package sysclock tells whether the kernel reports the wall clock as
// synchronised (adjtimex), so that the door never judges a permit's time
// window against a Raspberry Pi's 1970 or stale boot time, and names the
// boot the monotonic clock counts from (BootID).
//
// It must never set the clock.
package sysclock
