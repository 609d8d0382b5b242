// Package loopback tells whether a host names this machine's loopback,
// for the listeners and handlers that must stay there (the simulator, the
// development broker, an API without TLS).
package loopback

import (
	"net/netip"
	"strings"
)

// Host reports whether host, without a port, is localhost (in any case)
// or a loopback IP, IPv6 in brackets or not, an IPv4-mapped one too. An
// empty host (every address) is not.
func Host(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
