package lifecycle

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Listen opens the TCP address a part will Serve on. An address another
// program holds is reported with moveWith, the flag or config field that
// changes it.
func Listen(addr, moveWith string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is already in use by another program; choose another address with %s", addr, moveWith)
		}
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}
