package handler

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingBytes returns how many bytes the client has sent that the server has
// not read yet: the socket's receive queue, as ioctl SIOCINQ reports it. It
// returns 0 when it cannot ask (no socket, or a closed one).
func pendingBytes(raw syscall.RawConn) int {
	if raw == nil {
		return 0
	}
	n := 0
	err := raw.Control(func(fd uintptr) {
		v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		if err == nil {
			n = v
		}
	})
	if err != nil {
		return 0
	}
	return n
}
