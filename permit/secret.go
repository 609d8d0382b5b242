package permit

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// secretPerm is what a key file's mode may not allow: writing by its
// group, or reading or writing by everyone. A group that may read it (0640,
// a service's group) is allowed.
const secretPerm = 0o027

// maxSecret bounds what is read of a key file: a PEM private key or a
// site key is well under a KiB.
const maxSecret = 64 << 10

// readSecret reads a private key or a site key from path. Its second
// error is set when the file's mode lets other users read it or anyone but
// its owner change it: a signing key that others can read signs permits
// for them, a site key links fingerprints back to cards. The caller
// refuses the key with it once the bytes parse as a key (a public key
// given as the private one is named as such). Windows has no such mode
// bits.
func readSecret(path string) (_ []byte, modeErr, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&secretPerm != 0 {
		modeErr = fmt.Errorf("%s: mode %04o lets other users read or change the key; make it chmod 600 %s (or 640 for the service's group)",
			path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxSecret {
		return nil, nil, fmt.Errorf("%s: more than %d bytes: not a key file", path, maxSecret)
	}
	return b, modeErr, nil
}
