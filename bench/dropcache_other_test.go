//go:build !linux

package bench

// dropCache does nothing where posix_fadvise is not at hand: cold-ms is
// then a warm start too.
func dropCache(path string) error { return nil }
