//go:build !(linux && (386 || amd64 || arm || arm64 || loong64 || riscv64))

package evdev

import (
	"errors"
	"os"
)

// grab is only implemented where the ioctl encoding is known: Linux on the
// Raspberry Pi's architectures and the usual PCs.
func grab(f *os.File) error {
	return errors.New("evdev: EVIOCGRAB is not supported on this platform")
}
