package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kunci-project/kunci/internal/syncbuf"
)

// Writers and a reader at once: every write is kept whole, and the race
// detector sees no race.
func TestConcurrentWritesAndReads(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", w, i)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = b.String()
		}
	})
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines; want 400", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for w := range 4 {
		for i := range 100 {
			if l := fmt.Sprintf("w%d-%d", w, i); !seen[l] {
				t.Errorf("line %q missing or torn", l)
			}
		}
	}
}
