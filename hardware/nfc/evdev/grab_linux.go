//go:build linux && (386 || amd64 || arm || arm64 || loong64 || riscv64)

package evdev

import (
	"os"

	"golang.org/x/sys/unix"
)

// eviocgrab is EVIOCGRAB, _IOW('E', 0x90, int), with the generic ioctl
// encoding of these architectures (write bit 1<<30, size 4 at bit 16).
const eviocgrab = 0x40044590

// grab asks the kernel for every event of the device for this file alone.
// It goes through SyscallConn: File.Fd would put the file in blocking mode
// and read deadlines would stop working.
func grab(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), eviocgrab, 1) }); err != nil {
		return err
	}
	return ierr
}
