package bench

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// runDirs are removed when the test binary ends, not when each benchmark
// does: deleting a store copy of a GiB makes the file system discard its
// blocks, and that disk work would land in the next benchmark's numbers.
var (
	runDirsMu sync.Mutex
	runDirs   []string
)

func TestMain(m *testing.M) {
	if os.Getenv(centralProcEnv) != "" {
		if err := runCentralProcess(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: central side:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(doorProcEnv) != "" {
		if err := runDoorProcess(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: door process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	runDirsMu.Lock()
	for _, d := range runDirs {
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	runDirsMu.Unlock()
	os.Exit(code)
}
