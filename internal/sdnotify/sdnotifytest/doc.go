// Package sdnotifytest is systemd's end of sd_notify(3) for tests: a real
// unixgram socket, at a path or an abstract name, whose datagrams a test
// reads one at a time, as the agent's tests and internal/sdnotify's own
// check what the agent tells systemd.
//
// It is for tests only and must never be imported by a program. It must
// never answer or interpret a message: systemd does neither, and a test
// compares the message as it came.
package sdnotifytest
