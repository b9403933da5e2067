package supervisor

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// os.Process.Wait blocks an OS thread in waitid until its child exits, so
// a supervisor of N workers held N threads doing nothing, each with its
// stacks and runtime bookkeeping: 16 workers made 25 threads (and about
// 12 KB of RssAnon each; 7 threads in all now). A pidfd becomes
// readable when its process exits, so the runtime's network poller can
// watch every child from the one thread that watches the sockets;
// Wait is then called only once it returns at once.

// awaitExit returns once the child pid, started by this process and not
// waited for yet, has exited, without reaping it. It returns at once when
// the kernel cannot do this (pollable pidfds came in Linux 5.10): Wait
// then blocks a thread, as it always did.
func awaitExit(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	// A non-blocking descriptor goes into the runtime's poller.
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		// WNOWAIT leaves the child to Wait, which gets its status.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT, nil)
		// EAGAIN: still running (a PIDFD_NONBLOCK pidfd); wait until
		// readable. Anything else, exited or not, is Wait's to report.
		return !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR)
	})
}
