// Package sdnotify speaks systemd's sd_notify protocol (sd_notify(3))
// without cgo: each message is one datagram of "KEY=value" lines to the
// unix socket named by $NOTIFY_SOCKET, a path or, starting with '@', an abstract
// socket (Go's net package maps the '@' to the leading NUL). Without
// $NOTIFY_SOCKET (not started by systemd with Type=notify) every method
// does nothing.
//
// The agent says READY=1 once the door takes input, WATCHDOG=1 every half
// of $WATCHDOG_USEC while the door's loop answers, and STOPPING=1 when it
// shuts down. A door whose loop hangs stops the pings, and systemd restarts
// the agent (WatchdogSec in configs/kunci-agent.service); the new agent
// drives the relay to its safe state before anything else.
//
// It must never block the agent on systemd (every send is bounded), and
// never ping the watchdog for a door whose loop does not answer.
package sdnotify
