package kv_test

import (
	"testing"

	"github.com/kunci-project/kunci/hub/kv/kvtest"
)

// TestBoltSuite runs the behaviour every kv.DB must have against the
// bbolt adapter, checking the file's integrity after each test.
func TestBoltSuite(t *testing.T) {
	kvtest.Run(t, kvtest.Backend{New: kvtest.Bolt})
}
