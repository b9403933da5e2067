package supervisor

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier speaks systemd's Type=notify protocol: READY=1 once every
// first-generation worker is online, RELOADING=1 … READY=1 around a
// rolling restart, STOPPING=1, STATUS= with the workers online, and
// WATCHDOG=1 at half the WatchdogSec interval. Without $NOTIFY_SOCKET
// every call is a no-op.
type notifier struct {
	s         *supervisor
	isReady   bool
	reloading bool
	status    string
	watchdog  time.Duration
	lastPing  time.Time
}

func newNotifier(s *supervisor) *notifier {
	n := &notifier{s: s}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		n.watchdog = d / 2
	}
	return n
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.s.log.Warn().Err(err).Msg("systemd notify")
	}
}

func (n *notifier) statusLine() string {
	s := n.s
	line := fmt.Sprintf("STATUS=%d/%d workers online", s.onlineCount(), s.activeSlots())
	if s.reload != nil {
		line += ", reloading"
	}
	return line
}

func (n *notifier) ready(*supervisor) error {
	n.isReady = true
	n.status = n.statusLine()
	n.send("READY=1\n" + n.status)
	return nil
}

func (n *notifier) workersChanged(s *supervisor) {
	if !n.isReady || s.stopping {
		return
	}
	reloading := s.reload != nil
	var msg string
	switch {
	case reloading && !n.reloading:
		msg = fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d\n", monotonicUsec())
	case !reloading && n.reloading:
		msg = "READY=1\n"
	}
	n.reloading = reloading
	if line := n.statusLine(); line != n.status || msg != "" {
		n.status = line
		n.send(msg + line)
	}
}

// stopping says STOPPING=1, unless the server lives on in the new
// supervisor of an upgrade.
func (n *notifier) stopping(s *supervisor) {
	if !s.handedOver {
		n.send("STOPPING=1")
	}
}

// handOver tells systemd that the new supervisor of an upgrade is the
// service's main process now (NotifyAccess=main lets only the current main
// process say so).
func (n *notifier) handOver(pid int) {
	n.send(fmt.Sprintf("MAINPID=%d\nREADY=1", pid))
}

func (n *notifier) tick(s *supervisor) {
	if n.watchdog > 0 && s.now().Sub(n.lastPing) >= n.watchdog {
		n.lastPing = s.now()
		n.send("WATCHDOG=1")
	}
}

func (n *notifier) deadline(*supervisor) time.Time {
	if n.watchdog <= 0 {
		return time.Time{}
	}
	return n.lastPing.Add(n.watchdog)
}

func (n *notifier) close() {}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which systemd wants
// with RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}
