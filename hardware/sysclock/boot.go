package sysclock

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
)

// BootID names this boot of the machine in 8 hex digits, so that events
// from before and after a power cut are told apart (their monotonic times
// count from different boots): the start of the kernel's boot_id, or, where
// the kernel has none, random digits for this process.
func BootID() string {
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		if id := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""); len(id) >= 8 {
			return id[:8]
		}
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}
