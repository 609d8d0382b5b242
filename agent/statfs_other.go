//go:build !linux

package agent

// freeSpace is unknown off Linux: the quota of events alone applies.
func freeSpace(string) (uint64, bool) { return 0, false }
