package loopback_test

import (
	"testing"

	"github.com/kunci-project/kunci/internal/loopback"
)

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.1.9": true, "::1": true, "[::1]": true, "localhost": true, "LOCALHOST": true,
		"::ffff:127.0.0.1": true, "": false, "0.0.0.0": false, "::": false, "192.168.1.20": false,
		"::ffff:192.168.1.20": false, "localhost.evil.example": false, "example.com": false, "127.0.0.1:80": false,
	} {
		if got := loopback.Host(host); got != want {
			t.Errorf("Host(%q) = %v; want %v", host, got, want)
		}
	}
}
