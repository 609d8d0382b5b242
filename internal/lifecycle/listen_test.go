package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/kunci-project/kunci/internal/lifecycle"
)

func TestListen(t *testing.T) {
	l, err := lifecycle.Listen("127.0.0.1:0", "--listen")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	if l2, err := lifecycle.Listen(addr, "--listen"); err == nil {
		l2.Close()
		t.Errorf("Listen on %s, taken: no error", addr)
	} else if want := addr + " is already in use by another program; choose another address with --listen"; err.Error() != want {
		t.Errorf("Listen on a taken address = %q; want %q", err, want)
	}
	if _, err := lifecycle.Listen("127.0.0.1", "--listen"); err == nil || !strings.HasPrefix(err.Error(), "listen 127.0.0.1: ") {
		t.Errorf("Listen on an address without a port = %v; want a listen error naming it", err)
	}
}
