package reuseport

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ListenQueueLen returns how many connections sit in the accept queue of the
// listening socket f: handshakes the kernel has completed that no process
// has accepted yet. These are the connections that are reset if the socket
// is closed while tcp_migrate_req is off.
//
// It reads TCP_INFO: for a socket in LISTEN state, Linux's tcp_get_info puts
// the accept-queue length (sk_ack_backlog) in tcpi_unacked (and the backlog
// limit in tcpi_sacked), fields that mean something else on a connected
// socket. So ListenQueueLen refuses a socket that is not listening.
//
// It goes through f.SyscallConn, not f.Fd, so it leaves the descriptor's
// blocking mode alone.
func ListenQueueLen(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("accept queue of %s: %w", f.Name(), err)
	}
	var info *unix.TCPInfo
	var infoErr error
	err = rc.Control(func(fd uintptr) {
		info, infoErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if err == nil {
		err = infoErr
	}
	if err != nil {
		return 0, fmt.Errorf("accept queue of %s: getsockopt TCP_INFO: %w", f.Name(), err)
	}
	if info.State != tcpListen {
		return 0, fmt.Errorf("accept queue of %s: socket is not listening", f.Name())
	}
	return int(info.Unacked), nil
}
