package workflow

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// populate asks the kernel to back s's memory now (MADV_POPULATE_WRITE,
// Linux 5.14), writing nothing in it, so that appending to s later takes
// no page faults; on an older kernel, or any error, it does nothing.
func populate[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	full := s[:cap(s)]
	base := unsafe.Pointer(&full[0])
	start := uintptr(base)
	size := uintptr(len(full)) * unsafe.Sizeof(full[0])
	page := uintptr(unix.Getpagesize())
	lo, hi := (start+page-1)&^(page-1), (start+size)&^(page-1) // the whole pages within
	if hi <= lo {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(base, lo-start)), hi-lo), unix.MADV_POPULATE_WRITE)
}
