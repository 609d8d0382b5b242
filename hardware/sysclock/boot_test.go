package sysclock

import (
	"os"
	"regexp"
	"testing"
)

func TestBootID(t *testing.T) {
	id := BootID()
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(id) {
		t.Fatalf("BootID() = %q; want 8 hex digits", id)
	}
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err == nil && BootID() != id {
		t.Error("BootID changed within one boot")
	}
}
