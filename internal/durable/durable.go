// Package durable replaces files so that the change survives a crash or a
// power loss: the new file, written and synced beside the old one, is
// renamed over it and the folder synced.
package durable

import (
	"errors"
	"os"
	"path/filepath"
)

// Replace renames tmp, a synced file in path's folder, over path and
// syncs the folder, so that the rename itself is on disk when it returns.
func Replace(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
