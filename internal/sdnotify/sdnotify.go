package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier is one process's side of sd_notify.
type Notifier struct {
	socket   string        // "" when systemd is not listening
	interval time.Duration // between watchdog pings; 0 when no watchdog is set for this process
	log      *slog.Logger
}

// New reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through
// getenv; pid is this process's id (a watchdog set for another process,
// as WATCHDOG_PID tells, is not ours to ping).
func New(getenv func(string) string, pid int, log *slog.Logger) *Notifier {
	n := &Notifier{log: log}
	s := getenv("NOTIFY_SOCKET")
	switch {
	case s == "":
		return n
	case !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "@"):
		log.Warn("sd_notify: NOTIFY_SOCKET is not a unix socket path; systemd will not hear from the agent", "socket", s)
		return n
	}
	n.socket = s
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return n
	}
	if us := getenv("WATCHDOG_USEC"); us != "" {
		v, err := strconv.ParseUint(us, 10, 63)
		if err != nil || v == 0 {
			log.Warn("sd_notify: WATCHDOG_USEC is not a positive number of microseconds; no watchdog pings", "value", us)
			return n
		}
		n.interval = time.Duration(v) * time.Microsecond / 2
	}
	return n
}

// Notify sends one message of lines such as "READY=1". It does nothing
// without a socket.
func (n *Notifier) Notify(lines ...string) error {
	if n.socket == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	if _, err := c.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready tells systemd that the door takes input, with a status line for
// `systemctl status`.
func (n *Notifier) Ready(status string) {
	if err := n.Notify("READY=1", "STATUS="+status); err != nil {
		n.log.Warn("systemd not told that the agent is ready", "err", err)
	}
}

// Stopping tells systemd that the agent is shutting down.
func (n *Notifier) Stopping() {
	if err := n.Notify("STOPPING=1", "STATUS=stopping: the relay goes to its safe state first"); err != nil {
		n.log.Warn("systemd not told that the agent stops", "err", err)
	}
}

// Watchdog pings systemd's watchdog every interval for as long as alive
// succeeds, until ctx ends. alive gets a quarter of the watchdog's timeout:
// a door that cannot answer in that time is not pinged for, so that
// systemd restarts it.
func (n *Notifier) Watchdog(ctx context.Context, alive func(context.Context) error) {
	if n.socket == "" || n.interval <= 0 {
		return
	}
	t := time.NewTicker(n.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		actx, cancel := context.WithTimeout(ctx, n.interval/2)
		err := alive(actx)
		cancel()
		if err == nil {
			err = n.Notify("WATCHDOG=1")
		} else {
			err = fmt.Errorf("the door's loop does not answer: %w", err)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			n.log.Warn("systemd watchdog not pinged", "err", err)
		case err == nil && failing:
			n.log.Info("systemd watchdog pinged again")
		}
		failing = err != nil
	}
}
