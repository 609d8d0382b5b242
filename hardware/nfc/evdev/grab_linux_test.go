//go:build linux && (386 || amd64 || arm || arm64 || loong64 || riscv64)

package evdev

import "testing"

// TestEviocgrab: EVIOCGRAB is _IOW('E', 0x90, int): direction write (1) at
// bit 30, size 4 at bit 16, type 'E' at bit 8, number 0x90.
func TestEviocgrab(t *testing.T) {
	const ioc = 1<<30 | 4<<16 | 'E'<<8 | 0x90
	if eviocgrab != ioc {
		t.Errorf("eviocgrab = %#x; want %#x", eviocgrab, ioc)
	}
}
