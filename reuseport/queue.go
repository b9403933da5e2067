package reuseport

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/internal/procfs"
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
	var n int
	var qErr error
	err = rc.Control(func(fd uintptr) { n, qErr = FDQueueLen(int(fd)) })
	if err == nil {
		err = qErr
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return n, nil
}

// FDQueueLen is ListenQueueLen for a bare descriptor, which it neither
// reads nor polls: one getsockopt, cheap enough to call for every slot
// several times a second. It allocates nothing: unix.GetsockoptTCPInfo
// returns its TCPInfo on the heap, 232 bytes per call, and steering calls
// this for every slot 50 times a second; that garbage was most of what the
// supervisor allocated under load.
func FDQueueLen(fd int) (int, error) {
	var info unix.TCPInfo
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("accept queue: getsockopt TCP_INFO: %w", errno)
	}
	// TCP_INFO reports the same state enum as /proc/net/tcp.
	if info.State != procfs.TCPListen {
		return 0, errors.New("accept queue: socket is not listening")
	}
	return int(info.Unacked), nil
}
